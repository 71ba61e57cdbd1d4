#include "store_impl.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"
#include "store_internal.h"

namespace edgecache {
namespace {

namespace fs = std::filesystem;
using index::FromRocks;
using internal::HasTag;
using internal::WriteOpts;

constexpr char kMarkerFile[] = "EDGECACHE";
constexpr char kLockFile[] = "LOCK";
constexpr uint64_t kVersionBlock = 1 << 20;

// Reads the marker of an existing store, or checks that a new one may be created here.
Status CheckMarker(const std::string& dir, bool* exists) {
  std::string marker = dir + "/" + kMarkerFile;
  std::ifstream in(marker);
  if (!in) {
    *exists = false;
    std::error_code ec;
    if (!fs::is_empty(dir, ec)) {
      return Status::InvalidArgument(dir +
                                     " is not empty and holds no edgecache store: refusing to "
                                     "use it (point --store at an empty or new directory)");
    }
    return Status::OK();
  }
  *exists = true;
  std::string magic, word;
  uint32_t version = 0;
  in >> magic >> word >> version;
  if (magic != "edgecache-store" || word != "format") {
    return Status::Corruption(marker + " is not an edgecache store marker");
  }
  if (version != format::kStoreFormatVersion) {
    return Status::Incompatible("store " + dir + " has format version " + std::to_string(version) +
                                "; this build reads version " +
                                std::to_string(format::kStoreFormatVersion));
  }
  return Status::OK();
}

Status WriteMarker(const std::string& dir) {
  std::string marker = dir + "/" + kMarkerFile;
  std::ofstream out(marker, std::ios::trunc);
  out << "edgecache-store format " << format::kStoreFormatVersion << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + marker);
  return Status::OK();
}

}  // namespace

Status Store::Open(const StoreOptions& options, const std::string& dir,
                   std::unique_ptr<Store>* out) {
  Status s = options.Validate();
  if (!s.ok()) return s;
  auto store = std::make_unique<StoreImpl>(options, dir);
  s = store->Init();
  if (!s.ok()) return s;
  *out = std::move(store);
  return Status::OK();
}

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

StoreImpl::StoreImpl(const StoreOptions& options, std::string dir)
    : options_(options),
      dir_(std::move(dir)),
      ram_(options.ram_cache_bytes),
      workers_(static_cast<size_t>(options.worker_threads)),
      hit_bits_(new std::atomic<uint64_t>[kHitBitWords]()),
      hit_sketch_(new std::atomic<uint32_t>[kSketchRows * kSketchColumns]()) {}

Status StoreImpl::Init() {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    if (!options_.create_if_missing || options_.read_only)
      return Status::NotFound("no store at " + dir_);
    fs::create_directories(dir_, ec);
    if (ec) return Status::IOError("create " + dir_ + ": " + ec.message());
  }
  bool exists = false;
  Status s = CheckMarker(dir_, &exists);
  if (!s.ok()) return s;
  if (!exists && options_.read_only) return Status::NotFound("no store at " + dir_);

  // Writers hold the lock exclusively; read-only users share it (and write no pid).
  std::string lock_path = dir_ + "/" + kLockFile;
  lock_fd_ = options_.read_only ? ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC)
                                : ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::FromErrno(errno, "open " + lock_path);
  if (::flock(lock_fd_, (options_.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    // The file names the last process that opened the store for writing: the holder when
    // a reader is refused (only a writer excludes readers), maybe not when a writer is.
    char pid[32] = {};
    ssize_t n = ::pread(lock_fd_, pid, sizeof(pid) - 1, 0);
    std::string writer = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!writer.empty() && writer.back() == '\n') writer.pop_back();
    if (options_.read_only) {
      return Status::Busy("store " + dir_ + " is in use by another process (pid " + writer + ")");
    }
    return Status::Busy("store " + dir_ +
                        " is in use by another process: a node (last opened by pid " + writer +
                        ") or a read-only user such as edgecachectl");
  }
  if (!options_.read_only) {
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
      return Status::FromErrno(errno, "write " + lock_path);
    }
  }
  if (!exists) {
    s = WriteMarker(dir_);
    if (!s.ok()) return s;
  }

  if (options_.io) {
    io_ = options_.io;
  } else {
    std::unique_ptr<IoBackend> io;
    s = MakeIoBackend(options_.io_backend, options_.io_threads, &io);
    if (!s.ok()) return s;
    io_ = std::move(io);
  }
  spdlog::info("store {}: I/O backend {}", dir_, io_->Name());

  s = index::OpenIndexDb(options_, dir_ + "/index", &index_);
  if (!s.ok()) return s;
  std::vector<purge::Rule> loaded_rules;
  s = LoadMeta(&loaded_rules);
  if (!s.ok()) return s;

  segments_ = std::make_unique<segment::SegmentManager>(
      options_, dir_ + "/segments", *io_, *index_.db, *index_.segments,
      segment::SegmentManager::Hooks{
          .reclaimed = [this](uint64_t id) { Enqueue([this, id] { CleanupSegment(id); }); },
          .next_to_reclaim =
              [this](uint64_t id) {
                if (options_.reinsert_hot_objects) Enqueue([this, id] { ReinsertHot(id); });
              },
      });
  std::vector<uint64_t> dead;
  s = segments_->Open(&dead);
  if (!s.ok()) return s;

  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  if (!options_.read_only) {
    for (uint64_t id : dead) Enqueue([this, id] { CleanupSegment(id); });
    for (const purge::Rule& rule : loaded_rules) Enqueue([this, rule] { CleanupRule(rule); });
  }
  if (!clean_open_) Enqueue([this] { Recount(); });
  return Status::OK();
}

