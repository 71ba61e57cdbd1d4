// Proxy: answers one client request, from the store or through the origin. A request's
// life is the state machine of proxy/flow.h, driven by Proxy::Run.
//
//   GET/HEAD: look the URL up (Vary-aware); a usable stored response is served with Age and
//   Cache-Status (client conditionals answered from it); a stale one is revalidated with
//   If-None-Match / If-Modified-Since (304 refreshes the metadata and serves the stored
//   body, 200 replaces it, 404/410 remove it); a miss is fetched and streamed to the client
//   while it is written into the store (HEAD misses are fetched as GET so they can be
//   stored). Other methods pass through unstored.
//
// Every origin failure becomes a 502 (unreachable, reset, malformed) or 504 (timeout); a
// body cut short by the origin is never stored and the client connection is closed rather
// than given a short body as complete.
//
// Thread safety: one Proxy serves every connection; Handle may run concurrently.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "config/config.h"
#include "edgecache/store.h"
#include "http/request_body.h"
#include "http/response_writer.h"
#include "metrics/metrics.h"
#include "net/stream.h"
#include "origin/origin_pool.h"
#include "policy/cache_policy.h"
#include "proxy/cache_key.h"
#include "proxy/collapser.h"
#include "proxy/flow.h"
#include "proxy/forwarded_request.h"

namespace edgecache::logs {
class AccessLog;
}

namespace edgecache::proxy {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What a request runs under: the configuration and what is derived from it. A reload
// replaces it whole (Proxy::Reconfigure); a request keeps the one it started with.
struct Settings {
  Settings(std::shared_ptr<const config::NodeConfig> config,
           std::shared_ptr<logs::AccessLog> access_log);
  std::shared_ptr<const config::NodeConfig> config;
  policy::PolicyOptions policy;
  std::string via;  // "1.1 <name>"
  ForwardOptions forward;
  std::shared_ptr<logs::AccessLog> access_log;  // null: off
};

class Proxy {
 public:
  Proxy(std::shared_ptr<const Settings> settings, Store& store, origin::OriginPool& pool,
        metrics::Metrics& metrics);
  // Waits for the commits still running in the background (WaitForBackgroundCommits).
  ~Proxy();

  // A small response is sent before it is committed (StoreWhole): its entry is published
  // a moment later, on an engine thread. Returns once every such commit that was running
  // when called has finished, so what a client has received is in the store (the admin
  // API calls this before it reads or purges the store).
  void SettleBackgroundCommits();
  // Returns once no such commit is running (each releases its collapse ticket, which wakes
  // requests parked on a network thread's io_context: call this before they go away).
  void WaitForBackgroundCommits();

  // Requests that start from now on run under `settings`; those in flight keep theirs.
  void Reconfigure(std::shared_ptr<const Settings> settings);

  // While `*fenced` is true every request goes to the origin, nothing is served from the
  // store or stored (a purge log with a gap: purges may be missing). Before serving.
  void FenceStoreWith(const std::atomic<bool>* fenced) { fenced_ = fenced; }

  // Whether a connection may carry another request after a response.
  enum class AfterResponse { kKeepAlive, kClose };
  // Answers `req` (its header; `body` streams its body, which is forwarded for methods
  // other than GET and HEAD) on `client`. kKeepAlive: the connection may carry another
  // request once what is left of `body` is read.
  boost::asio::awaitable<AfterResponse> Handle(Request& req, http_util::RequestBody& body,
                                               net::Stream& client,
                                               const std::string& client_address);

 private:
  struct Exchange;  // one request's state (proxy/exchange.h)
  struct Lookup;    // what the look-up found (proxy/exchange.h)
  struct Upstream;  // the origin's side of a fetch (proxy/exchange.h)
  // How answering from the store ended: the whole response sent (the connection may carry
  // another request), the connection to be closed, or the stored body unreadable before
  // any of it was sent (the request becomes a miss).
  enum class Served { kSent, kClose, kUnreadable };

