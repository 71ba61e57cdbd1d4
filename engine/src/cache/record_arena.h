// RecordArena: memory for large chunk records that the kernel can send from by reference.
//
// A 128 KiB body sent from ordinary memory is copied into the socket's buffers on every
// hit (the kernel's `_copy_from_iter`), which runs at a quarter of its speed when memory
// bandwidth is scarce. A record held in the arena lives in a memfd (shared memory with a
// file descriptor), so a caller can `sendfile` its bytes: the socket takes references to
// the pages, and nothing is copied on the sending side.
//
// Why that never sends a wrong byte: a region's pages are written once (the record read
// from disk and verified) and are never written again. When the last holder of a record
// lets go, its region is punched out of the file (FALLOC_FL_PUNCH_HOLE) before the space
// is handed out again: the pages leave the file, a socket still holding some keeps them
// (with their bytes) until it has sent them, and the region's next record gets new pages.
// That holds for whole 4 KiB pages only. A huge page spans several regions, and the
// kernel punches part of one out by zeroing that part in place (then splitting the page):
// the zeros would reach every socket still sending those bytes. A host may give shared
// memory huge pages (`shmem_enabled` = always, within_size or force), so the mapping is
// marked MADV_NOHUGEPAGE before any page exists; where the mark is refused (other than by a
// kernel without huge pages) there is no arena.
//
// The file and its mapping are sparse: space is reserved at twice the byte budget, so
// regions freed in any order leave room, and only pages of live records use memory.
// Allocate returns null (the caller keeps the record in ordinary memory) when the arena is
// out of room or could not be made.
//
// Thread safety: all methods are thread-safe (one mutex around the free-space maps). A
// record may be released on any thread, also after the arena object is destroyed (the
// file and mapping go with the last record).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace edgecache::cache {

// One region of the arena: `data` is writable until the record is shared (the loader's),
// and the same bytes are the arena file's, `fd` at `file_offset`.
struct ArenaRegion {
  char* data = nullptr;
  size_t size = 0;
  int fd = -1;
  uint64_t file_offset = 0;
};

class RecordArena {
 public:
  // An arena for up to `budget_bytes` of live records (a RAM cache's capacity). Returns
  // null when memfd_create or the mapping fails (the process then copies, as before).
  static std::unique_ptr<RecordArena> Create(uint64_t budget_bytes);
  ~RecordArena();
  RecordArena(const RecordArena&) = delete;
  RecordArena& operator=(const RecordArena&) = delete;

  // A zero-filled region of at least `size` bytes (whole pages), freed when the returned
  // pointer's last copy is destroyed. Null when no free space is large enough.
  std::shared_ptr<const ArenaRegion> Allocate(size_t size);

  // Bytes of regions handed out and not yet freed (page-rounded).
  uint64_t allocated_bytes() const;

  // The bytes a region for a record of `size` bytes takes: whole pages.
  static uint64_t RegionBytes(size_t size);

  class Space;  // the file, its mapping and the free-space maps; outlives the arena object

 private:
  explicit RecordArena(std::shared_ptr<Space> space);
  std::shared_ptr<Space> space_;
};

}  // namespace edgecache::cache
