// Node configuration: sizes, endpoints, origins, the TOML file, validation messages.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cluster/redis.h"
#include "support/temp_dir.h"

namespace edgecache::config {
namespace {

TEST(ConfigParseTest, SizesEndpointsOrigins) {
  EXPECT_EQ(ParseSize("10GiB"), 10ull << 30);
  EXPECT_EQ(ParseSize("512m"), 512ull << 20);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_FALSE(ParseSize("lots"));
  EXPECT_FALSE(ParseSize("-1"));
  auto e = ParseEndpoint("[::1]:8080");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 8080);
  EXPECT_FALSE(ParseEndpoint("nohost"));
  EXPECT_FALSE(ParseEndpoint("1.2.3.4:99999"));
  auto o = ParseOrigin("http://10.0.0.5:8080/");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(ParseOrigin("http://origin.example")->port, 80);
  EXPECT_FALSE(ParseOrigin("ftp://x"));
  EXPECT_FALSE(ParseOrigin("http://x/path"));
  EXPECT_FALSE(ParseOrigin("http://10.0.0.5:8080/")->tls);
  auto tls = ParseOrigin("HTTPS://www.example.com");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 443);
  EXPECT_EQ(tls->ToString(), "https://www.example.com:443");
  EXPECT_EQ(ParseOrigin("https://[::1]:8443")->ToString(), "https://[::1]:8443");
  EXPECT_FALSE(ParseOrigin("https://"));
}

