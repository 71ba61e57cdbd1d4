// Streaming inserts: InsertHandle's implementation.
//
// A body is cut into chunks of options.chunk_bytes. Each chunk is written as one chunk
// record (format/record.h) into space reserved in the active segment. At most one chunk
// write is in flight per insert while the next chunk fills, so an insert holds at most two
// chunks of memory; an append that would need a third waits (its callback is deferred)
// until the write in flight completes. Chunk writes and the commit run on the store's
// worker threads, never on the caller's, because creating a segment and writing the index
// may block. A body that fits in one small record is committed with other inserts' (group
// commit, group_commit.h): its record joins a batch from the committing thread. Under
// Admission::kProbation such a body is instead held, as its sealed record, on probation
// (cache/probation.h); if it is promoted, the same record is written then.
#include "insert.h"

#include <xxhash.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <set>
#include <utility>

#include "format/index_layout.h"
#include "format/record.h"

namespace edgecache {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class InsertState : public std::enable_shared_from_this<InsertState> {
 public:
  InsertState(const InsertParts& parts, ObjectKey key, ObjectMeta meta, bool probation)
      : p_(parts),
        key_(std::move(key)),
        entry_key_(format::EntryKey(key_)),
        meta_(std::move(meta)),
        version_(parts.clock.BeginInsert()),
        prefix_size_(format::kChunkHeaderSize + entry_key_.size()),
        chunk_bytes_(parts.options.chunk_bytes),
        probation_limit_(
            probation ? std::min<uint64_t>(chunk_bytes_, parts.probation->max_body_bytes()) : 0),
        hash_(XXH3_createState()) {
    XXH3_64bits_reset(hash_);
    ResetBuffer(/*full=*/false);
  }

  ~InsertState() {
    XXH3_freeState(hash_);
    p_.clock.EndInsert(version_);
  }

  uint64_t size() const {
    std::lock_guard lock(mu_);
    return size_;
  }
  uint64_t body_hash() const {
    std::lock_guard lock(mu_);
    return XXH3_64bits_digest(hash_);
  }

  void Append(std::string_view data, DoneCallback done) {
    std::unique_lock lock(mu_);
    if (committing_) {
      lock.unlock();
      done(Status::InvalidArgument("append after commit"));
      return;
    }
    if (error_code_ != Status::Code::kOk) {
      Status s = Error();
      lock.unlock();
      done(std::move(s));
      return;
    }
    std::string_view rest = Fill(data);
    if (!rest.empty()) {  // both chunk buffers busy: resume when the write completes
      parked_ = rest;
      parked_done_ = std::move(done);
      return;
    }
    lock.unlock();
    done(Status::OK());
  }

  Status AppendSome(std::string_view data, size_t* taken) {
    *taken = 0;
    std::lock_guard lock(mu_);
    if (committing_) return Status::InvalidArgument("append after commit");
    if (error_code_ != Status::Code::kOk) return Error();
    *taken = data.size() - Fill(data).size();
    return Status::OK();
  }

