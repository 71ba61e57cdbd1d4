// GroupCommit: see group_commit.h.
#include "group_commit.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <memory>

namespace edgecache {

GroupCommit::GroupCommit(Parts parts)
    : p_(parts),
      max_record_bytes_(std::min<uint64_t>(1u << 20, p_.options.segment_bytes / 4) / 4),
      max_batch_bytes_(std::min<uint64_t>(1u << 20, p_.options.segment_bytes / 4)),
      window_(p_.options.commit_window_us) {}

void GroupCommit::Submit(std::string_view record, ObjectInfo info, DoneCallback done) {
  std::unique_lock lock(mu_);
  if (queued_.empty() || queued_.back().bytes.size() + record.size() > max_batch_bytes_) {
    queued_.emplace_back();
    queued_.back().bytes.reserve(max_batch_bytes_);
    if (queued_.size() > 1) full_.notify_one();
  }
  Batch& batch = queued_.back();
  batch.members.push_back(
      Member{std::move(info), static_cast<uint32_t>(batch.bytes.size()), std::move(done)});
  batch.bytes.append(record);
  if (writing_) return;  // the worker writing takes this batch next
  writing_ = true;
  lock.unlock();
  boost::asio::post(p_.workers, [this] { WriteNext(); });
}

void GroupCommit::WriteNext() {
  auto batch = std::make_shared<Batch>();
  segment::Allocation where;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (queued_.empty()) {
        writing_ = false;
        return;
      }
      // Inserts keep coming: this batch collects them until one window after the last
      // write began, unless it fills up first.
      if (queued_.size() == 1 && window_.count() > 0) {
        full_.wait_until(lock, last_write_ + window_, [&] { return queued_.size() > 1; });
      }
      last_write_ = std::chrono::steady_clock::now();
      *batch = std::move(queued_.front());
      queued_.pop_front();
    }
    Status s = p_.segments.Allocate(static_cast<uint32_t>(batch->bytes.size()), &where);
    if (s.ok()) break;
    for (Member& m : batch->members) m.done(s);
  }
  p_.inflight.Begin();
  const uint64_t segment = where.segment->id;
  const uint32_t base = where.offset;
  const int fd = where.segment->fd;
  p_.io.Write(fd, batch->bytes.data(), batch->bytes.size(), base,
              [this, batch, segment, base, hold = std::move(where.segment)](ssize_t n) {
                // Only plain values cross to the worker (see InsertState::Flush).
                const int err = n < 0 ? static_cast<int>(-n)
                                      : (static_cast<size_t>(n) == batch->bytes.size() ? 0 : EIO);
                boost::asio::post(p_.workers, [this, batch, segment, base, hold, err] {
                  Publish(std::move(*batch), segment, base, err);
                });
                p_.inflight.End();
              });
}

void GroupCommit::Publish(Batch batch, uint64_t segment, uint32_t base, int err) {
  Status s = err == 0 ? Status::OK() : Status::FromErrno(err, "write chunk");
  if (s.ok() && p_.options.sync == SyncPolicy::kCommit) {
    auto seg = p_.segments.Get(segment);
    s = seg == nullptr ? Status::Aborted("segment reclaimed while the object was written")
                       : SyncFile(p_.io, seg->fd, "sync segment");
  }
  std::vector<Status> results;
  if (s.ok()) {
    std::vector<ObjectInfo> infos;
    infos.reserve(batch.members.size());
    for (Member& m : batch.members) {
      m.info.extents = {
          BodyExtent{segment, base + m.offset, static_cast<uint32_t>(m.info.body_length)}};
      infos.push_back(std::move(m.info));
    }
    p_.publisher.PublishAll(&infos, &results);
  } else {
    results.assign(batch.members.size(), s);
  }
  for (size_t i = 0; i < batch.members.size(); ++i) batch.members[i].done(std::move(results[i]));
  WriteNext();
}

}  // namespace edgecache
