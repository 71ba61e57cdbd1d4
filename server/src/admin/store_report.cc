#include "admin/store_report.h"

#include <boost/json.hpp>
#include <cstdio>

#include "util/ascii.h"

namespace edgecache::admin {
namespace {

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

Status KeyOf(const proxy::KeyOptions& keys, const std::string& url, std::string* key) {
  auto k = proxy::CacheKeyForUrl(url, keys);
  if (!k) return Status::InvalidArgument("'" + url + "' is not a URL (http://HOST/PATH)");
  *key = std::move(*k);
  return Status::OK();
}

}  // namespace

std::string StateOf(const ObjectInfo& info, int64_t now) {
  const uint32_t flags = info.meta.policy_flags;
  const int64_t ttl = info.meta.freshness_lifetime - policy::CurrentAge(info.meta, now);
  if (ttl > 0 && !info.invalidated && !(flags & policy::kNoCacheResponse)) return "fresh";
  return flags & (policy::kMustRevalidate | policy::kNoCacheResponse) ? "must-revalidate" : "stale";
}

json::object DescribeObject(const ObjectInfo& info, int64_t now) {
  const ObjectMeta& m = info.meta;
  const int64_t age = policy::CurrentAge(m, now);
  const int64_t ttl = m.freshness_lifetime - age;
  json::object o;
  o["key"] = info.key.primary;
  o["variant"] = info.key.secondary;
  o["state"] = StateOf(info, now);
  o["soft_purged"] = info.invalidated;
  o["status"] = m.status;
  o["age"] = age;
  o["ttl"] = ttl;
  o["freshness_lifetime"] = m.freshness_lifetime;
  o["expires_at"] = now + ttl;
  o["stored_at"] = info.stored_at;
  o["response_time"] = m.response_time;
  o["stale_while_revalidate"] = m.stale_while_revalidate;
  o["stale_if_error"] = m.stale_if_error;
  o["etag"] = m.etag;
  o["last_modified"] = m.last_modified;
  o["date"] = m.date;
  json::array flags;
  if (m.policy_flags & policy::kMustRevalidate) flags.emplace_back("must-revalidate");
  if (m.policy_flags & policy::kNoCacheResponse) flags.emplace_back("no-cache");
  if (m.policy_flags & policy::kImmutable) flags.emplace_back("immutable");
  if (m.policy_flags & policy::kHeuristic) flags.emplace_back("heuristic");
  o["flags"] = std::move(flags);
  o["tags"] = Strings(m.tags);
  o["vary"] = Strings(m.vary);
  o["size"] = info.body_length;
  o["body_hash"] = Hex64(info.body_hash);
  o["hits"] = info.hits;
  o["version"] = info.version;
  json::array location;
  for (const BodyExtent& e : info.extents) {
    location.emplace_back(
        json::object{{"segment", e.segment}, {"offset", e.offset}, {"length", e.length}});
  }
  o["location"] = std::move(location);
  return o;
}

Status Inspect(Store& store, const proxy::KeyOptions& keys, const std::string& url,
               const std::map<std::string, std::string>& request_headers, int64_t now,
               json::object* out) {
  std::string primary;
  Status s = KeyOf(keys, url, &primary);
  if (!s.ok()) return s;
  std::vector<ObjectInfo> variants;
  s = store.Variants(primary, &variants);
  if (!s.ok()) return s;
  if (!request_headers.empty()) {
    // The variant the proxy would look up: its secondary key from the stored Vary names
    // and the request's headers, normalised as the proxy does.
    std::map<std::string, std::string> normalised = request_headers;
    for (auto& [name, value] : normalised) value = proxy::NormalizeVaryValue(name, value);
    HeaderGetter header = [&normalised](std::string_view name) -> std::optional<std::string_view> {
      auto it = normalised.find(util::AsciiLower(name));
      if (it == normalised.end()) return std::nullopt;
      return it->second;
    };
    std::erase_if(variants, [&](const ObjectInfo& v) {
      return v.key.secondary != SecondaryKeyFor(v.meta.vary, header);
    });
  }
  if (variants.empty())
    return Status::NotFound("not in the cache: " + url + " (key " + primary + ")");
  json::array list;
  for (const ObjectInfo& v : variants) list.emplace_back(DescribeObject(v, now));
  *out = json::object{{"url", url}, {"key", primary}, {"variants", std::move(list)}};
  return Status::OK();
}

Status List(Store& store, const proxy::KeyOptions& keys, const ListRequest& request, int64_t now,
            json::object* out) {
  ListOptions options;
  if (!request.prefix.empty()) {
    Status s = KeyOf(keys, request.prefix, &options.prefix);
    if (!s.ok()) return s;  // "http://host" gives "host/": the whole host, not "host.evil"
  }
  if (request.limit == 0 || request.limit > kMaxListLimit) {
    return Status::InvalidArgument("limit must be between 1 and " + std::to_string(kMaxListLimit) +
                                   ": page with next/after");
  }
  options.tag = request.tag;
  options.start_after = request.after;
  json::array entries;
  std::string last_key;   // primary key of the last entry taken
  size_t last_start = 0;  // index in `entries` of its first variant
  bool truncated = false;
  // Pages through the store until `limit` entries pass the filter. A page resumes after
  // a primary key, so a full page gives back the variants of its last key for the next
  // one; pages are large enough to always hold every variant of one key (at most 1024).
  for (;;) {
    options.limit = std::max<size_t>(request.limit, 256) + 1024;
    std::vector<ObjectInfo> page;
    Status s = store.List(options, &page);
    if (!s.ok()) return s;
    const bool full = page.size() == options.limit;
    if (full) {
      const std::string last = page.back().key.primary;
      while (page.size() > 1 && page.back().key.primary == last) page.pop_back();
    }
    for (const ObjectInfo& info : page) {
      if (request.stale_only && StateOf(info, now) == "fresh") continue;
      const bool new_key = info.key.primary != last_key;
      if (entries.size() >= request.limit && (new_key || last_start > 0)) {
        // Full. A key whose variants would straddle the page moves to the next one.
        if (!new_key) entries.resize(last_start);
        truncated = true;
        break;
      }
      if (new_key) {
        last_start = entries.size();
        last_key = info.key.primary;
      }
      entries.emplace_back(DescribeObject(info, now));
    }
    if (truncated || !full) break;
    options.start_after = page.back().key.primary;
  }
  *out = json::object{{"entries", std::move(entries)}, {"truncated", truncated}};
  if (truncated) {
    // The last key wholly on this page.
    const json::array& taken = out->at("entries").as_array();
    (*out)["next"] =
        taken.empty() ? json::value(request.after) : taken.back().as_object().at("key");
  }
  return Status::OK();
}

json::object Stats(Store& store, const metrics::Metrics::Snapshot* node) {
  const StoreCounters c = store.Counters();
  json::object st{
      {"objects", c.objects},
      {"body_bytes", c.body_bytes},
      {"capacity_bytes", c.capacity_bytes},
      {"segment_bytes", c.segment_bytes},
      {"capacity_used",
       c.capacity_bytes ? double(c.segment_bytes) / double(c.capacity_bytes) : 0.0},
      {"segments", c.segments},
      {"lookups_hit", c.hits},
      {"lookups_missed", c.misses},
      {"inserts", c.inserts},
      {"insert_batches", c.insert_batches},
      {"evictions", c.evictions},
      {"reinserted", c.reinserted},
      {"probation_objects", c.probation_objects},
      {"probation_bytes", c.probation_bytes},
      {"promoted", c.promoted},
      {"not_admitted", c.not_admitted},
      {"segments_reclaimed", c.segments_reclaimed},
      {"written_bytes", c.written_bytes},
      {"purges", c.purges},
      {"purged_objects", c.purged_objects},
      {"ram_cache_hits", c.ram_cache_hits},
      {"disk_reads", c.disk_reads},
      {"corrupt_reads", c.corrupt_reads},
      {"io_errors", c.io_errors},
      {"io_backend", std::string(store.IoBackendName())},
  };
  json::object out{{"store", std::move(st)}};
  if (node == nullptr) return out;
  json::object requests;
  for (size_t i = 0; i < node->requests.size(); ++i)
    requests[metrics::Metrics::Name(static_cast<metrics::Outcome>(i))] = node->requests[i];
  json::object revalidations;
  for (size_t i = 0; i < node->revalidations.size(); ++i) {
    revalidations[metrics::Metrics::Name(static_cast<metrics::Revalidation>(i))] =
        node->revalidations[i];
  }
  auto at = [&](metrics::Outcome o) { return node->requests[static_cast<size_t>(o)]; };
  const uint64_t cacheable =
      at(metrics::Outcome::kHit) + at(metrics::Outcome::kMiss) + at(metrics::Outcome::kStale);
  out["node"] = json::object{
      {"requests", std::move(requests)},
      {"revalidations", std::move(revalidations)},
      {"hit_ratio", cacheable ? double(at(metrics::Outcome::kHit)) / double(cacheable) : 0.0},
      {"byte_hit_ratio",
       node->client_bytes ? double(node->store_bytes) / double(node->client_bytes) : 0.0},
      {"client_bytes", node->client_bytes},
      {"store_served_bytes", node->store_bytes},
      {"origin_bytes", node->origin_bytes},
      {"not_modified_saved_bytes", node->not_modified_saved_bytes},
      {"origin_requests", node->origin_requests},
      {"origin_errors", node->origin_errors},
      {"refused_connections", node->refused_connections},
      {"client_connections", node->connections},
  };
  json::array le, counts;
  for (double bound : metrics::Metrics::kLatencyBuckets) le.emplace_back(bound);
  for (uint64_t n : node->latency_buckets) counts.emplace_back(n);
  out["node"].as_object()["latency"] =
      json::object{{"le_seconds", std::move(le)}, {"counts", std::move(counts)}};
  return out;
}

const char* PurgeKindName(PurgeKind kind) {
  static const char* kNames[] = {"url", "tag", "prefix"};
  return kNames[static_cast<int>(kind)];
}

bool ParseHeaderLine(std::string_view line, std::string* name, std::string* value) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  *name = util::AsciiLower(util::TrimOws(line.substr(0, colon)));
  *value = std::string(util::TrimOws(line.substr(colon + 1)));
  return !name->empty();
}

