#include "index/entry_table.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "edgecache/thread_name.h"
#include "format/index_layout.h"
#include "index/index_db.h"
#include "store_internal.h"

namespace edgecache::index {
namespace {

rocksdb::ColumnFamilyHandle* Handle(const IndexDb& db, Family family) {
  switch (family) {
    case Family::kMeta:
      return db.meta;
    case Family::kEntries:
      return db.entries;
    case Family::kVary:
      return db.vary;
    case Family::kTags:
      return db.tags;
    case Family::kSegments:
      return db.segments;
  }
  return db.meta;
}

rocksdb::WriteOptions WriteOpts(bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return wo;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Whether the entry of `entry_key` is cached in its URL's record too: it has no secondary
// key. Reads (GetEntry) and invalidation (Drop) must agree on this.
bool InUrlRecord(std::string_view entry_key) {
  return format::EntryKeyPrimary(entry_key).size() + 1 == entry_key.size();
}

uint64_t PresenceFilterBytes(const StoreOptions& options) {
  if (options.read_only) return 0;
  if (options.presence_filter_bytes != StoreOptions::kAutoSize) {
    return options.presence_filter_bytes;
  }
  return std::clamp<uint64_t>(options.capacity_bytes / 4096 * 2, 16ull << 20, 1ull << 30);
}

}  // namespace

EntryTable::Snapshot::Snapshot(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}

EntryTable::Snapshot::~Snapshot() { db_.ReleaseSnapshot(snapshot_); }

// --- Batch ---

EntryTable::Batch::Batch(const EntryTable& table)
    : db_(*table.db_),
      presence_(table.presence_.get()),
      batch_(std::make_unique<rocksdb::WriteBatch>()) {}

EntryTable::Batch::~Batch() = default;

void EntryTable::Batch::PutEntry(std::string_view entry_key, const ObjectInfo& info,
                                 const ObjectInfo* old, bool vary_recorded) {
  RewriteEntry(entry_key, info);
  for (const auto& tag : info.meta.tags) batch_->Put(db_.tags, format::TagKey(tag, entry_key), "");
  if (old != nullptr) {
    for (const auto& tag : old->meta.tags) {
      if (!internal::HasTag(info, tag)) DeleteTagKey(format::TagKey(tag, entry_key));
    }
  }
  if (!info.meta.vary.empty()) {
    if (presence_ != nullptr) presence_->Add(info.key.primary);
    batch_->Put(db_.vary, info.key.primary, format::EncodeVaryNames(info.meta.vary));
    written_.push_back(info.key.primary);
  } else if (info.key.secondary.empty() && vary_recorded) {
    // Only when there are names to remove: a tombstone written with every insert filled
    // the family with keys every new URL's lookup then had to read past.
    batch_->Delete(db_.vary, info.key.primary);
    written_.push_back(info.key.primary);
  }
}

void EntryTable::Batch::RewriteEntry(std::string_view entry_key, const ObjectInfo& info) {
  if (presence_ != nullptr) presence_->Add(format::EntryKeyPrimary(entry_key));
  batch_->Put(db_.entries, ToSlice(entry_key), format::EncodeEntry(info));
  written_.emplace_back(entry_key);
}

void EntryTable::Batch::DeleteEntry(std::string_view entry_key, const ObjectInfo& info) {
  DeleteUndecodable(entry_key);
  for (const auto& tag : info.meta.tags) DeleteTagKey(format::TagKey(tag, entry_key));
}

void EntryTable::Batch::DeleteUndecodable(std::string_view entry_key) {
  batch_->Delete(db_.entries, ToSlice(entry_key));
  written_.emplace_back(entry_key);
}

void EntryTable::Batch::DeleteTagKey(std::string_view tag_key) {
  batch_->Delete(db_.tags, ToSlice(tag_key));
}

void EntryTable::Batch::PutMeta(std::string_view key, std::string_view value) {
  batch_->Put(db_.meta, ToSlice(key), ToSlice(value));
}

void EntryTable::Batch::AddSegmentMembers(std::string_view entry_key,
                                          const std::vector<BodyExtent>& extents) {
  for (size_t i = 0; i < extents.size(); ++i) {
    const BodyExtent& e = extents[i];
    Members& m = members_[e.segment];
    m.first_offset = std::min<uint64_t>(m.first_offset, e.offset);
    // Once per segment: an object's chunks fill one segment, then the next, never an
    // earlier one again.
    if (i == 0 || extents[i - 1].segment != e.segment) m.entry_keys.emplace_back(entry_key);
  }
}

void EntryTable::Batch::PutSegmentMembers() {
  std::vector<std::string_view> keys;
  for (const auto& [segment, m] : members_) {
    keys.assign(m.entry_keys.begin(), m.entry_keys.end());
    batch_->Put(db_.segments, format::SegmentBatchKey(segment, m.first_offset),
                format::EncodeSegmentBatch(keys));
  }
  members_.clear();
}

void EntryTable::Batch::ForgetSegment(uint64_t segment) {
  batch_->DeleteRange(db_.segments, format::SegmentBatchPrefix(segment),
                      format::SegmentBatchPrefix(segment + 1));
  batch_->DeleteRange(db_.segments, format::SegmentMemberPrefix(segment),
                      format::SegmentMemberPrefix(segment + 1));
  batch_->Delete(db_.segments, format::SegmentRecordKey(segment));
}

// --- EntryTable ---

Status EntryTable::Open(const StoreOptions& options, const std::string& path,
                        std::unique_ptr<EntryTable>* out) {
  auto db = std::make_unique<IndexDb>();
  Status s = OpenIndexDb(options, path, db.get());
  if (!s.ok()) return s;
  out->reset(new EntryTable(std::move(db), options, path));
  return Status::OK();
}

EntryTable::EntryTable(std::unique_ptr<IndexDb> db, const StoreOptions& options, std::string path)
    : db_(std::move(db)),
      read_only_(options.read_only),
      path_(std::move(path)),
      cache_(options.entry_cache_bytes) {
  if (const uint64_t bytes = PresenceFilterBytes(options); bytes > 0) {
    presence_ = std::make_unique<PresenceFilter>(bytes);
    if (presence_->mapped()) {
      filler_ = std::thread([this] {
        NameThisThread("ec-presence");
        FillPresence();
      });
    } else {
      spdlog::warn(
          "index {}: no memory for a presence filter of {} bytes (every lookup reads "
          "the index)",
          path_, bytes);
      presence_.reset();
    }
  }
}

EntryTable::~EntryTable() {
  closing_ = true;
  if (filler_.joinable()) filler_.join();
}

void EntryTable::FillPresence() {
  // URLs written meanwhile are added by their writes: the filter misses none.
  ScanOptions options;
  options.fill_cache = false;
  Status s = Scan(
      Family::kVary, "",
      [&](std::string_view primary, std::string_view) {
        presence_->Add(primary);
        return !closing_;
      },
      options);
  std::string last;
  if (s.ok()) {
    s = Scan(
        Family::kEntries, "",
        [&](std::string_view entry_key, std::string_view) {
          // The variants of a URL are adjacent: each URL is added once.
          const std::string_view primary = format::EntryKeyPrimary(entry_key);
          if (primary != last) {
            presence_->Add(primary);
            last = primary;
          }
          return !closing_;
        },
        options);
  }
  if (!s.ok()) {
    spdlog::warn("index {}: presence filter not filled (every lookup reads the index): {}", path_,
                 s.ToString());
  } else if (!closing_) {
    presence_->MarkFilled();
  }
}

Status EntryTable::GetEntry(std::string_view entry_key, ObjectInfo* info, bool* found) {
  std::shared_ptr<const ObjectInfo> shared;
  Status s = GetEntry(entry_key, &shared);
  *found = shared != nullptr;
  if (*found) *info = *shared;
  return s;
}

Status EntryTable::GetEntry(std::string_view entry_key, std::shared_ptr<const ObjectInfo>* info) {
  info->reset();
  const std::string_view primary = format::EntryKeyPrimary(entry_key);
  std::shared_ptr<const Cached> cached;
  if (InUrlRecord(entry_key)) {
    Status s = GetUrl(primary, &cached);
    if (!s.ok()) return s;
    // With Vary names recorded, an entry without a secondary key is one from before them:
    // read on its own, below.
    if (cached->vary.empty()) {
      *info = EntryOf(std::move(cached));
      return Status::OK();
    }
  }
  if (!cache_.Get(entry_key, &cached)) {
    if (!MayBePresent(primary)) return Status::OK();
    const uint64_t version = cache_.Version(entry_key);
    auto read = std::make_shared<Cached>();
    std::string value;
    Status s = ReadEntry(entry_key, &read->info, &read->found, &value);
    if (!s.ok()) return s;
    if (cache_.enabled()) {
      // Charged its encoded size and the decoded form's strings and vectors, roughly.
      cache_.PutIf(std::string(entry_key), read, entry_key.size() * 2 + value.size() * 2 + 256,
                   version);
    }
    cached = std::move(read);
  }
  *info = EntryOf(std::move(cached));
  return Status::OK();
}

std::shared_ptr<const ObjectInfo> EntryTable::EntryOf(std::shared_ptr<const Cached> cached) {
  if (!cached->found) return nullptr;
  const ObjectInfo* info = &cached->info;
  return std::shared_ptr<const ObjectInfo>(std::move(cached), info);
}

Status EntryTable::GetVaryNames(std::string_view primary, std::vector<std::string>* names) {
  std::shared_ptr<const Cached> cached;
  Status s = GetUrl(primary, &cached);
  if (!s.ok()) return s;
  *names = cached->vary;
  return Status::OK();
}

Status EntryTable::GetUrl(std::string_view primary, std::shared_ptr<const Cached>* out) {
  if (cache_.Get(primary, out)) return Status::OK();
  // What the presence filter knows absent is not cached: new URLs would churn the cache.
  static const auto kAbsent = std::make_shared<const Cached>();
  if (!MayBePresent(primary)) {
    *out = kAbsent;
    return Status::OK();
  }
  const uint64_t version = cache_.Version(primary);
  auto read = std::make_shared<Cached>();
  std::string vary_value, entry_value;
  bool has_vary = false;
  Status s = Get(Family::kVary, primary, &vary_value, &has_vary);
  if (!s.ok()) return s;
  if (has_vary) read->vary = format::DecodeVaryNames(vary_value);
  if (read->vary.empty()) {
    std::string entry_key(primary);
    entry_key.push_back('\0');
    s = ReadEntry(entry_key, &read->info, &read->found, &entry_value);
    if (!s.ok()) return s;
  }
  if (cache_.enabled()) {
    cache_.PutIf(std::string(primary), read,
                 primary.size() * 2 + (vary_value.size() + entry_value.size()) * 2 + 256, version);
  }
  *out = std::move(read);
  return Status::OK();
}

Status EntryTable::ReadEntry(std::string_view entry_key, ObjectInfo* info, bool* found,
                             std::string* value) {
  Status s = Get(Family::kEntries, entry_key, value, found);
  if (!s.ok() || !*found) return s;
  s = format::DecodeEntry(*value, info);
  if (s.ok() && !format::SplitEntryKey(entry_key, &info->key))
    s = Status::Corruption("index: entry key without separator");
  if (s.ok()) return s;
  // A bad entry is a miss; removing it keeps it from being decoded again.
  *found = false;
  *info = ObjectInfo();
  spdlog::warn("index {}: dropping undecodable entry: {}", path_, s.ToString());
  if (read_only_) return Status::OK();
  return Delete(Family::kEntries, entry_key, false, "drop bad entry");
}

Status EntryTable::Get(Family family, std::string_view key, std::string* value, bool* found,
                       const Snapshot* snapshot) {
  rocksdb::ReadOptions ro;
  if (snapshot != nullptr) ro.snapshot = snapshot->snapshot_;
  rocksdb::Status rs = db_->db->Get(ro, Handle(*db_, family), ToSlice(key), value);
  *found = rs.ok();
  return rs.IsNotFound() ? Status::OK() : FromRocks(rs, "read index");
}

Status EntryTable::Scan(Family family, std::string_view prefix, const Visitor& visit,
                        const ScanOptions& options) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = options.fill_cache;
  if (options.snapshot != nullptr) ro.snapshot = options.snapshot->snapshot_;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, Handle(*db_, family)));
  const std::string_view start = options.start > prefix ? options.start : prefix;
  for (it->Seek(ToSlice(start)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "scan index");
}

