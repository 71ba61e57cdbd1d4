// GroupCommit: see group_commit.h.
#include "group_commit.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>

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
  for (;;) {
    Batch batch;
    segment::Allocation where;
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
      batch = std::move(queued_.front());
      queued_.pop_front();
    }
    Status s = p_.segments.Allocate(static_cast<uint32_t>(batch.bytes.size()), &where);
    if (!s.ok()) {
      for (Member& m : batch.members) m.done(s);
      continue;
    }
    // On this worker, which may block: see IoBackend::WriteBlocking.
    const ssize_t n = p_.io.WriteBlocking(where.segment->fd, batch.bytes.data(), batch.bytes.size(),
                                          where.offset);
    if (n < 0) {
      s = Status::FromErrno(static_cast<int>(-n), "write chunk");
    } else if (static_cast<size_t>(n) != batch.bytes.size()) {
      s = Status::FromErrno(EIO, "write chunk");
    }
    Publish(std::move(batch), *where.segment, where.offset, std::move(s));
  }
}

void GroupCommit::Publish(Batch batch, const segment::Segment& segment, uint32_t base, Status s) {
  if (s.ok() && p_.options.sync == SyncPolicy::kCommit) {
    s = p_.segments.Get(segment.id) == nullptr
            ? Status::Aborted("segment reclaimed while the object was written")
            : SyncFile(p_.io, segment.fd, "sync segment");
  }
  std::vector<Status> results;
  if (s.ok()) {
    std::vector<ObjectInfo> infos;
    infos.reserve(batch.members.size());
    for (Member& m : batch.members) {
      m.info.extents = {
          BodyExtent{segment.id, base + m.offset, static_cast<uint32_t>(m.info.body_length)}};
      infos.push_back(std::move(m.info));
    }
    p_.publisher.PublishAll(&infos, &results);
  } else {
    results.assign(batch.members.size(), s);
  }
  for (size_t i = 0; i < batch.members.size(); ++i) batch.members[i].done(std::move(results[i]));
}

}  // namespace edgecache
