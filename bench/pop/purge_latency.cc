// pop_purge_latency: how long a purge takes to reach every node of a point of presence.
//
// For each of --purges purges: `edgecachectl purge --cluster` is done in process
// (ClusterPurge, the same code), and from the moment it returns each node's admin API is
// asked (GET /api/v1/cluster, keep-alive) until its position is that entry; the time until
// the last node got there is one sample. Prints p50, p99 and the maximum. With --append N
// it only appends N purges (for a catch-up measurement) and prints how long that took.
//   pop_purge_latency --cluster redis://127.0.0.1:6379/purges --nodes http://127.0.0.1:8081 ...
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cluster.h"
#include "cluster/purge_log.h"
#include "cluster/redis.h"
#include "target.h"

using namespace edgecache;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"time from a cluster purge returning to every node having applied it"};
  std::string log_url;
  std::vector<std::string> nodes;
  int purges = 100;
  int append = 0;
  app.add_option("--cluster", log_url, "redis://HOST:PORT/STREAM")->required();
  app.add_option("--nodes", nodes, "admin URLs of the nodes to wait for");
  app.add_option("--purges", purges, "samples (default 100)");
  app.add_option("--append", append, "only append this many purges, timed");
  CLI11_PARSE(app, argc, argv);
  auto log = cluster::ParseRedisUrl(log_url);
  if (!log) {
    std::fprintf(stderr, "--cluster: not redis://HOST:PORT/STREAM\n");
    return 2;
  }
  ctl::ClusterOptions options{*log, {}, "", std::chrono::milliseconds(5000)};
  if (append > 0) {
    cluster::PurgeLog purge_log(*log, std::chrono::milliseconds(5000));  // one connection
    const auto start = Clock::now();
    for (int i = 0; i < append; ++i) {
      std::string id;
      Status s = purge_log.Append(admin::PurgeKind::kTag, {"catch-up-" + std::to_string(i)},
                                  PurgeMode::kHard, &id);
      if (!s.ok()) {
        std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    std::printf("appended %d purges in %.0f ms\n", append,
                std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    return 0;
  }
  std::vector<std::unique_ptr<ctl::Target>> targets;
  for (const std::string& n : nodes)
    targets.push_back(ctl::NodeTarget(n, "", std::chrono::milliseconds(5000)));
  std::vector<double> samples;
  for (int i = 0; i < purges; ++i) {
    ctl::Result r =
        ctl::ClusterPurge(options, admin::PurgeKind::kTag, {"latency-" + std::to_string(i)}, false);
    const auto returned = Clock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "purge: %s\n", r.error.c_str());
      return 1;
    }
    const std::string id(r.doc.at("id").as_string());
    for (auto& target : targets) {
      for (;;) {
        ctl::Result c = target->Cluster();
        if (!c.ok()) {
          std::fprintf(stderr, "node: %s\n", c.error.c_str());
          return 1;
        }
        if (c.doc.at("applied").as_string() == id) break;
        if (Clock::now() - returned > std::chrono::seconds(10)) {
          std::fprintf(stderr, "purge %s not applied after 10 s\n", id.c_str());
          return 1;
        }
      }
    }
    samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - returned).count());
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, size_t(q * samples.size()))];
  };
  std::printf(
      "purge in effect on all %zu nodes after it returned: p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms (%d purges)\n",
      targets.size(), at(0.5), at(0.99), samples.back(), purges);
  return 0;
}
