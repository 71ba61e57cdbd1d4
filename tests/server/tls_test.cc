// TLS on both sides, with a test CA and certificates made here by the openssl command.
// https origins, against a TLS server we did not write: `openssl s_server -HTTP` (it serves
// files that hold whole HTTP responses) on loopback. The node verifies the origin's
// certificate with SNI and its host name; every refusal is a 502 naming the reason, never a
// retry in the clear. TLS listeners, against curl and openssl s_client as clients.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::HttpResponse;
using testing::TempDir;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A CA, a certificate for localhost and 127.0.0.1 it signed, one that expires now.
    Openssl(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=edgecache-test-ca -keyout ca.key -out ca.pem");
    Openssl(
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
        "-keyout server.key -out server.csr");
    std::ofstream(dir_.Sub("san.cnf")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    Openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.cnf -out server.pem");
    Openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 0 "
        "-extfile san.cnf -out expired.pem");
    // The same key, certified for another name only (the CN is ignored next to a SAN).
    std::ofstream(dir_.Sub("other.cnf")) << "subjectAltName=DNS:other.example\n";
    Openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile other.cnf -out other-host.pem");
    std::filesystem::create_directory(dir_.Sub("www"));
    std::ofstream(dir_.Sub("www/obj"), std::ios::binary)
        << "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Type: text/plain\r\n"
           "Content-Length: 12\r\n\r\nhello, tls!\n";
  }

  void Openssl(const std::string& args) {
    ChildProcess p("/bin/sh", {"-c", "cd '" + dir_.path() + "' && openssl " + args + " 2>&1"});
    const std::string out = p.ReadAll(std::chrono::seconds(30));
    const int status = p.Wait(std::chrono::seconds(30));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "openssl " << args << "\n" << out;
  }

  // `openssl s_server` on a free loopback port with `cert`; returns the port.
  uint16_t StartOrigin(const std::string& cert) {
    origin_ = std::make_unique<ChildProcess>(
        "/bin/sh", std::vector<std::string>{
                       "-c", "cd '" + dir_.Sub("www") +
                                 "' && exec openssl s_server -accept 127.0.0.1:0 -HTTP -cert ../" +
                                 cert + " -key ../server.key"});
    return origin_->WaitForPort("ACCEPT");
  }

  uint16_t StartNode(const std::string& origin, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--listen", "127.0.0.1:0", "--store", dir_.Sub("store"), "--origin",
        origin,     "--log-level", "error",   "--threads",       "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    node_ = std::make_unique<ChildProcess>(EDGECACHE_BIN, args);
    return node_->WaitForPort("edgecache: listening on");
  }

  // curl with `args`; its exit code, and what it printed in *out.
  int Curl(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> all = {"-s", "-m", "10"};
    all.insert(all.end(), args.begin(), args.end());
    ChildProcess p("/usr/bin/curl", all, /*merge_stderr=*/true);
    const std::string text = p.ReadAll(std::chrono::seconds(20));
    if (out != nullptr) *out = text;
    const int status = p.Wait(std::chrono::seconds(20));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // A node with a plain and a TLS listener in front of origin-sim; sets tls_port_.
  void StartTlsNode(const std::vector<std::string>& extra = {}) {
    plain_origin_ = std::make_unique<ChildProcess>(
        ORIGIN_SIM_BIN, std::vector<std::string>{"--listen", "127.0.0.1:0"});
    const uint16_t origin = plain_origin_->WaitForPort("origin-sim: listening on");
    ASSERT_NE(origin, 0);
    std::vector<std::string> args = {"--tls-listen",         "127.0.0.1:0", "--tls-cert",
                                     dir_.Sub("server.pem"), "--tls-key",   dir_.Sub("server.key")};
    args.insert(args.end(), extra.begin(), extra.end());
    plain_port_ = StartNode("http://127.0.0.1:" + std::to_string(origin), args);
    tls_port_ = node_->WaitForPort("edgecache: TLS listening on");
    ASSERT_NE(tls_port_, 0);
  }
  std::string TlsUrl(const std::string& path, const std::string& host = "localhost") {
    return "https://" + host + ":" + std::to_string(tls_port_) + path;
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> origin_, plain_origin_, node_;
  uint16_t plain_port_ = 0, tls_port_ = 0;
};

TEST_F(TlsTest, AVerifiedHttpsOriginFillsTheCache) {
  const uint16_t origin = StartOrigin("server.pem");
  ASSERT_NE(origin, 0);
  for (const std::string host : {"localhost", "127.0.0.1"}) {  // by name (SNI) and by address
    const uint16_t port = StartNode("https://" + host + ":" + std::to_string(origin),
                                    {"--origin-ca", dir_.Sub("ca.pem")});
    ASSERT_NE(port, 0);
    HttpResponse miss = testing::Fetch(port, "GET", "/obj");
    EXPECT_EQ(miss.status, 200) << host << " " << miss.Header("cache-status");
    EXPECT_EQ(miss.body, "hello, tls!\n");
    EXPECT_NE(miss.Header("cache-status").find("fwd=miss"), std::string::npos);
    HttpResponse hit = testing::Fetch(port, "GET", "/obj");
    EXPECT_EQ(hit.body, "hello, tls!\n");
    EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos);
    // s_server closes after each response: the next miss takes a new connection.
    HttpResponse again = testing::Fetch(port, "GET", "/obj?another");
    EXPECT_EQ(again.status, 200) << again.Header("cache-status");
    node_.reset();
    std::filesystem::remove_all(dir_.Sub("store"));
  }
}