StoreImpl::~StoreImpl() {
  closing_ = true;
  jobs_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  {
    std::unique_lock lock(io_mu_);
    io_idle_.wait(lock, [this] { return inflight_io_.load() == 0; });
  }
  workers_.join();
  if (index_.db && segments_ && counts_valid_ && !options_.read_only) {
    std::string value;
    format::PutVarint64(&value, static_cast<uint64_t>(std::max<int64_t>(0, objects_)));
    format::PutVarint64(&value, static_cast<uint64_t>(std::max<int64_t>(0, body_bytes_)));
    Status s = FromRocks(index_.db->Put(WriteOpts(true), index_.meta, format::kMetaCounters, value),
                         "record counters");
    if (!s.ok()) spdlog::warn("store {}: {}", dir_, s.ToString());
  }
  segments_.reset();
  index_.Close();
  io_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status StoreImpl::ValidateKey(const ObjectKey& key) {
  if (key.primary.empty()) return Status::InvalidArgument("empty primary key");
  if (key.primary.find('\0') != std::string::npos ||
      key.secondary.find('\0') != std::string::npos) {
    return Status::InvalidArgument("key contains a NUL byte");
  }
  if (key.primary.size() + key.secondary.size() > (16u << 10)) {
    return Status::InvalidArgument("key longer than 16 KiB");
  }
  return Status::OK();
}

Status StoreImpl::ReadOnlyError() const {
  return Status::NotSupported("store " + dir_ + " is open read-only");
}

Status StoreImpl::LoadMeta(std::vector<purge::Rule>* rules) {
  rocksdb::DB& db = *index_.db;
  std::string value;
  rocksdb::Status rs =
      db.Get(rocksdb::ReadOptions(), index_.meta, format::kMetaFormatVersion, &value);
  if (rs.IsNotFound() && options_.read_only) {
    return Status::Corruption("index of " + dir_ + " records no format version");
  } else if (rs.IsNotFound()) {
    std::string v;
    format::PutFixed32(&v, format::kStoreFormatVersion);
    Status s = FromRocks(db.Put(WriteOpts(true), index_.meta, format::kMetaFormatVersion, v),
                         "record format version");
    if (!s.ok()) return s;
    // A new store: its counters (zero) are exact. A recount would race the first inserts
    // and could overwrite the live counts with a snapshot's.
    clean_open_ = counts_valid_ = true;
  } else if (!rs.ok()) {
    return FromRocks(rs, "read format version");
  } else if (value.size() != 4 ||
             format::DecodeFixed32(value.data()) != format::kStoreFormatVersion) {
    return Status::Incompatible("index of " + dir_ + " has another format version");
  }

  rs = db.Get(rocksdb::ReadOptions(), index_.meta, format::kMetaVersionReserved, &value);
  if (rs.ok() && value.size() == 8) {
    next_version_ = format::DecodeBigEndian64(value.data());
  } else if (!rs.IsNotFound()) {
    return rs.ok() ? Status::Corruption("index: bad version reservation")
                   : FromRocks(rs, "read version reservation");
  }
  // Nothing is reserved beyond what the last run may have used: the first allocation
  // persists a new block.
  reserved_version_ = next_version_.load();

  rs = db.Get(rocksdb::ReadOptions(), index_.meta, format::kMetaCounters, &value);
  if (rs.ok()) {
    format::Decoder d(value);
    objects_ = static_cast<int64_t>(d.Varint64());
    body_bytes_ = static_cast<int64_t>(d.Varint64());
    clean_open_ = counts_valid_ = d.ok();
    // Counters are only trusted after a clean close: remove them until the next one.
    if (!options_.read_only) {
      Status s = FromRocks(db.Delete(WriteOpts(true), index_.meta, format::kMetaCounters),
                           "clear counters");
      if (!s.ok()) return s;
    }
  } else if (!rs.IsNotFound()) {
    return FromRocks(rs, "read counters");
  }

  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), index_.meta));
  const std::string prefix = format::kMetaRulePrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) return Status::Corruption("index: bad rule key");
    purge::Rule rule;
    Status s = purge::DecodeRule(format::DecodeBigEndian64(it->key().data() + prefix.size()),
                                 it->value().ToStringView(), &rule);
    if (!s.ok()) return s;
    rules_.Install(rule);
    rules->push_back(std::move(rule));
  }
  return FromRocks(it->status(), "read purge rules");
}

