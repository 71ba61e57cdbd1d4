#include "cache/record_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>

namespace edgecache::cache {
namespace {

constexpr uint64_t kPage = 4096;

uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

}  // namespace

class RecordArena::Space {
 public:
  Space(int fd, char* base, uint64_t length) : fd_(fd), base_(base), length_(length) {
    AddFree(0, length);
  }
  ~Space() {
    ::munmap(base_, length_);
    ::close(fd_);
  }

  // Best fit: the smallest free extent that holds `size`, split.
  bool Take(uint64_t size, uint64_t* offset) {
    std::lock_guard lock(mu_);
    auto it = by_size_.lower_bound(size);
    if (it == by_size_.end()) return false;
    const uint64_t extent = it->first;
    *offset = it->second;
    by_offset_.erase(it->second);
    by_size_.erase(it);
    if (extent > size) AddFree(*offset + size, extent - size);
    allocated_ += size;
    return true;
  }

  // Takes the pages out of the file first: a socket still sending them keeps its own
  // references, and the next record written here gets new pages. A region whose punch
  // failed is never handed out again.
  void Give(uint64_t offset, uint64_t size) {
    const bool punched = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                     static_cast<off_t>(offset), static_cast<off_t>(size)) == 0;
    std::lock_guard lock(mu_);
    allocated_ -= size;
    if (!punched) return;
    auto next = by_offset_.lower_bound(offset);
    if (next != by_offset_.end() && next->first == offset + size) {
      size += next->second;
      EraseFree(next);
    }
    auto prev = by_offset_.lower_bound(offset);
    if (prev != by_offset_.begin()) {
      --prev;
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        size += prev->second;
        EraseFree(prev);
      }
    }
    AddFree(offset, size);
  }

  uint64_t allocated() const {
    std::lock_guard lock(mu_);
    return allocated_;
  }

  const int fd_;
  char* const base_;

 private:
  void AddFree(uint64_t offset, uint64_t size) {  // REQUIRES: mu_ held (or not shared yet)
    by_offset_.emplace(offset, size);
    by_size_.emplace(size, offset);
  }
  void EraseFree(std::map<uint64_t, uint64_t>::iterator it) {  // REQUIRES: mu_ held
    auto [first, last] = by_size_.equal_range(it->second);
    for (auto s = first; s != last; ++s) {
      if (s->second == it->first) {
        by_size_.erase(s);
        break;
      }
    }
    by_offset_.erase(it);
  }

  const uint64_t length_;
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> by_offset_;     // GUARDED_BY(mu_): free extents, offset → size
  std::multimap<uint64_t, uint64_t> by_size_;  // GUARDED_BY(mu_): the same, size → offset
  uint64_t allocated_ = 0;                     // GUARDED_BY(mu_)
};

std::unique_ptr<RecordArena> RecordArena::Create(uint64_t budget_bytes) {
  if (budget_bytes == 0) return nullptr;
  const uint64_t length = RoundUp(2 * budget_bytes, 2u << 20);
  const int fd = ::memfd_create("edgecache-records", MFD_CLOEXEC);
  if (fd < 0) return nullptr;
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    ::close(fd);
    return nullptr;
  }
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (base == MAP_FAILED) {
    ::close(fd);
    return nullptr;
  }
  // 4 KiB pages whatever the host's huge-page setting for shared memory (see the header):
  // the mark governs every page this mapping faults in, and no page comes in otherwise.
  // EINVAL: a kernel without transparent huge pages, which has none to give.
  if (::madvise(base, length, MADV_NOHUGEPAGE) != 0 && errno != EINVAL) {
    ::munmap(base, length);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<RecordArena>(
      new RecordArena(std::make_shared<Space>(fd, static_cast<char*>(base), length)));
}

RecordArena::RecordArena(std::shared_ptr<Space> space) : space_(std::move(space)) {}
RecordArena::~RecordArena() = default;

uint64_t RecordArena::RegionBytes(size_t size) { return RoundUp(size == 0 ? 1 : size, kPage); }

std::shared_ptr<const ArenaRegion> RecordArena::Allocate(size_t size) {
  const uint64_t rounded = RegionBytes(size);
  uint64_t offset = 0;
  if (!space_->Take(rounded, &offset)) return nullptr;
  auto* region =
      new ArenaRegion{space_->base_ + offset, static_cast<size_t>(rounded), space_->fd_, offset};
  return std::shared_ptr<const ArenaRegion>(region, [space = space_](const ArenaRegion* r) {
    space->Give(r->file_offset, r->size);
    delete r;
  });
}

uint64_t RecordArena::allocated_bytes() const { return space_->allocated(); }

}  // namespace edgecache::cache
