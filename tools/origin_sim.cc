// origin-sim: a scriptable origin server for edgecache's tests and demo.
//
// Every response is shaped by the request's query parameters (so each shape is its own
// cache key):
//   status=N        response status (default 200)
//   cc=V            Cache-Control value          cdncc=V   CDN-Cache-Control value
//   sc=V            Surrogate-Control value      expires=N Expires: now + N seconds
//   etag=content|none|V   ETag: derived from the body (default), absent, or "V" fixed
//   lm=EPOCH|none   Last-Modified (default 1700000000)
//   vary=H          Vary: H                      skey=K    Surrogate-Key: K
//   ctag=T          Cache-Tag: T                 setcookie=1 adds a Set-Cookie
//   setcookie=user  Set-Cookie: session=<the request's X-User value> (one per user)
//   echo=1          the body is the request as this origin received it: method, target
//                   and every header line (Host, Vary-selected values ...), cacheable
//   interim=N[,N]   send these 1xx interim responses (e.g. 103, 100, 101) before the
//                   final one, each with a Link and an X-Interim field
//   age=N           Age: N                       size=N    body bytes (default 100)
//   hdr=Name:Value  any extra response header (repeatable)
//   chunked=1       no Content-Length: chunked transfer coding
//   delay_ms=N      wait before answering
//   fail=reset|hang|cut   close without answering, never answer, or cut the body halfway
//   trickle_ms=N    send the body in 8 parts, N ms apart (a slow origin mid-body)
// The body is derived from the path and its version, so a changed body is visible.
// With --replica-id N the process plays replica N of a pool serving the same content: the
// default ETag mixes N in ("rN-<content hash>", as servers that put an inode or a mtime in
// it do), so replicas give the same bytes different ETags, and every response carries
// X-Replica: N.
// Conditional GETs (If-None-Match, If-Modified-Since) are answered 304 when they match.
//
// Control endpoints:
//   /__stats?path=P  {"requests":N,"conditional":N,"not_modified":N} for path P (all when
//                    no path), as JSON
//   /__bump?path=P   next version of P: new body, new content ETag, Last-Modified now
//   /__reset         forget every counter and version
//   /__status?path=P&status=N   answer P with status N from now on (0 to undo)
//   /__echo          the request's method, target and headers as the body (no-store)
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kToken = asio::as_tuple(asio::use_awaitable);

struct PathState {
  int version = 1;
  int status_override = 0;
  int64_t last_modified = 1700000000;
  uint64_t requests = 0;
  uint64_t conditional = 0;
  uint64_t not_modified = 0;
};

std::mutex g_mu;
std::map<std::string, PathState> g_paths;  // GUARDED_BY(g_mu)
int g_replica_id = 0;                      // --replica-id; 0: not a replica (set before serving)