std::optional<PurgeKind> ParsePurgeKind(std::string_view text) {
  if (text == "url") return PurgeKind::kUrl;
  if (text == "tag") return PurgeKind::kTag;
  if (text == "prefix") return PurgeKind::kPrefix;
  return std::nullopt;
}

Status Purge(Store& store, const proxy::KeyOptions& keys, PurgeKind kind,
             const std::vector<std::string>& values, PurgeMode mode, json::object* out) {
  if (values.empty()) return Status::InvalidArgument("nothing to purge");
  // Every value is checked before anything is purged: a typo in the tenth URL must not
  // leave the first nine purged and the call failed.
  std::vector<std::string> targets;
  for (const std::string& v : values) {
    std::string target = v;
    if (kind != PurgeKind::kTag) {
      Status s = KeyOf(keys, v, &target);
      if (!s.ok()) return s;
    } else if (v.empty()) {
      return Status::InvalidArgument("empty tag");
    }
    targets.push_back(std::move(target));
  }
  std::vector<uint64_t> counts(values.size(), 0);
  if (kind == PurgeKind::kUrl) {
    Status s = store.PurgeUrls(targets, mode, &counts);  // one sync for the whole list
    if (!s.ok()) return s;
  } else {
    for (size_t i = 0; i < values.size(); ++i) {
      Status s = kind == PurgeKind::kTag ? store.PurgeTag(targets[i], mode, &counts[i])
                                         : store.PurgePrefix(targets[i], mode, &counts[i]);
      if (!s.ok()) return s;
    }
  }
  json::array results;
  uint64_t total = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    total += counts[i];
    results.emplace_back(json::object{{"value", values[i]}, {"affected", counts[i]}});
  }
  *out = json::object{{"kind", PurgeKindName(kind)},
                      {"mode", mode == PurgeMode::kSoft ? "soft" : "hard"},
                      {"affected", total},
                      {"values", std::move(results)}};
  return Status::OK();
}