TEST(ConfigFileTest, LoadsEveryTable) {
  testing::TempDir dir;
  std::string path = dir.Sub("node.toml");
  std::ofstream(path) << R"(
listen = ["127.0.0.1:8080", "[::1]:8080"]
admin = "127.0.0.1:8081"
log_level = "debug"
event_loop = "epoll"
[store]
dir = "/var/cache/edgecache"
capacity = "20GiB"
ram_cache = "256MiB"
entry_cache = "8MiB"
presence_filter = "64MiB"
commit_window_us = 250
sync = "commit"
io_backend = "posix"
admission = "probation"
probation = "128MiB"
[origins]
default = "http://127.0.0.1:9000"
"WWW.Example.com" = "http://10.0.0.5:8080"
[timeouts]
origin_ms = 5000
[limits]
max_object_bytes = "2GiB"
[cache]
honour_client_no_cache = false
)";
  NodeConfig c;
  Status s = LoadFile(path, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.admin->port, 8081);
  EXPECT_EQ(c.event_loop, util::EventLoop::kEpoll);
  EXPECT_EQ(c.store.capacity_bytes, 20ull << 30);
  EXPECT_EQ(c.store.entry_cache_bytes, 8ull << 20);
  EXPECT_EQ(c.store.presence_filter_bytes, 64ull << 20);
  EXPECT_EQ(c.store.commit_window_us, 250u);
  EXPECT_EQ(c.store.sync, SyncPolicy::kCommit);
  EXPECT_EQ(c.store.io_backend, IoBackendKind::kPosix);
  EXPECT_EQ(c.store.admission, Admission::kProbation);
  EXPECT_EQ(c.store.probation_bytes, 128ull << 20);
  EXPECT_EQ(c.origins.at("www.example.com").host, "10.0.0.5");
  EXPECT_EQ(c.default_origin->port, 9000);
  EXPECT_EQ(c.origin_timeout_ms, 5000);
  EXPECT_EQ(c.max_object_bytes, 2ull << 30);
  EXPECT_FALSE(c.honour_client_no_cache);
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigFileTest, ErrorsNameTheKey) {
  testing::TempDir dir;
  auto load = [&](const std::string& text) {
    std::string path = dir.Sub("c.toml");
    std::ofstream(path, std::ios::trunc) << text;
    NodeConfig c;
    c.store_dir = "/tmp/x";
    c.default_origin = OriginUrl{"127.0.0.1", 9};
    Status s = LoadFile(path, &c);
    if (s.ok()) s = Validate(c);
    return s.ok() ? std::string("OK") : s.message();
  };
  EXPECT_NE(load("[store]\ncapacity = \"lots\"\n").find("store.capacity"), std::string::npos);
  EXPECT_NE(load("[store]\nsync = \"sometimes\"\n").find("store.sync"), std::string::npos);
  EXPECT_NE(load("[store]\nentry_cache = \"-1\"\n").find("store.entry_cache"), std::string::npos);
  EXPECT_NE(load("[store]\nentry_cache = true\n").find("store.entry_cache"), std::string::npos);
  EXPECT_EQ(load("[store]\nentry_cache = \"0\"\n"), "OK");  // 0 turns it off
  EXPECT_EQ(load("[store]\npresence_filter = \"auto\"\n"), "OK");
  EXPECT_EQ(load("[store]\npresence_filter = 0\n"), "OK");
  EXPECT_NE(load("[store]\npresence_filter = \"big\"\n").find("store.presence_filter"),
            std::string::npos);
  EXPECT_NE(load("[store]\npresence_filter = \"8GiB\"\n").find("presence_filter_bytes"),
            std::string::npos);
  EXPECT_NE(load("[store]\ncommit_window_us = -1\n").find("store.commit_window_us"),
            std::string::npos);
  EXPECT_NE(load("[store]\ncommit_window_us = 100001\n").find("store.commit_window_us"),
            std::string::npos);
  EXPECT_NE(load("[store]\ncommit_window_us = \"1ms\"\n").find("store.commit_window_us"),
            std::string::npos);
  EXPECT_EQ(load("[store]\ncommit_window_us = 0\n"), "OK");  // 0: no waiting
  EXPECT_NE(load("[store]\nadmission = \"lru\"\n").find("store.admission"), std::string::npos);
  EXPECT_NE(load("event_loop = \"kqueue\"\n").find("event_loop"), std::string::npos);
  EXPECT_NE(load("event_loop = 5\n").find("event_loop"), std::string::npos);
  EXPECT_NE(load("[store]\nprobation = \"big\"\n").find("store.probation"), std::string::npos);
  // A value of another TOML type is an error, never converted (true is not 1 byte).
  EXPECT_NE(load("[store]\nram_cache = true\n").find("store.ram_cache"), std::string::npos);
  EXPECT_NE(load("[timeouts]\norigin_ms = true\n").find("timeouts.origin_ms"), std::string::npos);
  EXPECT_NE(load("[timeouts]\norigin_ms = 5.5\n").find("timeouts.origin_ms"), std::string::npos);
  EXPECT_NE(load("[cache]\nhonour_client_no_cache = 0\n").find("cache.honour_client_no_cache"),
            std::string::npos);
  EXPECT_NE(load("[origins]\nx = \"ftp://a\"\n").find("origins.x"), std::string::npos);
  // An origin with a TLS name: only https, only url and sni, a non-empty name.
  EXPECT_EQ(load("[origins]\nx = { url = \"https://10.0.0.5\", sni = \"x.example\" }\n"), "OK");
  EXPECT_NE(load("[origins]\nx = { url = \"http://10.0.0.5\", sni = \"x.example\" }\n")
                .find("origins.x.sni"),
            std::string::npos);
  EXPECT_NE(
      load("[origins]\nx = { url = \"https://10.0.0.5\", port = 1 }\n").find("origins.x.port"),
      std::string::npos);
  EXPECT_NE(
      load("[origins]\nx = { url = \"https://10.0.0.5\", sni = \"\" }\n").find("origins.x.sni"),
      std::string::npos);
  EXPECT_NE(load("[origins]\nx = { sni = \"x.example\" }\n").find("origins.x"), std::string::npos);
  // TLS listeners need a readable certificate and key; the log format is text or json.
  EXPECT_NE(load("tls_listen = \"127.0.0.1:8443\"\n").find("tls"), std::string::npos);
  EXPECT_NE(load("tls_listen = \"127.0.0.1:8443\"\n[tls]\ncert = \"/nonexistent.pem\"\n"
                 "key = \"/nonexistent.key\"\n")
                .find("tls.cert"),
            std::string::npos);
  EXPECT_NE(load("[tls]\nchain = \"x\"\n").find("tls.chain"), std::string::npos);
  // Several certificates: an array of files each, in pairs.
  const std::string readable = dir.Sub("c.toml");  // any readable file passes this check
  EXPECT_EQ(load("tls_listen = \"127.0.0.1:8443\"\n[tls]\ncert = [\"" + readable + "\", \"" +
                 readable + "\"]\nkey = [\"" + readable + "\", \"" + readable + "\"]\n"),
            "OK");
  EXPECT_NE(load("tls_listen = \"127.0.0.1:8443\"\n[tls]\ncert = [\"" + readable + "\", \"" +
                 readable + "\"]\nkey = \"" + readable + "\"\n")
                .find("in pairs"),
            std::string::npos);
  EXPECT_NE(load("[tls]\ncert = [\"\"]\n").find("tls.cert"), std::string::npos);
  EXPECT_NE(load("[tls]\ncert = 5\n").find("tls.cert"), std::string::npos);
  EXPECT_NE(load("[cache]\nkey_scheme = \"yes\"\n").find("cache.key_scheme"), std::string::npos);
  // A point of presence's purge log: a redis:// URL with a stream, and a node_id.
  EXPECT_EQ(load("[cluster]\npurge_log = \"redis://10.0.0.2:6379/purges\"\nnode_id = \"edge-1\"\n"),
            "OK");
  EXPECT_NE(
      load("[cluster]\npurge_log = \"redis://10.0.0.2:6379/purges\"\n").find("cluster.node_id"),
      std::string::npos);
  EXPECT_NE(load("[cluster]\npurge_log = \"redis://10.0.0.2:6379\"\nnode_id = \"a\"\n")
                .find("cluster.purge_log"),
            std::string::npos);
  EXPECT_NE(
      load("[cluster]\npurge_log = \"redis://h/s\"\nnode_id = \"a b\"\n").find("cluster.node_id"),
      std::string::npos);
  EXPECT_NE(load("[cluster]\nnode = \"a\"\n").find("cluster.node"), std::string::npos);
  EXPECT_NE(load("access_log_format = \"xml\"\n").find("access_log_format"), std::string::npos);
  EXPECT_NE(load("origin_ca_file = \"/nonexistent.pem\"\n").find("origin_ca_file"),
            std::string::npos);
  EXPECT_NE(load("bogus = 1\n").find("bogus"), std::string::npos);
  EXPECT_NE(load("listen = 5\n").find("listen"), std::string::npos);
  EXPECT_NE(load("[timeouts]\norigin_ms = 0\n").find("timeouts.origin_ms"), std::string::npos);
  EXPECT_NE(load("[store]\ncapacity = \"1MiB\"\n").find("capacity_bytes"), std::string::npos);
  EXPECT_NE(load("log_level = \"loud\"\n").find("log_level"), std::string::npos);
  EXPECT_NE(load("not toml [").find("line"), std::string::npos);
  EXPECT_EQ(load(""), "OK");
  // The admin listener: loopback and Unix sockets need no token, anything else does.
  EXPECT_EQ(load("admin = \"127.0.0.1:8081\"\n"), "OK");
  EXPECT_EQ(load("admin = \"[::1]:8081\"\n"), "OK");
  EXPECT_EQ(load("admin = \"unix:/run/edgecache/admin.sock\"\n"), "OK");
  EXPECT_NE(load("admin = \"0.0.0.0:8081\"\n").find("admin_token"), std::string::npos);
  EXPECT_NE(load("admin = \"10.1.2.3:8081\"\n").find("admin_token"), std::string::npos);
  EXPECT_EQ(load("admin = \"0.0.0.0:8081\"\nadmin_token = \"t\"\n"), "OK");
  EXPECT_NE(load("admin = \"unix:relative.sock\"\n").find("unix:/PATH"), std::string::npos);
  EXPECT_NE(load("listen = \"unix:/x.sock\"\n").find("listen"), std::string::npos);
  // A misspelt key inside a table is an error too, named with its table.
  EXPECT_NE(load("[store]\ncapcity = \"1GiB\"\n").find("store.capcity"), std::string::npos);
  EXPECT_NE(load("[cache]\nstore_set_cookies = true\n").find("cache.store_set_cookies"),
            std::string::npos);
  EXPECT_NE(load("[limits]\nmax_conections = 5\n").find("limits.max_conections"),
            std::string::npos);
  EXPECT_NE(load("store = 5\n").find("store"), std::string::npos);
  EXPECT_NE(load("[cache]\nkey_headers = [\"\"]\n").find("cache.key_headers"), std::string::npos);
  EXPECT_NE(load("[cache]\nkey_headers = [\"bad name\"]\n").find("cache.key_headers"),
            std::string::npos);
  EXPECT_EQ(load("[cache]\nkey_headers = [\"X-Forwarded-Host\"]\nstore_set_cookie = true\n"), "OK");
  // content_etag: a boolean (true = for responses without validators) or a mode.
  for (const char* ok : {"true", "false", "\"off\"", "\"missing\"", "\"always\""}) {
    EXPECT_EQ(load(std::string("[cache]\ncontent_etag = ") + ok + "\n"), "OK") << ok;
  }
  EXPECT_NE(load("[cache]\ncontent_etag = \"sometimes\"\n").find("cache.content_etag"),
            std::string::npos);
  EXPECT_NE(load("[cache]\ncontent_etag = 1\n").find("cache.content_etag"), std::string::npos);
  EXPECT_NE(load("response_via = \"off\"\n").find("response_via"), std::string::npos);
  EXPECT_EQ(load("response_via = false\n"), "OK");
  EXPECT_NE(
      load("[cache]\nsynthesize_last_modified = \"yes\"\n").find("cache.synthesize_last_modified"),
      std::string::npos);
}

