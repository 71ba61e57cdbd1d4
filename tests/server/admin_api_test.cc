// The node's admin API through the real binary: token rules, JSON routes, purges that
// hold when the call returns, and the request counters behind `edgecachectl stats`.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>

#include "support/http_client.h"
#include "support/node_fixture.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::Fetch;
using testing::HttpResponse;
namespace json = boost::json;

class AdminApiTest : public testing::NodeFixture {
 protected:
  HttpResponse Admin(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {}) {
    std::map<std::string, std::string> with_type = headers;
    if (method == "POST") with_type.emplace("Content-Type", "application/json");
    return Fetch(admin_port_, method, target, with_type, body);
  }
  json::object AdminJson(const std::string& method, const std::string& target,
                         const std::string& body = "", int expect_status = 200) {
    HttpResponse r = Admin(method, target, body);
    EXPECT_EQ(r.status, expect_status) << target << ": " << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    return json::parse(r.body).as_object();
  }
  std::string Cs(const std::string& target) { return Get(target).Header("cache-status"); }
};

TEST_F(AdminApiTest, TokenIsRequiredOnEveryRouteButHealthz) {
  const std::string config = dir_.Sub("node.toml");
  std::ofstream(config) << "admin_token = \"s3cret-token\"\n";
  node_.reset();
  StartNode({"--config", config});
  EXPECT_EQ(Admin("GET", "/healthz").status, 200);
  for (const std::string target : {"/api/v1/stats", "/metrics", "/api/v1/list"}) {
    HttpResponse r = Admin("GET", target);
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_NE(r.Header("www-authenticate").find("Bearer"), std::string::npos);
    EXPECT_EQ(Admin("GET", target, "", {{"Authorization", "Bearer wrong-token!"}}).status, 401);
    EXPECT_EQ(Admin("GET", target, "", {{"Authorization", "Bearer s3cret-token"}}).status, 200)
        << target;
  }
  HttpResponse purge = Admin("POST", "/api/v1/purge", R"({"kind":"tag","values":["x"]})");
  EXPECT_EQ(purge.status, 401);
}

