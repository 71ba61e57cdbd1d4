// Store::Verify: every entry's body read back and checked against its checksum, dangling
// entries and orphaned tag keys and segment files found, and with repair, dropped.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>

#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"
#include "store_impl.h"
#include "store_internal.h"

namespace edgecache {

using index::Family;
using internal::HasTag;

namespace fs = std::filesystem;

namespace {

void AddProblem(const VerifyOptions& options, VerifyReport* report, std::string_view entry_key,
                const std::string& what) {
  if (report->problems.size() >= options.max_problems) return;
  report->problems.push_back(std::string(entry_key.substr(0, entry_key.find('\0'))) + ": " + what);
}

}  // namespace

bool StoreImpl::VerifyEntry(const std::string& entry_key, const ObjectInfo& info,
                            const VerifyOptions& options, VerifyReport* report) {
  // Entries below the live segment mark or covered by a purge rule are already misses and
  // queued for background cleanup: not a fault of the store.
  if (Classify(info) == Serve::kNo) return true;
  uint64_t length = 0;
  for (const BodyExtent& e : info.extents) {
    length += e.length;
    if (segments_->Get(e.segment) == nullptr) {
      ++report->dangling;
      AddProblem(options, report, entry_key,
                 "body chunk in segment " + std::to_string(e.segment) + ", which is missing");
      return false;
    }
  }
  if (length != info.body_length) {
    ++report->corrupt;
    AddProblem(options, report, entry_key, "extents do not add up to the body length");
    return false;
  }
  for (uint64_t offset = 0; offset < info.body_length;) {
    std::promise<std::pair<Status, size_t>> result;
    ReadChunk(info, offset, SIZE_MAX, /*fill_cache=*/false, /*drop_bad=*/false,
              [&result](Status s, BodySlice slice) {
                result.set_value({std::move(s), slice.data.size()});
              });
    auto [s, n] = result.get_future().get();
    if (!s.ok() || n == 0) {
      ++report->corrupt;
      AddProblem(options, report, entry_key,
                 "body at offset " + std::to_string(offset) + ": " + s.ToString());
      return false;
    }
    report->verified_bytes += n;
    offset += n;
  }
  for (const BodyExtent& e : info.extents)
    report->referenced_bytes += format::ChunkRecordSize(entry_key.size(), e.length);
  return true;
}

Status StoreImpl::Verify(const VerifyOptions& options, VerifyReport* report) {
  *report = VerifyReport();
  if (options.repair && options_.read_only) return ReadOnlyError();
  // One snapshot for both passes, so a node writing meanwhile cannot make a consistent
  // entry and its tag keys look orphaned. Repairs re-check the live index before deleting.
  std::unique_ptr<index::EntryTable::Snapshot> snapshot = table_->TakeSnapshot();
  const index::EntryTable::ScanOptions scan{.snapshot = snapshot.get(), .fill_cache = false};
  // Bad entries with the index value found bad: a repair drops an entry only if it still
  // has that value, never one rewritten (a new body stored) since.
  std::vector<std::pair<std::string, std::string>> bad_entries;
  std::vector<std::string> orphaned_tags;
  Status stop;
  Status s = table_->Scan(
      Family::kEntries, "",
      [&](std::string_view key, std::string_view value) {
        const std::string entry_key(key);
        ObjectInfo info;
        Status d = format::DecodeEntry(value, &info);
        if (d.ok() && !format::SplitEntryKey(entry_key, &info.key))
          d = Status::Corruption("entry key without separator");
        if (!d.ok()) {
          ++report->undecodable;
          AddProblem(options, report, entry_key, "index entry does not decode: " + d.ToString());
        }
        if (!d.ok() || !VerifyEntry(entry_key, info, options, report))
          bad_entries.emplace_back(entry_key, value);
        if (options.cancel != nullptr && options.cancel->load()) {
          stop = Status::Aborted("verify cancelled");
          return false;
        }
        if (++report->entries % 4096 == 0 && options.progress) options.progress(report->entries);
        return true;
      },
      scan);
  if (s.ok()) s = std::move(stop);
  if (s.ok()) {
    s = table_->Scan(
        Family::kTags, "",
        [&](std::string_view key, std::string_view) {
          std::string_view tag, entry_key;
          if (!format::SplitTagKey(key, &tag, &entry_key)) {
            orphaned_tags.emplace_back(key);
            return true;
          }
          std::string value;
          ObjectInfo info;
          bool found = false;
          stop = table_->Get(Family::kEntries, entry_key, &value, &found, snapshot.get());
          if (!stop.ok()) return false;
          if (!found || !format::DecodeEntry(value, &info).ok() || !HasTag(info, tag))
            orphaned_tags.emplace_back(key);
          return true;
        },
        scan);
    if (s.ok()) s = std::move(stop);
  }
  snapshot.reset();
  if (!s.ok()) return s;
  report->orphaned_tag_keys = orphaned_tags.size();
  for (const std::string& key : orphaned_tags) {
    std::string_view tag = key, entry_key;
    format::SplitTagKey(key, &tag, &entry_key);
    AddProblem(options, report, entry_key,
               "tag index key '" + std::string(tag) + "' without a matching entry");
  }

  report->segment_bytes = segments_->FileBytes();
  std::error_code ec;
  for (const auto& file : fs::directory_iterator(dir_ + "/segments", ec)) {
    uint64_t id = 0;
    if (segment::SegmentManager::ParseFileName(file.path().filename().c_str(), &id) &&
        segments_->Get(id) == nullptr) {
      ++report->orphaned_segment_files;  // deleted by the next writable open
    }
  }

  if (!options.repair) return Status::OK();
  for (const auto& [entry_key, bad_value] : bad_entries) {
    std::lock_guard stripe(table_->Stripe(entry_key));
    std::string value;
    bool found = false;
    s = table_->Get(Family::kEntries, entry_key, &value, &found);
    if (!s.ok()) return s;
    if (!found || value != bad_value) continue;  // gone or replaced since
    ObjectInfo info;
    const bool decodable = format::DecodeEntry(value, &info).ok();
    index::EntryTable::Batch batch(*table_);
    if (decodable) {
      batch.DeleteEntry(entry_key, info);
    } else {
      batch.DeleteUndecodable(entry_key);
    }
    s = table_->Write(batch, /*sync=*/false, "repair: drop entry");
    if (!s.ok()) return s;
    if (decodable) CountRemoved(info);
    ++report->repaired;
  }
  for (const std::string& key : orphaned_tags) {
    std::string_view tag, entry_key;
    const bool split = format::SplitTagKey(key, &tag, &entry_key);
    std::lock_guard stripe(table_->Stripe(entry_key));  // held until the key is gone
    if (split) {
      bool found = false;
      ObjectInfo info;
      s = table_->GetEntry(entry_key, &info, &found);
      if (!s.ok()) return s;
      if (found && HasTag(info, tag)) continue;  // re-added since the scan
    }
    s = table_->Delete(Family::kTags, key, /*sync=*/false, "repair: drop tag key");
    if (!s.ok()) return s;
    ++report->repaired;
  }
  return table_->SyncWal("sync repair");
}

}  // namespace edgecache