uint64_t StoreImpl::NextVersion() {
  uint64_t v = next_version_.fetch_add(1);
  if (v >= reserved_version_.load()) {
    std::lock_guard lock(reserve_mu_);
    while (v >= reserved_version_.load()) {
      uint64_t reserve = reserved_version_.load() + kVersionBlock;
      std::string value;
      format::PutBigEndian64(&value, reserve);
      Status s = FromRocks(
          index_.db->Put(WriteOpts(true), index_.meta, format::kMetaVersionReserved, value),
          "reserve versions");
      // Going on is safe: versions only order entries against purges, and a restart after
      // this failure can at worst make an entry look older than a purge (a spurious miss).
      if (!s.ok()) spdlog::error("store {}: {}", dir_, s.ToString());
      reserved_version_ = reserve;
    }
  }
  return v;
}

StoreImpl::Serve StoreImpl::Classify(const ObjectInfo& info) const {
  return Classify(info, *rules_.Snapshot());
}

StoreImpl::Serve StoreImpl::Classify(const ObjectInfo& info, const purge::RuleSet& rules) const {
  const uint64_t min_live = segments_->min_live();
  for (const BodyExtent& e : info.extents) {
    if (e.segment < min_live) return Serve::kNo;
  }
  if (!rules.empty()) {
    switch (rules.Apply(info)) {
      case purge::Verdict::kGone:
        return Serve::kNo;
      case purge::Verdict::kStale:
        return Serve::kStale;
      case purge::Verdict::kKeep:
        break;
    }
  }
  return info.invalidated ? Serve::kStale : Serve::kYes;
}

Status StoreImpl::ReadEntry(const std::string& entry_key, ObjectInfo* info, bool* found) {
  std::string value;
  rocksdb::Status rs = index_.db->Get(rocksdb::ReadOptions(), index_.entries, entry_key, &value);
  *found = false;
  if (rs.IsNotFound()) return Status::OK();
  if (!rs.ok()) return FromRocks(rs, "read index entry");
  Status s = format::DecodeEntry(value, info);
  if (s.ok())
    s = format::SplitEntryKey(entry_key, &info->key)
            ? Status::OK()
            : Status::Corruption("index: entry key without separator");
  if (!s.ok()) {
    // A bad entry is a miss; removing it keeps it from being decoded again.
    spdlog::warn("store {}: dropping undecodable index entry: {}", dir_, s.ToString());
    if (options_.read_only) return Status::OK();
    return FromRocks(index_.db->Delete(WriteOpts(false), index_.entries, entry_key),
                     "drop bad entry");
  }
  *found = true;
  return Status::OK();
}

Status StoreImpl::Lookup(const ObjectKey& key, ObjectInfo* info) {
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  bool found = false;
  const std::string entry_key = format::EntryKey(key);
  s = ReadEntry(entry_key, info, &found);
  if (!s.ok()) return s;
  Serve serve = found ? Classify(*info) : Serve::kNo;
  if (serve == Serve::kNo) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return Status::NotFound(found ? "evicted or purged" : "not stored");
  }
  info->invalidated = serve == Serve::kStale;
  hits_.fetch_add(1, std::memory_order_relaxed);
  MarkHit(entry_key);
  CountHit(entry_key);
  return Status::OK();
}

