#include "ctl.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

#include "cluster.h"
#include "etag_check.h"
#include "proxy/cache_key.h"
#include "render.h"
#include "target.h"
#include "top.h"
#include "version/version.h"
#include "warm.h"

namespace edgecache::ctl {
namespace {

namespace json = boost::json;

constexpr char kFooter[] =
    "Targets: --node http://HOST:PORT or unix:/PATH (a running node's admin listener; default\n"
    "$EDGECACHE_NODE, else http://127.0.0.1:8081), or --store DIR (a store on disk; read-only\n"
    "for inspect, list, stats and verify, refused while a node runs on it). --config FILE\n"
    "reads the node's TOML for the store directory, its options and cache-key rules.\n"
    "A point of presence: --cluster redis://HOST:PORT/STREAM (its purge log) with purge (every\n"
    "node applies it, also one that is down), stats and inspect (asked of every node).\n"
    "Token: --token or $EDGECACHE_TOKEN. --json prints the admin API's JSON documents.\n"
    "Exit codes: 0 ok, 1 not found, 2 usage, 3 node unreachable, 4 token refused,\n"
    "5 store unavailable, 6 check failed (verify problems, warm failures, etag-check\n"
    "inconsistent), 7 other failure.\n"
    "docs/cli.md has every command and field.";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "edgecachectl: %s\n", message.c_str());
  return code;
}

int Print(const Result& r, bool as_json, std::string (*render)(const json::object&)) {
  if (!r.ok()) return Fail(r.exit, r.error);
  const std::string out = as_json ? json::serialize(r.doc) + "\n" : render(r.doc);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kOk;
}

}  // namespace

