#include "edgecache/options.h"

#include <string>

namespace edgecache {
namespace {

Status Bad(std::string_view option, std::string_view reason) {
  return Status::InvalidArgument(std::string(option) + ": " + std::string(reason));
}

}  // namespace

Status StoreOptions::Validate() const {
  constexpr uint64_t kMiB = 1ull << 20;
  if (segment_bytes < kMiB) return Bad("segment_bytes", "must be at least 1 MiB");
  if (segment_bytes > (4ull << 30)) return Bad("segment_bytes", "must be at most 4 GiB");
  if (capacity_bytes < 4 * segment_bytes) {
    return Bad("capacity_bytes", "must hold at least 4 segments (4 * segment_bytes = " +
                                     std::to_string(4 * segment_bytes) + ")");
  }
  if (chunk_bytes < 4096) return Bad("chunk_bytes", "must be at least 4096");
  if (chunk_bytes > segment_bytes / 4)
    return Bad("chunk_bytes", "must be at most segment_bytes / 4");
  if (io_threads < 1 || io_threads > 256) return Bad("io_threads", "must be between 1 and 256");
  if (worker_threads < 1 || worker_threads > 64) {
    return Bad("worker_threads", "must be between 1 and 64");
  }
  if (index_cache_bytes < kMiB) return Bad("index_cache_bytes", "must be at least 1 MiB");
  if (presence_filter_bytes != kAutoSize && presence_filter_bytes > (4ull << 30)) {
    return Bad("presence_filter_bytes", "must be at most 4 GiB (about 2 billion URLs)");
  }
  if (admission == Admission::kProbation && probation_bytes < kMiB) {
    return Bad("probation_bytes", "must be at least 1 MiB");
  }
  return Status::OK();
}

}  // namespace edgecache
