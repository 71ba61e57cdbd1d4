#include "cluster.h"

#include <boost/json.hpp>

#include "cluster/purge_log.h"
#include "render.h"

namespace edgecache::ctl {
namespace {

namespace json = boost::json;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_int64()    ? v->as_int64()
         : v != nullptr && v->is_uint64() ? static_cast<int64_t>(v->as_uint64())
                                          : 0;
}

// The nodes to ask: the log's members (with how far behind each is), or the given list.
Status Nodes(const ClusterOptions& options, json::array* out) {
  if (!options.nodes.empty()) {
    for (const std::string& url : options.nodes)
      out->push_back(json::object{{"node_id", ""}, {"admin", url}});
    return Status::OK();
  }
  cluster::PurgeLog log(options.log, options.timeout);
  std::vector<cluster::PurgeLog::Member> members;
  Status s = log.Members(&members);
  if (!s.ok()) return s;
  for (const auto& m : members) {
    out->push_back(json::object{{"node_id", m.node_id},
                                {"admin", m.admin_url},
                                {"applied", m.applied},
                                {"behind", m.behind}});
  }
  return Status::OK();
}

// Asks every node with `ask`; each node's answer (or error) joins its line.
Result AskEach(const ClusterOptions& options, const std::function<Result(Target&)>& ask,
               const char* field) {
  json::array nodes;
  Status s = Nodes(options, &nodes);
  if (!s.ok()) return {kUnreachable, s.message(), {}};
  if (nodes.empty()) return {kNotFound, "no node follows " + options.log.ToString(), {}};
  for (json::value& n : nodes) {
    json::object& node = n.as_object();
    const std::string admin = Str(node, "admin");
    if (admin.empty()) {
      node["error"] = "no admin URL registered";
      continue;
    }
    std::unique_ptr<Target> target = NodeTarget(admin, options.token, options.timeout);
    Result r = ask(*target);
    if (r.ok()) {
      node[field] = std::move(r.doc);
    } else {
      node["error"] = r.error;
    }
  }
  return {kOk, "",
          json::object{{"purge_log", options.log.ToString()}, {"nodes", std::move(nodes)}}};
}

}  // namespace

Result ClusterPurge(const ClusterOptions& options, admin::PurgeKind kind,
                    const std::vector<std::string>& values, bool soft) {
  cluster::PurgeLog log(options.log, options.timeout);
  std::string id;
  Status s = log.Append(kind, values, soft ? PurgeMode::kSoft : PurgeMode::kHard, &id);
  if (!s.ok()) {
    return {s.code() == Status::Code::kIOError ? kUnreachable : kFailed, s.message(), {}};
  }
  json::array list;
  for (const std::string& v : values) list.emplace_back(v);
  return {kOk, "",
          json::object{{"purge_log", options.log.ToString()},
                       {"id", id},
                       {"kind", admin::PurgeKindName(kind)},
                       {"mode", soft ? "soft" : "hard"},
                       {"values", std::move(list)}}};
}

Result ClusterStats(const ClusterOptions& options) {
  return AskEach(
      options, [](Target& t) { return t.Stats(); }, "stats");
}

Result ClusterInspect(const ClusterOptions& options, const std::string& url,
                      const std::map<std::string, std::string>& headers) {
  Result r = AskEach(
      options,
      [&](Target& t) {
        Result one = t.Inspect(url, headers);
        // Not stored there is an answer, not a failure.
        if (one.exit == kNotFound)
          return Result{kOk, "", json::object{{"variants", json::array()}}};
        return one;
      },
      "inspect");
  if (r.ok()) r.doc["url"] = url;
  return r;
}