TEST_F(AdminApiTest, AdminBeyondLoopbackWithoutTokenDoesNotStart) {
  // Refused by validation, before anything is bound.
  ChildProcess node(EDGECACHE_BIN,
                    {"--admin", "0.0.0.0:0", "--origin", OriginUrl(), "--store", dir_.Sub("s2")},
                    /*merge_stderr=*/true);
  std::string line = node.WaitForLine("edgecache:");
  EXPECT_NE(line.find("admin_token"), std::string::npos) << line;
  const int status = node.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

TEST_F(AdminApiTest, InspectListPurgeAndStatsAnswerJson) {
  Get("/a?cc=max-age=300&skey=red%20blue&size=300");
  Get("/b?cc=max-age=300&skey=blue&size=200");
  Get("/c?cc=max-age=0&size=100");
  EXPECT_NE(Cs("/a?cc=max-age=300&skey=red%20blue&size=300").find("hit"), std::string::npos);

  json::object inspect =
      AdminJson("GET",
                "/api/v1/inspect?url=http://test.local/a%3Fcc%3Dmax-age%3D300%26skey%3Dred%2520blue"
                "%26size%3D300");
  const json::array& variants = inspect.at("variants").as_array();
  ASSERT_EQ(variants.size(), 1u);
  const json::object& v = variants[0].as_object();
  EXPECT_EQ(v.at("state").as_string(), "fresh");
  EXPECT_EQ(v.at("size").as_int64(), 300);
  EXPECT_EQ(v.at("tags").as_array().size(), 2u);
  EXPECT_GE(v.at("hits").as_int64(), 1);
  EXPECT_GT(v.at("ttl").as_int64(), 200);

  json::object stale = AdminJson("GET", "/api/v1/list?stale=1");
  ASSERT_EQ(stale.at("entries").as_array().size(), 1u);
  EXPECT_EQ(stale.at("entries").as_array()[0].as_object().at("key").as_string(),
            "test.local/c?cc=max-age=0&size=100");
  EXPECT_EQ(AdminJson("GET", "/api/v1/list?tag=blue").at("entries").as_array().size(), 2u);
  json::object limited = AdminJson("GET", "/api/v1/list?limit=2");
  EXPECT_EQ(limited.at("entries").as_array().size(), 2u);
  EXPECT_TRUE(limited.at("truncated").as_bool());

  json::object purged = AdminJson("POST", "/api/v1/purge", R"({"kind":"tag","values":["blue"]})");
  EXPECT_EQ(purged.at("affected").as_int64(), 2);
  // In effect when the call returned.
  EXPECT_NE(Cs("/b?cc=max-age=300&skey=blue&size=200").find("fwd=miss"), std::string::npos);
  EXPECT_EQ(AdminJson("GET", "/api/v1/list?tag=red").at("entries").as_array().size(), 0u);

  json::object stats = AdminJson("GET", "/api/v1/stats");
  const json::object& node = stats.at("node").as_object();
  EXPECT_EQ(node.at("requests").as_object().at("hit").as_int64(), 1);
  EXPECT_GT(node.at("hit_ratio").as_double(), 0.0);
  EXPECT_GE(stats.at("store").as_object().at("purges").as_int64(), 1);
}

TEST_F(AdminApiTest, PrefixPurgeCoversTheUrlsUnderIt) {
  for (const std::string target : {"/p/1?cc=max-age=300", "/p/2?cc=max-age=300",
                                   "/p2?cc=max-age=300", "/q/1?cc=max-age=300"}) {
    Get(target);
  }
  json::object purged =
      AdminJson("POST", "/api/v1/purge", R"({"kind":"prefix","values":["http://test.local/p/"]})");
  EXPECT_EQ(purged.at("affected").as_int64(), 2);
  EXPECT_NE(Cs("/p/1?cc=max-age=300").find("fwd=miss"), std::string::npos);
  EXPECT_NE(Cs("/p2?cc=max-age=300").find("hit"), std::string::npos);
  // The whole host, without a path.
  purged = AdminJson("POST", "/api/v1/purge", R"({"kind":"prefix","values":["test.local"]})");
  EXPECT_EQ(purged.at("affected").as_int64(), 3);  // /p/1 (stored again), /p2, /q/1
  EXPECT_NE(Cs("/q/1?cc=max-age=300").find("fwd=miss"), std::string::npos);
}

TEST_F(AdminApiTest, BadRequestsGetClearErrors) {
  EXPECT_EQ(Admin("POST", "/api/v1/purge", "not json").status, 400);
  EXPECT_EQ(Admin("POST", "/api/v1/purge", R"({"kind":"everything","values":["x"]})").status, 400);
  EXPECT_EQ(Admin("POST", "/api/v1/purge", R"({"kind":"url","values":[]})").status, 400);
  EXPECT_EQ(Admin("POST", "/api/v1/purge", R"({"kind":"tag","values":["a"],"soft":"yes"})").status,
            400);
  EXPECT_EQ(Admin("POST", "/api/v1/purge", R"({"kind":"url","values":["::not a url"]})").status,
            400);
  HttpResponse missing = Admin("GET", "/api/v1/inspect?url=http://test.local/never");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(json::parse(missing.body).as_object().at("error").as_string().find("not in the cache"),
            json::string::npos);
  EXPECT_EQ(Admin("DELETE", "/api/v1/stats").status, 405);
  EXPECT_EQ(Admin("GET", "/api/v1/list?limit=lots").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/list?limit=1000000").status, 400);  // page instead
  EXPECT_EQ(Admin("GET", "/api/v1/list?limit=10000").status, 200);
  EXPECT_EQ(Admin("GET", "/nothing").status, 404);
  // A request the parser refuses gets a JSON error, then the connection closes.
  testing::HttpConnection raw(admin_port_);
  raw.SendRaw(
      "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  HttpResponse refused = raw.Read();
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("\"error\""), std::string::npos) << refused.body;
  EXPECT_TRUE(raw.ClosedByPeer());
}

TEST_F(AdminApiTest, WebPagesCannotPostToTheAdminApi) {
  Get("/csrf?cc=max-age=300");
  const std::string body = R"({"kind":"url","values":["http://test.local/csrf?cc=max-age=300"]})";
  // What a cross-site form or no-cors fetch can send: text/plain, or any type with Origin.
  HttpResponse plain =
      Fetch(admin_port_, "POST", "/api/v1/purge", {{"Content-Type", "text/plain"}}, body);
  EXPECT_EQ(plain.status, 415);
  HttpResponse untyped = Fetch(admin_port_, "POST", "/api/v1/purge", {}, body);
  EXPECT_EQ(untyped.status, 415);
  HttpResponse from_page =
      Admin("POST", "/api/v1/purge", body, {{"Origin", "https://evil.example"}});
  EXPECT_EQ(from_page.status, 403);
  EXPECT_EQ(Admin("POST", "/api/v1/verify", "", {{"Origin", "null"}}).status, 403);
  EXPECT_NE(Get("/csrf?cc=max-age=300").Header("cache-status").find("hit"), std::string::npos);
  EXPECT_EQ(Admin("POST", "/api/v1/purge", body).status, 200);
  EXPECT_EQ(Get("/csrf?cc=max-age=300").Header("cache-status").find("hit"), std::string::npos);
}

TEST_F(AdminApiTest, ListPagesEndBetweenKeysAndResumeAfterNext) {
  for (int i = 0; i < 5; ++i) Get("/page/" + std::to_string(i) + "?cc=max-age=300");
  for (const char* v : {"a", "b", "c"}) Get("/page/5?cc=max-age=300&vary=X-V", {{"X-V", v}});
  auto encode = [](const std::string& key) {
    std::string out;
    for (char c : key)
      out += c == '&' ? "%26" : c == '?' ? "%3F" : c == '=' ? "%3D" : std::string(1, c);
    return out;
  };
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    json::object page =
        AdminJson("GET", "/api/v1/list?prefix=http://test.local/page/&limit=2" +
                             (after.empty() ? std::string() : "&after=" + encode(after)));
    for (const auto& e : page.at("entries").as_array()) {
      seen.emplace_back(e.as_object().at("key").as_string());
    }
    if (!page.at("truncated").as_bool()) break;
    after = std::string(page.at("next").as_string());
  }
  // Every object once, every variant of a key on one page.
  std::vector<std::string> keys = seen;
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  EXPECT_EQ(keys.size(), 6u) << ::testing::PrintToString(seen);
  EXPECT_EQ(seen.size(), 8u) << ::testing::PrintToString(seen);
  std::set<std::string> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), keys.size());  // no key split across pages
}

TEST_F(AdminApiTest, SoftPurgeRevalidatesAndCountsTheBytesA304Saved) {
  Get("/soft?cc=max-age=300&size=4000");
  json::object purged =
      AdminJson("POST", "/api/v1/purge",
                R"({"kind":"url","values":["http://test.local/soft?cc=max-age=300&size=4000"],)"
                R"("soft":true})");
  EXPECT_EQ(purged.at("affected").as_int64(), 1);
  EXPECT_EQ(purged.at("mode").as_string(), "soft");
  HttpResponse r = Get("/soft?cc=max-age=300&size=4000");
  EXPECT_EQ(r.body.size(), 4000u);
  EXPECT_EQ(OriginCount("/soft", "not_modified"), 1);
  json::object node = AdminJson("GET", "/api/v1/stats").at("node").as_object();
  EXPECT_EQ(node.at("not_modified_saved_bytes").as_int64(), 4000);
  EXPECT_EQ(node.at("revalidations").as_object().at("not_modified").as_int64(), 1);
}

}  // namespace
}  // namespace edgecache
