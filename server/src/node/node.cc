#include "node/node.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "edgecache/thread_name.h"
#include "http/headers.h"
#include "http/request_body.h"
#include "net/tls.h"
#include "util/ascii.h"
#include "util/event_loop.h"

namespace edgecache::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kToken = asio::as_tuple(asio::use_awaitable);

// The client went away, was idle too long, or we are stopping: nothing to answer.
bool ClientGone(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::eof;
}

// Status for a request the parser refused.
unsigned StatusFor(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  return 400;
}

// Tells systemd (Type=notify) about the node's state, when it started the node: a datagram
// to $NOTIFY_SOCKET (sd_notify(3)'s protocol, without linking libsystemd).
void NotifySystemd(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t length = std::strlen(path);
  if (length >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, length);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  ::close(fd);
}

}  // namespace

Node::Node(config::NodeConfig config, Loader load)
    : live_(std::move(config)), load_(std::move(load)) {
  const int configured = live_.Get()->threads;
  const int threads =
      configured > 0 ? configured : std::max(1u, std::thread::hardware_concurrency());
  // One context per thread, each run by that thread alone (hint 1: no locking for one
  // runner): a connection stays on the thread that accepted it, with no strand around it.
  for (int i = 0; i < threads; ++i) {
    ios_.push_back(std::make_unique<asio::io_context>(1));
    work_.emplace_back(ios_.back()->get_executor());
  }
}

Node::~Node() = default;

Status Node::Bind(const config::Endpoint& where, Acceptor* acceptor, bool listen) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(where.host == "localhost" ? "127.0.0.1" : where.host, ec);
  if (ec)
    return Status::InvalidArgument("listen address " + where.ToString() + ": " + ec.message());
  tcp::endpoint endpoint(address, where.port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec && listen) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + where.ToString() + ": " + ec.message());
  return Status::OK();
}

void Node::OpenClientListeners(bool listen) {
  for (auto* group : {&listeners_, &tls_listeners_}) {
    for (auto& acceptor : *group) {
      boost::system::error_code ec;
      if (listen) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      const auto bound = acceptor->local_endpoint(ec);
      const std::string where =
          config::Endpoint{bound.address().to_string(), bound.port()}.ToString();
      if (ec) {
        spdlog::error("cannot listen on {}: {}", where, ec.message());
        continue;
      }
      std::printf("edgecache: %s on %s\n", group == &listeners_ ? "listening" : "TLS listening",
                  where.c_str());
    }
  }
  // From Start the lines go out with the admin line, once everything is bound (tests and
  // scripts take "listening on" as "ready").
  if (listen) std::fflush(stdout);
}

