// Operating a node: reload (SIGHUP and `edgecachectl reload`) under load, a refused reload,
// the access log's fields in both formats, and log files reopened on SIGUSR1 — through the
// real edgecache and edgecachectl binaries, in front of origin-sims on loopback.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/ctl_runner.h"
#include "support/http_client.h"
#include "support/node_fixture.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::CtlRun;
using testing::HttpConnection;
using testing::HttpResponse;
namespace json = boost::json;

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The lines of `path` once it has `n`: a request's line is written just after its response
// is sent, so a client may read the response first.
std::vector<std::string> WaitForLines(const std::string& path, size_t n) {
  std::vector<std::string> lines = Lines(path);
  for (int i = 0; i < 250 && lines.size() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lines = Lines(path);
  }
  return lines;
}

class OperationsTest : public testing::NodeFixture {
 protected:
  void SetUp() override {
    NodeFixture::SetUp();
    node_.reset();
    second_ = std::make_unique<ChildProcess>(ORIGIN_SIM_BIN,
                                             std::vector<std::string>{"--listen", "127.0.0.1:0"});
    second_port_ = second_->WaitForPort("origin-sim: listening on");
    ASSERT_NE(second_port_, 0);
    WriteConfig(OriginUrl());
    StartNode({"--config", conf_}, /*default_origin=*/false);
  }

  std::string SecondUrl() const { return "http://127.0.0.1:" + std::to_string(second_port_); }
  int64_t SecondCount(const std::string& path) {
    HttpResponse r = testing::Fetch(second_port_, "GET", "/__stats?path=" + path);
    return json::parse(r.body).as_object().at("requests").as_int64();
  }

  // The node's file: `top` holds top-level keys, `tables` whole tables after [origins].
  void WriteConfig(const std::string& origin, const std::string& top = "",
                   const std::string& tables = "") {
    std::ofstream(conf_) << "access_log = \"" << access_log_ << "\"\n"
                         << "error_log = \"" << error_log_ << "\"\n"
                         << top << "[origins]\ndefault = \"" << origin << "\"\n"
                         << tables;
  }

  CtlRun Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", "http://127.0.0.1:" + std::to_string(admin_port_)});
    return testing::RunCtl(args);
  }

  const std::string conf_ = dir_.Sub("node.toml");
  const std::string access_log_ = dir_.Sub("access.log");
  const std::string error_log_ = dir_.Sub("error.log");
  std::unique_ptr<ChildProcess> second_;
  uint16_t second_port_ = 0;
};

TEST_F(OperationsTest, AReloadUnderLoadFailsNoRequestAndTheNextRequestUsesTheNewOrigin) {
  ASSERT_EQ(Get("/hot?cc=max-age=600").status, 200);
  // Keep-alive clients ask for a hit and a miss, in turn, all through the reloads.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      HttpConnection conn(port_);
      for (int i = 0; !stop; ++i) {
        const std::string url =
            i % 2 ? "/hot?cc=max-age=600" : "/load-" + std::to_string(c) + "-" + std::to_string(i);
        HttpResponse r = conn.Send("GET", url);
        if (r.status == 200 && r.complete && r.Header("connection") != "close") {
          ++ok;
        } else {
          ++failed;
          ADD_FAILURE() << url << ": " << r.status << " " << r.error;
          return;
        }
      }
    });
  }
  // A slow request sent to the first origin before the last reload finishes there.
  HttpResponse slow;
  std::thread in_flight([&] { slow = Get("/slow?delay_ms=1500"); });
  for (int i = 0; i < 6; ++i) {
    WriteConfig(i % 2 ? OriginUrl() : SecondUrl(), "name = \"reload-" + std::to_string(i) + "\"\n");
    ASSERT_EQ(::kill(node_->pid(), SIGHUP), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  WriteConfig(OriginUrl());
  ASSERT_EQ(Ctl({"reload"}).exit, 0);  // back to the first origin and the default name
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  WriteConfig(SecondUrl(), "name = \"after\"\n");
  CtlRun reload = Ctl({"reload"});
  EXPECT_EQ(reload.exit, 0) << reload.out;
  EXPECT_NE(reload.out.find("applied: name, origins.default"), std::string::npos) << reload.out;
  stop = true;
  for (auto& t : clients) t.join();
  in_flight.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 20);
  EXPECT_EQ(slow.status, 200) << slow.error;

  // The next request goes to the new origin, under the new name.
  HttpResponse next = Get("/after-reload?cc=max-age=600");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.Header("cache-status").rfind("after;", 0), 0u) << next.Header("cache-status");
  EXPECT_EQ(SecondCount("/after-reload"), 1);
  EXPECT_EQ(OriginCount("/after-reload"), 0);
  // What was stored before stays a hit: a reload is not a purge.
  EXPECT_NE(Get("/hot?cc=max-age=600").Header("cache-status").find("hit"), std::string::npos);
}

