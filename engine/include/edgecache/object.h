// The values the engine stores and returns: object keys, response metadata, lookups'
// results, body slices and counters. The engine stores HTTP metadata but does not
// interpret it: freshness decisions belong to the proxy.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgecache {

// One stored response is identified by its primary key (the cache key: host, path and
// query as the proxy normalises them) and a secondary key that tells Vary variants of
// that URL apart ("" when the response does not vary).
// REQUIRES: primary is non-empty; neither key contains '\0'; together at most 16 KiB.
struct ObjectKey {
  std::string primary;
  std::string secondary;

  bool operator==(const ObjectKey&) const = default;
};

// Everything about a stored response except its body. Times are Unix seconds; 0 means
// absent (for last_modified and date).
struct ObjectMeta {
  uint16_t status = 200;
  // Stored response headers, in order, as the proxy wants to replay them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string etag;  // as sent, quotes and W/ included; "" when absent
  int64_t last_modified = 0;
  int64_t date = 0;
  int64_t request_time = 0;   // when the request that produced the response was sent
  int64_t response_time = 0;  // when the response was received
  int64_t freshness_lifetime = 0;
  int64_t stale_while_revalidate = 0;
  int64_t stale_if_error = 0;
  // Opaque bits for the proxy's policy (must-revalidate, immutable, ...).
  uint32_t policy_flags = 0;
  // Surrogate tags (Surrogate-Key / Cache-Tag): purge by tag reaches the object.
  std::vector<std::string> tags;
  // Request header names the response varies on. Stored per primary key by Commit, so
  // LookupVariant can compute the secondary key of later requests.
  std::vector<std::string> vary;
};

// Where one chunk of a body lives on disk.
struct BodyExtent {
  uint64_t segment = 0;  // segment id (file segments/<id>.seg)
  uint32_t offset = 0;   // offset of the chunk record in the segment
  uint32_t length = 0;   // body bytes in the chunk

  bool operator==(const BodyExtent&) const = default;
};

// What a lookup returns: the stored metadata plus what the engine knows of the object.
struct ObjectInfo {
  ObjectKey key;
  ObjectMeta meta;
  uint64_t body_length = 0;
  // XXH3-64 of the whole body: a content-derived validator every replica agrees on.
  uint64_t body_hash = 0;
  // Version of this entry; changes with every Commit and UpdateMeta of the key.
  uint64_t version = 0;
  // Version of the body (the insert that wrote it); unchanged by UpdateMeta.
  uint64_t body_version = 0;
  int64_t stored_at = 0;  // Unix seconds of the Commit that stored the body
  // True when a soft purge marked the object stale: the proxy must revalidate it before
  // serving it (it may still serve it stale where stale-if-error allows).
  bool invalidated = false;
  std::vector<BodyExtent> extents;
  // Lookups that found this object since the store was opened: a count-min estimate (may
  // over-count, never under-counts), kept in memory only. Filled by Variants and List.
  uint64_t hits = 0;
};

// A verified piece of a body. `data` points into memory kept alive by `owner`, which may
// be shared with the RAM cache: never modify it.
//
// A slice of a large chunk held in the RAM cache can also be sent from a file without a
// copy through this process: `fd` >= 0 holds `data`'s bytes at `file_offset` (for
// sendfile). Those bytes stay the same while `owner` is held, and pages the kernel still
// holds after that keep their bytes (see docs/architecture.md); the fd is the store's:
// never close it, and never use it once `owner` is released.
struct BodySlice {
  std::shared_ptr<const void> owner;
  std::string_view data;
  int fd = -1;
  uint64_t file_offset = 0;
};

// Returns the value of a request header (name in any case), or nullopt when absent.
using HeaderGetter = std::function<std::optional<std::string_view>(std::string_view name)>;

// The secondary key of a request for a response that varies on `vary_names`: each name
// (lower-cased, sorted) with the request's value (whitespace trimmed; "" when absent).
// The proxy normalises values that need it (Accept-Encoding) in its getter.
std::string SecondaryKeyFor(const std::vector<std::string>& vary_names,
                            const HeaderGetter& request_header);

enum class PurgeMode {
  kHard,  // delete: the next request is a miss
  kSoft,  // mark stale: the next request revalidates with the stored validators
};

struct StoreCounters {
  uint64_t objects = 0;        // live index entries
  uint64_t body_bytes = 0;     // body bytes of live entries
  uint64_t segments = 0;       // segment files on disk
  uint64_t segment_bytes = 0;  // bytes those files occupy (segments * segment size)
  uint64_t capacity_bytes = 0;
  uint64_t hits = 0;            // lookups that found a servable entry
  uint64_t misses = 0;          // lookups that found nothing servable
  uint64_t inserts = 0;         // commits
  uint64_t insert_batches = 0;  // index writes that published commits (group commit)
  uint64_t evictions = 0;       // entries dropped because their segment was reclaimed
  uint64_t reinserted = 0;      // hot objects copied forward before their segment was reclaimed
  // Admission::kProbation: objects held on probation now and the RAM they take; objects
  // promoted (requested again while held, then written) and dropped (never requested again).
  uint64_t probation_objects = 0;
  uint64_t probation_bytes = 0;
  uint64_t promoted = 0;
  uint64_t not_admitted = 0;
  uint64_t segments_reclaimed = 0;
  uint64_t written_bytes = 0;   // body record bytes written to segments since the store opened
  uint64_t purges = 0;          // purge calls (url, tag, prefix)
  uint64_t purged_objects = 0;  // entries removed or marked stale by purges
  uint64_t ram_cache_hits = 0;  // body chunk reads served from RAM
  uint64_t disk_reads = 0;      // body chunk reads that went to disk
  uint64_t corrupt_reads = 0;   // chunk reads that failed a check (entry dropped)
  uint64_t io_errors = 0;       // read or write errors reported by the OS
};

}  // namespace edgecache
