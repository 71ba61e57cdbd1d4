#include "render.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <vector>

namespace edgecache::ctl {
namespace {

namespace json = boost::json;

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return 0;
}

double Double(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  return v->is_double() ? v->as_double() : static_cast<double>(Int(o, key));
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

bool Bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

// The strings of an array field joined with ", "; "-" when empty.
std::string Joined(const json::object& o, std::string_view key, const char* sep = ", ") {
  std::string out;
  if (const json::value* v = o.if_contains(key); v != nullptr && v->is_array()) {
    for (const auto& item : v->as_array()) {
      if (!item.is_string()) continue;
      if (!out.empty()) out += sep;
      out += std::string(item.as_string());
    }
  }
  return out.empty() ? "-" : out;
}

const json::object& Obj(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->as_object() : kEmpty;
}

std::string Fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [k, v] : fields) rows.push_back({k, v});
  return Table(rows);
}

std::string StateText(const json::object& v) {
  std::string state = Str(v, "state");
  if (Bool(v, "soft_purged")) state += " (soft-purged)";
  return state;
}

}  // namespace

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", ratio * 100);
  return buf;
}

// Left-aligned columns, two spaces apart; the header row first.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string HumanDuration(int64_t seconds) {
  if (seconds < 0) return "-" + HumanDuration(-seconds);
  const int64_t d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60,
                s = seconds % 60;
  if (d > 0) return std::to_string(d) + "d" + std::to_string(h) + "h";
  if (h > 0) return std::to_string(h) + "h" + std::to_string(m) + "m";
  if (m > 0) return std::to_string(m) + "m" + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