Status Verify(Store& store, bool repair, const std::function<void(uint64_t)>& progress,
              const std::atomic<bool>* cancel, json::object* out) {
  VerifyReport r;
  Status s = store.Verify({.repair = repair, .progress = progress, .cancel = cancel}, &r);
  if (!s.ok()) return s;
  const uint64_t found = r.corrupt + r.dangling + r.undecodable + r.orphaned_tag_keys;
  *out = json::object{
      {"ok", r.ok()},
      // Nothing wrong, or everything found was repaired: the verdict edgecachectl exits by.
      {"clean", found == 0 || (repair && r.repaired >= found)},
      {"entries", r.entries},
      {"verified_bytes", r.verified_bytes},
      {"corrupt", r.corrupt},
      {"dangling", r.dangling},
      {"undecodable", r.undecodable},
      {"orphaned_tag_keys", r.orphaned_tag_keys},
      {"orphaned_segment_files", r.orphaned_segment_files},
      {"segment_bytes", r.segment_bytes},
      {"referenced_bytes", r.referenced_bytes},
      {"unreferenced_bytes", r.segment_bytes - std::min(r.segment_bytes, r.referenced_bytes)},
      {"repaired", r.repaired},
      {"problems", Strings(r.problems)},
  };
  return Status::OK();
}

}  // namespace edgecache::admin