TEST(ConfigFileTest, KeyHeadersAreLowerCased) {
  testing::TempDir dir;
  std::string path = dir.Sub("c.toml");
  std::ofstream(path) << "[cache]\nkey_headers = [\"X-Forwarded-Host\"]\n";
  NodeConfig c;
  ASSERT_TRUE(LoadFile(path, &c).ok());
  EXPECT_EQ(c.key_headers, std::vector<std::string>{"x-forwarded-host"});
}

TEST(ConfigFlagsTest, FlagsOverrideTheFileAndErrorsNameTheFlag) {
  NodeConfig c;
  c.listen = {*ParseEndpoint("127.0.0.1:1"), *ParseEndpoint("127.0.0.1:2")};
  Flags f;
  f.listen = {"127.0.0.1:9"};
  f.maps = {"A.Example=http://127.0.0.1:81"};
  f.capacity = "2GiB";
  f.parent = "http://10.0.0.9:8080";
  f.threads = 3;
  f.event_loop = "io_uring";
  ASSERT_TRUE(ApplyFlags(f, &c).ok());
  ASSERT_EQ(c.listen.size(), 1u);  // replaced, not added to
  EXPECT_EQ(c.listen[0].port, 9);
  EXPECT_EQ(c.origins.count("a.example"), 1u);
  EXPECT_EQ(c.store.capacity_bytes, 2ull << 30);
  ASSERT_TRUE(c.parent);
  EXPECT_EQ(c.parent->port, 8080);
  EXPECT_EQ(c.threads, 3);
  EXPECT_EQ(c.event_loop, util::EventLoop::kIoUring);
  for (auto [flags, flag] :
       std::vector<std::pair<Flags, std::string>>{{Flags{.listen = {"bogus"}}, "--listen"},
                                                  {Flags{.maps = {"=http://x:1"}}, "--map"},
                                                  {Flags{.origin = "ftp://x"}, "--origin"},
                                                  {Flags{.ram_cache = "1XB"}, "--ram-cache"},
                                                  {Flags{.event_loop = "poll"}, "--event-loop"}}) {
    Status s = ApplyFlags(flags, &c);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << flag;
    EXPECT_TRUE(s.message().starts_with(flag)) << s.message();
  }
}