Status EntryTable::ScanSegmentMembers(
    uint64_t segment, const std::function<bool(std::string_view entry_key)>& visit) {
  const std::string batches = format::SegmentBatchPrefix(segment);
  std::vector<std::string_view> keys;
  bool stopped = false;
  Status s = Scan(Family::kSegments, batches, [&](std::string_view, std::string_view value) {
    if (!format::DecodeSegmentBatch(value, &keys)) {
      // The entries it lists are left in the index; a read of one fails its chunk's checks.
      spdlog::warn("index {}: undecodable member list of segment {} ({} entries read)", path_,
                   segment, keys.size());
    }
    for (std::string_view entry_key : keys) {
      if (!visit(entry_key)) return !(stopped = true);
    }
    return true;
  });
  if (!s.ok() || stopped) return s;
  // Stores of format version 1: one key per member.
  const std::string members = format::SegmentMemberPrefix(segment);
  return Scan(Family::kSegments, members, [&](std::string_view key, std::string_view) {
    return visit(key.substr(members.size()));
  });
}

Status EntryTable::Put(Family family, std::string_view key, std::string_view value, bool sync,
                       std::string_view what) {
  WillWrite(family, key);
  Status s = FromRocks(
      db_->db->Put(WriteOpts(sync), Handle(*db_, family), ToSlice(key), ToSlice(value)), what);
  Written(family, key);
  return s;
}