  // --- the state machine (proxy/flow.h), driven by Run (proxy.cc) ---
  // Runs a request from `state`: kLookup for GET and HEAD, kPass for other methods,
  // kRevalidate with `stored` for a background revalidation.
  boost::asio::awaitable<bool> Run(Exchange& x, flow::State state,
                                   const ObjectInfo* stored = nullptr);
  // kLookup: the stored response for the request's variant and what may be done with it.
  flow::State LookUp(Exchange& x, Lookup* found);
  // Cache-Status and outcome of a request that leads the fetch `state` for `found`.
  void LabelLead(Exchange& x, flow::State state, const Lookup& found);
  // Request collapsing: joins another request's fetch of the key, or leads (*ticket held).
  boost::asio::awaitable<Collapser::Joined> WaitForLeader(Exchange& x, Collapser::Ticket* ticket);
  // After waiting for a leader: a reader of its response as it arrives when this request
  // selects the same variant; otherwise null, once the leader is done.
  boost::asio::awaitable<std::unique_ptr<Broadcast::Reader>> JoinLeader(
      Exchange& x, const Collapser::Joined& joined);

  // --- the origin (upstream.cc) ---
  // kRevalidate, kFetch, kCompletePart, kPass: sends the request to the origin and reads
  // its answer's header into *up (whose stale / prefix say what is asked). Returns the next
  // state (flow::AfterOrigin), having done what the answer implies on the side:
  // invalidations, removals, metrics.
  boost::asio::awaitable<flow::State> Fetch(Exchange& x, Upstream* up);
  // The request the origin gets for a cache fetch of `x`, in its wire form: a full GET (a
  // HEAD when `head_to_origin`), with the stored validators of `stale` or the rest of
  // `prefix`.
  std::string CacheFetchRequest(const Exchange& x, const ObjectInfo* stale,
                                const ObjectInfo* prefix, bool head_to_origin) const;
  // The request the origin gets for any other method: the prepared one, as it is.
  Request PassRequest(const Exchange& x) const;
  // Sends `out` (streaming the client's body), or else the bytes `wire`, retrying once on a
  // fresh connection when a reused one turns out closed, and reads up to the final
  // response's header, relaying interim responses. The outcome is in *up.
  boost::asio::awaitable<void> SendUpstream(Exchange& x, const Request* out,
                                            const std::string& wire, bool head_to_origin,
                                            Upstream* up);
  // Returns the origin connection to the pool once its response is read whole, unless it
  // closes (or was returned already).
  void Reuse(const Exchange& x, Upstream& up);
  // Passes an interim (1xx) response from the origin on to the client, when it may have one.
  boost::asio::awaitable<void> RelayInterim(Exchange& x,
                                            const boost::beast::http::response_header<>& interim);
  // RFC 9111 §4.3.5: a 200 answering HEAD has the stored response's validators and length.
  static bool HeadMatchesStored(const boost::beast::http::response_header<>& head,
                                const ObjectInfo& stored);
  // stale-if-error (RFC 5861) or the request's max-stale allows serving `stale` now that
  // the origin failed; never past must-revalidate / proxy-revalidate.
  bool StaleIfErrorAllows(const Exchange& x, const ObjectInfo* stale) const;
  // After a successful (`status` 2xx/3xx) unsafe method: drops the target and the
  // same-origin Location / Content-Location URLs.
  void Invalidate(Exchange& x, unsigned status);