TEST_F(TlsTest, AnUntrustedCertificateIsA502NamingTheReasonAndNothingIsStored) {
  const uint16_t origin = StartOrigin("server.pem");
  // The system's CA store does not know the test CA.
  const uint16_t port = StartNode("https://localhost:" + std::to_string(origin));
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = testing::Fetch(port, "GET", "/obj");
    EXPECT_EQ(r.status, 502);
    EXPECT_NE(r.Header("cache-status").find("detail=\"origin TLS: unable to get local issuer"),
              std::string::npos)
        << r.Header("cache-status");
    EXPECT_NE(r.body.find("hello"), 0u);
  }
}

TEST_F(TlsTest, AnExpiredCertificateIsRefused) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past its notAfter
  const uint16_t origin = StartOrigin("expired.pem");
  const uint16_t port =
      StartNode("https://localhost:" + std::to_string(origin), {"--origin-ca", dir_.Sub("ca.pem")});
  HttpResponse r = testing::Fetch(port, "GET", "/obj");
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.Header("cache-status").find("origin TLS: certificate has expired"), std::string::npos)
      << r.Header("cache-status");
}

TEST_F(TlsTest, ACertificateForAnotherHostIsRefused) {
  const uint16_t origin = StartOrigin("other-host.pem");
  // Signed by the trusted CA, but for other.example, not localhost.
  const uint16_t port =
      StartNode("https://localhost:" + std::to_string(origin), {"--origin-ca", dir_.Sub("ca.pem")});
  HttpResponse r = testing::Fetch(port, "GET", "/obj");
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.Header("cache-status").find("origin TLS: "), std::string::npos)
      << r.Header("cache-status");
}

TEST_F(TlsTest, ABadCaFileIsABadConfiguration) {
  std::ofstream(dir_.Sub("junk.pem")) << "not a certificate\n";
  ChildProcess node(EDGECACHE_BIN,
                    {"--listen", "127.0.0.1:0", "--store", dir_.Sub("store"), "--origin",
                     "https://localhost:1", "--origin-ca", dir_.Sub("junk.pem")},
                    /*merge_stderr=*/true);
  const std::string out = node.ReadAll(std::chrono::seconds(30));
  const int status = node.Wait(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("origin_ca_file"), std::string::npos) << out;
}

TEST_F(TlsTest, ATlsClientIsServedFromTheCacheOverHttp11) {
  StartTlsNode();
  std::string out;
  const std::string ca = dir_.Sub("ca.pem");
  ASSERT_EQ(
      Curl({"--cacert", ca, "-D", "-", "-o", "/dev/null", TlsUrl("/tls?cc=max-age=600&size=5000")},
           &out),
      0)
      << out;
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("fwd=miss"), std::string::npos) << out;
  // ALPN: a client that offers h2 and http/1.1 is answered in HTTP/1.1, from the cache.
  ASSERT_EQ(Curl({"--cacert", ca, "--http2", "-D", "-", "-o", "/dev/null",
                  TlsUrl("/tls?cc=max-age=600&size=5000")},
                 &out),
            0)
      << out;
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("hit"), std::string::npos) << out;
  // Bodies that span many TLS records, from the origin, then from the store's disk, then
  // from its RAM cache (whose large records a plain connection gets with sendfile; a TLS
  // one must get them encrypted, copied into records).
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Curl({"--cacert", ca, "-o", "/dev/null", "-w", "%{size_download}",
                    TlsUrl("/tls-big?cc=max-age=600&size=300000")},
                   &out),
              0)
        << out;
    EXPECT_EQ(out, "300000");
  }
  // Plain HTTP to the TLS port is no request: the handshake fails and nothing is answered.
  EXPECT_NE(Curl({"http://127.0.0.1:" + std::to_string(tls_port_) + "/tls"}, &out), 0) << out;
  // TLS 1.1 is refused.
  ChildProcess old("/bin/sh", {"-c", "openssl s_client -connect 127.0.0.1:" +
                                         std::to_string(tls_port_) + " -tls1_1 </dev/null 2>&1"});
  const std::string said = old.ReadAll(std::chrono::seconds(20));
  old.Wait(std::chrono::seconds(20));
  EXPECT_NE(said.find("alert protocol version"), std::string::npos) << said;
  // The node still serves.
  EXPECT_EQ(Curl({"--cacert", ca, "-o", "/dev/null", TlsUrl("/tls?cc=max-age=600&size=5000")}), 0);
}

