// admin/store_report on a real store in a temp directory: the documents behind
// `edgecachectl inspect` and `list`, where they do more than pass the engine's answer on.
#include "admin/store_report.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache::admin {
namespace {

class StoreReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Store::Open(testing::SmallOptions(64ull << 20), dir_.Sub("s"), &store_).ok());
  }
  void Put(const std::string& primary, const std::string& secondary, int64_t lifetime,
           std::vector<std::string> vary = {}) {
    ObjectMeta meta;
    meta.response_time = meta.request_time = meta.date = now_;
    meta.freshness_lifetime = lifetime;
    meta.vary = std::move(vary);
    ASSERT_TRUE(testing::Put(*store_, {primary, secondary}, "body", meta).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  const int64_t now_ = 1800000000;
  const proxy::KeyOptions keys_;
};

TEST_F(StoreReportTest, ListPagesThroughEveryVariantOnce) {
  // 600 URLs with 3 variants each: more entries than one page holds (a page is the limit,
  // at least 256, plus 1024), and the first page of a 300-entry listing ends inside the
  // variants of URL 441. Only URLs 441 and 599 are stale.
  for (int i = 0; i < 600; ++i) {
    for (int v = 0; v < 3; ++v) {
      Put("list.example/" + std::to_string(1000 + i), "accept-language=" + std::to_string(v),
          i == 441 || i == 599 ? 0 : 60, {"accept-language"});
    }
  }
  json::object out;
  ASSERT_TRUE(List(*store_, keys_, {.stale_only = true, .limit = 300}, now_, &out).ok());
  std::set<std::string> seen;
  for (const auto& e : out.at("entries").as_array()) {
    seen.insert(std::string(e.as_object().at("key").as_string()) + "|" +
                std::string(e.as_object().at("variant").as_string()));
    EXPECT_EQ(e.as_object().at("state").as_string(), "stale");
  }
  EXPECT_EQ(out.at("entries").as_array().size(), 6u);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_FALSE(out.at("truncated").as_bool());

  ASSERT_TRUE(List(*store_, keys_, {.limit = 5000}, now_, &out).ok());
  EXPECT_EQ(out.at("entries").as_array().size(), 1800u);
  // A page ends between keys: 10 would split URL 1003's variants, so it holds 9.
  ASSERT_TRUE(List(*store_, keys_, {.limit = 10}, now_, &out).ok());
  EXPECT_EQ(out.at("entries").as_array().size(), 9u);
  EXPECT_TRUE(out.at("truncated").as_bool());
  EXPECT_EQ(out.at("next").as_string(), "list.example/1002");
  ASSERT_TRUE(List(*store_, keys_, {.limit = 10, .after = "list.example/1002"}, now_, &out).ok());
  EXPECT_EQ(out.at("entries").as_array().at(0).as_object().at("key").as_string(),
            "list.example/1003");
  // One key's variants are never split, even past a smaller limit.
  ASSERT_TRUE(List(*store_, keys_, {.limit = 1}, now_, &out).ok());
  EXPECT_EQ(out.at("entries").as_array().size(), 3u);
  EXPECT_TRUE(List(*store_, keys_, {.limit = kMaxListLimit + 1}, now_, &out).code() ==
              Status::Code::kInvalidArgument);
}

TEST_F(StoreReportTest, InspectPicksTheVariantARequestGets) {
  Put("shop.example/p", "accept-encoding=gzip", 300, {"accept-encoding"});
  Put("shop.example/p", "accept-encoding=br", 300, {"accept-encoding"});
  json::object out;
  ASSERT_TRUE(Inspect(*store_, keys_, "http://shop.example:8080/p", {}, now_, &out).ok());
  EXPECT_EQ(out.at("key").as_string(), "shop.example/p");
  EXPECT_EQ(out.at("variants").as_array().size(), 2u);
  // Accept-Encoding is normalised as the proxy does: "gzip, deflate" gets the gzip variant.
  ASSERT_TRUE(
      Inspect(*store_, keys_, "shop.example/p", {{"accept-encoding", "gzip, deflate"}}, now_, &out)
          .ok());
  ASSERT_EQ(out.at("variants").as_array().size(), 1u);
  EXPECT_EQ(out.at("variants").as_array()[0].as_object().at("variant").as_string(),
            "accept-encoding=gzip");
  EXPECT_TRUE(Inspect(*store_, keys_, "shop.example/p", {{"accept-encoding", "zstd"}}, now_, &out)
                  .IsNotFound());
  EXPECT_EQ(Inspect(*store_, keys_, "::", {}, now_, &out).code(), Status::Code::kInvalidArgument);
}

TEST(StoreReportParseTest, HeaderLinesAndStates) {
  std::string name, value;
  ASSERT_TRUE(ParseHeaderLine("Accept-Language:  de-CH ", &name, &value));
  EXPECT_EQ(name, "accept-language");
  EXPECT_EQ(value, "de-CH");
  EXPECT_FALSE(ParseHeaderLine("no colon", &name, &value));
  EXPECT_FALSE(ParseHeaderLine(": value", &name, &value));

  ObjectInfo info;
  info.meta.response_time = info.meta.request_time = info.meta.date = 1000;
  info.meta.freshness_lifetime = 100;
  EXPECT_EQ(StateOf(info, 1050), "fresh");
  EXPECT_EQ(StateOf(info, 1200), "stale");
  info.meta.policy_flags = policy::kMustRevalidate;
  EXPECT_EQ(StateOf(info, 1200), "must-revalidate");
  EXPECT_EQ(StateOf(info, 1050), "fresh");
  info.invalidated = true;
  EXPECT_EQ(StateOf(info, 1050), "must-revalidate");
}

}  // namespace
}  // namespace edgecache::admin
