// AdminApi: what the node's admin listener answers (docs/admin-api.md is the reference).
//
//   GET  /healthz                      "ok" (no token needed: load balancers probe it); 503
//                                      while the node catches up with its purge log, or
//                                      when that log has a gap
//   GET  /api/v1/cluster               the purge log: state, position, entries applied
//   POST /api/v1/cluster/resolve?store=keep|purge   the operator's decision on a gap
//   GET  /metrics                      Prometheus text
//   GET  /api/v1/node                  name, client listeners, store directory
//   GET  /api/v1/stats                 store and request counters, hit ratios
//   GET  /api/v1/inspect?url=U[&header=Name:Value]...
//   GET  /api/v1/list?[prefix=P][&tag=T][&stale=1][&limit=N]
//   POST /api/v1/purge                 {"kind": "url|tag|prefix", "values": [...], "soft": b}
//   POST /api/v1/verify[?repair=1]
//   GET  /api/v1/top[?n=N]             the URLs requested most in the last second
//   POST /api/v1/reload                re-reads the configuration (as SIGHUP does)
//
// Everything under /api/ answers JSON; errors are {"error": "..."} with 400 (bad request),
// 401 (token missing or wrong), 404 (no such object or route), 405 (method), 409 (a verify
// is already running), 422 (a reload refused: the configuration does not load), 500, or 503 (a
// verify cut short because the node stops). When the node has an admin token, every route but
// /healthz requires "Authorization: Bearer TOKEN".
//
// Thread safety: Handle may run concurrently. It blocks on store work (a purge syncs the
// index, verify reads the whole store): call it off the network threads.
#pragma once

#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cluster/follower.h"
#include "config/config.h"
#include "config/reload.h"
#include "edgecache/store.h"
#include "metrics/metrics.h"
#include "proxy/cache_key.h"

namespace edgecache::admin {

using AdminRequest = boost::beast::http::request<boost::beast::http::string_body>;
using AdminResponse = boost::beast::http::response<boost::beast::http::string_body>;

class AdminApi {
 public:
  // `listeners`: the client listeners as bound (ports resolved), for /api/v1/node;
  // `reload`: what /api/v1/reload does; `settle`: returns once the responses clients have
  // received are in the store (called before every request but the Quick ones).
  AdminApi(const config::LiveConfig& config, Store& store, const metrics::Metrics& metrics,
           std::vector<config::Endpoint> listeners, std::function<config::ReloadResult()> reload,
           std::function<void()> settle);

  AdminResponse Handle(const AdminRequest& req);

  // Routes answered from memory (/healthz, /metrics, /api/v1/top): the node may call Handle for
  // them on a network thread, so health probes never queue behind a purge or a verify.
  static bool Quick(const AdminRequest& req);

  // The node's purge-log follower, for /healthz and /api/v1/cluster; before serving.
  void AttachFollower(cluster::Follower* follower) { follower_ = follower; }

  // Stops a verify in progress (it answers 503); for a node that is stopping.
  void Cancel();

  // The answer to a request the node could not parse: {"error": message}, closing.
  static AdminResponse RequestError(unsigned status, const std::string& message);

 private:
  bool Authorized(const AdminRequest& req, const config::NodeConfig& config) const;

  const config::LiveConfig& config_;
  Store& store_;
  const metrics::Metrics& metrics_;
  const std::vector<config::Endpoint> listeners_;
  const std::function<config::ReloadResult()> reload_;
  const std::function<void()> settle_;
  cluster::Follower* follower_ = nullptr;  // null: no purge log
  std::atomic<bool> verifying_{false};     // one verify at a time (409 for a second one)
  std::atomic<bool> cancel_{false};
};

}  // namespace edgecache::admin
