#include "warm.h"

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "http_client.h"
#include "proxy/cache_key.h"

namespace edgecache::ctl {
namespace {

enum class Outcome { kStored, kFresh, kRevalidated, kNotStored, kFailed };

// This node's member of a Cache-Status chain: the last one (RFC 9211 §2).
std::string OwnMember(const std::string& cache_status) {
  const size_t comma = cache_status.rfind(',');
  return comma == std::string::npos ? cache_status : cache_status.substr(comma + 1);
}

Outcome Classify(const HttpReply& reply, std::string* why) {
  if (reply.status >= 400) {
    *why = "HTTP " + std::to_string(reply.status);
    return Outcome::kFailed;
  }
  const std::string member = OwnMember(reply.Header("cache-status"));
  if (member.find("; hit") != std::string::npos && member.find("fwd=") == std::string::npos)
    return Outcome::kFresh;
  if (member.find("; stored") != std::string::npos) return Outcome::kStored;
  if (member.find("fwd-status=304") != std::string::npos) return Outcome::kRevalidated;
  *why = "not stored (Cache-Status: " + reply.Header("cache-status") + ")";
  return Outcome::kNotStored;
}

}  // namespace

bool ReadUrlList(std::istream& in, std::vector<std::string>* urls, std::string* error) {
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    if (!(line.starts_with("http://") || line.starts_with("https://")) ||
        !proxy::SplitAbsolute(line)) {
      *error = "line " + std::to_string(n) + ": '" + line + "' is not an http:// URL";
      return false;
    }
    urls->push_back(line);
  }
  return true;
}

WarmSummary Warm(const std::vector<std::string>& urls, const std::string& via, int concurrency,
                 std::chrono::milliseconds timeout,
                 const std::function<void(const WarmSummary&)>& progress) {
  WarmSummary summary;
  summary.total = urls.size();
  std::mutex mu;  // guards summary
  std::atomic<size_t> next{0};
  auto record = [&](Outcome o, const std::string& url, const std::string& why) {
    std::lock_guard lock(mu);
    ++summary.done;
    uint64_t* const counters[] = {&summary.stored, &summary.fresh, &summary.revalidated,
                                  &summary.not_stored, &summary.failed};  // Outcome order
    ++*counters[static_cast<int>(o)];
    if ((o == Outcome::kFailed || o == Outcome::kNotStored) && summary.failures.size() < 20)
      summary.failures.push_back(url + ": " + why);
  };
  auto worker = [&] {
    std::unique_ptr<HttpClient> client;
    for (size_t i; (i = next.fetch_add(1)) < urls.size();) {
      auto split = proxy::SplitAbsolute(urls[i]);
      if (!client) {
        Status s = HttpClient::Connect(via, timeout, &client);
        if (!s.ok()) {
          record(Outcome::kFailed, urls[i], s.message());
          continue;
        }
      }
      HttpReply reply;
      Status s = client->Send("GET", split->second, {{"Host", split->first}}, "", &reply);
      if (!s.ok()) {
        client.reset();
        record(Outcome::kFailed, urls[i], s.message());
        continue;
      }
      std::string why;
      Outcome o = Classify(reply, &why);
      record(o, urls[i], why);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::max(1, std::min<int>(concurrency, static_cast<int>(urls.size())));
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (summary.done == summary.total) break;
      if (progress) progress(summary);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : threads) t.join();
  if (progress) progress(summary);
  return summary;
}

boost::json::object WarmJson(const WarmSummary& s) {
  boost::json::array failures;
  for (const auto& f : s.failures) failures.emplace_back(f);
  return {{"total", s.total},
          {"stored", s.stored},
          {"fresh", s.fresh},
          {"revalidated", s.revalidated},
          {"not_stored", s.not_stored},
          {"failed", s.failed},
          {"failures", std::move(failures)}};
}

std::string RenderWarm(const WarmSummary& s) {
  std::string out = "warmed " + std::to_string(s.total) + " URLs: " + std::to_string(s.stored) +
                    " stored, " + std::to_string(s.fresh) + " already fresh, " +
                    std::to_string(s.revalidated) + " revalidated, " +
                    std::to_string(s.not_stored) + " not cacheable, " + std::to_string(s.failed) +
                    " failed\n";
  for (const auto& f : s.failures) out += "  " + f + "\n";
  if (s.failed + s.not_stored > s.failures.size()) out += "  ...\n";
  return out;
}

std::string WarmProgressLine(const WarmSummary& s) {
  constexpr size_t kWidth = 30;
  const size_t filled = s.total ? static_cast<size_t>(kWidth * s.done / s.total) : kWidth;
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " +
         std::to_string(s.done) + "/" + std::to_string(s.total) + "  stored " +
         std::to_string(s.stored) + "  fresh " + std::to_string(s.fresh) + "  failed " +
         std::to_string(s.failed + s.not_stored);
}

}  // namespace edgecache::ctl
