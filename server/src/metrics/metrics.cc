#include "metrics/metrics.h"

#include <sstream>

namespace edgecache::metrics {

void Metrics::ObserveLatency(double seconds) {
  size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  latency_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

const char* Metrics::Name(Outcome o) {
  static const char* kNames[] = {"hit", "miss", "stale", "pass", "error"};
  return kNames[static_cast<size_t>(o)];
}

const char* Metrics::Name(Revalidation r) {
  static const char* kNames[] = {"not_modified", "same_bytes", "replaced", "removed", "failed"};
  return kNames[static_cast<size_t>(r)];
}

Metrics::Snapshot Metrics::Read() const {
  Snapshot out;
  for (size_t i = 0; i < requests_.size(); ++i) out.requests[i] = requests_[i].load();
  for (size_t i = 0; i < revalidations_.size(); ++i)
    out.revalidations[i] = revalidations_[i].load();
  out.client_bytes = client_bytes_.load();
  out.store_bytes = store_bytes_.load();
  out.origin_bytes = origin_bytes_.load();
  out.not_modified_saved_bytes = not_modified_saved_bytes_.load();
  out.sendfile_bytes = sendfile_bytes_.load();
  out.origin_requests = origin_requests_.load();
  out.origin_errors = origin_errors_.load();
  for (size_t i = 0; i < latency_buckets_.size(); ++i)
    out.latency_buckets[i] = latency_buckets_[i].load();
  out.refused_connections = refused_connections_.load();
  out.connections = connections_.load();
  return out;
}

std::string Metrics::Render(const StoreCounters& s) const {
  const Snapshot n = Read();
  std::ostringstream out;
  auto counter = [&](const char* name, const char* help, auto value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
        << name << " " << value << "\n";
  };
  auto gauge = [&](const char* name, const char* help, auto value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
        << name << " " << value << "\n";
  };
  out << "# HELP edgecache_requests_total Requests by how the cache answered them.\n"
         "# TYPE edgecache_requests_total counter\n";
  for (size_t i = 0; i < n.requests.size(); ++i) {
    out << "edgecache_requests_total{cache=\"" << Name(static_cast<Outcome>(i)) << "\"} "
        << n.requests[i] << "\n";
  }
  out << "# HELP edgecache_revalidations_total Revalidations with the origin by outcome.\n"
         "# TYPE edgecache_revalidations_total counter\n";
  for (size_t i = 0; i < n.revalidations.size(); ++i) {
    out << "edgecache_revalidations_total{outcome=\"" << Name(static_cast<Revalidation>(i))
        << "\"} " << n.revalidations[i] << "\n";
  }
  counter("edgecache_client_bytes_total", "Response body bytes sent to clients.", n.client_bytes);
  counter("edgecache_store_served_bytes_total",
          "Response body bytes sent to clients from the store.", n.store_bytes);
  counter("edgecache_sendfile_bytes_total",
          "Of those, bytes sent from the RAM cache with sendfile (not copied by the node).",
          n.sendfile_bytes);
  counter("edgecache_origin_bytes_total", "Response body bytes received from origins.",
          n.origin_bytes);
  counter("edgecache_not_modified_saved_bytes_total",
          "Stored body bytes reused after a 304 from the origin (not transferred again).",
          n.not_modified_saved_bytes);
  counter("edgecache_origin_requests_total",
          "Requests sent to origins (or the parent): misses, revalidations, passes.",
          n.origin_requests);
  counter("edgecache_origin_errors_total", "Origin connections or responses that failed.",
          n.origin_errors);
  counter("edgecache_refused_connections_total",
          "Client connections refused at accept: limits.max_connections were open.",
          n.refused_connections);
  gauge("edgecache_client_connections", "Open client connections.", n.connections);

  out << "# HELP edgecache_request_duration_seconds Time from request to response end.\n"
         "# TYPE edgecache_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += latency_buckets_[i].load();
    out << "edgecache_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} "
        << cumulative << "\n";
  }
  cumulative += latency_buckets_.back().load();
  out << "edgecache_request_duration_seconds_bucket{le=\"+Inf\"} " << cumulative << "\n"
      << "edgecache_request_duration_seconds_sum " << latency_sum_us_.load() / 1e6 << "\n"
      << "edgecache_request_duration_seconds_count " << latency_count_.load() << "\n";

  gauge("edgecache_store_objects", "Objects in the store.", s.objects);
  gauge("edgecache_store_body_bytes", "Body bytes of stored objects.", s.body_bytes);
  gauge("edgecache_store_segment_bytes", "Disk used by body segments.", s.segment_bytes);
  gauge("edgecache_store_capacity_bytes", "Configured store capacity.", s.capacity_bytes);
  counter("edgecache_store_written_bytes_total",
          "Body record bytes written to segments (inserts and re-insertions).", s.written_bytes);
  counter("edgecache_store_evictions_total", "Objects evicted with their segment.", s.evictions);
  counter("edgecache_store_reinserted_total", "Hot objects copied forward before eviction.",
          s.reinserted);
  gauge("edgecache_store_probation_objects", "New objects held in RAM on probation.",
        s.probation_objects);
  counter("edgecache_store_promoted_total",
          "Objects on probation requested again, then written to segments.", s.promoted);
  counter("edgecache_store_not_admitted_total",
          "Objects on probation never requested again, so never written.", s.not_admitted);
  counter("edgecache_store_purged_objects_total", "Objects removed or marked stale by purges.",
          s.purged_objects);
  counter("edgecache_store_corrupt_reads_total", "Body reads that failed verification.",
          s.corrupt_reads);
  counter("edgecache_store_io_errors_total", "Store I/O errors.", s.io_errors);
  return out.str();
}

}  // namespace edgecache::metrics