std::string HttpDate(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

int64_t ParseHttpDate(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  if (strptime(str.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return -1;
  return static_cast<int64_t>(timegm(&tm));
}

std::string Body(const std::string& path, int version, size_t size) {
  std::string unit = path + "#v" + std::to_string(version) + "|";
  std::string body;
  body.reserve(size);
  while (body.size() < size) body += unit;
  body.resize(size);
  return body;
}

std::string ContentEtag(const std::string& body) {
  const std::string hash = std::to_string(std::hash<std::string>()(body));
  if (g_replica_id == 0) return "\"" + hash + "\"";
  return "\"r" + std::to_string(g_replica_id) + "-" + hash + "\"";
}

bool EtagMatches(std::string_view list, std::string_view etag) {
  auto opaque = [](std::string_view t) {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  if (opaque(list) == "*") return true;
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (opaque(list.substr(0, comma)) == opaque(etag)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string Stats(const std::string& path) {
  std::lock_guard lock(g_mu);
  boost::json::object o;
  uint64_t requests = 0, conditional = 0, not_modified = 0;
  for (const auto& [p, st] : g_paths) {
    if (!path.empty() && p != path) continue;
    requests += st.requests;
    conditional += st.conditional;
    not_modified += st.not_modified;
  }
  o["requests"] = requests;
  o["conditional"] = conditional;
  o["not_modified"] = not_modified;
  return boost::json::serialize(o) + "\n";
}

asio::awaitable<void> Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(60));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kToken);
    if (ec) break;
    stream.expires_never();
    auto url =
        boost::urls::parse_origin_form(std::string_view(req.target().data(), req.target().size()));
    if (!url) break;
    std::map<std::string, std::string> q;
    std::vector<std::string> extra_headers;
    for (auto param : url->params()) {
      if (param.key == "hdr") extra_headers.emplace_back(param.value);
      q[std::string(param.key)] = std::string(param.value);
    }
    const std::string path(url->path());
    auto param = [&](const char* k, std::string def = "") { return q.count(k) ? q[k] : def; };

    http::response<http::string_body> res{http::status::ok, 11};
    res.keep_alive(req.keep_alive());
    res.set(http::field::date, HttpDate(std::time(nullptr)));
    res.set(http::field::server, "origin-sim");

    if (path == "/__echo") {
      std::string echo = std::string(req.method_string()) + " " + std::string(req.target()) + "\n";
      for (const auto& f : req)
        echo += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
      res.set(http::field::cache_control, "no-store");
      res.body() = echo;
      res.prepare_payload();
      auto [write_error, w] = co_await http::async_write(stream, res, kToken);
      if (write_error || !res.keep_alive()) break;
      continue;
    }
    if (path == "/__stats" || path == "/__bump" || path == "/__reset" || path == "/__status") {
      std::string target = param("path");
      if (path == "/__status") {
        std::lock_guard lock(g_mu);
        g_paths[target].status_override = std::atoi(param("status", "0").c_str());
      } else if (path == "/__bump") {
        std::lock_guard lock(g_mu);
        auto& st = g_paths[target];
        ++st.version;
        st.last_modified = std::time(nullptr);
      } else if (path == "/__reset") {
        std::lock_guard lock(g_mu);
        g_paths.clear();
      }
      res.set(http::field::content_type, "application/json");
      res.set(http::field::cache_control, "no-store");
      res.body() = Stats(target);
      res.prepare_payload();
      auto [write_error, w] = co_await http::async_write(stream, res, kToken);
      if (write_error || !res.keep_alive()) break;
      continue;
    }

    PathState st;
    const bool conditional = req.find(http::field::if_none_match) != req.end() ||
                             req.find(http::field::if_modified_since) != req.end();
    {
      std::lock_guard lock(g_mu);
      auto& s = g_paths[path];
      ++s.requests;
      if (conditional) ++s.conditional;
      st = s;
    }
    if (auto delay = std::atoi(param("delay_ms", "0").c_str()); delay > 0) {
      asio::steady_timer timer(stream.get_executor(), std::chrono::milliseconds(delay));
      co_await timer.async_wait(kToken);
    }
    const std::string fail = param("fail");
    if (fail == "reset") break;
    if (fail == "hang") {
      asio::steady_timer timer(stream.get_executor(), std::chrono::hours(1));
      co_await timer.async_wait(kToken);
      break;
    }

    std::string body;
    if (param("echo") == "1") {
      body = std::string(req.method_string()) + " " + std::string(req.target()) + "\n";
      for (const auto& f : req)
        body += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
    } else {
      body = Body(path, st.version, std::strtoull(param("size", "100").c_str(), nullptr, 10));
    }
    std::string etag = param("etag", "content");
    if (etag == "content")
      etag = ContentEtag(body);
    else if (etag != "none")
      etag = "\"" + etag + "\"";
    const std::string lm_param = param("lm");
    int64_t last_modified = lm_param.empty()
                                ? st.last_modified
                                : (lm_param == "none" ? 0 : std::atoll(lm_param.c_str()));

    res.result(st.status_override != 0 ? st.status_override
                                       : std::atoi(param("status", "200").c_str()));
    for (const auto& h : extra_headers) {
      size_t colon = h.find(':');
      if (colon != std::string::npos) res.insert(h.substr(0, colon), h.substr(colon + 1));
    }
    if (etag != "none") res.set(http::field::etag, etag);
    if (g_replica_id != 0) res.set("X-Replica", std::to_string(g_replica_id));
    if (last_modified > 0) res.set(http::field::last_modified, HttpDate(last_modified));
    for (auto [key, header] : {std::pair<const char*, const char*>{"cc", "Cache-Control"},
                               {"cdncc", "CDN-Cache-Control"},
                               {"sc", "Surrogate-Control"},
                               {"vary", "Vary"},
                               {"skey", "Surrogate-Key"},
                               {"ctag", "Cache-Tag"},
                               {"age", "Age"}}) {
      if (q.count(key)) res.set(header, q[key]);
    }
    if (q.count("expires"))
      res.set(http::field::expires,
              HttpDate(std::time(nullptr) + std::atoll(q["expires"].c_str())));
    if (q.count("setcookie")) {
      res.set(http::field::set_cookie,
              q["setcookie"] == "user" ? "session=" + std::string(req[beast::string_view("x-user")])
                                       : std::string("session=abc"));
    }
    res.set(http::field::content_type, "text/plain");

    // Interim responses first, raw, as an origin with Early Hints sends them.
    std::string interim = param("interim");
    bool interim_failed = false;
    while (!interim.empty() && !interim_failed) {
      const size_t comma = interim.find(',');
      const std::string code = interim.substr(0, comma);
      interim = comma == std::string::npos ? "" : interim.substr(comma + 1);
      const std::string raw = "HTTP/1.1 " + code +
                              " Interim\r\nLink: </interim.css>; rel=preload\r\n"
                              "X-Interim: leaked\r\n\r\n";
      auto [e, w] = co_await asio::async_write(stream, asio::buffer(raw), kToken);
      interim_failed = static_cast<bool>(e);
    }
    if (interim_failed) break;

    bool not_modified = false;
    if (auto inm = req.find(http::field::if_none_match); inm != req.end()) {
      not_modified = etag != "none" &&
                     EtagMatches(std::string_view(inm->value().data(), inm->value().size()), etag);
    } else if (auto ims = req.find(http::field::if_modified_since);
               ims != req.end() && last_modified > 0) {
      int64_t since = ParseHttpDate(std::string_view(ims->value().data(), ims->value().size()));
      not_modified = since >= last_modified;
    }
    if (not_modified && res.result() == http::status::ok) {
      {
        std::lock_guard lock(g_mu);
        ++g_paths[path].not_modified;
      }
      res.result(http::status::not_modified);
      res.erase(http::field::content_type);
      auto [write_error, w] = co_await http::async_write(stream, res, kToken);
      if (write_error || !res.keep_alive()) break;
      continue;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.body() = std::string(req.method_string()) + " " + path + " got " +
                   std::to_string(req.body().size()) + " bytes\n";
    } else {
      res.body() = body;
    }
    if (fail == "cut") {
      // Promise the whole body, send half, close: an origin dying mid-response.
      res.content_length(res.body().size());
      http::response_serializer<http::string_body> sr{res};
      co_await http::async_write_header(stream, sr, kToken);
      co_await asio::async_write(stream, asio::buffer(res.body().data(), res.body().size() / 2),
                                 kToken);
      break;
    }
    if (int trickle = std::atoi(param("trickle_ms", "0").c_str()); trickle > 0) {
      res.content_length(res.body().size());
      http::response_serializer<http::string_body> sr{res};
      auto [header_error, h] = co_await http::async_write_header(stream, sr, kToken);
      if (header_error) break;
      const std::string& all = res.body();
      bool failed = false;
      for (size_t part = 0, step = (all.size() + 7) / 8; part * step < all.size() && !failed;
           ++part) {
        asio::steady_timer timer(stream.get_executor(), std::chrono::milliseconds(trickle));
        co_await timer.async_wait(kToken);
        auto [e, w] = co_await asio::async_write(
            stream,
            asio::buffer(all.data() + part * step, std::min(step, all.size() - part * step)),
            kToken);
        failed = static_cast<bool>(e);
      }
      if (failed || !res.keep_alive()) break;
      continue;
    }
    if (param("chunked") == "1") {
      res.chunked(true);
    } else {
      res.prepare_payload();
    }
    if (req.method() == http::verb::head) {
      http::response_serializer<http::string_body> sr{res};
      auto [write_error, w] = co_await http::async_write_header(stream, sr, kToken);
      if (write_error || !res.keep_alive()) break;
      continue;
    }
    auto [write_error, w] = co_await http::async_write(stream, res, kToken);
    if (write_error || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> Listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kToken);
    if (ec) break;
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"origin-sim: a scriptable origin server for edgecache tests and demos"};
  std::string listen = "127.0.0.1:9000";
  app.add_option("--listen", listen, "ADDRESS:PORT to listen on (port 0 picks a free one)");
  app.add_option("--replica-id", g_replica_id,
                 "play replica N of a pool: content ETags mix N in, X-Replica: N on responses")
      ->check(CLI::Range(1, 1000000));
  CLI11_PARSE(app, argc, argv);
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "origin-sim: --listen must be ADDRESS:PORT\n");
    return 2;
  }
  asio::io_context io;
  boost::system::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(listen.substr(0, colon), ec),
                         static_cast<unsigned short>(std::atoi(listen.c_str() + colon + 1)));
  if (ec) {
    std::fprintf(stderr, "origin-sim: bad address %s\n", listen.c_str());
    return 2;
  }
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "origin-sim: cannot listen on %s: %s\n", listen.c_str(),
                 ec.message().c_str());
    return 1;
  }
  auto bound = acceptor.local_endpoint();
  std::printf("origin-sim: listening on %s:%u\n", bound.address().to_string().c_str(),
              bound.port());
  std::fflush(stdout);
  // A signal closes the listener; its accept loop, once its cancelled accept is reaped,
  // stops the loop (on io_uring an accept still in the ring when the context is destroyed
  // is freed after the socket service it uses: a use after free in Boost 1.81's asio).
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { acceptor.close(ec); });
  asio::co_spawn(io, Listen(acceptor), [&](std::exception_ptr) { io.stop(); });
  io.run();
  return 0;
}