Status Node::Start() {
  const std::shared_ptr<const config::NodeConfig> config = live_.Get();
  Status s = logs::SetErrorLog(config->error_log, config->log_level);
  if (!s.ok()) return s;
  // Caught from now on: a signal that comes before Run is handled once Run starts.
  signals_ = std::make_unique<asio::signal_set>(*ios_[0], SIGINT, SIGTERM, SIGHUP);
  signals_->add(SIGUSR1);
  s = Store::Open(config->store, config->store_dir, &store_);
  if (!s.ok()) return s;
  if (!config->access_log.empty()) {
    std::unique_ptr<logs::AccessLog> log;
    s = logs::AccessLog::Open(config->access_log, config->access_log_format, &log);
    if (!s.ok()) return s;
    access_log_ = std::move(log);
  }
  std::shared_ptr<asio::ssl::context> tls;
  s = net::MakeClientContext(config->origin_ca_file, &tls);
  if (!s.ok()) return s;
  pool_ = std::make_unique<origin::OriginPool>(std::move(tls));
  proxy_ = std::make_unique<proxy::Proxy>(std::make_shared<proxy::Settings>(config, access_log_),
                                          *store_, *pool_, metrics_);

  // A node of a point of presence serves once it has applied the purges it missed: its
  // client listeners are bound now (a port in use fails the start) and listen then.
  const bool catch_up_first = !config->purge_log.empty();
  auto bind_all = [&](const std::vector<config::Endpoint>& endpoints,
                      std::vector<std::unique_ptr<Acceptor>>* out) {
    for (const auto& where : endpoints) {
      auto acceptor = std::make_unique<Acceptor>(*ios_[0]);
      if (Status s = Bind(where, acceptor.get(), !catch_up_first); !s.ok()) return s;
      out->push_back(std::move(acceptor));
    }
    return Status::OK();
  };
  std::vector<config::Endpoint> listen = config->listen;
  if (listen.empty() && config->tls_listen.empty()) listen.push_back({"127.0.0.1", 8080});
  s = bind_all(listen, &listeners_);
  if (!s.ok()) return s;
  if (!config->tls_listen.empty()) {
    std::shared_ptr<asio::ssl::context> context;
    s = net::MakeServerContext(config->tls_certs, config->tls_keys, &context);
    if (!s.ok()) return s;
    server_tls_.store(std::move(context));
  }
  s = bind_all(config->tls_listen, &tls_listeners_);
  if (!s.ok()) return s;
  if (!catch_up_first) OpenClientListeners(/*listen=*/false);
  std::string advertised = config->advertise_admin;  // where other tools reach the admin API
  if (config->admin) {
    std::vector<config::Endpoint> bound_listeners;
    for (const auto& l : listeners_) {
      bound_listeners.push_back(
          {l->local_endpoint().address().to_string(), l->local_endpoint().port()});
    }
    admin_api_ = std::make_unique<admin::AdminApi>(
        live_, *store_, metrics_, std::move(bound_listeners), [this] { return Reload(); },
        [this] { proxy_->SettleBackgroundCommits(); });
    admin_pool_ = std::make_unique<asio::thread_pool>(2);
    NamePoolThreads(*admin_pool_, 2, "ec-admin-");
    config::Endpoint shown = *config->admin;
    if (!config->admin->unix_path.empty()) {
      admin_unix_ = std::make_unique<UnixAcceptor>(*ios_[0]);
      s = BindUnix(config->admin->unix_path, admin_unix_.get());
      if (!s.ok()) return s;
    } else {
      admin_ = std::make_unique<Acceptor>(*ios_[0]);
      s = Bind(*config->admin, admin_.get());
      if (!s.ok()) return s;
      shown = {admin_->local_endpoint().address().to_string(), admin_->local_endpoint().port()};
    }
    std::printf("edgecache: admin on %s\n", shown.ToString().c_str());
    if (advertised.empty() && config->admin->unix_path.empty())
      advertised = "http://" + shown.ToString();
  }
  if (catch_up_first) {
    follower_ = std::make_unique<cluster::Follower>(
        cluster::Follower::Options{*cluster::ParseRedisUrl(config->purge_log), config->node_id,
                                   advertised},
        *store_, [this] {
          const std::shared_ptr<const config::NodeConfig> c = live_.Get();
          return proxy::KeyOptions{c->sort_query, c->strip_query_params, c->key_scheme};
        });
  }
  if (follower_) {
    proxy_->FenceStoreWith(&follower_->fence());
    if (admin_api_) admin_api_->AttachFollower(follower_.get());
  }
  std::fflush(stdout);
  spdlog::info("edgecache node: store {} ({} objects, I/O backend {}, event loop {})",
               config->store_dir, store_->Counters().objects, store_->IoBackendName(),
               util::BuiltEventLoop());
  return Status::OK();
}