Status StoreImpl::LookupVariant(std::string_view primary, const HeaderGetter& request_header,
                                ObjectInfo* info) {
  ObjectKey key{std::string(primary), ""};
  std::string names;
  rocksdb::Status rs = index_.db->Get(rocksdb::ReadOptions(), index_.vary, key.primary, &names);
  if (rs.ok()) {
    key.secondary = SecondaryKeyFor(format::DecodeVaryNames(names), request_header);
  } else if (!rs.IsNotFound()) {
    return FromRocks(rs, "read vary names");
  }
  return Lookup(key, info);
}

Status StoreImpl::Variants(std::string_view primary, std::vector<ObjectInfo>* out) {
  out->clear();
  const std::string prefix = format::EntryKeyPrefix(primary);
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(rocksdb::ReadOptions(), index_.entries));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    ObjectInfo info;
    if (!format::DecodeEntry(it->value().ToStringView(), &info).ok()) continue;
    format::SplitEntryKey(it->key().ToStringView(), &info.key);
    Serve serve = Classify(info);
    if (serve == Serve::kNo) continue;
    info.invalidated = serve == Serve::kStale;
    info.hits = EstimateHits(it->key().ToStringView());
    out->push_back(std::move(info));
  }
  return FromRocks(it->status(), "scan variants");
}

StoreImpl::ChunkSpan StoreImpl::Locate(const ObjectInfo& info, uint64_t offset, size_t max_len) {
  ChunkSpan c;
  size_t i = 0;
  while (c.chunk_start + info.extents[i].length <= offset)
    c.chunk_start += info.extents[i++].length;
  c.extent = info.extents[i];
  c.entry_key = format::EntryKey(info.key);
  c.data_at = format::kChunkHeaderSize + c.entry_key.size() + (offset - c.chunk_start);
  c.length = std::min<uint64_t>(max_len, c.extent.length - (offset - c.chunk_start));
  return c;
}

bool StoreImpl::ReadCached(const ObjectInfo& info, uint64_t offset, size_t max_len,
                           BodySlice* out) {
  if (offset >= info.body_length || max_len == 0) return false;
  const ChunkSpan c = Locate(info, offset, max_len);
  std::shared_ptr<const std::string> record = ram_.Get(c.extent.segment, c.extent.offset);
  if (!record) return false;
  ram_hits_.fetch_add(1, std::memory_order_relaxed);
  std::string_view data = std::string_view(*record).substr(c.data_at, c.length);
  *out = BodySlice{std::move(record), data};
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
  ReadChunk(info, offset, max_len, /*fill_cache=*/true, /*drop_bad=*/!options_.read_only,
            std::move(done));
}

void StoreImpl::ReadChunk(const ObjectInfo& info, uint64_t offset, size_t max_len, bool fill_cache,
                          bool drop_bad, ReadCallback done) {
  const ChunkSpan span = Locate(info, offset, max_len);
  const BodyExtent extent = span.extent;
  const std::string& entry_key = span.entry_key;
  const size_t data_at = span.data_at;
  const size_t len = span.length;
  const uint64_t chunk_start = span.chunk_start;

  std::shared_ptr<segment::Segment> seg = segments_->Get(extent.segment);
  if (seg == nullptr) {
    done(Status::NotFound("segment reclaimed"), {});
    return;
  }
  disk_reads_.fetch_add(1, std::memory_order_relaxed);
  auto record =
      std::make_shared<std::string>(format::ChunkRecordSize(entry_key.size(), extent.length), '\0');
  BeginIo();
  int fd = seg->fd;
  io_->Read(
      fd, record->data(), record->size(), extent.offset,
      [this, record, seg, extent, entry_key, data_at, len, chunk_start, fill_cache, drop_bad,
       body_version = info.body_version, version = info.version,
       done = std::move(done)](ssize_t n) {
        Status s;
        std::string_view data;
        if (n < 0) {
          io_errors_.fetch_add(1, std::memory_order_relaxed);
          s = Status::FromErrno(static_cast<int>(-n), "read chunk");
        } else if (static_cast<size_t>(n) != record->size()) {
          s = Status::Corruption("short read of a chunk record");
        } else {
          s = format::VerifyChunkRecord(*record, entry_key, body_version, chunk_start,
                                        extent.length, &data);
        }
        if (s.ok()) {
          if (fill_cache) ram_.Put(extent.segment, extent.offset, record);
          done(Status::OK(), BodySlice{record, std::string_view(*record).substr(data_at, len)});
        } else {
          corrupt_reads_.fetch_add(1, std::memory_order_relaxed);
          spdlog::warn("store {}: chunk of {} at segment {} offset {} is bad: {}", dir_,
                       entry_key.substr(0, entry_key.find('\0')), extent.segment, extent.offset,
                       s.ToString());
          if (drop_bad) {
            boost::asio::post(workers_,
                              [this, entry_key, version] { DropEntry(entry_key, version); });
          }
          done(std::move(s), {});
        }
        EndIo();
      });
}

