// `edgecachectl etag-check URL --via HOST:PORT ...`: asks each server (the replicas behind
// a balancer, or several nodes) for the same URL and compares what they answer: status,
// ETag, Last-Modified and the body's bytes. Replicas that give the same bytes different
// ETags (an inode or a per-process value mixed in) or different Last-Modified times (mtime
// drift between copies) make revalidations through a balancer end in 200s instead of 304s
// (docs/runbook.md).
//
// Thread safety: CheckEtags blocks the calling thread; call it from one thread.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace edgecache::ctl {

struct EtagAnswer {
  std::string via;
  std::string error;  // no answer: why (the other fields are empty)
  int status = 0;
  std::string etag, last_modified;
  uint64_t length = 0;
  uint64_t body_hash = 0;  // of the body's bytes, to tell equal bodies
};

struct EtagReport {
  std::vector<EtagAnswer> answers;
  bool all_answered = false;
  bool same_bytes = false;          // every answer has the same body
  bool same_etag = false;           // ... and the same ETag (or none)
  bool same_last_modified = false;  // ... and the same Last-Modified (or none)
  // same bytes but different validators: revalidations through a balancer will fail
  bool consistent() const {
    return all_answered && (!same_bytes || (same_etag && same_last_modified));
  }
};

// `url`: an absolute http URL; its authority is sent as Host to every `via` ("HOST:PORT").
EtagReport CheckEtags(const std::string& url, const std::vector<std::string>& vias,
                      std::chrono::milliseconds timeout);

boost::json::object EtagReportJson(const EtagReport& report);
std::string RenderEtagReport(const EtagReport& report);

}  // namespace edgecache::ctl