void Node::Run() {
  asio::io_context& first = *ios_[0];
  auto serve_clients = [this, &first] {
    for (auto& l : listeners_) asio::co_spawn(first, Accept(*l, false, false), asio::detached);
    for (auto& l : tls_listeners_) asio::co_spawn(first, Accept(*l, false, true), asio::detached);
    NotifySystemd("READY=1\nSTATUS=serving");
  };
  if (admin_) asio::co_spawn(first, Accept(*admin_, true, false), asio::detached);
  if (admin_unix_) asio::co_spawn(first, Accept(*admin_unix_, true, false), asio::detached);
  asio::co_spawn(first, HandleSignals(), asio::detached);
  if (!follower_) {
    serve_clients();
  } else {
    // The admin API answers meanwhile (/healthz: 503 "catching up").
    NotifySystemd("STATUS=applying the purges missed while down");
    const auto wait = std::chrono::milliseconds(live_.Get()->catch_up_ms);
    catch_up_ = std::thread([this, wait, serve_clients, &first] {
      NameThisThread("ec-catch-up");
      Status s = follower_->CatchUp(wait);
      if (s.IsAborted()) return;  // stopping
      if (!s.ok())
        spdlog::warn("purge log: {}; serving anyway and retrying in the background", s.message());
      follower_->Start();
      asio::post(first, [this, serve_clients] {
        if (stopping_) return;
        OpenClientListeners(/*listen=*/true);
        serve_clients();
      });
    });
  }
  std::vector<std::thread> pool;
  // The first network thread is the main one, and keeps the binary's name
  // (edgecache/thread_name.h).
  for (size_t i = 1; i < ios_.size(); ++i) {
    pool.emplace_back([this, i] {
      NameThisThread("ec-net-" + std::to_string(i));
      ios_[i]->run();
    });
  }
  first.run();
  for (auto& t : pool) t.join();
  // Commits of responses already sent finish while the io_contexts they wake requests on
  // are still there.
  proxy_->WaitForBackgroundCommits();
  if (follower_) follower_->Stop();  // a catch-up in progress returns
  if (catch_up_.joinable()) catch_up_.join();
  // An admin call in progress finishes (a verify was cancelled by Stop); queued ones are
  // dropped.
  if (admin_pool_) {
    admin_pool_->stop();
    admin_pool_->join();
    admin_pool_.reset();
  }
  // Sockets first, then the context with whatever is still suspended on it (its inserts
  // abort, its connections close), then what those coroutines used.
  pool_->Clear();
  listeners_.clear();
  tls_listeners_.clear();
  admin_.reset();
  if (admin_unix_) {
    admin_unix_.reset();
    ::unlink(live_.Get()->admin->unix_path.c_str());
  }
  signals_.reset();
  work_.clear();
  ios_.clear();
  admin_api_.reset();
  proxy_.reset();
  follower_.reset();
  pool_.reset();
  store_.reset();  // clean close: counters recorded, background work finished
  spdlog::info("stopped");
}

asio::awaitable<void> Node::HandleSignals() {
  for (;;) {
    auto [ec, signal] = co_await signals_->async_wait(kToken);
    if (ec) co_return;
    if (signal == SIGHUP) {
      spdlog::info("signal {}: reloading the configuration", signal);
      // Reading a small file: short enough to do on this thread. The outcome is logged.
      Reload().status.IgnoreError();
    } else if (signal == SIGUSR1) {
      logs::ReopenLogFiles();
      spdlog::info("signal {}: log files reopened", signal);
    } else {
      spdlog::info("signal {}: stopping", signal);
      Stop();
      co_return;
    }
  }
}

config::ReloadResult Node::Reload() {
  std::lock_guard lock(reload_mu_);
  NotifySystemd("RELOADING=1");
  // Whatever the outcome, the node serves on.
  struct Ready {
    ~Ready() { NotifySystemd("READY=1\nSTATUS=serving"); }
  } ready;
  config::ReloadResult result;
  auto fail = [&](Status s) {
    spdlog::error("reload refused, the node keeps its configuration: {}", s.message());
    result.status = std::move(s);
    return result;
  };
  if (!load_) return fail(Status::InvalidArgument("this node has no configuration to re-read"));
  const std::shared_ptr<const config::NodeConfig> running = live_.Get();
  auto next = std::make_shared<config::NodeConfig>();
  if (Status s = load_(next.get()); !s.ok()) return fail(std::move(s));
  result.plan = config::PlanReload(*running, next.get());
  // The logs first: opening a file is what can still fail, and then nothing has changed.
  std::shared_ptr<logs::AccessLog> access_log = access_log_;
  if (next->access_log != running->access_log ||
      next->access_log_format != running->access_log_format) {
    access_log.reset();
    if (!next->access_log.empty()) {
      std::unique_ptr<logs::AccessLog> log;
      if (Status s = logs::AccessLog::Open(next->access_log, next->access_log_format, &log);
          !s.ok())
        return fail(std::move(s));
      access_log = std::move(log);
    }
  }
  // TLS listeners' certificate and key, read again: renewed files keep their paths.
  std::shared_ptr<asio::ssl::context> server_tls;
  if (!running->tls_listen.empty()) {
    if (Status s = net::MakeServerContext(next->tls_certs, next->tls_keys, &server_tls); !s.ok())
      return fail(std::move(s));
  }
  if (next->error_log != running->error_log || next->log_level != running->log_level) {
    if (Status s = logs::SetErrorLog(next->error_log, next->log_level); !s.ok())
      return fail(std::move(s));
  }
  access_log_ = access_log;
  if (server_tls) server_tls_.store(std::move(server_tls));
  proxy_->Reconfigure(std::make_shared<proxy::Settings>(next, std::move(access_log)));
  live_.Set(std::move(next));
  auto join = [](const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
    return out.empty() ? std::string("none") : out;
  };
  spdlog::info("reload: applied: {}", join(result.plan.applied));
  if (!result.plan.need_restart.empty()) {
    spdlog::warn("reload: these keep their running values until a restart: {}",
                 join(result.plan.need_restart));
  }
  return result;
}