  void Commit(DoneCallback done) {
    std::unique_lock lock(mu_);
    if (committing_) {
      lock.unlock();
      done(Status::InvalidArgument("commit called twice"));
      return;
    }
    committing_ = true;
    stored_at_ = NowSeconds();
    // The whole body is in the buffer, as one record.
    const bool one_record =
        !flushing_ && error_code_ == Status::Code::kOk && flushed_ == 0 && Buffered() > 0;
    if (one_record && size_ <= probation_limit_) {
      format::SealChunkRecord(buffer_.get(), entry_key_, version_, 0);
      sealed_ = true;
      cache::Probation::Item item;
      item.info = Entry();
      item.info.extents.push_back(
          BodyExtent{cache::kProbationSegment, 0, static_cast<uint32_t>(size_)});
      item.record = buffer_;
      // The held item owns the insert: its version stays in flight until it is promoted
      // or dropped.
      item.promote = [self = shared_from_this()](ObjectInfo info, DoneCallback done) {
        self->Promote(std::move(info), std::move(done));
      };
      lock.unlock();
      done(p_.publisher.HoldOnProbation(std::move(item)));
      return;
    }
    if (one_record && buffer_->size() <= p_.group.max_record_bytes()) {
      // A small record: it joins the next group write.
      format::SealChunkRecord(buffer_.get(), entry_key_, version_, 0);
      ObjectInfo info = TakeEntry();
      std::shared_ptr<std::string> record = std::move(buffer_);
      lock.unlock();
      // The insert stays alive (its version in flight) until its entry is published.
      p_.group.Submit(
          *record, std::move(info),
          [self = shared_from_this(), done = std::move(done)](Status s) { done(std::move(s)); });
      return;
    }
    commit_done_ = std::move(done);
    if (flushing_) return;  // OnFlushed continues
    if (error_code_ == Status::Code::kOk && Buffered() > 0) {
      StartFlush();
      return;
    }
    lock.unlock();
    boost::asio::post(p_.workers, [self = shared_from_this()] { self->Finish(); });
  }

 private:
  size_t Buffered() const { return buffer_->size() - prefix_size_; }

  // The first chunk's buffer grows with the body (most bodies are far smaller than a
  // chunk); once a chunk has filled, the next ones are reserved whole.
  void ResetBuffer(bool full) {
    buffer_ = std::make_shared<std::string>();
    if (full) buffer_->reserve(prefix_size_ + chunk_bytes_);
    buffer_->resize(prefix_size_);
  }

  Status Error() const {
    switch (error_code_) {
      case Status::Code::kNoSpace:
        return Status::NoSpace(error_message_);
      case Status::Code::kAborted:
        return Status::Aborted(error_message_);
      default:
        return Status::IOError(error_message_);
    }
  }

  void SetError(const Status& s) {
    if (error_code_ != Status::Code::kOk) return;
    error_code_ = s.code();
    error_message_ = s.message();
  }

  // Copies as much of `data` as the buffers allow, starting chunk writes as chunks fill.
  // Returns what did not fit. REQUIRES: mu_ held.
  std::string_view Fill(std::string_view data) {
    while (!data.empty()) {
      size_t room = chunk_bytes_ - Buffered();
      if (room == 0) {
        if (flushing_) return data;
        StartFlush();
        continue;
      }
      size_t n = std::min(room, data.size());
      if (buffer_->size() + n > buffer_->capacity()) {
        buffer_->reserve(std::min(prefix_size_ + chunk_bytes_,
                                  std::max(buffer_->size() + n, buffer_->capacity() * 2)));
      }
      buffer_->append(data.data(), n);
      XXH3_64bits_update(hash_, data.data(), n);
      size_ += n;
      data.remove_prefix(n);
    }
    if (Buffered() == chunk_bytes_ && !flushing_) StartFlush();
    return {};
  }

  // A held object the probation queue pushed out after it was requested again: writes its
  // record and publishes `info` (the held entry, whose metadata may have been refreshed).
  void Promote(ObjectInfo info, DoneCallback done) {
    info.extents.clear();
    std::unique_lock lock(mu_);
    if (buffer_->size() <= p_.group.max_record_bytes()) {
      std::shared_ptr<const std::string> record = buffer_;
      lock.unlock();
      // The insert stays alive (its version in flight) until its entry is published.
      p_.group.Submit(
          *record, std::move(info),
          [self = shared_from_this(), done = std::move(done)](Status s) { done(std::move(s)); });
      return;
    }
    promoted_ = std::move(info);
    commit_done_ = std::move(done);
    StartFlush();
  }

  // REQUIRES: mu_ held, !flushing_, Buffered() > 0.
  void StartFlush() {
    std::shared_ptr<std::string> record = std::move(buffer_);
    ResetBuffer(/*full=*/true);
    flushing_ = true;
    uint64_t body_offset = flushed_;
    flushed_ += record->size() - prefix_size_;
    const bool sealed = std::exchange(sealed_, false);
    boost::asio::post(p_.workers, [self = shared_from_this(), record, body_offset, sealed] {
      self->Flush(record, body_offset, sealed);
    });
  }

