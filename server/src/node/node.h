// Node: one running edgecache: the store, the client listeners, the admin listener (TCP
// or a Unix socket, served by admin::AdminApi on its own threads), the origin pool, the
// purge-log follower of a point of presence ([cluster]), and its signals: graceful stop on
// SIGTERM/SIGINT, reload on SIGHUP, log files reopened on SIGUSR1.
//
// Thread safety: Start and Run are called once, from one thread; Run blocks until stop.
// Stop and Reload may be called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.h"
#include "cluster/follower.h"
#include "config/config.h"
#include "config/reload.h"
#include "edgecache/store.h"
#include "logs/logs.h"
#include "metrics/metrics.h"
#include "net/stream.h"
#include "origin/origin_pool.h"
#include "proxy/proxy.h"

namespace edgecache::node {

class Node {
 public:
  // Reads the configuration afresh for a reload (the file, then the flags over it) and
  // validates it: InvalidArgument naming the key and the reason.
  using Loader = std::function<Status(config::NodeConfig*)>;
  // `load` may be null: a reload then has nothing to read and fails.
  Node(config::NodeConfig config, Loader load);
  ~Node();

  // Opens the store and binds every listener; prints "listening on ADDR" (and "admin on
  // ADDR") lines to stdout with the bound ports, so port 0 can be used. With a purge log
  // the client listeners are bound but open (and printed) only once Run has applied the
  // purges the node missed.
  Status Start();
  // Serves until SIGTERM/SIGINT (or Stop), then stops gracefully: no new connections,
  // in-flight responses finish within the grace period, the store closes cleanly.
  void Run();
  void Stop();

  // Re-reads the configuration and applies what can change live to requests that start
  // from now on (docs/operations.md). A configuration that does not load changes nothing.
  config::ReloadResult Reload();

 private:
  using Acceptor = boost::asio::ip::tcp::acceptor;
  using UnixAcceptor = boost::asio::local::stream_protocol::acceptor;
  // Client connections (TCP only) or admin connections (TCP or Unix).
  template <typename AnyAcceptor>
  boost::asio::awaitable<void> Accept(AnyAcceptor& acceptor, bool admin, bool tls);
  boost::asio::awaitable<void> Session(boost::asio::ip::tcp::socket socket, bool tls);
  template <typename Protocol>
  boost::asio::awaitable<void> AdminSession(typename Protocol::socket socket);
  boost::asio::awaitable<void> Shutdown();
  boost::asio::awaitable<void> HandleSignals();
  // Binds and, when `listen`, listens (a bound socket that does not listen refuses
  // connections).
  Status Bind(const config::Endpoint& where, Acceptor* acceptor, bool listen = true);
  // Listens on the client listeners bound without listening, prints them, accepts on them.
  void OpenClientListeners(bool listen);
  // A Unix socket only this user can connect to (mode 0600); a stale socket file left by a
  // crashed node is replaced, a live one is refused.
  Status BindUnix(const std::string& path, UnixAcceptor* acceptor);

  config::LiveConfig live_;
  const Loader load_;
  std::mutex reload_mu_;                         // one reload at a time
  std::shared_ptr<logs::AccessLog> access_log_;  // GUARDED_BY(reload_mu_) after Start
  // SIGINT, SIGTERM, SIGHUP, SIGUSR1: caught from Start on, handled from Run on.
  std::unique_ptr<boost::asio::signal_set> signals_;
  // One per network thread; the first also runs the acceptors, the admin listener and
  // the signals. Owned by pointer so Run can destroy them (and with them any coroutine
  // still suspended on them, which may hold an insert or a pooled connection) before the
  // store and proxy go.
  std::vector<std::unique_ptr<boost::asio::io_context>> ios_;
  // Keep every thread's run() going while it has no connection yet, until stop.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  size_t next_thread_ = 0;  // the thread the next client connection goes to
  std::unique_ptr<Store> store_;
  metrics::Metrics metrics_;
  std::unique_ptr<origin::OriginPool> pool_;
  std::unique_ptr<proxy::Proxy> proxy_;
  std::vector<std::unique_ptr<Acceptor>> listeners_;
  std::vector<std::unique_ptr<Acceptor>> tls_listeners_;
  // What TLS listeners present to new connections; a reload re-reads the files.
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> server_tls_;
  std::unique_ptr<Acceptor> admin_;
  std::unique_ptr<UnixAcceptor> admin_unix_;
  std::unique_ptr<admin::AdminApi> admin_api_;
  // Admin requests block on the store (purges sync, verify reads everything): they run
  // here, never on the network threads.
  std::unique_ptr<boost::asio::thread_pool> admin_pool_;
  // The purge log's follower ([cluster]) and the thread that catches up before serving.
  std::unique_ptr<cluster::Follower> follower_;
  std::thread catch_up_;
  std::atomic<bool> stopping_{false};

  // Open client connections, registered once per connection. Those waiting for their next
  // request are closed at once on stop; `awaiting_request` is read and written on the
  // connection's own thread only.
  struct ClientConnection {
    net::Stream* stream;
    bool awaiting_request = false;
  };
  std::mutex open_mu_;
  std::set<ClientConnection*> open_;  // GUARDED_BY(open_mu_)
  std::atomic<int> sessions_{0};
  std::atomic<int> accepting_{0};  // accept loops still running (Shutdown waits for them)
};

}  // namespace edgecache::node
