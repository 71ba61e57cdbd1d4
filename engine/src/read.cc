// The read path: a body's bytes from the RAM cache or, verified, from its segment.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <future>

#include "format/index_layout.h"
#include "format/record.h"
#include "store_impl.h"

namespace edgecache {
namespace {

// `length` bytes from `at` of a record, and where the same bytes are in its arena file.
BodySlice SliceOf(cache::HeldRecord record, size_t at, size_t length) {
  BodySlice slice{nullptr, record.bytes.substr(at, length)};
  if (record.fd >= 0) {
    slice.fd = record.fd;
    slice.file_offset = record.file_offset + at;
  }
  slice.owner = std::move(record.owner);
  return slice;
}

}  // namespace

Status Store::Read(const ObjectInfo& info, std::string* out, uint64_t offset, uint64_t length) {
  out->clear();
  if (offset > info.body_length) return Status::InvalidArgument("read offset beyond the body");
  uint64_t end = length >= info.body_length - offset ? info.body_length : offset + length;
  while (offset < end) {
    std::promise<Status> result;
    size_t before = out->size();
    AsyncRead(info, offset, static_cast<size_t>(end - offset), [&](Status s, BodySlice slice) {
      if (s.ok()) out->append(slice.data);
      result.set_value(std::move(s));
    });
    Status s = result.get_future().get();
    if (!s.ok()) return s;
    offset += out->size() - before;
  }
  return Status::OK();
}

StoreImpl::ChunkSpan StoreImpl::Locate(const ObjectInfo& info, uint64_t offset, size_t max_len) {
  ChunkSpan c;
  size_t i = 0;
  while (c.chunk_start + info.extents[i].length <= offset)
    c.chunk_start += info.extents[i++].length;
  c.extent = info.extents[i];
  c.data_at = format::kChunkHeaderSize + format::EntryKeySize(info.key) + (offset - c.chunk_start);
  c.length = std::min<uint64_t>(max_len, c.extent.length - (offset - c.chunk_start));
  return c;
}

bool StoreImpl::ReadCached(const ObjectInfo& info, uint64_t offset, size_t max_len,
                           BodySlice* out) {
  if (offset >= info.body_length || max_len == 0) return false;
  const ChunkSpan c = Locate(info, offset, max_len);
  cache::HeldRecord record;
  if (c.extent.segment != cache::kProbationSegment) {
    record = ram_.Get(c.extent.segment, c.extent.offset);
  } else if (probation_ != nullptr) {
    if (auto held = probation_->Record(format::EntryKey(info.key), info.body_version)) {
      record = cache::RamCache::InString(std::move(held));
    }
  }
  if (!record) return false;
  ram_hits_.fetch_add(1, std::memory_order_relaxed);
  *out = SliceOf(std::move(record), c.data_at, c.length);
  return true;
}

void StoreImpl::AsyncRead(const ObjectInfo& info, uint64_t offset, size_t max_len,
                          ReadCallback done) {
  if (offset >= info.body_length || max_len == 0) {
    done(Status::InvalidArgument("read outside the body"), {});
    return;
  }
  BodySlice cached;
  if (ReadCached(info, offset, max_len, &cached)) {
    done(Status::OK(), std::move(cached));
    return;
  }
  if (info.extents.front().segment == cache::kProbationSegment) {
    ReadPromoted(info, offset, max_len, std::move(done));
    return;
  }
  ReadChunk(info, offset, max_len, /*fill_cache=*/true, /*drop_bad=*/!options_.read_only,
            std::move(done));
}

void StoreImpl::ReadPromoted(const ObjectInfo& info, uint64_t offset, size_t max_len,
                             ReadCallback done) {
  ObjectInfo stored;
  bool found = false;
  Status s = table_->GetEntry(format::EntryKey(info.key), &stored, &found);
  if (s.ok() && (!found || stored.body_version != info.body_version || stored.extents.empty())) {
    s = Status::NotFound("no longer held on probation");
  }
  if (!s.ok()) {
    done(std::move(s), {});
    return;
  }
  ReadChunk(stored, offset, max_len, /*fill_cache=*/true, /*drop_bad=*/!options_.read_only,
            std::move(done));
}

void StoreImpl::ReadChunk(const ObjectInfo& info, uint64_t offset, size_t max_len, bool fill_cache,
                          bool drop_bad, ReadCallback done) {
  const ChunkSpan span = Locate(info, offset, max_len);
  const BodyExtent extent = span.extent;
  const std::string entry_key = format::EntryKey(info.key);
  const size_t data_at = span.data_at;
  const size_t len = span.length;
  const uint64_t chunk_start = span.chunk_start;

  std::shared_ptr<segment::Segment> seg = segments_->Get(extent.segment);
  if (seg == nullptr) {
    done(Status::NotFound("segment reclaimed"), {});
    return;
  }
  disk_reads_.fetch_add(1, std::memory_order_relaxed);
  // A large record goes to the RAM cache's arena, from which it can be sent with sendfile.
  char* buffer = nullptr;
  const size_t size = format::ChunkRecordSize(entry_key.size(), extent.length);
  cache::HeldRecord record =
      fill_cache ? ram_.NewRecord(size, &buffer) : cache::RamCache::NewStringRecord(size, &buffer);
  inflight_io_.Begin();
  int fd = seg->fd;
  io_->Read(fd, buffer, size, extent.offset,
            [this, record, seg, extent, entry_key, data_at, len, chunk_start, fill_cache, drop_bad,
             body_version = info.body_version, version = info.version,
             done = std::move(done)](ssize_t n) {
              Status s;
              std::string_view data;
              if (n < 0) {
                io_errors_.fetch_add(1, std::memory_order_relaxed);
                s = Status::FromErrno(static_cast<int>(-n), "read chunk");
              } else if (static_cast<size_t>(n) != record.bytes.size()) {
                s = Status::Corruption("short read of a chunk record");
              } else {
                s = format::VerifyChunkRecord(record.bytes, entry_key, body_version, chunk_start,
                                              extent.length, &data);
              }
              if (s.ok()) {
                if (fill_cache) ram_.Put(extent.segment, extent.offset, record);
                done(Status::OK(), SliceOf(record, data_at, len));
              } else {
                corrupt_reads_.fetch_add(1, std::memory_order_relaxed);
                spdlog::warn("store {}: chunk of {} at segment {} offset {} is bad: {}", dir_,
                             entry_key.substr(0, entry_key.find('\0')), extent.segment,
                             extent.offset, s.ToString());
                if (drop_bad) {
                  boost::asio::post(workers_,
                                    [this, entry_key, version] { DropEntry(entry_key, version); });
                }
                done(std::move(s), {});
              }
              inflight_io_.End();
            });
}

void StoreImpl::DropEntry(const std::string& entry_key, uint64_t version) {
  std::lock_guard stripe(table_->Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  Status s = table_->GetEntry(entry_key, &info, &found);
  if (!s.ok() || !found || info.version != version) {
    s.IgnoreError();  // already gone or replaced: nothing to drop
    return;
  }
  index::EntryTable::Batch batch(*table_);
  batch.DeleteEntry(entry_key, info);
  s = table_->Write(batch, /*sync=*/false, "drop bad entry");
  if (s.ok()) {
    CountRemoved(info);
  } else {
    spdlog::warn("store {}: {}", dir_, s.ToString());
  }
}

}  // namespace edgecache