std::string HumanTime(int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string RenderInspect(const json::object& doc) {
  std::string out;
  const json::value* variants = doc.if_contains("variants");
  if (variants == nullptr || !variants->is_array()) return out;
  out += Str(doc, "url") + "  (key " + Str(doc, "key") + ", " +
         std::to_string(variants->as_array().size()) + " variant" +
         (variants->as_array().size() == 1 ? "" : "s") + ")\n";
  for (const auto& item : variants->as_array()) {
    const json::object& v = item.as_object();
    std::string location;
    if (const json::value* l = v.if_contains("location"); l != nullptr && l->is_array()) {
      for (const auto& e : l->as_array()) {
        const json::object& x = e.as_object();
        if (!location.empty()) location += ", ";
        location += "segment " + std::to_string(Int(x, "segment")) + " @" +
                    std::to_string(Int(x, "offset")) + " (" +
                    HumanBytes(static_cast<uint64_t>(Int(x, "length"))) + ")";
      }
    }
    out += "\n";
    out += Fields({
        {"variant", Str(v, "variant").empty() ? "-" : Str(v, "variant")},
        {"state", StateText(v)},
        {"status", std::to_string(Int(v, "status"))},
        {"age", HumanDuration(Int(v, "age"))},
        {"ttl",
         HumanDuration(Int(v, "ttl")) + " of " + HumanDuration(Int(v, "freshness_lifetime"))},
        {"stored", HumanTime(Int(v, "stored_at"))},
        {"expires", HumanTime(Int(v, "expires_at"))},
        {"etag", Str(v, "etag").empty() ? "-" : Str(v, "etag")},
        {"last-modified", HumanTime(Int(v, "last_modified"))},
        {"stale windows", "while-revalidate " + HumanDuration(Int(v, "stale_while_revalidate")) +
                              ", if-error " + HumanDuration(Int(v, "stale_if_error"))},
        {"flags", Joined(v, "flags")},
        {"tags", Joined(v, "tags")},
        {"vary", Joined(v, "vary")},
        {"size",
         HumanBytes(static_cast<uint64_t>(Int(v, "size"))) + " (xxh3 " + Str(v, "body_hash") + ")"},
        {"hits", std::to_string(Int(v, "hits"))},
        {"location", location.empty() ? "-" : location},
    });
  }
  return out;
}

std::string RenderList(const json::object& doc) {
  std::vector<std::vector<std::string>> rows = {
      {"KEY", "VARIANT", "STATE", "TTL", "SIZE", "HITS", "TAGS"}};
  size_t n = 0;
  if (const json::value* e = doc.if_contains("entries"); e != nullptr && e->is_array()) {
    for (const auto& item : e->as_array()) {
      const json::object& v = item.as_object();
      rows.push_back({Str(v, "key"), Str(v, "variant").empty() ? "-" : Str(v, "variant"),
                      StateText(v), HumanDuration(Int(v, "ttl")),
                      HumanBytes(static_cast<uint64_t>(Int(v, "size"))),
                      std::to_string(Int(v, "hits")), Joined(v, "tags", ",")});
      ++n;
    }
  }
  std::string out = n == 0 ? "" : Table(rows);
  out += std::to_string(n) + (n == 1 ? " object" : " objects");
  if (Bool(doc, "truncated") && doc.contains("next") && doc.at("next").is_string()) {
    out += " (more: --after '" + std::string(doc.at("next").as_string()) + "')";
  }
  return out + "\n";
}

std::string RenderStats(const json::object& doc) {
  const json::object& s = Obj(doc, "store");
  std::vector<std::pair<std::string, std::string>> fields = {
      {"objects", std::to_string(Int(s, "objects"))},
      {"body bytes", HumanBytes(static_cast<uint64_t>(Int(s, "body_bytes")))},
      {"capacity", HumanBytes(static_cast<uint64_t>(Int(s, "segment_bytes"))) + " of " +
                       HumanBytes(static_cast<uint64_t>(Int(s, "capacity_bytes"))) + " (" +
                       Percent(Double(s, "capacity_used")) + ")"},
      {"segments", std::to_string(Int(s, "segments")) + " (" +
                       std::to_string(Int(s, "segments_reclaimed")) + " reclaimed)"},
      {"evictions", std::to_string(Int(s, "evictions")) + " (" +
                        std::to_string(Int(s, "reinserted")) + " hot objects re-inserted)"},
      {"probation", std::to_string(Int(s, "probation_objects")) + " held (" +
                        HumanBytes(static_cast<uint64_t>(Int(s, "probation_bytes"))) + "), " +
                        std::to_string(Int(s, "promoted")) + " written, " +
                        std::to_string(Int(s, "not_admitted")) + " not admitted"},
      {"purges", std::to_string(Int(s, "purges")) + " (" +
                     std::to_string(Int(s, "purged_objects")) + " objects)"},
      {"reads", std::to_string(Int(s, "ram_cache_hits")) + " from RAM, " +
                    std::to_string(Int(s, "disk_reads")) + " from disk, " +
                    std::to_string(Int(s, "corrupt_reads")) + " corrupt, " +
                    std::to_string(Int(s, "io_errors")) + " I/O errors"},
      {"I/O backend", Str(s, "io_backend")},
  };
  if (const json::object& n = Obj(doc, "node"); !n.empty()) {
    const json::object& r = Obj(n, "requests");
    const json::object& rv = Obj(n, "revalidations");
    fields.insert(
        fields.end(),
        {
            {"requests", std::to_string(Int(r, "hit")) + " hit, " + std::to_string(Int(r, "miss")) +
                             " miss, " + std::to_string(Int(r, "stale")) + " stale, " +
                             std::to_string(Int(r, "pass")) + " pass, " +
                             std::to_string(Int(r, "error")) + " error"},
            {"hit ratio", Percent(Double(n, "hit_ratio"))},
            {"byte hit ratio",
             Percent(Double(n, "byte_hit_ratio")) + " (" +
                 HumanBytes(static_cast<uint64_t>(Int(n, "store_served_bytes"))) + " of " +
                 HumanBytes(static_cast<uint64_t>(Int(n, "client_bytes"))) + " from the store)"},
            {"origin bytes", HumanBytes(static_cast<uint64_t>(Int(n, "origin_bytes")))},
            {"saved by 304s",
             HumanBytes(static_cast<uint64_t>(Int(n, "not_modified_saved_bytes")))},
            {"revalidations", std::to_string(Int(rv, "not_modified")) + " not modified, " +
                                  std::to_string(Int(rv, "same_bytes")) + " same bytes, " +
                                  std::to_string(Int(rv, "replaced")) + " replaced, " +
                                  std::to_string(Int(rv, "removed")) + " removed, " +
                                  std::to_string(Int(rv, "failed")) + " failed"},
            {"origin errors", std::to_string(Int(n, "origin_errors"))},
            {"connections", std::to_string(Int(n, "client_connections"))},
        });
  }
  return Fields(fields);
}

std::string RenderPurge(const json::object& doc) {
  const int64_t n = Int(doc, "affected");
  std::string out = Str(doc, "mode") == "soft" ? "marked stale: " : "purged: ";
  out += std::to_string(n) + (n == 1 ? " object" : " objects");
  if (const json::value* v = doc.if_contains("values"); v != nullptr && v->is_array()) {
    if (v->as_array().size() > 1) {
      out += "\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& item : v->as_array()) {
        const json::object& x = item.as_object();
        rows.push_back(
            {"  " + Str(doc, "kind") + " " + Str(x, "value"), std::to_string(Int(x, "affected"))});
      }
      return out + Table(rows);
    }
  }
  return out + "\n";
}