TEST(ConfigStoreCheckTest, TheStoreDirectoryMustBeUsable) {
  testing::TempDir dir;
  EXPECT_TRUE(CheckStoreDir(dir.Sub("new-store")).ok());  // created at start
  EXPECT_TRUE(CheckStoreDir(dir.path()).ok());
  const std::string file = dir.Sub("a-file");
  std::ofstream(file) << "x";
  Status s = CheckStoreDir(file);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckStoreDir(file + "/below").ok());
  if (::geteuid() != 0) {  // root writes anywhere; the read-only mount case covers it
    EXPECT_FALSE(CheckStoreDir("/proc/edgecache-store").ok());
  }
  EXPECT_FALSE(CheckStoreDir("/proc/sys").ok());  // a read-only file system
}

TEST(ConfigParseTest, UnixAndLoopbackEndpoints) {
  auto u = ParseEndpoint("unix:/run/a.sock", /*allow_unix=*/true);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->unix_path, "/run/a.sock");
  EXPECT_EQ(u->ToString(), "unix:/run/a.sock");
  EXPECT_TRUE(u->IsLocal());
  EXPECT_FALSE(ParseEndpoint("unix:/run/a.sock"));
  EXPECT_TRUE(ParseEndpoint("127.0.0.2:1")->IsLocal());
  EXPECT_TRUE(ParseEndpoint("localhost:1")->IsLocal());
  EXPECT_FALSE(ParseEndpoint("0.0.0.0:1")->IsLocal());
  EXPECT_FALSE(ParseEndpoint("[::]:1")->IsLocal());
  EXPECT_FALSE(ParseEndpoint("192.168.1.1:1")->IsLocal());
}

}  // namespace
}  // namespace edgecache::config

namespace edgecache::config {
namespace {

TEST(RedisUrlTest, HostPortAndStream) {
  auto url = cluster::ParseRedisUrl("redis://10.0.0.2:6380/pop-purges");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "10.0.0.2");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->stream, "pop-purges");
  EXPECT_EQ(cluster::ParseRedisUrl("redis://redis.internal/p")->port, 6379);
  EXPECT_EQ(cluster::ParseRedisUrl("redis://[::1]:7000/p")->host, "::1");
  for (const char* bad : {"http://h/p", "redis://h", "redis://h/", "redis://h:0/p",
                          "redis://h:99999/p", "redis://u@h/p", "redis:///p", "redis://h/a/b"}) {
    EXPECT_FALSE(cluster::ParseRedisUrl(bad)) << bad;
  }
}

}  // namespace
}  // namespace edgecache::config