std::string RenderCluster(const json::object& doc) {
  std::vector<std::vector<std::string>> rows = {
      {"purge log", Str(doc, "purge_log")},
      {"node", Str(doc, "node_id")},
      {"state", Str(doc, "state")},
      {"applied up to", Str(doc, "applied")},
      {"log ends at", Str(doc, "log_end")},
      {"purges applied", std::to_string(Int(doc, "applied_entries")) + " since start (" +
                             std::to_string(Int(doc, "skipped_entries")) + " malformed, skipped)"},
  };
  if (!Str(doc, "error").empty()) rows.push_back({"last problem", Str(doc, "error")});
  std::string out = Table(rows);
  if (Str(doc, "state") == "purge log gap") {
    out +=
        "The log lost purges this node never applied: it serves nothing from its store. Decide:\n"
        "  edgecachectl --node URL cluster resolve --purge   empty the store (cold, but right)\n"
        "  edgecachectl --node URL cluster resolve --keep    keep it (objects purged meanwhile\n"
        "                                                    may be served until they expire)\n";
  }
  return out;
}

std::string RenderClusterPurge(const json::object& doc) {
  return "appended to " + Str(doc, "purge_log") + " as entry " + Str(doc, "id") + ": " +
         Str(doc, "mode") + " purge by " + Str(doc, "kind") + " (" +
         std::to_string(doc.at("values").as_array().size()) +
         " values); every node applies it, a node that is down once it is back\n";
}

std::string RenderClusterStats(const json::object& doc) {
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "ADMIN", "STATE", "APPLIED", "BEHIND", "OBJECTS", "HIT RATIO"}};
  for (const json::value& v : doc.at("nodes").as_array()) {
    const json::object& n = v.as_object();
    std::vector<std::string> row = {Str(n, "node_id").empty() ? "-" : Str(n, "node_id"),
                                    Str(n, "admin")};
    const json::value* stats = n.if_contains("stats");
    const json::object* cluster = stats != nullptr && stats->as_object().contains("cluster")
                                      ? &stats->as_object().at("cluster").as_object()
                                      : nullptr;
    const std::string error = Str(n, "error");
    row.push_back(cluster                                             ? Str(*cluster, "state")
                  : error.find("cannot connect") != std::string::npos ? "unreachable"
                                                                      : error);
    row.push_back(cluster ? Str(*cluster, "applied") : Str(n, "applied"));
    row.push_back(n.contains("behind") ? std::to_string(Int(n, "behind")) : "-");
    if (stats != nullptr) {
      const json::object& s = stats->as_object();
      row.push_back(std::to_string(Int(s.at("store").as_object(), "objects")));
      const json::value* node = s.if_contains("node");
      const json::value* ratio = node ? node->as_object().if_contains("hit_ratio") : nullptr;
      row.push_back(ratio != nullptr && ratio->is_number() ? Percent(ratio->to_number<double>())
                                                           : "-");
    } else {
      row.insert(row.end(), {"-", "-"});
    }
    rows.push_back(std::move(row));
  }
  return Table(rows);
}

std::string RenderClusterInspect(const json::object& doc) {
  std::vector<std::vector<std::string>> rows = {{"NODE", "ADMIN", "HOLDS", "STATE"}};
  for (const json::value& v : doc.at("nodes").as_array()) {
    const json::object& n = v.as_object();
    std::vector<std::string> row = {Str(n, "node_id").empty() ? "-" : Str(n, "node_id"),
                                    Str(n, "admin")};
    const json::value* inspect = n.if_contains("inspect");
    if (inspect == nullptr) {
      row.insert(row.end(), {"?", Str(n, "error")});
    } else {
      const json::array& variants = inspect->as_object().at("variants").as_array();
      std::string states;
      for (const json::value& variant : variants) {
        if (!states.empty()) states += ", ";
        states += Str(variant.as_object(), "state");
      }
      row.push_back(variants.empty() ? "no" : "yes (" + std::to_string(variants.size()) + ")");
      row.push_back(states.empty() ? "-" : states);
    }
    rows.push_back(std::move(row));
  }
  return "URL " + Str(doc, "url") + "\n" + Table(rows);
}

}  // namespace edgecache::ctl
