// Follower: applies a point of presence's purge log (cluster/purge_log.h) to this node's
// store, in order and exactly once. Each purge is applied together with the log position it
// reaches, in one durable write of the store (Store::ApplyLoggedPurges), so after a crash or
// a restart the node resumes right after the last purge it applied.
//
// At start the node catches up (CatchUp) before it opens its client listeners: a node that
// was down applies every purge it missed before it serves. Then a thread tails the log.
// When Redis cannot be reached the node serves on and retries every second. When the log
// no longer holds every entry after the node's position (it was away longer than the log's
// retention, so purges are lost to it), the follower stops in the "gap" state: the node
// then serves nothing from its store until an operator decides (Resolve;
// docs/operations.md).
//
// A node joining a log for the first time (no position in its store) starts at the log's
// end: the purges before it concern objects it never stored.
//
// Thread safety: every public method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/purge_log.h"
#include "edgecache/store.h"
#include "proxy/cache_key.h"

namespace edgecache::cluster {

class Follower {
 public:
  struct Options {
    RedisUrl log;
    std::string node_id;
    std::string admin_url;  // where `edgecachectl --cluster` finds this node ("" if none)
    std::chrono::milliseconds timeout{2000};  // each Redis command
  };
  // `keys`: the cache-key rules in force, to turn the log's URLs into keys.
  Follower(Options options, Store& store, std::function<proxy::KeyOptions()> keys);
  ~Follower();  // stops the thread

  enum class State { kStarting, kCatchingUp, kFollowing, kUnreachable, kGap };
  struct View {
    State state = State::kStarting;
    std::string applied;       // the last entry applied (the store's position)
    uint64_t applied_seq = 0;  // .. and its number
    std::string log_end;       // the log's newest entry, when last read
    uint64_t log_end_seq = 0;  // .. and its number: behind = log_end_seq - applied_seq
    uint64_t applied_entries = 0;
    uint64_t skipped_entries = 0;  // malformed: recorded as applied, nothing purged
    std::string error;             // the last failure to reach Redis
  };
  View Get() const;
  // Whether the node must serve nothing from its store (a gap in the log).
  bool fenced() const { return fenced_.load(std::memory_order_acquire); }
  const std::atomic<bool>& fence() const { return fenced_; }

  // Applies every entry after the store's position; returns once caught up (OK), when the
  // log has a gap (OK, state kGap), or when Redis cannot be reached before `deadline`
  // (IOError; the node serves on and the thread keeps trying), or Aborted by Stop.
  Status CatchUp(std::chrono::milliseconds deadline);
  // Starts tailing the log.
  void Start();
  // Stops tailing (a CatchUp in progress returns Aborted); waits for the thread.
  void Stop();

  // The operator's decision on a gap: keep the store as it is, or purge everything in it;
  // either way the follower goes on from the oldest entry the log still holds.
  // InvalidArgument when there is no gap.
  Status Resolve(bool purge_all);

  static const char* StateName(State state);

 private:
  void Run();
  // One round: reads and applies what is there (waiting up to `block` for it); *read: 0
  // when there was nothing to apply.
  Status Step(std::chrono::milliseconds block, size_t* read);
  // Applies `entries` in one durable write with the position after the last, which becomes
  // *at; stops before an entry whose number shows a hole (*gap says why).
  Status Apply(const std::vector<LogEntry>& entries, Position* at, std::string* gap);
  // The store's position; an empty ID when the node never joined.
  Status Load(Position* at);
  // Stops serving from the store: purges were lost to this node.
  void Fence(const std::string& why);
  void Set(State state, const std::string& error = "");

  const Options options_;
  Store& store_;
  const std::function<proxy::KeyOptions()> keys_;
  PurgeLog log_;  // used by the thread (or CatchUp before it starts) and Resolve, under run_mu_
  std::mutex run_mu_;
  bool registered_ = false;  // GUARDED_BY(run_mu_)

  mutable std::mutex mu_;
  std::condition_variable wake_;
  View view_;              // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::atomic<bool> fenced_{false};
  std::thread thread_;
};

}  // namespace edgecache::cluster