std::string RenderReload(const json::object& doc) {
  auto keys = [&](const char* name) {
    std::string out;
    if (const json::value* v = doc.if_contains(name); v != nullptr && v->is_array()) {
      for (const auto& k : v->as_array()) {
        if (k.is_string()) out += (out.empty() ? "" : ", ") + std::string(k.as_string());
      }
    }
    return out.empty() ? std::string("none") : out;
  };
  std::string out = "reloaded; applied: " + keys("applied") + "\n";
  if (keys("need_restart") != "none") {
    out += "kept until a restart (they cannot change live): " + keys("need_restart") + "\n";
  }
  return out;
}

namespace {

// The `q` quantile of the requests counted in latency buckets `counts` (upper bounds `le`,
// one more bucket past the last), interpolated linearly inside its bucket as Prometheus'
// histogram_quantile does. "-" without requests; "> LAST" when it falls past the last bound.
std::string Quantile(const std::vector<double>& le, const std::vector<uint64_t>& counts, double q) {
  uint64_t total = 0;
  for (uint64_t n : counts) total += n;
  if (total == 0) return "-";
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;
  char buf[32];
  for (size_t i = 0; i < counts.size(); ++i) {
    if (static_cast<double>(below + counts[i]) >= rank && counts[i] > 0) {
      if (i >= le.size()) {
        std::snprintf(buf, sizeof(buf), "> %g s", le.back());
        return buf;
      }
      const double lower = i == 0 ? 0 : le[i - 1];
      const double seconds = lower + (le[i] - lower) * (rank - static_cast<double>(below)) /
                                         static_cast<double>(counts[i]);
      std::snprintf(buf, sizeof(buf), "%.2f ms", seconds * 1000);
      return buf;
    }
    below += counts[i];
  }
  return "-";
}

std::string Rate(double per_second) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f/s", per_second);
  return buf;
}

}  // namespace

