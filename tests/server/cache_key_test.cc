// Cache keys, Accept-Encoding normalisation, the forwarded request and request framing.
#include "proxy/cache_key.h"

#include <gtest/gtest.h>

#include "http/headers.h"
#include "proxy/forwarded_request.h"

namespace edgecache::proxy {
namespace {

TEST(CacheKeyTest, PercentEncodingAndDotSegmentsNormalised) {
  KeyOptions o;
  EXPECT_EQ(CacheKey(false, "h", "/%7euser/a%2fb", o), CacheKey(false, "h", "/~user/a%2Fb", o));
  EXPECT_EQ(CacheKey(false, "h", "/a/./b/../c", o), "h/a/c");
  EXPECT_EQ(CacheKey(false, "h", "/p?q=%41", o), "h/p?q=A");
  EXPECT_NE(CacheKey(false, "h", "/a%2Fb", o),
            CacheKey(false, "h", "/a/b", o));                       // reserved stays encoded
  EXPECT_EQ(CacheKey(false, "h", "/p?b=2&a=1", o), "h/p?b=2&a=1");  // order kept by default
}

TEST(CacheKeyTest, QuerySortingAndStripping) {
  KeyOptions o{true, {"utm_*", "fbclid", "gclid"}};
  EXPECT_EQ(CacheKey(false, "h", "/p?b=2&utm_source=x&a=1&fbclid=y&utm_medium=z", o),
            "h/p?a=1&b=2");
  EXPECT_EQ(CacheKey(false, "h", "/p?gclid=1", o), "h/p");
  EXPECT_EQ(CacheKey(false, "h", "/p?flag&a=", o), "h/p?a=&flag");
  EXPECT_EQ(CacheKey(false, "h", "/p?utmost=1", o), "h/p?utmost=1");  // not utm_
}

TEST(AcceptEncodingTest, ReducedToTheCodingsVariantsAreKeptFor) {
  EXPECT_EQ(NormalizeAcceptEncoding("gzip, deflate, br"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=1.0, gzip;q=0.8, *;q=0.1"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;q=1.0, br;q=0.5"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=0, gzip"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("deflate"), "identity");
  EXPECT_EQ(NormalizeAcceptEncoding("*"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("identity"), "identity");
  // A coding refused with q=0 stays refused when "*" accepts the rest.
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;q=0, *"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=0, gzip;q=0, *"), "identity");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=0, *;q=0.5"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding(" GZIP ; Q=0.5 "), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;q=2"), "identity");    // not a qvalue
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;q=0.x"), "identity");  // not a qvalue
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;level=1;q=0.9"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("\xff\xfe, gzip"), "gzip");  // bytes past ASCII
}

TEST(CacheKeyTest, NormalizedTargetsAreFixedPoints) {
  KeyOptions o{true, {"utm_*"}};
  for (const char* t : {"/a/%2e%2e/b?x=%7e&utm_a=1", "/./a/../../b/", "/%2E%2e%2fc", "/p?b&a",
                        "/%%34%31", "/a%zz?%%7e", "/%", "//..", "/a/.%2e/%2E./b"}) {
    const std::string once = NormalizeTarget(t, o);
    EXPECT_EQ(NormalizeTarget(once, o), once) << t;
    EXPECT_EQ(CacheKey(false, "h", t, o), "h" + once) << t;
  }
  EXPECT_EQ(NormalizeTarget("/static/%2e%2e/uploads/x", {}), "/uploads/x");
  EXPECT_EQ(NormalizeTarget("/%%34%31", {}), "/%2541");  // not "/%41", which means "/A"
}

TEST(CacheKeyTest, OnlyDotSegmentsAndPercentEncodingsChangeAPath) {
  // Names that merely start or end with dots are not dot-segments (RFC 3986 §5.2.4).
  for (const char* same : {"/.well-known/x", "/a/.b", "/a/..b", "/a/b.", "/a/b..", "/..a/b", "//",
                           "/a//b/", "/a/b?x=.&y=/..", "/"}) {
    EXPECT_EQ(NormalizeTarget(same, {}), same);
  }
  EXPECT_EQ(NormalizeTarget("/a/.", {}), "/a/");
  EXPECT_EQ(NormalizeTarget("/a/..", {}), "/");
  EXPECT_EQ(NormalizeTarget("/.", {}), "/");
  EXPECT_EQ(NormalizeTarget("/..", {}), "/");
  EXPECT_EQ(NormalizeTarget("/a/./b?q", {}), "/a/b?q");
  EXPECT_EQ(NormalizeTarget("/a/../b/", {}), "/b/");
  EXPECT_EQ(NormalizeTarget("/a?q=%7e", {}), "/a?q=~");
}

TEST(ForwardedRequestTest, AuthorityIsARegNameOrAddressWithANumericPort) {
  EXPECT_EQ(ParseAuthority("Example.COM"), "example.com");
  EXPECT_EQ(ParseAuthority("example.com:8080"), "example.com");
  EXPECT_EQ(ParseAuthority("example.com."), "example.com");
  EXPECT_EQ(ParseAuthority("10.0.0.1:80"), "10.0.0.1");
  EXPECT_EQ(ParseAuthority("[::1]:8080"), "[::1]");
  EXPECT_EQ(ParseAuthority("[2001:DB8::1]"), "[2001:db8::1]");
  EXPECT_EQ(ParseAuthority("example.com:"), "example.com");  // empty port (RFC 3986)
  for (const char* bad :
       {"", "victim2.example:@evil.example", "u@h", "h:99999", "h:80x", "h:-1", "a b", "h/p",
        "[::1", "[::1]x", "[zz]", "..", ".h", "a..b", "h:1:2", "h%41", "h\\x", "h..", "h..:80"}) {
    EXPECT_FALSE(ParseAuthority(bad)) << bad;
  }
}

TEST(ForwardedRequestTest, TheForwardedRequestIsWhatIsKeyed) {
  namespace http = boost::beast::http;
  ForwardOptions o{{true, {"utm_*"}}, {}, "1.1 edge"};
  http::request_header<> req;
  req.method(http::verb::get);
  req.target("http://Victim.example:81/a/%2e%2e/b?z=1&utm_x=2&a=1");
  req.set(http::field::host, "attacker.example");
  req.set(http::field::connection, "keep-alive, X-Drop");
  req.set("X-Drop", "1");
  req.set("X-Forwarded-Host", "evil.example");
  req.insert("X-Multi", "a");
  req.insert("X-Multi", "b");
  req.insert(http::field::cookie, "a=1");
  req.insert(http::field::cookie, "b=2");
  req.set(http::field::accept_encoding, "gzip;q=0, *");
  Routed r;
  ASSERT_TRUE(PrepareForward(req, o, "192.0.2.1", /*https=*/false, &r).ok());
  EXPECT_EQ(r.host, "victim.example");
  EXPECT_EQ(r.target, "/b?a=1&z=1");
  EXPECT_EQ(r.key, "victim.example/b?a=1&z=1");
  EXPECT_EQ(req.target(), "/b?a=1&z=1");
  EXPECT_EQ(req[http::field::host], "victim.example");
  EXPECT_EQ(req.count("x-drop"), 0u);
  EXPECT_EQ(req.count(http::field::connection), 0u);
  EXPECT_EQ(req.count("x-forwarded-host"), 0u);
  EXPECT_EQ(req.count("x-multi"), 1u);
  EXPECT_EQ(req["x-multi"], "a, b");
  EXPECT_EQ(req[http::field::cookie], "a=1; b=2");
  EXPECT_EQ(req[http::field::accept_encoding], "br");
  EXPECT_EQ(req[http::field::via], "1.1 edge");
  EXPECT_EQ(req["x-forwarded-for"], "192.0.2.1");

  // Found by request_routing_fuzz: a Connection header naming Host removed the Host the
  // key was built from.
  http::request_header<> named;
  named.method(http::verb::get);
  named.target("/v");
  named.set(http::field::host, "h.example");
  named.set(http::field::connection, "close, host");
  ASSERT_TRUE(PrepareForward(named, o, "192.0.2.1", /*https=*/false, &r).ok());
  EXPECT_EQ(named[http::field::host], "h.example");

  for (const char* target : {"/a#frag", "*", "example.com:443", "ftp://h/x", "http://u@h/x",
                             "http:///x", "relative/path"}) {
    http::request_header<> bad;
    bad.method(http::verb::get);
    bad.target(target);
    bad.set(http::field::host, "h");
    EXPECT_FALSE(PrepareForward(bad, o, "192.0.2.1", /*https=*/false, &r).ok()) << target;
  }
}

TEST(CacheKeyTest, TheSchemeIsInTheKeyOnlyWithKeySchemeAndOnlyForHttps) {
  namespace http = boost::beast::http;
  for (const bool key_scheme : {false, true}) {
    KeyOptions o;
    o.key_scheme = key_scheme;
    const std::string tls = key_scheme ? "https://" : "";
    EXPECT_EQ(CacheKey(false, "h", "/p", o), "h/p");
    EXPECT_EQ(CacheKey(true, "h", "/p", o), tls + "h/p");
    // The connection's scheme, not the one an absolute-form target claims.
    for (const bool https : {false, true}) {
      http::request_header<> req;
      req.method(http::verb::get);
      req.target("https://h/p");
      Routed r;
      ASSERT_TRUE(
          PrepareForward(req, ForwardOptions{o, {}, "1.1 edge"}, "192.0.2.1", https, &r).ok());
      EXPECT_EQ(r.key, (https ? tls : "") + "h/p");
      EXPECT_EQ(req.target(), "/p");
    }
    // An operator's URL (purge, inspect) names the same key a request of that scheme has.
    EXPECT_EQ(CacheKeyForUrl("http://h/p", o), "h/p");
    EXPECT_EQ(CacheKeyForUrl("h/p", o), "h/p");
    EXPECT_EQ(CacheKeyForUrl("HTTPS://H:8443/p", o), tls + "h/p");
  }
}

TEST(FramingTest, OnlyAChunkedRequestBodyWithoutContentLengthIsAccepted) {
  namespace http = boost::beast::http;
  auto check = [](std::vector<std::pair<std::string, std::string>> fields, unsigned version = 11) {
    http::request_header<> req;
    req.version(version);
    for (const auto& [n, v] : fields) req.insert(n, v);
    auto e = http_util::RequestFramingError(req);
    return e ? e->status : 0u;
  };
  EXPECT_EQ(check({}), 0u);
  EXPECT_EQ(check({{"Content-Length", "5"}}), 0u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}}), 0u);
  EXPECT_EQ(check({{"Transfer-Encoding", " Chunked "}}), 0u);
  EXPECT_EQ(check({{"Transfer-Encoding", "gzip"}}), 400u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked, gzip"}}), 400u);
  EXPECT_EQ(check({{"Transfer-Encoding", ""}}), 400u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}), 400u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 400u);
  EXPECT_EQ(check({{"Transfer-Encoding", "gzip, chunked"}}), 501u);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}}, 10), 400u);
}

