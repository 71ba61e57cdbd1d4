// TopUrls on its own: exact counts per URL for the last complete second, the cap on URLs
// a second, and URLs made to collide.
#include "metrics/top_urls.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace edgecache::metrics {
namespace {

using Clock = std::chrono::steady_clock;

int64_t SecondOf(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Records `requests` (URL -> count) one second ago and reads them back as the last complete
// second; again if a second boundary passed in between.
TopUrls::Interval RecordAndRead(TopUrls& top, const std::map<std::string, int>& requests,
                                size_t n) {
  for (;;) {
    const Clock::time_point now = Clock::now();
    for (const auto& [url, count] : requests) {
      for (int i = 0; i < count; ++i) top.Record(url, now - std::chrono::seconds(1));
    }
    TopUrls::Interval last = top.Last(n);
    if (SecondOf(Clock::now()) == SecondOf(now)) return last;
  }
}

TEST(TopUrlsTest, CountsEachUrlOfTheLastSecondMostRequestedFirst) {
  TopUrls top;
  std::map<std::string, int> requests = {{"h/a", 5}, {"h/b", 3}, {"h/c", 9}};
  requests["h/" + std::string(1000, 'x')] = 2;  // long URLs are counted the same way
  TopUrls::Interval last = RecordAndRead(top, requests, 3);
  ASSERT_EQ(last.urls.size(), 3u);
  EXPECT_EQ(last.urls[0], (std::pair<std::string, uint64_t>{"h/c", 9}));
  EXPECT_EQ(last.urls[1], (std::pair<std::string, uint64_t>{"h/a", 5}));
  EXPECT_EQ(last.urls[2], (std::pair<std::string, uint64_t>{"h/b", 3}));
  EXPECT_EQ(last.requests, 19u);
  EXPECT_EQ(last.other, 0u);
  // The next second's counts start from nothing, in the slots the last one used.
  const int64_t second = SecondOf(Clock::now());
  while (SecondOf(Clock::now()) == second)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  last = RecordAndRead(top, {{"h/b", 1}}, 10);
  ASSERT_EQ(last.urls.size(), 1u);
  EXPECT_EQ(last.urls[0], (std::pair<std::string, uint64_t>{"h/b", 1}));
  EXPECT_EQ(last.requests, 1u);
}

TEST(TopUrlsTest, URLsPastTheCapCountAsOther) {
  TopUrls top;
  std::map<std::string, int> requests;
  const size_t distinct = TopUrls::kMaxUrls + 500;
  for (size_t i = 0; i < distinct; ++i) requests["h/" + std::to_string(i)] = 1;
  TopUrls::Interval last = RecordAndRead(top, requests, 1000);
  EXPECT_EQ(last.requests, distinct);
  EXPECT_GE(last.other, 500u);  // a few more when a probe ran long
  EXPECT_LE(last.other, 600u);
  EXPECT_EQ(last.urls.size(), 1000u);
}

TEST(TopUrlsTest, URLsMadeToCollideCostABoundedProbeAndCountAsOther) {
  // URLs whose hashes share their low bits (as made-up ones could): each request looks
  // at a bounded number of slots, past which it counts as other.
  TopUrls top;
  std::map<std::string, int> colliding;
  for (int i = 0; colliding.size() < 100; ++i) {
    const std::string url = "h/c" + std::to_string(i);
    if ((std::hash<std::string_view>{}(url) & (2 * TopUrls::kMaxUrls - 1)) == 7) colliding[url] = 2;
  }
  TopUrls::Interval last = RecordAndRead(top, colliding, 1000);
  EXPECT_EQ(last.requests, 200u);
  EXPECT_GT(last.other, 0u);
  uint64_t counted = 0;
  for (const auto& [url, count] : last.urls) {
    EXPECT_EQ(count, 2u) << url;
    counted += count;
  }
  EXPECT_EQ(counted + last.other, 200u);
}

}  // namespace
}  // namespace edgecache::metrics