std::string RenderTop(const json::object& before, const json::object& after, double seconds,
                      const json::object& top) {
  const json::object& n0 = Obj(before, "node");
  const json::object& n1 = Obj(after, "node");
  const json::object& s0 = Obj(before, "store");
  const json::object& s1 = Obj(after, "store");
  if (seconds <= 0) seconds = 1;
  // Per second over the interval; counters never go down, but a restarted node resets them.
  auto delta = [&](const json::object& a, const json::object& b, std::string_view key) {
    return std::max<int64_t>(0, Int(b, key) - Int(a, key));
  };
  auto rate = [&](const json::object& a, const json::object& b, std::string_view key) {
    return static_cast<double>(delta(a, b, key)) / seconds;
  };
  const json::object& r0 = Obj(n0, "requests");
  const json::object& r1 = Obj(n1, "requests");
  int64_t requests = 0;
  std::string by_outcome;
  for (const char* outcome : {"hit", "miss", "stale", "pass", "error"}) {
    requests += delta(r0, r1, outcome);
    by_outcome +=
        std::string(by_outcome.empty() ? "" : "  ") + outcome + " " + Rate(rate(r0, r1, outcome));
  }
  const int64_t lookups = delta(r0, r1, "hit") + delta(r0, r1, "miss") + delta(r0, r1, "stale");
  const int64_t out_bytes = delta(n0, n1, "client_bytes");
  auto ratio = [](int64_t part, int64_t whole) {
    return whole > 0 ? Percent(static_cast<double>(part) / static_cast<double>(whole))
                     : std::string("-");
  };
  auto bytes_rate = [&](std::string_view key) {
    return HumanBytes(static_cast<uint64_t>(rate(n0, n1, key))) + "/s";
  };
  std::vector<double> le;
  std::vector<uint64_t> counts;
  const json::object& l0 = Obj(n0, "latency");
  const json::object& l1 = Obj(n1, "latency");
  if (const json::value* v = l1.if_contains("le_seconds"); v && v->is_array()) {
    for (const auto& b : v->as_array()) le.push_back(b.is_double() ? b.as_double() : 0);
  }
  const json::value* c0 = l0.if_contains("counts");
  const json::value* c1 = l1.if_contains("counts");
  if (c1 && c1->is_array()) {
    const json::array& after_counts = c1->as_array();
    for (size_t i = 0; i < after_counts.size(); ++i) {
      const int64_t a = after_counts[i].is_int64() ? after_counts[i].as_int64() : 0;
      int64_t b = 0;
      if (c0 && c0->is_array() && i < c0->as_array().size() && c0->as_array()[i].is_int64())
        b = c0->as_array()[i].as_int64();
      counts.push_back(static_cast<uint64_t>(std::max<int64_t>(0, a - b)));
    }
  }
  std::string out = Fields({
      {"requests", Rate(static_cast<double>(requests) / seconds) + "   " + by_outcome},
      {"hit ratio", ratio(delta(r0, r1, "hit"), lookups) + "   byte hit ratio " +
                        ratio(delta(n0, n1, "store_served_bytes"), out_bytes)},
      {"latency", "p50 " + Quantile(le, counts, 0.5) + "   p99 " + Quantile(le, counts, 0.99)},
      {"origin",
       Rate(rate(n0, n1, "origin_requests")) + "   errors " + Rate(rate(n0, n1, "origin_errors"))},
      {"bytes", "out " + bytes_rate("client_bytes") + "   from store " +
                    bytes_rate("store_served_bytes") + "   in from origin " +
                    bytes_rate("origin_bytes")},
      {"connections", std::to_string(Int(n1, "client_connections"))},
      {"store", std::to_string(Int(s1, "objects")) + " objects   " +
                    HumanBytes(static_cast<uint64_t>(Int(s1, "segment_bytes"))) + " of " +
                    HumanBytes(static_cast<uint64_t>(Int(s1, "capacity_bytes"))) + " (" +
                    Percent(Double(s1, "capacity_used")) + ")"},
      {"evictions", Rate(rate(s0, s1, "evictions")) + "   purges " + Rate(rate(s0, s1, "purges")) +
                        "   purged objects " + Rate(rate(s0, s1, "purged_objects"))},
  });
  out += "\n";
  std::vector<std::vector<std::string>> rows{{"TOP URLS, LAST SECOND", "REQUESTS"}};
  if (const json::value* v = top.if_contains("urls"); v && v->is_array()) {
    for (const auto& item : v->as_array()) {
      if (!item.is_object()) continue;
      rows.push_back(
          {Str(item.as_object(), "url"), std::to_string(Int(item.as_object(), "requests"))});
    }
  }
  if (Int(top, "other") > 0) rows.push_back({"(others)", std::to_string(Int(top, "other"))});
  if (rows.size() == 1) rows.push_back({"(no requests)", ""});
  return out + Table(rows);
}

std::string RenderVerify(const json::object& doc) {
  std::string out = Bool(doc, "ok") ? "store OK\n" : "store has problems\n";
  out += Fields({
      {"entries", std::to_string(Int(doc, "entries"))},
      {"verified", HumanBytes(static_cast<uint64_t>(Int(doc, "verified_bytes"))) +
                       " of bodies, every checksum"},
      {"corrupt", std::to_string(Int(doc, "corrupt"))},
      {"dangling", std::to_string(Int(doc, "dangling"))},
      {"undecodable", std::to_string(Int(doc, "undecodable"))},
      {"orphaned tag keys", std::to_string(Int(doc, "orphaned_tag_keys"))},
      {"orphaned segment files", std::to_string(Int(doc, "orphaned_segment_files"))},
      {"segment space", HumanBytes(static_cast<uint64_t>(Int(doc, "segment_bytes"))) + ", " +
                            HumanBytes(static_cast<uint64_t>(Int(doc, "unreferenced_bytes"))) +
                            " unreferenced (reclaimed by FIFO)"},
      {"repaired", std::to_string(Int(doc, "repaired"))},
  });
  if (const json::value* p = doc.if_contains("problems"); p != nullptr && p->is_array()) {
    for (const auto& item : p->as_array()) {
      if (item.is_string()) out += "  " + std::string(item.as_string()) + "\n";
    }
  }
  return out;
}

}  // namespace edgecache::ctl