void StoreImpl::EndIo() {
  std::lock_guard lock(io_mu_);
  if (inflight_io_.fetch_sub(1) == 1) io_idle_.notify_all();
}

void StoreImpl::PutEntry(const std::string& entry_key, const ObjectInfo& info,
                         const ObjectInfo* old, rocksdb::WriteBatch* batch) {
  batch->Put(index_.entries, entry_key, format::EncodeEntry(info));
  for (const auto& tag : info.meta.tags)
    batch->Put(index_.tags, format::TagKey(tag, entry_key), "");
  if (old != nullptr) {
    for (const auto& tag : old->meta.tags) {
      if (!HasTag(info, tag)) batch->Delete(index_.tags, format::TagKey(tag, entry_key));
    }
  }
  if (!info.meta.vary.empty()) {
    batch->Put(index_.vary, info.key.primary, format::EncodeVaryNames(info.meta.vary));
  } else if (info.key.secondary.empty()) {
    batch->Delete(index_.vary, info.key.primary);
  }
}

Status StoreImpl::Publish(ObjectInfo info) {
  const std::string entry_key = format::EntryKey(info.key);
  std::shared_lock rules_lock(rules_mu_);
  for (const BodyExtent& e : info.extents) {
    if (e.segment < segments_->min_live()) {
      return Status::Aborted("segment reclaimed while the object was being written");
    }
  }
  switch (rules_.Snapshot()->Apply(info)) {
    case purge::Verdict::kGone:
      return Status::Aborted("purged while being written");
    case purge::Verdict::kStale:
      info.invalidated = true;
      break;
    case purge::Verdict::kKeep:
      break;
  }
  if (auto it = url_purges_.find(info.key.primary);
      it != url_purges_.end() && info.version < it->second.first) {
    if (it->second.second == PurgeMode::kHard) return Status::Aborted("purged while being written");
    info.invalidated = true;
  }

  std::lock_guard stripe(Stripe(entry_key));
  ObjectInfo old;
  bool found = false;
  Status s = ReadEntry(entry_key, &old, &found);
  if (!s.ok()) return s;
  rocksdb::WriteBatch batch;
  PutEntry(entry_key, info, found ? &old : nullptr, &batch);
  uint64_t last_segment = 0;
  for (const BodyExtent& e : info.extents) {
    if (e.segment == last_segment) continue;
    last_segment = e.segment;
    batch.Put(index_.segments, format::SegmentMemberKey(e.segment, entry_key), "");
  }
  s = FromRocks(index_.db->Write(WriteOpts(options_.sync == SyncPolicy::kCommit), &batch),
                "write index entry");
  if (!s.ok()) return s;
  if (found) {
    CountRemoved(old);
  }
  objects_.fetch_add(1, std::memory_order_relaxed);
  body_bytes_.fetch_add(static_cast<int64_t>(info.body_length), std::memory_order_relaxed);
  inserts_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

void StoreImpl::InsertFinished(uint64_t version) {
  std::lock_guard lock(inflight_mu_);
  inflight_inserts_.erase(inflight_inserts_.find(version));
}

uint64_t StoreImpl::OldestInflightInsert() {
  std::lock_guard lock(inflight_mu_);
  return inflight_inserts_.empty() ? UINT64_MAX : *inflight_inserts_.begin();
}

uint64_t StoreImpl::RegisterInsert() {
  std::lock_guard lock(inflight_mu_);
  uint64_t version = NextVersion();
  inflight_inserts_.insert(version);
  return version;
}

Status StoreImpl::UpdateMeta(const ObjectKey& key, uint64_t expected_version,
                             const ObjectMeta& meta) {
  if (options_.read_only) return ReadOnlyError();
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  const std::string entry_key = format::EntryKey(key);
  std::shared_lock rules_lock(rules_mu_);
  std::lock_guard stripe(Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  s = ReadEntry(entry_key, &info, &found);
  if (!s.ok()) return s;
  if (!found || Classify(info) == Serve::kNo) return Status::NotFound("not stored");
  if (info.version != expected_version) {
    return Status::Aborted("the entry changed since it was looked up");
  }
  ObjectInfo old = info;
  info.meta = meta;
  info.version = NextVersion();
  info.invalidated = false;
  rocksdb::WriteBatch batch;
  PutEntry(entry_key, info, &old, &batch);
  return FromRocks(index_.db->Write(WriteOpts(options_.sync == SyncPolicy::kCommit), &batch),
                   "update index entry");
}

void StoreImpl::DeleteEntry(const std::string& entry_key, const ObjectInfo& info,
                            rocksdb::WriteBatch* batch) {
  batch->Delete(index_.entries, entry_key);
  for (const auto& tag : info.meta.tags) batch->Delete(index_.tags, format::TagKey(tag, entry_key));
}

void StoreImpl::CountRemoved(const ObjectInfo& info) {
  objects_.fetch_sub(1, std::memory_order_relaxed);
  body_bytes_.fetch_sub(static_cast<int64_t>(info.body_length), std::memory_order_relaxed);
}

Status StoreImpl::Remove(const ObjectKey& key) {
  if (options_.read_only) return ReadOnlyError();
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  const std::string entry_key = format::EntryKey(key);
  std::lock_guard stripe(Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  s = ReadEntry(entry_key, &info, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound("not stored");
  rocksdb::WriteBatch batch;
  DeleteEntry(entry_key, info, &batch);
  s = FromRocks(index_.db->Write(WriteOpts(options_.sync == SyncPolicy::kCommit), &batch),
                "remove index entry");
  if (s.ok()) CountRemoved(info);
  return s;
}

void StoreImpl::DropEntry(const std::string& entry_key, uint64_t version) {
  std::lock_guard stripe(Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  Status s = ReadEntry(entry_key, &info, &found);
  if (!s.ok() || !found || info.version != version) {
    s.IgnoreError();  // already gone or replaced: nothing to drop
    return;
  }
  rocksdb::WriteBatch batch;
  DeleteEntry(entry_key, info, &batch);
  s = FromRocks(index_.db->Write(WriteOpts(false), &batch), "drop bad entry");
  if (s.ok()) {
    CountRemoved(info);
  } else {
    spdlog::warn("store {}: {}", dir_, s.ToString());
  }
}

Status StoreImpl::List(const ListOptions& options, std::vector<ObjectInfo>* out) {
  out->clear();
  const bool by_tag = !options.tag.empty();
  rocksdb::ColumnFamilyHandle* family = by_tag ? index_.tags : index_.entries;
  const std::string scan_prefix = by_tag ? format::TagKeyPrefix(options.tag) : options.prefix;
  std::string from = options.prefix;
  // Every entry key of a primary key P sorts before P + "\x01".
  if (!options.start_after.empty()) from = std::max(from, options.start_after + "\x01");
  const std::string start = (by_tag ? scan_prefix : std::string()) + from;
  std::unique_ptr<rocksdb::Iterator> it(index_.db->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek(start);
       it->Valid() && it->key().starts_with(scan_prefix) && out->size() < options.limit;
       it->Next()) {
    ObjectInfo info;
    std::string entry_key = it->key().ToString().substr(by_tag ? scan_prefix.size() : 0);
    if (!entry_key.starts_with(options.prefix)) {
      if (by_tag && entry_key > options.prefix) break;
      continue;
    }
    if (by_tag) {
      bool found = false;
      Status s = ReadEntry(entry_key, &info, &found);
      if (!s.ok()) return s;
      if (!found || !HasTag(info, options.tag)) continue;
    } else {
      if (!format::DecodeEntry(it->value().ToStringView(), &info).ok()) continue;
      format::SplitEntryKey(entry_key, &info.key);
    }
    Serve serve = Classify(info);
    if (serve == Serve::kNo) continue;
    info.invalidated = serve == Serve::kStale;
    info.hits = EstimateHits(entry_key);
    out->push_back(std::move(info));
  }
  return FromRocks(it->status(), "list");
}

StoreCounters StoreImpl::Counters() const {
  StoreCounters c;
  c.objects = static_cast<uint64_t>(std::max<int64_t>(0, objects_.load()));
  c.body_bytes = static_cast<uint64_t>(std::max<int64_t>(0, body_bytes_.load()));
  c.segments = segments_->count();
  c.segment_bytes = c.segments * options_.segment_bytes;
  c.capacity_bytes = options_.capacity_bytes;
  c.hits = hits_.load();
  c.misses = misses_.load();
  c.inserts = inserts_.load();
  c.evictions = evictions_.load();
  c.reinserted = reinserted_.load();
  c.segments_reclaimed = segments_->reclaimed();
  c.purges = purges_.load();
  c.purged_objects = purged_objects_.load();
  c.ram_cache_hits = ram_hits_.load();
  c.disk_reads = disk_reads_.load();
  c.corrupt_reads = corrupt_reads_.load();
  c.io_errors = io_errors_.load();
  return c;
}

std::mutex& StoreImpl::Stripe(std::string_view entry_key) {
  return stripes_[std::hash<std::string_view>()(entry_key) % stripes_.size()];
}

// --- background work ---

void StoreImpl::Enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_all();
}

void StoreImpl::WaitForBackgroundWork() {
  std::unique_lock lock(jobs_mu_);
  jobs_cv_.wait(lock, [this] { return (jobs_.empty() && !job_running_) || closing_; });
}

void StoreImpl::MaintenanceLoop() {
  std::unique_lock lock(jobs_mu_);
  while (!closing_) {
    if (!jobs_.empty()) {
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      job_running_ = true;
      lock.unlock();
      job();
      lock.lock();
      job_running_ = false;
      jobs_cv_.notify_all();
      continue;
    }
    if (!retiring_.empty()) {
      std::vector<purge::Rule> pending = std::move(retiring_);
      retiring_.clear();
      lock.unlock();
      std::erase_if(pending, [this](const purge::Rule& r) { return TryRetireRule(r); });
      lock.lock();
      retiring_.insert(retiring_.end(), pending.begin(), pending.end());
      if (!retiring_.empty()) jobs_cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    jobs_cv_.wait(lock);
  }
  jobs_cv_.notify_all();
}

void StoreImpl::CleanupSegment(uint64_t segment) {
  const std::string prefix = format::SegmentMemberPrefix(segment);
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(rocksdb::ReadOptions(), index_.segments));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (closing_) return;  // the segment record stays; the next Open resumes
    std::string entry_key = it->key().ToString().substr(prefix.size());
    std::lock_guard stripe(Stripe(entry_key));
    ObjectInfo info;
    bool found = false;
    Status s = ReadEntry(entry_key, &info, &found);
    if (!s.ok() || !found) {
      s.IgnoreError();
      continue;
    }
    bool dead = false;
    for (const BodyExtent& e : info.extents) dead = dead || e.segment < segments_->min_live();
    if (!dead) continue;  // replaced by a newer insert elsewhere
    rocksdb::WriteBatch batch;
    DeleteEntry(entry_key, info, &batch);
    s = FromRocks(index_.db->Write(WriteOpts(false), &batch), "evict entry");
    if (!s.ok()) {
      spdlog::warn("store {}: {}", dir_, s.ToString());
      return;
    }
    CountRemoved(info);
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  rocksdb::WriteBatch batch;
  batch.DeleteRange(index_.segments, prefix, format::SegmentMemberPrefix(segment + 1));
  batch.Delete(index_.segments, format::SegmentRecordKey(segment));
  Status s = FromRocks(it->status(), "scan segment members");
  if (s.ok()) s = FromRocks(index_.db->Write(WriteOpts(false), &batch), "forget segment");
  if (!s.ok()) spdlog::warn("store {}: {}", dir_, s.ToString());
}

void StoreImpl::MarkHit(std::string_view entry_key) {
  size_t h = std::hash<std::string_view>()(entry_key);
  std::atomic<uint64_t>& word = hit_bits_[(h >> 6) % kHitBitWords];
  const uint64_t bit = 1ull << (h & 63);
  // Reading first keeps a hot key's hits from writing the shared cache line every time.
  if ((word.load(std::memory_order_relaxed) & bit) == 0)
    word.fetch_or(bit, std::memory_order_relaxed);
}

bool StoreImpl::TakeHit(std::string_view entry_key) {
  size_t h = std::hash<std::string_view>()(entry_key);
  const uint64_t bit = 1ull << (h & 63);
  return (hit_bits_[(h >> 6) % kHitBitWords].fetch_and(~bit, std::memory_order_relaxed) & bit) != 0;
}

void StoreImpl::CountHit(std::string_view entry_key) {
  // Every row counts every hit, so the minimum over the rows never under-counts, however
  // hits race.
  const size_t h = std::hash<std::string_view>()(entry_key);
  for (size_t row = 0; row < kSketchRows; ++row) {
    const size_t column = (h + row * ((h >> 32) | 1)) % kSketchColumns;
    hit_sketch_[row * kSketchColumns + column].fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t StoreImpl::EstimateHits(std::string_view entry_key) const {
  const size_t h = std::hash<std::string_view>()(entry_key);
  uint32_t min = UINT32_MAX;
  for (size_t row = 0; row < kSketchRows; ++row) {
    const size_t column = (h + row * ((h >> 32) | 1)) % kSketchColumns;
    min = std::min(min, hit_sketch_[row * kSketchColumns + column].load(std::memory_order_relaxed));
  }
  return min;
}

Status StoreImpl::CopyBody(const ObjectInfo& info, std::vector<BodyExtent>* out) {
  const std::string entry_key = format::EntryKey(info.key);
  const size_t prefix_size = format::ChunkRecordSize(entry_key.size(), 0);
  uint64_t chunk_start = 0;
  std::set<uint64_t> written;
  for (const BodyExtent& old : info.extents) {
    std::string data;
    Status s = Read(info, &data, chunk_start, old.length);
    if (!s.ok()) return s;
    std::string record(prefix_size, '\0');
    record += data;
    format::SealChunkRecord(&record, entry_key, info.body_version, chunk_start);
    segment::Allocation where;
    s = segments_->Allocate(static_cast<uint32_t>(record.size()), &where);
    if (!s.ok()) return s;
    s = WriteFully(*io_, where.segment->fd, record.data(), record.size(), where.offset,
                   "copy chunk");
    if (s.ok() && options_.sync == SyncPolicy::kCommit &&
        written.insert(where.segment->id).second) {
      s = SyncFile(*io_, where.segment->fd, "sync segment");
    }
    if (!s.ok()) return s;
    out->push_back({where.segment->id, where.offset, old.length});
    chunk_start += old.length;
  }
  return Status::OK();
}

void StoreImpl::ReinsertHot(uint64_t segment) {
  const std::string prefix = format::SegmentMemberPrefix(segment);
  uint64_t budget = options_.segment_bytes / 2;
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(rocksdb::ReadOptions(), index_.segments));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (closing_ || segment < segments_->min_live()) return;  // too late: reclaimed
    std::string entry_key = it->key().ToString().substr(prefix.size());
    if (!TakeHit(entry_key)) continue;
    ObjectInfo info;
    bool found = false;
    Status s = ReadEntry(entry_key, &info, &found);
    if (!s.ok() || !found || Classify(info) != Serve::kYes || info.body_length > budget) {
      s.IgnoreError();  // gone, stale or too big: not worth a copy
      continue;
    }
    std::vector<BodyExtent> extents;
    s = CopyBody(info, &extents);
    if (!s.ok()) {
      spdlog::warn("store {}: re-inserting a hot object failed: {}", dir_, s.ToString());
      return;
    }
    budget -= info.body_length;
    // Swap the extents only if the entry did not change meanwhile; otherwise the copy is
    // garbage in the segment, reclaimed with it.
    std::lock_guard stripe(Stripe(entry_key));
    ObjectInfo current;
    s = ReadEntry(entry_key, &current, &found);
    if (!s.ok() || !found || current.version != info.version || current.extents != info.extents) {
      s.IgnoreError();
      continue;
    }
    current.extents = extents;
    rocksdb::WriteBatch batch;
    batch.Put(index_.entries, entry_key, format::EncodeEntry(current));
    for (const BodyExtent& e : extents) {
      batch.Put(index_.segments, format::SegmentMemberKey(e.segment, entry_key), "");
    }
    s = FromRocks(index_.db->Write(WriteOpts(options_.sync == SyncPolicy::kCommit), &batch),
                  "re-insert entry");
    if (!s.ok()) {
      spdlog::warn("store {}: {}", dir_, s.ToString());
      return;
    }
    reinserted_.fetch_add(1, std::memory_order_relaxed);
  }
}

void StoreImpl::Recount() {
  int64_t objects = 0, bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(rocksdb::ReadOptions(), index_.entries));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (closing_) return;
    ObjectInfo info;
    if (!format::DecodeEntry(it->value().ToStringView(), &info).ok()) continue;
    ++objects;
    bytes += static_cast<int64_t>(info.body_length);
  }
  if (!it->status().ok()) return;
  objects_ = objects;
  body_bytes_ = bytes;
  counts_valid_ = true;
}

}  // namespace edgecache