Status EntryTable::Delete(Family family, std::string_view key, bool sync, std::string_view what) {
  Status s = FromRocks(db_->db->Delete(WriteOpts(sync), Handle(*db_, family), ToSlice(key)), what);
  Written(family, key);
  return s;
}

Status EntryTable::Write(Batch& batch, bool sync, std::string_view what) {
  batch.PutSegmentMembers();
  Status s = FromRocks(db_->db->Write(WriteOpts(sync), batch.batch_.get()), what);
  // Dropped whether or not the write went through: a failed write may be partly durable.
  for (const std::string& key : batch.written_) Drop(key);
  return s;
}

void EntryTable::WillWrite(Family family, std::string_view key) {
  if (presence_ == nullptr) return;
  if (family == Family::kEntries) presence_->Add(format::EntryKeyPrimary(key));
  if (family == Family::kVary) presence_->Add(key);
}

void EntryTable::Written(Family family, std::string_view key) {
  if (family == Family::kEntries || family == Family::kVary) Drop(key);
}

void EntryTable::Drop(std::string_view key) {
  cache_.Erase(key);
  if (InUrlRecord(key)) cache_.Erase(format::EntryKeyPrimary(key));
}

Status EntryTable::SyncWal(std::string_view what) { return FromRocks(db_->db->SyncWAL(), what); }

std::unique_ptr<EntryTable::Snapshot> EntryTable::TakeSnapshot() {
  return std::unique_ptr<Snapshot>(new Snapshot(*db_->db));
}

std::mutex& EntryTable::Stripe(std::string_view entry_key) {
  return stripes_[std::hash<std::string_view>()(entry_key) % stripes_.size()];
}

}  // namespace edgecache::index
