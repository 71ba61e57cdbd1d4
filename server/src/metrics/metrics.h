// Node metrics, rendered in the Prometheus text exposition format on the admin listener.
//
// Thread safety: every counter is an atomic; Render may run concurrently with updates.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "edgecache/object.h"

namespace edgecache::metrics {

// How a request was answered, one counter each (edgecache_requests_total{cache="..."}).
enum class Outcome { kHit, kMiss, kStale, kPass, kError, kCount };
// Revalidations with the origin by result: 304; 200 with the bytes already stored (the
// stored body kept, its metadata replaced); 200 with new bytes; 404/410; no usable answer.
enum class Revalidation { kNotModified, kSameBytes, kReplaced, kRemoved, kFailed, kCount };

class Metrics {
 public:
  void CountRequest(Outcome o) {
    requests_[static_cast<size_t>(o)].fetch_add(1, std::memory_order_relaxed);
  }
  void CountRevalidation(Revalidation r) {
    revalidations_[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  void AddClientBytes(uint64_t n) { client_bytes_.fetch_add(n, std::memory_order_relaxed); }
  void AddOriginBytes(uint64_t n) { origin_bytes_.fetch_add(n, std::memory_order_relaxed); }
  // Body bytes sent to clients from the store (hits, stale and revalidated answers).
  void AddStoreBytes(uint64_t n) { store_bytes_.fetch_add(n, std::memory_order_relaxed); }
  // A 304 from the origin let the stored body of this many bytes be reused.
  void AddNotModifiedSavedBytes(uint64_t n) {
    not_modified_saved_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  void CountOriginError() { origin_errors_.fetch_add(1, std::memory_order_relaxed); }
  // A connection refused at accept (limits.max_connections).
  void CountRefusedConnection() { refused_connections_.fetch_add(1, std::memory_order_relaxed); }
  void ObserveLatency(double seconds);
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }

  std::string Render(const StoreCounters& store) const;

  // The counters as plain values (the admin API's stats).
  struct Snapshot {
    std::array<uint64_t, static_cast<size_t>(Outcome::kCount)> requests{};
    std::array<uint64_t, static_cast<size_t>(Revalidation::kCount)> revalidations{};
    uint64_t client_bytes = 0, store_bytes = 0, origin_bytes = 0, not_modified_saved_bytes = 0;
    uint64_t origin_errors = 0;
    uint64_t refused_connections = 0;
    int64_t connections = 0;
  };
  Snapshot Read() const;
  static const char* Name(Outcome o);
  static const char* Name(Revalidation r);

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Outcome::kCount)> requests_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Revalidation::kCount)> revalidations_{};
  std::atomic<uint64_t> client_bytes_{0}, store_bytes_{0}, origin_bytes_{0},
      not_modified_saved_bytes_{0}, origin_errors_{0}, refused_connections_{0};
  std::atomic<int64_t> connections_{0};
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> latency_buckets_{};  // last = +Inf
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<uint64_t> latency_sum_us_{0};
};

}  // namespace edgecache::metrics
