// Helpers for engine tests: small options, deterministic bodies, one-call inserts.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "edgecache/store.h"

namespace edgecache::testing {

// Options sized for tests: 1 MiB segments, 16 KiB chunks, small caches.
inline StoreOptions SmallOptions(uint64_t capacity = 16ull << 20) {
  StoreOptions o;
  o.capacity_bytes = capacity;
  o.segment_bytes = 1ull << 20;
  o.chunk_bytes = 16u << 10;
  o.ram_cache_bytes = 1ull << 20;
  o.index_cache_bytes = 8ull << 20;
  o.io_threads = 2;
  o.worker_threads = 2;
  return o;
}

// A body whose bytes depend on (seed, size): any mix-up between objects shows.
inline std::string Body(uint64_t seed, size_t size) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

// Inserts `body` under `key`, appending in pieces of `piece` bytes.
inline Status Put(Store& store, const ObjectKey& key, const std::string& body, ObjectMeta meta = {},
                  size_t piece = 7000) {
  std::unique_ptr<InsertHandle> insert;
  Status s = store.BeginInsert(key, meta, &insert);
  if (!s.ok()) return s;
  for (size_t off = 0; off < body.size(); off += piece) {
    s = insert->Append(std::string_view(body).substr(off, piece));
    if (!s.ok()) return s;
  }
  return insert->Commit();
}

// Looks `key` up and reads its whole body; NotFound or a read error as a status.
inline Status Get(Store& store, const ObjectKey& key, std::string* body,
                  ObjectInfo* info_out = nullptr) {
  ObjectInfo info;
  Status s = store.Lookup(key, &info);
  if (!s.ok()) return s;
  s = store.Read(info, body);
  if (info_out != nullptr) *info_out = info;
  return s;
}

// Path of a segment file of the store in `store_dir`.
inline std::string SegmentPath(const std::string& store_dir, uint64_t segment) {
  char name[64];
  std::snprintf(name, sizeof(name), "/segments/%020llu.seg", (unsigned long long)segment);
  return store_dir + name;
}

// Flips one bit in the middle of the body bytes of `extent` (a chunk of `key`'s body), as
// bit rot would. The store must be closed. False when the file cannot be changed.
inline bool FlipBodyByte(const std::string& store_dir, const ObjectKey& key,
                         const BodyExtent& extent) {
  int fd = ::open(SegmentPath(store_dir, extent.segment).c_str(), O_RDWR);
  if (fd < 0) return false;
  // Chunk record: 48-byte header, then primary '\0' secondary, then the body bytes.
  const off_t at = static_cast<off_t>(extent.offset + 48 + key.primary.size() + 1 +
                                      key.secondary.size() + extent.length / 2);
  char byte = 0;
  bool ok = ::pread(fd, &byte, 1, at) == 1;
  byte ^= 0x01;
  ok = ok && ::pwrite(fd, &byte, 1, at) == 1;
  ::close(fd);
  return ok;
}

}  // namespace edgecache::testing
