// Node metrics, rendered in the Prometheus text exposition format on the admin listener.
//
// Thread safety: every counter is an atomic; Render may run concurrently with updates.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "edgecache/object.h"
#include "metrics/top_urls.h"

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
  // Body bytes sent from the RAM cache with sendfile (no copy through the node).
  void AddSendfileBytes(uint64_t n) { sendfile_bytes_.fetch_add(n, std::memory_order_relaxed); }
  // A 304 from the origin let the stored body of this many bytes be reused.
  void AddNotModifiedSavedBytes(uint64_t n) {
    not_modified_saved_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  void CountOriginRequest() { origin_requests_.fetch_add(1, std::memory_order_relaxed); }
  void CountOriginError() { origin_errors_.fetch_add(1, std::memory_order_relaxed); }
  // A connection refused at accept (limits.max_connections).
  void CountRefusedConnection() { refused_connections_.fetch_add(1, std::memory_order_relaxed); }
  void ObserveLatency(double seconds);
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }

  std::string Render(const StoreCounters& store) const;

  // The URLs requested most in the last second (edgecachectl top).
  TopUrls& top_urls() { return top_urls_; }
  const TopUrls& top_urls() const { return top_urls_; }

  // Upper bounds (seconds) of the request latency histogram's buckets; one more bucket
  // takes the rest (+Inf).
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  // The counters as plain values (the admin API's stats).
  struct Snapshot {
    std::array<uint64_t, static_cast<size_t>(Outcome::kCount)> requests{};
    std::array<uint64_t, static_cast<size_t>(Revalidation::kCount)> revalidations{};
    uint64_t client_bytes = 0, store_bytes = 0, origin_bytes = 0, not_modified_saved_bytes = 0;
    uint64_t sendfile_bytes = 0;
    uint64_t origin_requests = 0, origin_errors = 0;
    uint64_t refused_connections = 0;
    int64_t connections = 0;
    // Requests per latency bucket (not cumulative), the last one past kLatencyBuckets.
    std::array<uint64_t, kLatencyBuckets.size() + 1> latency_buckets{};
  };
  Snapshot Read() const;
  static const char* Name(Outcome o);
  static const char* Name(Revalidation r);

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Outcome::kCount)> requests_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Revalidation::kCount)> revalidations_{};
  std::atomic<uint64_t> client_bytes_{0}, store_bytes_{0}, origin_bytes_{0},
      not_modified_saved_bytes_{0}, origin_requests_{0}, origin_errors_{0}, refused_connections_{0},
      sendfile_bytes_{0};
  std::atomic<int64_t> connections_{0};
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> latency_buckets_{};  // last: +Inf
  std::atomic<uint64_t> latency_count_{0};
  TopUrls top_urls_;
  std::atomic<uint64_t> latency_sum_us_{0};
};

}  // namespace edgecache::metrics
