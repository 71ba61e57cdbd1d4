#include "segment/segment_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"

namespace edgecache::segment {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool SegmentManager::ParseFileName(const char* name, uint64_t* id) {
  unsigned long long v = 0;
  int consumed = 0;
  if (std::sscanf(name, "%20llu.seg%n", &v, &consumed) != 1) return false;
  if (name[consumed] != '\0') return false;
  *id = v;
  return true;
}

Segment::~Segment() { ::close(fd); }

SegmentManager::SegmentManager(const StoreOptions& options, std::string dir, IoBackend& io,
                               index::EntryTable& table, Hooks hooks)
    : options_(options),
      dir_(std::move(dir)),
      io_(io),
      index_(table),
      hooks_(std::move(hooks)),
      max_segments_(static_cast<size_t>(options.capacity_bytes / options.segment_bytes)),
      table_(std::make_shared<const Table>()) {}

SegmentManager::~SegmentManager() = default;

std::string SegmentManager::FileName(uint64_t id) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020" PRIu64 ".seg", id);
  return name;
}

Status SegmentManager::Open(std::vector<uint64_t>* dead) {
  if (!options_.read_only && ::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create " + dir_);
  }

  std::string value;
  bool found = false;
  Status s = index_.Get(index::Family::kMeta, format::kMetaMinLiveSegment, &value, &found);
  if (!s.ok()) return s;
  if (found && value.size() != 8) return Status::Corruption("index: bad min_live_segment value");
  if (found) min_live_ = format::DecodeBigEndian64(value.data());

  std::set<uint64_t> recorded;
  uint64_t max_id = min_live_ - 1;
  bool bad_key = false;
  s = index_.Scan(index::Family::kSegments, std::string(1, format::kSegmentRecordTag),
                  [&](std::string_view key, std::string_view) {
                    if (key.size() != 9) return !(bad_key = true);
                    uint64_t id = format::DecodeBigEndian64(key.data() + 1);
                    max_id = std::max(max_id, id);
                    if (id < min_live_) {
                      dead->push_back(id);
                    } else {
                      recorded.insert(id);
                    }
                    return true;
                  });
  if (!s.ok()) return s;
  if (bad_key) return Status::Corruption("index: bad segment record key");

  // Files the index does not know (created by a crashed roll) or no longer wants
  // (reclaimed before a crash could unlink them) are the store's own garbage.
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "open " + dir_);
  std::set<uint64_t> on_disk;
  while (dirent* ent = ::readdir(d)) {
    uint64_t id = 0;
    if (!ParseFileName(ent->d_name, &id)) continue;
    max_id = std::max(max_id, id);
    if (recorded.count(id)) {
      on_disk.insert(id);
    } else if (!options_.read_only) {
      ::unlink((dir_ + "/" + ent->d_name).c_str());
    }
  }
  ::closedir(d);

  std::vector<std::shared_ptr<Segment>> segments;
  for (uint64_t id : recorded) {
    std::string path = dir_ + "/" + FileName(id);
    if (!on_disk.count(id)) {
      spdlog::warn("segment {} is missing: its objects will be misses", path);
      continue;
    }
    int fd = ::open(path.c_str(), (options_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    auto seg = std::make_shared<Segment>(id, fd);
    std::string header(format::kSegmentHeaderSize, '\0');
    format::SegmentHeader h;
    Status s = ReadFully(io_, fd, header.data(), header.size(), 0, "read header of " + path);
    if (s.ok()) s = format::DecodeSegmentHeader(header, &h);
    if (s.ok() && h.segment_id != id) s = Status::Corruption("segment id mismatch");
    if (!s.ok()) {
      spdlog::warn("segment {} skipped: {}", path, s.ToString());
      continue;
    }
    segments.push_back(std::move(seg));
  }

  std::lock_guard lock(mu_);
  next_id_ = max_id + 1;
  Publish(std::move(segments));
  return options_.read_only ? Status::OK() : FitToFileSystem();
}

uint64_t SegmentManager::FreeBytes() const {
  struct statvfs fs;
  if (::statvfs(dir_.c_str(), &fs) != 0) return UINT64_MAX;  // cannot tell: assume room
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

Status SegmentManager::FitToFileSystem() {
  // The segments already here are reused; the index keeps kIndexHeadroom besides them.
  const uint64_t free_bytes = FreeBytes();
  const uint64_t usable =
      free_bytes - std::min(free_bytes, kIndexHeadroom) + count() * options_.segment_bytes;
  const size_t fit = static_cast<size_t>(usable / options_.segment_bytes);
  if (fit >= max_segments_) return Status::OK();
  if (fit < 4) {
    return Status::NoSpace("store.capacity " + std::to_string(options_.capacity_bytes >> 20) +
                           " MiB: the file system of " + dir_ + " has room for " +
                           std::to_string(fit) + " segments of " +
                           std::to_string(options_.segment_bytes >> 20) + " MiB (keeping " +
                           std::to_string(kIndexHeadroom >> 20) +
                           " MiB for the index), and a store needs at least 4; free space or lower "
                           "store.segment_size");
  }
  spdlog::warn(
      "store {}: store.capacity is {} MiB but the file system has room for {} MiB of "
      "segments: the store keeps to that",
      dir_, options_.capacity_bytes >> 20, (fit * options_.segment_bytes) >> 20);
  max_segments_ = fit;
  return Status::OK();
}

std::shared_ptr<Segment> SegmentManager::Get(uint64_t id) const {
  if (id < min_live()) return nullptr;
  std::shared_ptr<const Table> table = table_.load(std::memory_order_acquire);
  auto it =
      std::lower_bound(table->segments.begin(), table->segments.end(), id,
                       [](const std::shared_ptr<Segment>& s, uint64_t v) { return s->id < v; });
  if (it == table->segments.end() || (*it)->id != id) return nullptr;
  return *it;
}

size_t SegmentManager::count() const { return table_.load()->segments.size(); }

uint64_t SegmentManager::FileBytes() const {
  uint64_t bytes = 0;
  for (const auto& seg : table_.load()->segments) {
    struct stat st;
    if (::fstat(seg->fd, &st) == 0) bytes += static_cast<uint64_t>(st.st_size);
  }
  return bytes;
}

void SegmentManager::Publish(std::vector<std::shared_ptr<Segment>> segments) {
  auto table = std::make_shared<Table>();
  table->segments = std::move(segments);
  table_.store(std::move(table), std::memory_order_release);
}

Status SegmentManager::CreateSegment(uint64_t id, std::shared_ptr<Segment>* out) {
  std::string path = dir_ + "/" + FileName(id);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  auto seg = std::make_shared<Segment>(id, fd);
  auto fail = [&](Status s) {
    ::unlink(path.c_str());
    return s;
  };
  // Preallocating turns a full disk into a clean NoSpace here rather than a failed write
  // in the middle of an object.
  if (::fallocate(fd, 0, 0, static_cast<off_t>(options_.segment_bytes)) != 0) {
    int err = errno;
    if (err != EOPNOTSUPP) return fail(Status::FromErrno(err, "preallocate " + path));
    if (::ftruncate(fd, static_cast<off_t>(options_.segment_bytes)) != 0) {
      return fail(Status::FromErrno(errno, "size " + path));
    }
  }
  format::SegmentHeader h{id, NowSeconds(), options_.segment_bytes};
  std::string header = format::EncodeSegmentHeader(h);
  Status s = WriteFully(io_, fd, header.data(), header.size(), 0, "write header of " + path);
  if (s.ok() && options_.sync == SyncPolicy::kCommit) {
    s = SyncFile(io_, fd, "sync " + path);
    if (s.ok()) {
      int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
  }
  if (!s.ok()) return fail(std::move(s));
  // The record is written after the header: a crash in between leaves an unrecorded
  // file, which the next Open deletes.
  std::string record;
  format::PutVarsint64(&record, h.created_at);
  s = index_.Put(index::Family::kSegments, format::SegmentRecordKey(id), record,
                 options_.sync == SyncPolicy::kCommit, "record segment " + path);
  if (!s.ok()) return fail(std::move(s));
  *out = std::move(seg);
  return Status::OK();
}

Status SegmentManager::ReclaimOldest(uint64_t* reclaimed_id) {
  std::shared_ptr<const Table> table = table_.load();
  if (table->segments.empty()) return Status::OK();
  const std::shared_ptr<Segment>& oldest = table->segments.front();
  const uint64_t id = oldest->id;
  // The mark is durable before the file goes, so no entry can outlive its bytes.
  std::string value;
  format::PutBigEndian64(&value, id + 1);
  Status s = index_.Put(index::Family::kMeta, format::kMetaMinLiveSegment, value, /*sync=*/true,
                        "record reclaim");
  if (!s.ok()) return s;
  min_live_.store(id + 1, std::memory_order_release);
  ::unlink((dir_ + "/" + FileName(id)).c_str());
  Publish({table->segments.begin() + 1, table->segments.end()});
  reclaimed_.fetch_add(1, std::memory_order_relaxed);
  *reclaimed_id = id;
  return Status::OK();
}

Status SegmentManager::Allocate(uint32_t bytes, Allocation* out) {
  std::vector<uint64_t> reclaimed;
  uint64_t next_to_reclaim = 0;
  Status s;
  {
    std::lock_guard lock(mu_);
    if (active_ == nullptr || write_offset_ + bytes > options_.segment_bytes) {
      // The file system may fill up before the store reaches its capacity (other files
      // grew, or it holds less than it said): then the oldest segments make room, and the
      // store keeps to what fits from now on, so the index keeps its headroom and every
      // roll does not fail again.
      auto shrink = [&](const char* why) {
        if (max_segments_ <= count() + 1) return;
        max_segments_ = std::max<size_t>(count() + 1, 1);
        spdlog::warn("store {}: {}: the store keeps to {} segments ({} MiB) from now on", dir_, why,
                     max_segments_.load(), (max_segments_ * options_.segment_bytes) >> 20);
      };
      while (s.ok() && count() > 0 &&
             (count() >= max_segments_ || FreeBytes() < options_.segment_bytes + kIndexHeadroom)) {
        if (count() < max_segments_) shrink("the file system is nearly full");
        uint64_t id = 0;
        s = ReclaimOldest(&id);
        if (s.ok()) reclaimed.push_back(id);
      }
      std::shared_ptr<Segment> seg;
      if (s.ok()) s = CreateSegment(next_id_, &seg);
      while (s.IsNoSpace() && count() > 0) {  // full all the same: make room, try again
        shrink("the file system is full");
        uint64_t id = 0;
        s = ReclaimOldest(&id);
        if (!s.ok()) break;
        reclaimed.push_back(id);
        s = CreateSegment(next_id_, &seg);
      }
      if (s.ok()) ++next_id_;  // a failed roll does not use up an id
      if (s.ok()) {
        std::vector<std::shared_ptr<Segment>> segments = table_.load()->segments;
        segments.push_back(seg);
        Publish(std::move(segments));
        active_ = std::move(seg);
        write_offset_ = format::kSegmentHeaderSize;
        if (count() >= max_segments_) next_to_reclaim = table_.load()->segments.front()->id;
      } else {
        active_ = nullptr;  // a later allocation retries the roll
      }
    }
    if (s.ok()) {
      out->segment = active_;
      out->offset = static_cast<uint32_t>(write_offset_);
      write_offset_ += bytes;
      allocated_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    }
  }
  for (uint64_t id : reclaimed) hooks_.reclaimed(id);
  if (next_to_reclaim != 0) hooks_.next_to_reclaim(next_to_reclaim);
  return s;
}

}  // namespace edgecache::segment