  // On a worker: fills in the record header (unless `sealed` already), reserves space and
  // writes the record.
  void Flush(std::shared_ptr<std::string> record, uint64_t body_offset, bool sealed) {
    if (!sealed) format::SealChunkRecord(record.get(), entry_key_, version_, body_offset);
    const auto data_length = static_cast<uint32_t>(record->size() - prefix_size_);

    segment::Allocation where;
    Status s = p_.segments.Allocate(static_cast<uint32_t>(record->size()), &where);
    if (!s.ok()) {
      OnFlushed(s, {});
      return;
    }
    BodyExtent extent{where.segment->id, where.offset, data_length};
    p_.inflight.Begin();
    int fd = where.segment->fd;
    p_.io.Write(
        fd, record->data(), record->size(), where.offset,
        [self = shared_from_this(), record, extent, segment = std::move(where.segment)](ssize_t n) {
          // Only plain values cross to the worker: a handler the pool drops at shutdown
          // must not carry an unchecked Status.
          int err =
              n < 0 ? static_cast<int>(-n) : (static_cast<size_t>(n) == record->size() ? 0 : EIO);
          boost::asio::post(self->p_.workers, [self, extent, err] {
            self->OnFlushed(err == 0 ? Status::OK() : Status::FromErrno(err, "write chunk"),
                            extent);
          });
          self->p_.inflight.End();
        });
  }

  // On a worker, after a chunk write (or its allocation) finished.
  void OnFlushed(const Status& result, BodyExtent extent) {
    DoneCallback resumed;
    Status resumed_status;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      flushing_ = false;
      if (result.ok()) {
        extents_.push_back(extent);
      } else {
        SetError(result);
      }
      if (parked_done_) {
        if (error_code_ != Status::Code::kOk) {
          resumed_status = Error();
          parked_ = {};
        } else {
          parked_ = Fill(parked_);
        }
        if (parked_.empty()) {
          resumed = std::move(parked_done_);
          parked_done_ = nullptr;
        }
      }
      if (committing_ && !flushing_ && !parked_done_) {
        if (error_code_ == Status::Code::kOk && Buffered() > 0) {
          StartFlush();
        } else {
          finish = true;
        }
      }
    }
    if (resumed) resumed(std::move(resumed_status));
    if (finish) Finish();
  }

  // The entry of the whole body, but for its extents. REQUIRES: mu_ held.
  ObjectInfo Entry() const {
    ObjectInfo info = Counts();
    info.key = key_;
    info.meta = meta_;
    return info;
  }
  // The same, the key and metadata moved out: for a commit after which nothing reads them.
  ObjectInfo TakeEntry() {
    ObjectInfo info = Counts();
    info.key = std::move(key_);
    info.meta = std::move(meta_);
    return info;
  }
  // The entry's lengths, hash, versions and time. REQUIRES: mu_ held.
  ObjectInfo Counts() const {
    ObjectInfo info;
    info.body_length = size_;
    info.body_hash = XXH3_64bits_digest(hash_);
    info.version = version_;
    info.body_version = version_;
    info.stored_at = stored_at_;
    return info;
  }

  // On a worker, once every chunk is written: sync (per policy) and publish.
  void Finish() {
    DoneCallback done;
    Status s;
    ObjectInfo info;
    {
      std::lock_guard lock(mu_);
      done = std::move(commit_done_);
      if (error_code_ != Status::Code::kOk) s = Error();
      info = promoted_ ? *promoted_ : Entry();
      info.extents = extents_;
    }
    if (s.ok() && p_.options.sync == SyncPolicy::kCommit) {
      std::set<uint64_t> synced;
      for (const BodyExtent& e : info.extents) {
        if (!synced.insert(e.segment).second) continue;
        auto seg = p_.segments.Get(e.segment);
        if (seg == nullptr) {
          s = Status::Aborted("segment reclaimed while the object was written");
          break;
        }
        s = SyncFile(p_.io, seg->fd, "sync segment");
        if (!s.ok()) break;
      }
    }
    if (s.ok()) s = p_.publisher.Publish(std::move(info));
    done(std::move(s));
  }