int Main(int argc, char** argv) {
  // The engine's log lines (warnings only) go to stderr: stdout is for the output.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("edgecachectl"));
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{
      "edgecachectl: inspect, purge, warm, verify, reload and watch an edgecache node or store."};
  app.footer(kFooter);
  app.set_version_flag("--version", version::Line("edgecachectl"));
  app.require_subcommand(1);
  std::optional<std::string> node, store_dir, config_file, token;
  std::optional<double> timeout_seconds;
  bool as_json = false;
  app.add_option("--node", node, "a running node's admin listener: http://HOST:PORT or unix:/PATH");
  app.add_option("--store", store_dir, "a store directory on disk (offline)");
  app.add_option("--config", config_file, "the node's TOML configuration")
      ->check(CLI::ExistingFile);
  app.add_option("--token", token,
                 "admin token (default $EDGECACHE_TOKEN, which other users cannot see in ps)");
  app.add_option("--timeout", timeout_seconds,
                 "seconds to wait for each answer (default 30; verify: no limit)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", as_json, "print JSON documents instead of tables");
  app.get_option("--node")->excludes(app.get_option("--store"));
  std::optional<std::string> cluster_log;
  std::vector<std::string> cluster_nodes;
  app.add_option("--cluster", cluster_log,
                 "a point of presence's purge log redis://HOST:PORT/STREAM (purge, stats, inspect)")
      ->excludes(app.get_option("--node"))
      ->excludes(app.get_option("--store"));
  app.add_option("--nodes", cluster_nodes,
                 "with --cluster: ask these admin URLs, not the nodes the log knows (repeatable)")
      ->needs(app.get_option("--cluster"));

  auto command = [&app](const char* name, const char* what) {
    CLI::App* c = app.add_subcommand(name, what);
    c->fallthrough();  // the global options may follow the command
    c->footer(kFooter);
    return c;
  };

  std::string url;
  std::vector<std::string> headers;
  CLI::App* inspect =
      command("inspect", "every variant stored under a URL, or the one a request gets");
  inspect->add_option("url", url, "the URL, as clients request it")->required();
  inspect->add_option("-H,--header", headers,
                      "'Name: value' of a request: show only the variant it gets (repeatable)");

  admin::ListRequest list_request;
  CLI::App* list = command("list", "a table of stored objects, in key order");
  list->add_option("--prefix", list_request.prefix, "only URLs under this URL prefix");
  list->add_option("--tag", list_request.tag, "only objects with this surrogate tag");
  list->add_flag("--stale", list_request.stale_only, "only objects that are not fresh");
  list->add_option("--after", list_request.after,
                   "resume after this key (the 'more: --after' of the previous page)");
  list->add_option("--limit", list_request.limit, "at most this many (default 100, at most 10000)")
      ->check(CLI::Range(size_t{1}, admin::kMaxListLimit));

  command("stats", "objects, capacity, hit ratios, 304 savings, evictions, purges");

  bool soft = false;
  std::vector<std::string> purge_values;
  CLI::App* purge = command("purge", "purge by URL, tag or URL prefix; prints how many objects");
  purge->require_subcommand(1);
  purge->add_flag("--soft", soft, "mark stale instead of deleting: the next request revalidates");
  for (auto [name, what] : {std::pair<const char*, const char*>{"url", "these URLs (all variants)"},
                            {"tag", "every object carrying these surrogate tags"},
                            {"prefix", "every URL under these URL prefixes"}}) {
    CLI::App* p = purge->add_subcommand(name, std::string("purge ") + what);
    p->fallthrough();
    p->add_option("values", purge_values, what)->required();
  }

  std::string warm_file;
  int concurrency = 8;
  std::optional<std::string> via;
  CLI::App* warm = command("warm", "fetch a list of URLs through the node so they are cached");
  warm->add_option("file", warm_file, "file with one URL per line, or - for stdin")->required();
  warm->add_option("-c,--concurrency", concurrency, "requests in flight (default 8)")
      ->check(CLI::Range(1, 1024));
  warm->add_option("--via", via,
                   "the node's client listener HOST:PORT (default: asked from --node)");

  std::string etag_url;
  std::vector<std::string> etag_vias;
  CLI::App* etag_check = command(
      "etag-check", "ask several servers for one URL: same bytes, same ETag and Last-Modified?");
  etag_check->add_option("url", etag_url, "absolute http URL (its host is sent as Host)")
      ->required();
  etag_check->add_option("--via", etag_vias, "HOST:PORT of a replica or node (repeat)")->required();

  command("reload", "make a running node re-read its configuration (as SIGHUP does)");

  TopOptions top_options;
  CLI::App* top = command("top", "a live view of a node: rates, ratios, latency, top URLs");
  top->add_flag("--once", top_options.once,
                "print one frame (rates over one interval) as plain text and exit");
  top->add_option("--interval", top_options.interval_seconds, "seconds between frames (default 1)")
      ->check(CLI::Range(0.1, 3600.0));
  top->add_option("--urls", top_options.urls, "top URLs shown (default 10)")
      ->check(CLI::Range(size_t{1}, size_t{1000}));

  CLI::App* cluster_cmd =
      command("cluster", "a node's place in its purge log; resolve a gap in it (docs/cli.md)");
  bool keep_store = false, purge_store = false;
  CLI::App* resolve = cluster_cmd->add_subcommand(
      "resolve",
      "after a gap in the purge log: serve the store again (--keep) or empty it (--purge)");
  resolve->fallthrough();
  auto* keep_flag = resolve->add_flag("--keep", keep_store, "keep the store as it is");
  auto* purge_flag = resolve->add_flag("--purge", purge_store, "purge every object in the store");
  keep_flag->excludes(purge_flag);
  resolve->require_option(1);

  bool repair = false;
  CLI::App* verify = command("verify", "check every body checksum, dangling entries, orphans");
  verify->add_flag("--repair", repair, "drop what is bad (entries, tag keys)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }

  // A check of servers, not of a node or a store.
  if (etag_check->parsed()) {
    if (!proxy::SplitAbsolute(etag_url)) {
      return Fail(kUsage, "'" + etag_url + "' is not an absolute http:// or https:// URL");
    }
    const auto timeout =
        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds.value_or(30) * 1000));
    EtagReport report = CheckEtags(etag_url, etag_vias, timeout);
    const std::string out =
        as_json ? boost::json::serialize(EtagReportJson(report)) + "\n" : RenderEtagReport(report);
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (!report.all_answered) return kUnreachable;
    return report.consistent() ? kOk : kCheckFailed;
  }

  // inspect's request headers (-H), for a node or a point of presence.
  std::map<std::string, std::string> request_headers;
  for (const std::string& h : headers) {
    std::string name, value;
    if (!admin::ParseHeaderLine(h, &name, &value))
      return Fail(kUsage, "-H '" + h + "' is not 'Name: value'");
    request_headers[name] = value;
  }

  // A point of presence, through its purge log.
  if (cluster_log) {
    auto log = cluster::ParseRedisUrl(*cluster_log);
    if (!log)
      return Fail(kUsage, "--cluster '" + *cluster_log + "' is not redis://HOST:PORT/STREAM");
    const char* env_token = std::getenv("EDGECACHE_TOKEN");
    ClusterOptions options{
        *log, cluster_nodes, token.value_or(env_token ? env_token : ""),
        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds.value_or(30) * 1000))};
    if (purge->parsed()) {
      const std::string kind_name = purge->get_subcommands().front()->get_name();
      return Print(ClusterPurge(options, *admin::ParsePurgeKind(kind_name), purge_values, soft),
                   as_json, RenderClusterPurge);
    }
    if (app.got_subcommand("stats"))
      return Print(ClusterStats(options), as_json, RenderClusterStats);
    if (inspect->parsed()) {
      return Print(ClusterInspect(options, url, request_headers), as_json, RenderClusterInspect);
    }
    return Fail(kUsage, "--cluster goes with purge, stats or inspect; other commands take --node");
  }

  // The target.
  const bool offline = store_dir.has_value() || (config_file.has_value() && !node.has_value());
  std::unique_ptr<Target> target;
  std::string where;  // the node, for top's title
  if (offline) {
    config::NodeConfig config;
    if (config_file) {
      Status s = config::LoadFile(*config_file, &config);
      if (!s.ok()) return Fail(kUsage, s.message());
    }
    if (store_dir) config.store_dir = *store_dir;
    if (config.store_dir.empty()) return Fail(kUsage, "--config names no store.dir: give --store");
    target = StoreTarget(std::move(config));
  } else {
    where = node.value_or("");
    if (where.empty()) {
      const char* env = std::getenv("EDGECACHE_NODE");
      where = env && *env ? env : "http://127.0.0.1:8081";
    }
    const char* env_token = std::getenv("EDGECACHE_TOKEN");
    std::string t = token.value_or(env_token ? env_token : "");
    const bool long_running = verify->parsed();
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(
        timeout_seconds ? *timeout_seconds * 1000 : (long_running ? 0 : 30000)));
    target = NodeTarget(where, t, timeout);
  }
  const bool terminal = ::isatty(STDERR_FILENO) && !as_json;

  if (inspect->parsed()) {
    return Print(target->Inspect(url, request_headers), as_json, RenderInspect);
  }
  if (list->parsed()) return Print(target->List(list_request), as_json, RenderList);
  if (app.got_subcommand("stats")) return Print(target->Stats(), as_json, RenderStats);
  if (top->parsed()) return RunTop(*target, where, top_options);
  if (app.got_subcommand("reload")) return Print(target->Reload(), as_json, RenderReload);
  if (cluster_cmd->parsed()) {
    if (resolve->parsed()) return Print(target->ResolveGap(purge_store), as_json, RenderCluster);
    return Print(target->Cluster(), as_json, RenderCluster);
  }
  if (purge->parsed()) {
    const std::string kind_name = purge->get_subcommands().front()->get_name();
    return Print(target->Purge(*admin::ParsePurgeKind(kind_name), purge_values, soft), as_json,
                 RenderPurge);
  }
  if (verify->parsed()) {
    std::function<void(uint64_t)> progress;
    if (terminal) {
      progress = [](uint64_t n) {
        std::fprintf(stderr, "\rverifying: %llu entries", static_cast<unsigned long long>(n));
      };
    }
    Result r = target->Verify(repair, progress);
    if (terminal && progress) std::fprintf(stderr, "\r\033[K");
    const int rc = Print(r, as_json, RenderVerify);
    if (rc != kOk) return rc;
    // The report's verdict: clean, or everything found was repaired.
    const json::value* clean = r.doc.if_contains("clean");
    return clean != nullptr && clean->is_bool() && clean->as_bool() ? kOk : kCheckFailed;
  }
  if (warm->parsed()) {
    std::vector<std::string> urls;
    std::string error;
    bool read_ok = false;
    if (warm_file == "-") {
      read_ok = ReadUrlList(std::cin, &urls, &error);
    } else {
      std::ifstream in(warm_file);
      if (!in) return Fail(kUsage, "cannot read " + warm_file);
      read_ok = ReadUrlList(in, &urls, &error);
    }
    if (!read_ok) return Fail(kUsage, warm_file + ": " + error);
    std::string listener = via.value_or("");
    if (listener.empty()) {
      Result r = target->ClientListener();
      if (!r.ok()) return Fail(r.exit, r.error);
      listener = std::string(r.doc.at("listen").as_string());
    }
    std::function<void(const WarmSummary&)> progress;
    if (terminal) {
      progress = [](const WarmSummary& s) {
        std::fprintf(stderr, "\r%s", WarmProgressLine(s).c_str());
      };
    }
    const auto timeout =
        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds.value_or(30) * 1000));
    WarmSummary summary = Warm(urls, listener, concurrency, timeout, progress);
    if (terminal) std::fprintf(stderr, "\n");
    const std::string out =
        as_json ? json::serialize(WarmJson(summary)) + "\n" : RenderWarm(summary);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return summary.failed > 0 ? kCheckFailed : kOk;
  }
  return Fail(kUsage, "no command");
}

}  // namespace edgecache::ctl