TEST_F(TlsTest, AHandshakeFloodIsBoundedByTheClientTimeout) {
  std::ofstream(dir_.Sub("fast.toml")) << "[timeouts]\nclient_ms = 1000\n";
  StartTlsNode({"--config", dir_.Sub("fast.toml")});
  // Connections that never start their handshake.
  std::vector<std::unique_ptr<testing::HttpConnection>> silent;
  for (int i = 0; i < 100; ++i)
    silent.push_back(std::make_unique<testing::HttpConnection>(tls_port_));
  // A real client is served meanwhile.
  EXPECT_EQ(Curl({"--cacert", dir_.Sub("ca.pem"), "-o", "/dev/null",
                  TlsUrl("/during-flood?cc=max-age=60")}),
            0);
  // Every silent one is closed by the node once the client timeout has passed.
  int closed = 0;
  for (auto& c : silent) closed += c->ClosedByPeer() ? 1 : 0;
  EXPECT_EQ(closed, 100);
}

TEST_F(TlsTest, AReloadReadsTheCertificateAgain) {
  StartTlsNode();
  const std::string ca = dir_.Sub("ca.pem");
  ASSERT_EQ(Curl({"--cacert", ca, "-o", "/dev/null", TlsUrl("/cert")}), 0);
  // A keep-alive connection open across the reload: one request before, one after.
  ChildProcess open_connection(
      "/bin/sh", {"-c",
                  "(printf 'GET /cert HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'; "
                  "sleep 2; printf 'GET /cert HTTP/1.1\\r\\nHost: localhost\\r\\n"
                  "Connection: close\\r\\n\\r\\n') | openssl s_client -connect 127.0.0.1:" +
                      std::to_string(tls_port_) + " -quiet -ign_eof 2>&1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  // The certificate is renewed in place (here: for other.example), then the node reloads.
  std::filesystem::copy_file(dir_.Sub("other-host.pem"), dir_.Sub("server.pem"),
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_EQ(::kill(node_->pid(), SIGHUP), 0);
  const std::string across = open_connection.ReadAll(std::chrono::seconds(20));
  open_connection.Wait(std::chrono::seconds(20));
  size_t answers = 0;
  for (size_t at = across.find("HTTP/1.1 200"); at != std::string::npos;
       at = across.find("HTTP/1.1 200", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 2u) << "the open connection is kept across the reload:\n" << across;
  const std::string resolve = "other.example:" + std::to_string(tls_port_) + ":127.0.0.1";
  int rc = -1;
  for (int i = 0; i < 100 && rc != 0; ++i) {
    rc = Curl({"--cacert", ca, "--resolve", resolve, "-o", "/dev/null",
               TlsUrl("/cert", "other.example")});
    if (rc != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(rc, 0) << "new connections get the renewed certificate";
  EXPECT_NE(Curl({"--cacert", ca, "-o", "/dev/null", TlsUrl("/cert")}), 0)
      << "the old name is no longer in the certificate";
}

TEST_F(TlsTest, SniPicksTheCertificateForTheNameAndTheFirstOneOtherwise) {
  // A second certificate from the same CA, for any name under wild.example.
  std::ofstream(dir_.Sub("wild.cnf")) << "subjectAltName=DNS:*.wild.example\n";
  Openssl(
      "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile wild.cnf -out wild.pem");
  StartTlsNode({"--tls-cert", dir_.Sub("wild.pem"), "--tls-key", dir_.Sub("server.key")});
  const std::string ca = dir_.Sub("ca.pem");
  auto resolve = [&](const std::string& name) {
    return name + ":" + std::to_string(tls_port_) + ":127.0.0.1";
  };
  // Each name gets the certificate made for it: curl verifies it against the CA.
  EXPECT_EQ(Curl({"--cacert", ca, "-o", "/dev/null", TlsUrl("/sni?cc=max-age=60")}), 0);
  std::string out;
  EXPECT_EQ(Curl({"--cacert", ca, "--resolve", resolve("a.wild.example"), "-o", "/dev/null", "-w",
                  "%{http_code}", TlsUrl("/sni?cc=max-age=60", "a.wild.example")},
                 &out),
            0)
      << out;
  EXPECT_EQ(out, "200");
  // A name no certificate is for, and a client without SNI (an address): the first one.
  ASSERT_EQ(Curl({"-k", "--resolve", resolve("nobody.example"), "-o", "/dev/null", "-w", "%{certs}",
                  TlsUrl("/sni", "nobody.example")},
                 &out),
            0);
  EXPECT_NE(out.find("DNS:localhost"), std::string::npos) << out;
  EXPECT_EQ(out.find("wild.example"), std::string::npos) << out;
  EXPECT_EQ(Curl({"--cacert", ca, "-o", "/dev/null", TlsUrl("/sni", "127.0.0.1")}), 0);
  // The certificates go in pairs with their keys.
  ChildProcess odd(EDGECACHE_BIN,
                   {"--tls-listen", "127.0.0.1:0", "--store", dir_.Sub("store2"), "--origin",
                    "http://127.0.0.1:9", "--tls-cert", dir_.Sub("server.pem"), "--tls-cert",
                    dir_.Sub("wild.pem"), "--tls-key", dir_.Sub("server.key")},
                   /*merge_stderr=*/true);
  const std::string said = odd.ReadAll(std::chrono::seconds(30));
  const int status = odd.Wait(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << said;
  EXPECT_NE(said.find("in pairs"), std::string::npos) << said;
}

TEST_F(TlsTest, TheNodeEndsTlsConnectionsWithCloseNotify) {
  StartTlsNode();
  // openssl reports a TLS connection that ends without close_notify as an unexpected EOF,
  // which a client cannot tell from a truncation.
  ChildProcess client("/bin/sh",
                      {"-c",
                       "printf 'GET /bye?cc=max-age=60 HTTP/1.1\\r\\nHost: localhost\\r\\n"
                       "Connection: close\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:" +
                           std::to_string(tls_port_) + " -quiet -ign_eof 2>&1"});
  const std::string said = client.ReadAll(std::chrono::seconds(20));
  client.Wait(std::chrono::seconds(20));
  EXPECT_NE(said.find("HTTP/1.1 200"), std::string::npos) << said;
  EXPECT_EQ(said.find("unexpected eof"), std::string::npos) << said;
}

TEST_F(TlsTest, TheSchemeIsPartOfTheKeyOnlyWhenConfigured) {
  for (const bool key_scheme : {false, true}) {
    std::ofstream(dir_.Sub("scheme.toml"), std::ios::trunc)
        << "[cache]\nkey_scheme = " << (key_scheme ? "true" : "false") << "\n";
    StartTlsNode({"--config", dir_.Sub("scheme.toml")});
    HttpResponse plain =
        testing::Fetch(plain_port_, "GET", "/scheme?cc=max-age=600", {}, "", "localhost");
    EXPECT_NE(plain.Header("cache-status").find("fwd=miss"), std::string::npos);
    for (int i = 0; i < 2; ++i) {
      std::string out;
      ASSERT_EQ(Curl({"--cacert", dir_.Sub("ca.pem"), "-D", "-", "-o", "/dev/null",
                      TlsUrl("/scheme?cc=max-age=600")},
                     &out),
                0)
          << out;
      // Shared with http unless key_scheme; then a key of its own, filled once.
      const bool miss = key_scheme && i == 0;
      EXPECT_EQ(out.find("fwd=miss") != std::string::npos, miss) << key_scheme << " " << out;
    }
    EXPECT_NE(testing::Fetch(plain_port_, "GET", "/scheme?cc=max-age=600", {}, "", "localhost")
                  .Header("cache-status")
                  .find("hit"),
              std::string::npos);
    node_.reset();
    std::filesystem::remove_all(dir_.Sub("store"));
  }
}

TEST_F(TlsTest, AnOriginAddressedByIpIsVerifiedAgainstItsConfiguredName) {
  const uint16_t origin = StartOrigin("other-host.pem");  // certified for other.example only
  const std::string url = "https://127.0.0.1:" + std::to_string(origin);
  std::ofstream(dir_.Sub("sni.toml"))
      << "[origins]\n\"named.test\" = { url = \"" << url << "\", sni = \"other.example\" }\n"
      << "\"plain.test\" = \"" << url << "\"\n";
  const uint16_t port =
      StartNode(url, {"--config", dir_.Sub("sni.toml"), "--origin-ca", dir_.Sub("ca.pem")});
  // Without the name: the certificate does not name 127.0.0.1. (First: s_server serves
  // one connection at a time, and the node keeps the verified one open.)
  HttpResponse plain = testing::Fetch(port, "GET", "/obj", {}, "", "plain.test");
  EXPECT_EQ(plain.status, 502) << plain.Header("cache-status");
  HttpResponse named = testing::Fetch(port, "GET", "/obj", {}, "", "named.test");
  EXPECT_EQ(named.status, 200) << named.Header("cache-status");
  EXPECT_EQ(named.body, "hello, tls!\n");
}

}  // namespace
}  // namespace edgecache