void Node::Stop() {
  if (stopping_.exchange(true)) return;
  NotifySystemd("STOPPING=1");
  if (admin_api_) admin_api_->Cancel();  // a verify in progress ends now
  asio::co_spawn(*ios_[0], Shutdown(), asio::detached);
}

asio::awaitable<void> Node::Shutdown() {
  boost::system::error_code ignored;
  for (auto& l : listeners_) l->close(ignored);
  for (auto& l : tls_listeners_) l->close(ignored);
  if (admin_) admin_->close(ignored);
  if (admin_unix_) admin_unix_->close(ignored);
  {
    std::lock_guard lock(open_mu_);
    for (ClientConnection* c : open_) {
      // Runs on the session's thread; the session may have ended (and gone) by then,
      // which the check under the lock sees.
      asio::post(c->stream->get_executor(), [this, c] {
        std::lock_guard lock(open_mu_);
        if (open_.count(c) && c->awaiting_request) c->stream->socket().cancel();
      });
    }
  }
  asio::steady_timer timer(*ios_[0]);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(live_.Get()->grace_ms);
  // The accept loops end too, with their cancelled accepts: on io_uring a closed listener's
  // accept is freed only when its completion is reaped, and one still in the ring when the
  // io_contexts stop would be freed by the context's destructor after the socket service
  // it uses (a use after free in Boost 1.81's asio).
  while ((sessions_.load() > 0 || accepting_.load() > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kToken);
  }
  if (sessions_.load() > 0)
    spdlog::warn("{} connections still open after the grace period", sessions_.load());
  pool_->Clear();
  work_.clear();
  for (auto& io : ios_) io->stop();
}

template <typename AnyAcceptor>
asio::awaitable<void> Node::Accept(AnyAcceptor& acceptor, bool admin, bool tls) {
  using Protocol = typename AnyAcceptor::protocol_type;
  accepting_.fetch_add(1);
  struct Ended {
    std::atomic<int>& count;
    ~Ended() { count.fetch_sub(1); }
  } ended{accepting_};
  asio::steady_timer backoff(acceptor.get_executor());
  while (!stopping_) {
    // Client connections are dealt out to the threads in turn; admin ones stay here.
    asio::io_context& io = admin ? *ios_[0] : *ios_[next_thread_++ % ios_.size()];
    auto [ec, socket] = co_await acceptor.async_accept(io, kToken);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // Out of descriptors or memory: the pending connection stays in the backlog and
      // accept would fail again at once. Wait for some to close instead of spinning.
      const bool exhausted = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                             ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
      spdlog::warn("accept: {}{}", ec.message(), exhausted ? " (pausing accepts 100 ms)" : "");
      if (exhausted) {
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(kToken);
      }
      continue;
    }
    if constexpr (std::is_same_v<Protocol, tcp>) {
      if (!admin && metrics_.connections() >= static_cast<int64_t>(live_.Get()->max_connections)) {
        // Refused at once: a canned 503 if the socket takes it without waiting, then
        // close, never reading the request (RFC 9110 §15.6.4).
        static constexpr std::string_view kRefusal =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            "Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            "too many connections\n";
        [[maybe_unused]] ssize_t sent = ::send(socket.native_handle(), kRefusal.data(),
                                               kRefusal.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        metrics_.CountRefusedConnection();
        continue;
      }
      if (!admin) {
        metrics_.ConnectionOpened();  // counted now, so the next accept sees it
        asio::co_spawn(socket.get_executor(), Session(std::move(socket), tls), asio::detached);
        continue;
      }
    }
    asio::co_spawn(socket.get_executor(), AdminSession<Protocol>(std::move(socket)),
                   asio::detached);
  }
}