// RFC 9111 §4.1: whitespace, case where case-insensitive, and order without meaning.
TEST(PreferenceListTest, EquivalentSpellingsNormaliseAlike) {
  const std::string canonical = NormalizePreferenceList("en-GB, de;q=0.8");
  EXPECT_EQ(canonical, "de;q=0.8,en-gb");
  for (const char* same : {"de;q=0.8,en-gb", "EN-gb ,  DE ; q=0.8", " en-gb,,de;q=0.8 "}) {
    EXPECT_EQ(NormalizePreferenceList(same), canonical) << same;
  }
  EXPECT_NE(NormalizePreferenceList("en-gb, de;q=0.7"), canonical);
  // Quoted strings keep their case and spaces.
  EXPECT_EQ(NormalizePreferenceList("text/html;p=\"A b\", TEXT/plain"),
            "text/html;p=\"A b\",text/plain");
  EXPECT_EQ(NormalizeVaryValue("accept-language", "FR"), "fr");
  EXPECT_EQ(NormalizeVaryValue("x-custom", "B, a"), "B, a");  // unknown: as written
  EXPECT_EQ(NormalizeVaryValue("accept-encoding", "gzip, br"), NormalizeAcceptEncoding("br, gzip"));
}

}  // namespace
}  // namespace edgecache::proxy
