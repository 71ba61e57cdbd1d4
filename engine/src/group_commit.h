// GroupCommit: small inserts written and published together, as Traffic Server's
// aggregation buffer does.
//
// An insert whose whole body is one small chunk record joins the open batch from the
// committing thread: its record is copied into the batch and the call returns, with no
// thread hop. Batches are written one at a time, on the store's workers: one segment
// allocation and one write for all their records (done on the worker itself,
// IoBackend::WriteBlocking), one sync under SyncPolicy::kCommit, then one index write batch
// for their entries (Publisher::PublishAll). While a batch is being written the next one
// fills, so the cost of a write, an index write and the thread hand-offs is shared by
// every insert of a batch. On one core that alone forms few batches: the workers run as
// soon as an insert wakes them. options.commit_window_us makes a batch wait, while inserts
// keep coming, until one window after the previous batch's write began (or until it is
// full); an insert after a quiet spell is written at once.
//
// Each record stays a complete chunk record (format/record.h), so a segment holds the same
// bytes as if the inserts had been written one by one.
//
// Thread safety: Submit may be called from any thread. The owner keeps the parts alive until
// every callback has run (the store joins its workers).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/io_backend.h"
#include "edgecache/options.h"
#include "edgecache/store.h"
#include "publisher.h"
#include "segment/segment_manager.h"

namespace edgecache {

class GroupCommit {
 public:
  struct Parts {
    const StoreOptions& options;
    IoBackend& io;
    segment::SegmentManager& segments;
    boost::asio::thread_pool& workers;
    Publisher& publisher;
  };
  explicit GroupCommit(Parts parts);

  // The largest record that joins a batch; larger ones are written on their own.
  size_t max_record_bytes() const { return max_record_bytes_; }

  // `record` is a sealed chunk record holding the whole body of `info`, whose extents are
  // still empty; `done` runs on a worker once the entry is published or has failed.
  // REQUIRES: record.size() <= max_record_bytes().
  void Submit(std::string_view record, ObjectInfo info, DoneCallback done);

 private:
  struct Member {
    ObjectInfo info;
    uint32_t offset = 0;  // of its record in the batch
    DoneCallback done;
  };
  struct Batch {
    std::string bytes;
    std::vector<Member> members;
  };

  // On a worker: writes and publishes the queued batches, oldest first, until none is left.
  void WriteNext();
  // On a worker, once the batch's write at `base` in `segment` finished (`s` OK) or failed.
  void Publish(Batch batch, const segment::Segment& segment, uint32_t base, Status s);

  const Parts p_;
  const size_t max_record_bytes_;
  const size_t max_batch_bytes_;
  const std::chrono::microseconds window_;

  std::mutex mu_;
  std::deque<Batch> queued_;      // GUARDED_BY(mu_): the last one is open to new records
  bool writing_ = false;          // GUARDED_BY(mu_): a batch is being written and published
  std::condition_variable full_;  // a batch filled up while the writer waits for its window
  std::chrono::steady_clock::time_point last_write_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache
