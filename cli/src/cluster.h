// edgecachectl --cluster redis://HOST:PORT/STREAM: the commands that address a point of
// presence through its purge log (server/src/cluster/purge_log.h) instead of one node.
//
//   purge …   appends one entry to the log and returns once Redis has it; every node
//             applies it, also one that is down now (once it is back)
//   stats     one line per node: its state in the log, how far behind it is, objects,
//             hit ratio
//   inspect   one line per node: whether it holds the URL, and in which state
//
// The nodes are those registered in the log (its consumer groups), or `nodes` (admin URLs)
// when given.
//
// Thread safety: pure functions of their arguments (each makes its own connections).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "admin/store_report.h"
#include "cluster/redis.h"
#include "target.h"

namespace edgecache::ctl {

struct ClusterOptions {
  cluster::RedisUrl log;
  std::vector<std::string> nodes;  // admin URLs; empty: those the log knows
  std::string token;
  std::chrono::milliseconds timeout{30000};
};

Result ClusterPurge(const ClusterOptions& options, admin::PurgeKind kind,
                    const std::vector<std::string>& values, bool soft);
Result ClusterStats(const ClusterOptions& options);
Result ClusterInspect(const ClusterOptions& options, const std::string& url,
                      const std::map<std::string, std::string>& headers);

// One node's place in its purge log (GET /api/v1/cluster).
std::string RenderCluster(const boost::json::object& doc);
std::string RenderClusterPurge(const boost::json::object& doc);
std::string RenderClusterStats(const boost::json::object& doc);
std::string RenderClusterInspect(const boost::json::object& doc);

}  // namespace edgecache::ctl
