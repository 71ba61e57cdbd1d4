// Streaming inserts (InsertHandle's implementation, insert.cc). An insert writes its body
// into segments on its own and needs its store for two things only: its version, from the
// version clock, and publishing the finished entry.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "edgecache/io_backend.h"
#include "edgecache/options.h"
#include "edgecache/store.h"
#include "index/version_clock.h"
#include "io/inflight.h"
#include "segment/segment_manager.h"

namespace edgecache {

// Makes a fully written body visible: the store's side of an insert.
class Publisher {
 public:
  virtual ~Publisher() = default;
  // Checks that no purge or reclaim overtook the body, then writes its entry.
  virtual Status Publish(ObjectInfo info) = 0;
};

// What inserts use; owned by the store, which outlives every insert.
struct InsertParts {
  const StoreOptions& options;
  IoBackend& io;
  InflightIo& inflight;
  segment::SegmentManager& segments;
  boost::asio::thread_pool& workers;  // chunk writes and commits run here
  index::VersionClock& clock;
  Publisher& publisher;
};

// Starts an insert of a validated key. Its version is taken from the clock now and stays
// "in flight" until the insert commits or is abandoned.
std::unique_ptr<InsertHandle> NewInsert(const InsertParts& parts, ObjectKey key, ObjectMeta meta);

}  // namespace edgecache