Status Node::BindUnix(const std::string& path, UnixAcceptor* acceptor) {
  using Local = asio::local::stream_protocol;
  boost::system::error_code ec;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::InvalidArgument("admin socket " + path + " exists and is not a socket");
    Local::socket probe(*ios_[0]);
    probe.connect(Local::endpoint(path), ec);
    if (!ec) return Status::Busy("admin socket " + path + " is in use by a running process");
    if (ec != asio::error::connection_refused)
      return Status::IOError("admin socket " + path +
                             " exists and cannot be probed: " + ec.message());
    ::unlink(path.c_str());  // nobody listens: left by a node that did not stop cleanly
  }
  acceptor->open(Local(), ec);
  if (!ec) {
    // Created 0600 (no access for group and others), so there is no moment it is open.
    // The umask is the process's for this instant: at worst a file created meanwhile by a
    // store thread gets fewer permissions, never more.
    const mode_t old = ::umask(0177);
    acceptor->bind(Local::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on unix:" + path + ": " + ec.message());
  return Status::OK();
}

asio::awaitable<void> Node::Session(tcp::socket socket, bool tls) {
  sessions_.fetch_add(1);
  net::Stream stream(std::move(socket));
  ClientConnection self{&stream};
  {
    std::lock_guard lock(open_mu_);
    open_.insert(&self);
  }
  boost::system::error_code ignored;
  // Responses go out as header and body writes: without TCP_NODELAY, Nagle holds the
  // second one until the client's delayed ACK (~40 ms per response).
  stream.socket().set_option(tcp::no_delay(true), ignored);
  std::string client = stream.socket().remote_endpoint(ignored).address().to_string();
  bool handshaken = !tls;
  if (tls) {
    // The certificate of when the connection came (a reload re-reads it for the next).
    stream.StartTls(*server_tls_.load());
    // A client that never finishes its handshake is dropped like one that never sends
    // its request.
    stream.expires_after(std::chrono::milliseconds(live_.Get()->client_timeout_ms));
    auto [ec] =
        co_await stream.tls_stream().async_handshake(asio::ssl::stream_base::server, kToken);
    if (ec) {
      spdlog::debug("TLS handshake with {}: {}", client, ec.message());
    } else {
      handshaken = true;
    }
  }
  beast::flat_buffer buffer;
  for (bool first = true; handshaken && !stopping_; first = false) {
    // Each request runs under the configuration of when it began (a reload changes the next).
    const std::shared_ptr<const config::NodeConfig> config = live_.Get();
    // The header only: a body is streamed to the origin as it is forwarded (RequestBody).
    http::request_parser<http::empty_body> parser;
    parser.header_limit(config->max_header_bytes);
    parser.body_limit(config->max_request_body_bytes);
    self.awaiting_request = true;
    stream.expires_after(
        std::chrono::milliseconds(first ? config->client_timeout_ms : config->idle_timeout_ms));
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kToken);
    self.awaiting_request = false;
    // Framing the parser lets through but RFC 9112 §6 refuses (smuggling shapes), and
    // expectations we cannot meet: answered and closed before any body byte is read.
    unsigned refusal = 0;
    std::string reason;
    if (!ec) {
      if (auto bad = http_util::RequestFramingError(parser.get())) {
        refusal = bad->status;
        reason = bad->reason;
      } else if (auto expect = parser.get().find(http::field::expect);
                 expect != parser.get().end()) {
        if (!beast::iequals(
                util::TrimOws(std::string_view(expect->value().data(), expect->value().size())),
                "100-continue")) {
          refusal = 417;
          reason = "only Expect: 100-continue is supported";
        } else if (!parser.is_done()) {
          // The client waits for this before sending its body (RFC 9110 §10.1.1).
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          stream.expires_after(std::chrono::milliseconds(config->client_timeout_ms));
          std::tie(ec, n) = co_await asio::async_write(stream, asio::buffer(kContinue), kToken);
        }
      }
    }
    if (ClientGone(ec)) break;
    if (ec || refusal) {
      // Malformed, oversized, or smuggling-shaped (e.g. Content-Length with chunked):
      // answered with a 4xx and the connection closed.
      const unsigned status = refusal ? refusal : StatusFor(ec);
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      res.set(http::field::content_type, "text/plain");
      res.set(http::field::connection, "close");
      res.body() = "bad request: " + (refusal ? reason : ec.message()) + "\n";
      res.prepare_payload();
      stream.expires_after(std::chrono::milliseconds(config->client_timeout_ms));
      co_await http::async_write(stream, res, kToken);
      metrics_.CountRequest(metrics::Outcome::kError);
      break;
    }
    // The header moves out of the parser (no copy of its fields): what is left of the
    // body is read by the parser's own framing state.
    proxy::Request req(std::move(parser.get().base()));
    http_util::RequestBody body(stream, buffer, std::move(parser), config->max_request_body_bytes,
                                std::chrono::milliseconds(config->client_timeout_ms));
    bool keep = co_await proxy_->Handle(req, body, stream, client) ==
                proxy::Proxy::AfterResponse::kKeepAlive;
    // Another request only at a message boundary: a body nobody forwarded is read past.
    if (keep && !body.done()) keep = co_await body.Discard();
    if (!keep) break;
  }
  if (tls && handshaken) {
    // TLS ends with close_notify (RFC 8446 §6.1), so the client can tell the end from a
    // truncation. Shutting down also waits for the client's close_notify: at most a second.
    stream.expires_after(std::chrono::seconds(1));
    co_await stream.tls_stream().async_shutdown(kToken);
  }
  {
    std::lock_guard lock(open_mu_);
    open_.erase(&self);
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
  metrics_.ConnectionClosed();
  sessions_.fetch_sub(1);
}

template <typename Protocol>
asio::awaitable<void> Node::AdminSession(typename Protocol::socket socket) {
  beast::basic_stream<Protocol> stream(std::move(socket));
  beast::flat_buffer buffer;
  while (!stopping_) {
    const std::shared_ptr<const config::NodeConfig> config = live_.Get();
    http::request_parser<http::string_body> parser;
    parser.header_limit(config->max_header_bytes);
    parser.body_limit(16u << 20);  // a purge of many URLs
    stream.expires_after(std::chrono::milliseconds(config->client_timeout_ms));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kToken);
    if (ClientGone(ec)) break;
    if (ec) {  // malformed or oversized: say so (in JSON) and close
      admin::AdminResponse res = admin::AdminApi::RequestError(
          StatusFor(ec), ec == http::error::body_limit
                             ? "request body over 16 MiB: split it over several calls"
                             : "bad request: " + ec.message());
      co_await http::async_write(stream, res, kToken);
      break;
    }
    admin::AdminRequest req = parser.release();
    // Store work runs off the network threads (this coroutine resumes on its own thread with
    // the answer); health and metrics are answered here, never queued behind it.
    admin::AdminResponse res;
    if (admin::AdminApi::Quick(req)) {
      res = admin_api_->Handle(req);
    } else {
      res = co_await asio::co_spawn(
          *admin_pool_,
          [this, &req]() -> asio::awaitable<admin::AdminResponse> {
            co_return admin_api_->Handle(req);
          },
          asio::use_awaitable);
    }
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(std::chrono::milliseconds(config->client_timeout_ms));
    auto [write_error, written] = co_await http::async_write(stream, res, kToken);
    if (write_error || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(Protocol::socket::shutdown_send, ignored);
}

}  // namespace edgecache::node
