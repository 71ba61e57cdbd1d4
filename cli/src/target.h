// Target: where edgecachectl's commands run. A running node, through its admin API
// (NodeTarget), or a store directory on disk (StoreTarget), which builds the very same
// JSON documents with admin/store_report, so every command prints alike on both.
//
// Thread safety: one target per command; not shared between threads.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admin/store_report.h"
#include "config/config.h"
#include "http_client.h"

namespace edgecache::ctl {

// Exit codes (docs/cli.md).
enum Exit : int {
  kOk = 0,
  kNotFound = 1,          // inspect: nothing stored under the URL
  kUsage = 2,             // bad flags, URL, file or configuration (also a refused reload)
  kUnreachable = 3,       // the node's admin API cannot be reached
  kRefused = 4,           // the node refused the token (or its absence)
  kStoreUnavailable = 5,  // the store cannot be opened (a running node holds it, missing, ...)
  kCheckFailed = 6,       // verify found problems; warm had failures; etag-check inconsistent
  kFailed = 7,            // anything else (an I/O error, a server error)
};

// A command's outcome: the document on success, else an exit code and a message.
struct Result {
  int exit = kOk;
  std::string error;
  boost::json::object doc;
  bool ok() const { return exit == kOk; }
};

class Target {
 public:
  virtual ~Target() = default;
  virtual Result Inspect(const std::string& url,
                         const std::map<std::string, std::string>& headers) = 0;
  virtual Result List(const admin::ListRequest& request) = 0;
  virtual Result Stats() = 0;
  virtual Result Purge(admin::PurgeKind kind, const std::vector<std::string>& values,
                       bool soft) = 0;
  virtual Result Verify(bool repair, const std::function<void(uint64_t)>& progress) = 0;
  // Re-reads the node's configuration (as SIGHUP does).
  virtual Result Reload() = 0;
  // The `n` URLs requested most in the last second.
  virtual Result Top(size_t n) = 0;
  // The node's place in its point of presence's purge log (GET /api/v1/cluster), and the
  // operator's decision on a gap in it: keep the store, or purge all of it.
  virtual Result Cluster() = 0;
  virtual Result ResolveGap(bool purge_all) = 0;
  // The client listener to send `warm` requests to ("HOST:PORT"); empty with an error for a
  // store directory.
  virtual Result ClientListener() = 0;
};

// `node`: "http://HOST:PORT" or "unix:/PATH"; `token` may be empty.
std::unique_ptr<Target> NodeTarget(std::string node, std::string token,
                                   std::chrono::milliseconds timeout);

// `config`: the node's configuration (store directory and options, cache-key options).
std::unique_ptr<Target> StoreTarget(config::NodeConfig config);

}  // namespace edgecache::ctl
