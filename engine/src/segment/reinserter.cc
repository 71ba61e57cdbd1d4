#include "segment/reinserter.h"

#include <spdlog/spdlog.h>

#include <set>

#include "format/index_layout.h"
#include "format/record.h"

namespace edgecache::segment {

uint64_t Reinserter::Run(uint64_t segment) {
  uint64_t budget = p_.options.segment_bytes / 2;
  uint64_t copied = 0;
  Status scan = p_.table.ScanSegmentMembers(segment, [&](std::string_view member) {
    if (p_.closing || segment < p_.segments.min_live()) return false;  // too late
    const std::string entry_key(member);
    if (!p_.hits.TakeHit(entry_key)) return true;
    ObjectInfo info;
    bool found = false;
    Status s = p_.table.GetEntry(entry_key, &info, &found);
    if (!s.ok() || !found || !p_.servable(info) || info.body_length > budget) {
      s.IgnoreError();  // gone, stale or too big: not worth a copy
      return true;
    }
    std::vector<BodyExtent> extents;
    bool swapped = false;
    s = CopyBody(info, &extents);
    if (s.ok()) s = Swap(entry_key, info, extents, &swapped);
    if (!s.ok()) {
      spdlog::warn("re-inserting a hot object failed: {}", s.ToString());
      return false;
    }
    budget -= info.body_length;
    copied += swapped ? 1 : 0;
    return true;
  });
  if (!scan.ok()) spdlog::warn("re-insertion scan stopped: {}", scan.ToString());
  return copied;
}

Status Reinserter::CopyBody(const ObjectInfo& info, std::vector<BodyExtent>* out) {
  const std::string entry_key = format::EntryKey(info.key);
  const size_t prefix_size = format::ChunkRecordSize(entry_key.size(), 0);
  uint64_t chunk_start = 0;
  std::set<uint64_t> written;
  for (const BodyExtent& old : info.extents) {
    std::string data;
    Status s = p_.read(info, chunk_start, old.length, &data);
    if (!s.ok()) return s;
    std::string record(prefix_size, '\0');
    record += data;
    format::SealChunkRecord(&record, entry_key, info.body_version, chunk_start);
    Allocation where;
    s = p_.segments.Allocate(static_cast<uint32_t>(record.size()), &where);
    if (!s.ok()) return s;
    s = WriteFully(p_.io, where.segment->fd, record.data(), record.size(), where.offset,
                   "copy chunk");
    if (s.ok() && p_.options.sync == SyncPolicy::kCommit &&
        written.insert(where.segment->id).second) {
      s = SyncFile(p_.io, where.segment->fd, "sync segment");
    }
    if (!s.ok()) return s;
    out->push_back({where.segment->id, where.offset, old.length});
    chunk_start += old.length;
  }
  return Status::OK();
}

Status Reinserter::Swap(std::string_view entry_key, const ObjectInfo& info,
                        const std::vector<BodyExtent>& extents, bool* swapped) {
  std::lock_guard stripe(p_.table.Stripe(entry_key));
  ObjectInfo current;
  bool found = false;
  *swapped = false;
  Status s = p_.table.GetEntry(entry_key, &current, &found);
  if (!s.ok() || !found || current.version != info.version || current.extents != info.extents) {
    s.IgnoreError();  // changed meanwhile: the copy is left as garbage
    return Status::OK();
  }
  current.extents = extents;
  index::EntryTable::Batch batch(p_.table);
  batch.RewriteEntry(entry_key, current);
  batch.AddSegmentMembers(entry_key, extents);
  s = p_.table.Write(batch, p_.options.sync == SyncPolicy::kCommit, "re-insert entry");
  *swapped = s.ok();
  return s;
}

}  // namespace edgecache::segment