  const InsertParts& p_;
  ObjectKey key_;  // GUARDED_BY(mu_) once committing: TakeEntry moves it out
  const std::string entry_key_;
  ObjectMeta meta_;  // GUARDED_BY(mu_) once committing: TakeEntry moves it out
  const uint64_t version_;
  const size_t prefix_size_;
  const size_t chunk_bytes_;
  // Bodies up to this size are held on probation at commit (0: never).
  const uint64_t probation_limit_;

  mutable std::mutex mu_;
  // The chunk being filled: a placeholder record prefix, then the chunk's body bytes, so
  // a full chunk is written as it is, without a copy.
  std::shared_ptr<std::string> buffer_;  // GUARDED_BY(mu_)
  bool flushing_ = false;                // GUARDED_BY(mu_): a chunk write is in flight
  std::string_view parked_;              // GUARDED_BY(mu_): append data waiting for room
  DoneCallback parked_done_;             // GUARDED_BY(mu_)
  bool committing_ = false;              // GUARDED_BY(mu_)
  DoneCallback commit_done_;             // GUARDED_BY(mu_)
  // The first error, kept as plain values (see Status's unchecked-error check).
  Status::Code error_code_ = Status::Code::kOk;  // GUARDED_BY(mu_)
  std::string error_message_;                    // GUARDED_BY(mu_)
  uint64_t size_ = 0;                            // GUARDED_BY(mu_): bytes appended
  uint64_t flushed_ = 0;                         // GUARDED_BY(mu_): bytes handed to writes
  std::vector<BodyExtent> extents_;              // GUARDED_BY(mu_), in body order
  int64_t stored_at_ = 0;                        // GUARDED_BY(mu_): set at commit
  bool sealed_ = false;                          // GUARDED_BY(mu_): buffer_'s record is sealed
  std::optional<ObjectInfo> promoted_;           // GUARDED_BY(mu_): the entry a promotion publishes
  XXH3_state_t* hash_;                           // GUARDED_BY(mu_)
};

class InsertHandleImpl final : public InsertHandle {
 public:
  explicit InsertHandleImpl(std::shared_ptr<InsertState> state) : state_(std::move(state)) {}

  void AsyncAppend(std::string_view data, DoneCallback done) override {
    state_->Append(data, std::move(done));
  }
  Status AppendSome(std::string_view data, size_t* taken) override {
    return state_->AppendSome(data, taken);
  }
  void AsyncCommit(DoneCallback done) override { state_->Commit(std::move(done)); }
  uint64_t size() const override { return state_->size(); }
  uint64_t body_hash() const override { return state_->body_hash(); }

 private:
  // Shared with writes in flight; the insert is abandoned when the last holder lets go
  // without a commit.
  std::shared_ptr<InsertState> state_;
};

Status Wait(const std::function<void(DoneCallback)>& start) {
  std::promise<Status> result;
  start([&result](Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

}  // namespace

Status InsertHandle::Append(std::string_view data) {
  return Wait([&](DoneCallback done) { AsyncAppend(data, std::move(done)); });
}

Status InsertHandle::Commit() {
  return Wait([&](DoneCallback done) { AsyncCommit(std::move(done)); });
}

std::unique_ptr<InsertHandle> NewInsert(const InsertParts& parts, ObjectKey key, ObjectMeta meta,
                                        bool probation) {
  return std::make_unique<InsertHandleImpl>(
      std::make_shared<InsertState>(parts, std::move(key), std::move(meta), probation));
}

}  // namespace edgecache