TEST_F(OperationsTest, AConfigurationThatDoesNotLoadChangesNothing) {
  WriteConfig(SecondUrl(), "", "[timeouts]\nclient_ms = \"soon\"\n");
  CtlRun refused = Ctl({"reload"});
  EXPECT_EQ(refused.exit, 2) << refused.out;
  EXPECT_NE(refused.out.find("timeouts.client_ms"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("keeps its configuration"), std::string::npos) << refused.out;
  // The same by signal: the node logs why and lives on, on its old origin.
  ASSERT_EQ(::kill(node_->pid(), SIGHUP), 0);
  auto refusals = [&] {
    int n = 0;
    for (const auto& line : Lines(error_log_)) {
      if (line.find("reload refused") != std::string::npos &&
          line.find("timeouts.client_ms") != std::string::npos)
        ++n;
    }
    return n;
  };
  for (int i = 0; i < 250 && refusals() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Get("/still-first?cc=max-age=60").status, 200);
  EXPECT_EQ(OriginCount("/still-first"), 1);
  EXPECT_EQ(SecondCount("/still-first"), 0);
  EXPECT_EQ(refusals(), 2);

  // A key a running node cannot change keeps its value, and the reload says so; the rest
  // of the file applies.
  WriteConfig(OriginUrl(), "admin_token = \"s3cret-token\"\n",
              "[store]\ncapacity = \"3GiB\"\n[cache]\nsort_query = true\n");
  CtlRun partial = Ctl({"reload"});
  EXPECT_EQ(partial.exit, 0) << partial.out;
  EXPECT_NE(partial.out.find("applied: admin_token, cache.sort_query"), std::string::npos)
      << partial.out;
  EXPECT_NE(partial.out.find("kept until a restart (they cannot change live): store.capacity"),
            std::string::npos)
      << partial.out;
  // The new token guards the admin API from the next call on.
  EXPECT_EQ(Ctl({"stats"}).exit, 4);
  EXPECT_EQ(Ctl({"--token", "s3cret-token", "stats"}).exit, 0);
  // And the new key rules apply: sorted query parameters are one object.
  EXPECT_EQ(Get("/sorted?a=1&b=2&cc=max-age=60").status, 200);
  EXPECT_NE(Get("/sorted?cc=max-age=60&b=2&a=1").Header("cache-status").find("hit"),
            std::string::npos);
}

TEST_F(OperationsTest, TheAccessLogHasItsFieldsInTextAndJsonAndReopensOnSigusr1) {
  ASSERT_EQ(Get("/logged?cc=max-age=600&size=1234").status, 200);
  ASSERT_EQ(Get("/logged?cc=max-age=600&size=1234").status, 200);
  std::vector<std::string> lines = WaitForLines(access_log_, 2);
  ASSERT_EQ(lines.size(), 2u);
  // TIME CLIENT "METHOD TARGET" STATUS BYTES host="H" result=R cache="CS" origin_ms=X
  // total_ms=Y id=ID
  const std::regex text(
      R"re(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) 127\.0\.0\.1 "GET /logged\?cc=max-age=600&size=1234" 200 1234 host="test\.local" result=(\w+) cache="([^"]*)" origin_ms=([0-9.]+|-) total_ms=([0-9.]+) id=([0-9a-f]{16})$)re");
  std::smatch miss, hit;
  ASSERT_TRUE(std::regex_match(lines[0], miss, text)) << lines[0];
  ASSERT_TRUE(std::regex_match(lines[1], hit, text)) << lines[1];
  EXPECT_EQ(miss[2], "miss");
  EXPECT_NE(miss[3].str().find("fwd=miss"), std::string::npos);
  EXPECT_NE(miss[4], "-");  // the origin was asked
  EXPECT_EQ(hit[2], "hit");
  EXPECT_EQ(hit[4], "-");
  EXPECT_NE(miss[6], hit[6]);  // request ids differ

  // logrotate moves the file away, then signals: the next lines go to a new file.
  const std::string rotated = access_log_ + ".1";
  std::filesystem::rename(access_log_, rotated);
  ASSERT_EQ(::kill(node_->pid(), SIGUSR1), 0);
  for (int i = 0; i < 100 && !std::filesystem::exists(access_log_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(std::filesystem::exists(access_log_));
  ASSERT_EQ(Get("/after-rotate").status, 200);
  lines = WaitForLines(access_log_, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("/after-rotate"), std::string::npos);
  EXPECT_EQ(Lines(rotated).size(), 2u);

  // JSON lines, switched on by a reload.
  WriteConfig(OriginUrl(), "access_log_format = \"json\"\n");
  ASSERT_EQ(Ctl({"reload"}).exit, 0);
  ASSERT_EQ(Get("/json?cc=max-age=600").status, 200);
  // A quote in a target (which origins refuse: 502 here) cannot break the line.
  const int quoted = Get("/json\"quoted").status;
  lines = WaitForLines(access_log_, 3);
  ASSERT_EQ(lines.size(), 3u);
  boost::system::error_code ec;
  json::value v = json::parse(lines[1], ec);
  ASSERT_FALSE(ec) << lines[1];
  const json::object& o = v.as_object();
  for (const char* key : {"time", "client", "method", "target", "host", "status", "bytes", "result",
                          "cache_status", "origin_ms", "total_ms", "request_id"}) {
    EXPECT_TRUE(o.contains(key)) << key << " in " << lines[1];
  }
  EXPECT_EQ(o.at("target").as_string(), "/json?cc=max-age=600");
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_EQ(o.at("result").as_string(), "miss");
  EXPECT_TRUE(o.at("origin_ms").is_double());
  EXPECT_EQ(o.at("request_id").as_string().size(), 16u);
  json::value odd = json::parse(lines[2], ec);
  ASSERT_FALSE(ec) << lines[2];
  EXPECT_EQ(odd.as_object().at("target").as_string(), "/json\"quoted");
  EXPECT_EQ(odd.as_object().at("status").as_int64(), quoted);
}

TEST_F(OperationsTest, SystemdHearsReadyReloadingAndStopping) {
  // What systemd's Type=notify reads: datagrams on $NOTIFY_SOCKET.
  const std::string path = dir_.Sub("notify.sock");
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  auto next = [fd]() -> std::string {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return "(nothing)";
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "(error)";
  };
  node_.reset();
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  StartNode({"--config", conf_}, /*default_origin=*/false);
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(next(), "READY=1\nSTATUS=serving");
  ASSERT_EQ(::kill(node_->pid(), SIGHUP), 0);
  EXPECT_EQ(next(), "RELOADING=1");
  EXPECT_EQ(next(), "READY=1\nSTATUS=serving");
  EXPECT_EQ(Get("/after-notify").status, 200);
  node_->Stop();
  EXPECT_EQ(next(), "STOPPING=1");
  ::close(fd);
}

TEST_F(OperationsTest, TopShowsRatesAndTheTopUrlsLiveAndQuitsOnQ) {
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::thread load([&] {
    HttpConnection conn(port_);
    while (!stop) {
      if (conn.Send("GET", "/popular?cc=max-age=600").status == 200) ++served;
      conn.Send("GET", "/rare-" + std::to_string(served.load()));
    }
  });
  // One frame, for scripts: rates over one second.
  CtlRun once = Ctl({"top", "--once"});
  EXPECT_EQ(once.exit, 0) << once.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(once.out, m, std::regex(R"(requests\s+([0-9.]+)/s)"))) << once.out;
  EXPECT_GT(std::stod(m[1]), 0) << once.out;
  ASSERT_TRUE(std::regex_search(once.out, m, std::regex(R"(hit ratio\s+([0-9.]+)%)"))) << once.out;
  EXPECT_GT(std::stod(m[1]), 20) << once.out;  // half the requests are hits
  EXPECT_NE(once.out.find("p99 "), std::string::npos) << once.out;
  // The most requested URL heads the list.
  const size_t list = once.out.find("TOP URLS");
  ASSERT_NE(list, std::string::npos) << once.out;
  const size_t first = once.out.find('\n', list) + 1;
  EXPECT_EQ(once.out.compare(first, 33, "test.local/popular?cc=max-age=600"), 0) << once.out;

  // The admin route behind it refuses a count that is not one.
  for (const char* bad : {"0", "abc", "1001", "-1"}) {
    EXPECT_EQ(testing::Fetch(admin_port_, "GET", std::string("/api/v1/top?n=") + bad).status, 400)
        << bad;
  }
  HttpResponse two = testing::Fetch(admin_port_, "GET", "/api/v1/top?n=2");
  EXPECT_EQ(two.status, 200);
  EXPECT_LE(json::parse(two.body).at("urls").as_array().size(), 2u) << two.body;

  // Live, in a terminal (tmux), until q.
  const std::string socket = dir_.Sub("tmux.sock");
  auto tmux = [&](std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), {"-S", socket});
    ChildProcess p("/usr/bin/tmux", args, /*merge_stderr=*/true);
    const std::string text = p.ReadAll(std::chrono::seconds(10));
    if (out != nullptr) *out = text;
    const int status = p.Wait(std::chrono::seconds(10));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string command = std::string(EDGECACHECTL_BIN) +
                              " --node http://127.0.0.1:" + std::to_string(admin_port_) + " top";
  {
    // The tmux server it starts must not hold our pipe open: its output goes nowhere.
    ChildProcess start("/bin/sh", {"-c", "exec /usr/bin/tmux -S '" + socket +
                                             "' new-session -d -s top -x 120 -y 40 '" + command +
                                             "' >/dev/null 2>&1"});
    const int status = start.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string screen;
  for (int i = 0; i < 100; ++i) {
    tmux({"capture-pane", "-p", "-t", "top"}, &screen);
    if (screen.find("test.local/popular") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(screen.find("q quits"), std::string::npos) << screen;
  EXPECT_NE(screen.find("test.local/popular?cc=max-age=600"), std::string::npos) << screen;
  EXPECT_NE(screen.find("hit ratio"), std::string::npos) << screen;
  ASSERT_EQ(tmux({"send-keys", "-t", "top", "q"}), 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = tmux({"has-session", "-t", "top"}) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "top did not quit on q";
  tmux({"kill-server"});
  stop = true;
  load.join();
}

}  // namespace
}  // namespace edgecache
