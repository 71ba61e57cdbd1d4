// The node's two logs: the error log (spdlog's default logger: standard output, or a file)
// and the access log (one line per request, text or JSON lines). Log files are reopened on
// SIGUSR1, so logrotate can move them away (deploy/logrotate/edgecache).
//
// docs/operations.md documents both access-log formats.
//
// Thread safety: AccessLog::Write may be called from any thread; ReopenLogFiles too (a
// line being written goes to the old file or the new one, never half to each).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "edgecache/status.h"

namespace spdlog {
class logger;
}

namespace edgecache::logs {

// One request, as the access log shows it.
struct AccessRecord {
  std::string_view client;  // the client's address
  std::string_view method;
  std::string_view target;        // as received
  std::string_view host;          // the Host the request was routed by ("" when refused)
  unsigned status = 0;            // 0: no response was sent (the client went away)
  uint64_t bytes = 0;             // body bytes sent
  std::string_view result;        // hit, miss, stale, pass or error
  std::string_view cache_status;  // the Cache-Status field value sent
  double origin_ms = -1;          // time to the origin's response header; < 0: not asked
  double total_ms = 0;            // from the request's header to the response's last byte
  uint64_t request_id = 0;        // shown as 16 hex digits
};

class AccessLog {
 public:
  // `where`: "-" for standard output, else a file (created when missing, appended to).
  static Status Open(const std::string& where, config::NodeConfig::AccessLogFormat format,
                     std::unique_ptr<AccessLog>* out);
  ~AccessLog();
  void Write(const AccessRecord& r);

 private:
  AccessLog(std::shared_ptr<spdlog::logger> logger, config::NodeConfig::AccessLogFormat format);
  std::shared_ptr<spdlog::logger> logger_;
  const config::NodeConfig::AccessLogFormat format_;
};

// Points spdlog's default logger at `where` ("" for standard output, else a file) and sets
// its level. IOError when the file cannot be opened (the logger is then left as it was).
// A logger that was the default stays alive (threads may be logging through it).
Status SetErrorLog(const std::string& where, const std::string& level);

// Reopens every log file opened here (error and access logs) at its path.
void ReopenLogFiles();

// A request id: unique in this process, and across restarts with high probability (its
// upper half is random per process).
uint64_t NextRequestId();

}  // namespace edgecache::logs
