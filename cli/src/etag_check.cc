#include "etag_check.h"

#include <boost/json.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>

#include "http_client.h"
#include "proxy/cache_key.h"

namespace edgecache::ctl {

EtagReport CheckEtags(const std::string& url, const std::vector<std::string>& vias,
                      std::chrono::milliseconds timeout) {
  EtagReport report;
  const auto split = proxy::SplitAbsolute(url);
  for (const std::string& via : vias) {
    EtagAnswer a;
    a.via = via;
    std::unique_ptr<HttpClient> client;
    HttpReply reply;
    Status s = split ? HttpClient::Connect(via, timeout, &client)
                     : Status::InvalidArgument(url + " is not an absolute http URL");
    if (s.ok()) s = client->Send("GET", split->second, {{"Host", split->first}}, "", &reply);
    if (!s.ok()) {
      a.error = s.message();
    } else {
      a.status = reply.status;
      a.etag = reply.Header("etag");
      a.last_modified = reply.Header("last-modified");
      a.length = reply.body.size();
      a.body_hash = std::hash<std::string>()(reply.body);
    }
    report.answers.push_back(std::move(a));
  }
  std::set<std::string> etags, dates;
  std::set<std::pair<uint64_t, uint64_t>> bodies;
  report.all_answered = !report.answers.empty();
  for (const EtagAnswer& a : report.answers) {
    report.all_answered = report.all_answered && a.error.empty();
    if (!a.error.empty()) continue;
    etags.insert(a.etag);
    dates.insert(a.last_modified);
    bodies.insert({a.length, a.body_hash});
  }
  report.same_bytes = report.all_answered && bodies.size() == 1;
  report.same_etag = report.all_answered && etags.size() == 1;
  report.same_last_modified = report.all_answered && dates.size() == 1;
  return report;
}

boost::json::object EtagReportJson(const EtagReport& report) {
  boost::json::array answers;
  for (const EtagAnswer& a : report.answers) {
    boost::json::object o{{"via", a.via}};
    if (!a.error.empty()) {
      o["error"] = a.error;
    } else {
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(a.body_hash));
      o["status"] = a.status;
      o["etag"] = a.etag;
      o["last_modified"] = a.last_modified;
      o["length"] = a.length;
      o["body_hash"] = hash;
    }
    answers.push_back(std::move(o));
  }
  return {{"answers", std::move(answers)},
          {"same_bytes", report.same_bytes},
          {"same_etag", report.same_etag},
          {"same_last_modified", report.same_last_modified},
          {"consistent", report.consistent()}};
}

std::string RenderEtagReport(const EtagReport& report) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-22s %6s %-34s %-31s %10s %s\n", "via", "status", "etag",
                "last-modified", "bytes", "body-hash");
  out += line;
  for (const EtagAnswer& a : report.answers) {
    if (!a.error.empty()) {
      std::snprintf(line, sizeof(line), "%-22s no answer: %s\n", a.via.c_str(), a.error.c_str());
    } else {
      std::snprintf(line, sizeof(line), "%-22s %6d %-34s %-31s %10llu %016llx\n", a.via.c_str(),
                    a.status, a.etag.empty() ? "-" : a.etag.c_str(),
                    a.last_modified.empty() ? "-" : a.last_modified.c_str(),
                    static_cast<unsigned long long>(a.length),
                    static_cast<unsigned long long>(a.body_hash));
    }
    out += line;
  }
  if (!report.all_answered) {
    out += "verdict: not every server answered\n";
  } else if (!report.same_bytes) {
    out +=
        "verdict: the servers send different bytes (not replicas of one content, or a deploy"
        " in progress)\n";
  } else if (!report.same_etag || !report.same_last_modified) {
    out += std::string("verdict: INCONSISTENT: the same bytes with different ") +
           (!report.same_etag ? "ETags" : "") +
           (!report.same_etag && !report.same_last_modified ? " and " : "") +
           (!report.same_last_modified ? "Last-Modified" : "") +
           ": revalidations through a balancer get 200s, not 304s (docs/runbook.md)\n";
  } else {
    out += "verdict: consistent: every server gives the same bytes the same validators\n";
  }
  return out;
}

}  // namespace edgecache::ctl