  // --- kRelay (relay.cc) ---
  struct Relaying;  // what Relay works out before the body moves
  // The origin's response to the client and, when it may be stored, into the store and to
  // the requests collapsed behind this one, all from one read of the origin.
  boost::asio::awaitable<bool> Relay(Exchange& x, Upstream& up);
  // The storage decision; when it stores, the insert begins.
  void StartInsert(Exchange& x, Upstream& up, Relaying* r);
  // The client's response header, with the client's byte range out of a full response.
  void BuildClientResponse(Exchange& x, const Upstream& up, Relaying* r);
  boost::asio::awaitable<void> SendRelayHeader(Exchange& x, Relaying& r);
  // The next piece of the origin's body (in up.piece) and the error that ended it.
  boost::asio::awaitable<std::pair<std::string_view, boost::system::error_code>> ReadOrigin(
      Exchange& x, Upstream& up);
  // An unstored response, at the client's pace.
  boost::asio::awaitable<bool> PassThrough(Exchange& x, Upstream& up, Relaying& r);
  // A stored response: Fill and this client's RelayBroadcast side by side.
  boost::asio::awaitable<bool> StoreAndBroadcast(Exchange& x, Upstream& up, Relaying& r);
  // A stored response whose body came whole with its header: sent at once, committed in
  // the background.
  boost::asio::awaitable<bool> StoreWhole(Exchange& x, Upstream& up, Relaying& r);
  // Reads the origin's body (after a completed part's stored bytes) into the store and the
  // broadcast, if any. False when the origin cut it short. Without a broadcast, a body
  // read in one piece is left in up.piece. With `commit_later`, r.insert is left
  // uncommitted (null when nothing is to be stored) and the collapse ticket held.
  boost::asio::awaitable<bool> Fill(Exchange& x, Upstream& up, Relaying& r, Broadcast* broadcast,
                                    bool commit_later = false);
  // Commits `insert` (of a response already sent) on engine threads, taking over x's
  // collapse ticket, which is released once the entry is published. False, and nothing
  // done, when kMaxBackgroundCommits are running.
  bool CommitInBackground(Exchange& x, std::unique_ptr<InsertHandle>& insert);
  // At the end of a revalidation's 200 whose body is the one stored: the stored entry gets
  // the new metadata and keeps its body (true); the insert is then not committed.
  bool KeepStoredBody(Exchange& x, const Upstream& up, Relaying& r);
  // Storing `key` would add a variant beyond cache.max_variants.
  bool TooManyVariants(const Exchange& x, const ObjectKey& key);

  // --- answers from the store (serve.cc) ---
  boost::asio::awaitable<Served> ServeStored(Exchange& x, const ObjectInfo& info, int64_t age);
  // kRefresh: the stored response revalidated by a 304 (or a matching 200 to HEAD) gets
  // its header fields and freshness updated. False when nobody waits for the answer (a
  // background revalidation); otherwise *updated and *age are what to serve.
  bool Refresh(Exchange& x, const Upstream& up, ObjectInfo* updated, int64_t* age);
  // A collapsed request served from the leader's response as it arrives.
  boost::asio::awaitable<bool> ServeBroadcast(Exchange& x, Broadcast& broadcast,
                                              Broadcast::Reader& reader);
  // Sends bytes [first, end) of a broadcast body through `writer` (with its header, if
  // not sent yet) as `reader` gets them; when it falls behind, the rest comes from the
  // store. Returns whether the whole range went out (the connection may carry another
  // request).
  boost::asio::awaitable<bool> RelayBroadcast(Exchange& x, Broadcast& b, Broadcast::Reader& reader,
                                              uint64_t first, uint64_t end,
                                              http_util::ResponseWriter& writer);

  // --- shared ---
  boost::asio::awaitable<bool> SendError(Exchange& x, unsigned status, std::string_view text);
  // The next write to the client must finish within server.client_timeout_ms.
  void ArmClientDeadline(Exchange& x) const;
  // Cache-Status and outcome start over as a miss (`detail` says why).
  void ResetToMiss(Exchange& x, std::string detail) const;
  // Starts a revalidation of `stale` with no client waiting, unless one for the same key
  // is already running.
  void RevalidateInBackground(const Exchange& x, const ObjectInfo& stale,
                              const boost::asio::any_io_executor& executor);

  Store& store_;
  origin::OriginPool& pool_;
  metrics::Metrics& metrics_;
  std::atomic<std::shared_ptr<const Settings>> settings_;
  const std::atomic<bool>* fenced_ = nullptr;  // null: never fenced
  Collapser collapser_;

  std::mutex background_mu_;
  std::set<std::string> background_;  // GUARDED_BY(background_mu_): keys being revalidated

  // Commits of responses already sent (StoreWhole). Bounded: a store slower than the
  // network makes clients wait for their commits again.
  static constexpr size_t kMaxBackgroundCommits = 1024;
  std::mutex commits_mu_;
  std::condition_variable commits_done_;
  uint64_t next_commit_ = 0;            // GUARDED_BY(commits_mu_)
  std::set<uint64_t> running_commits_;  // GUARDED_BY(commits_mu_): their numbers
};

}  // namespace edgecache::proxy
