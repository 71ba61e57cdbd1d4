#include "cluster/follower.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "edgecache/thread_name.h"

namespace edgecache::cluster {
namespace {

constexpr size_t kBatch = 500;  // entries read per round

// The store-side purge of a log entry, with the node's own cache-key rules; false with a
// reason when a value cannot be one.
bool ToStorePurge(const LogEntry& e, const proxy::KeyOptions& keys, LoggedPurge* out,
                  std::string* why) {
  out->mode = e.mode;
  out->kind = e.kind == admin::PurgeKind::kUrl   ? LoggedPurge::Kind::kUrls
              : e.kind == admin::PurgeKind::kTag ? LoggedPurge::Kind::kTags
                                                 : LoggedPurge::Kind::kPrefixes;
  for (const std::string& v : e.values) {
    if (e.kind == admin::PurgeKind::kTag) {
      if (v.empty() || v.find('\0') != std::string::npos) {
        *why = "an empty tag, or one with a NUL byte";
        return false;
      }
      out->values.push_back(v);
    } else if (auto key = proxy::CacheKeyForUrl(v, keys)) {
      out->values.push_back(std::move(*key));
    } else {
      *why = "'" + v + "' is not a URL";
      return false;
    }
  }
  return true;
}

}  // namespace

const char* Follower::StateName(State state) {
  switch (state) {
    case State::kStarting:
      return "starting";
    case State::kCatchingUp:
      return "catching up";
    case State::kFollowing:
      return "following";
    case State::kUnreachable:
      return "purge log unreachable";
    case State::kGap:
      return "purge log gap";
  }
  return "?";
}

Follower::Follower(Options options, Store& store, std::function<proxy::KeyOptions()> keys)
    : options_(std::move(options)),
      store_(store),
      keys_(std::move(keys)),
      log_(options_.log, options_.timeout) {}

Follower::~Follower() { Stop(); }

void Follower::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Follower::View Follower::Get() const {
  std::lock_guard lock(mu_);
  return view_;
}

void Follower::Set(State state, const std::string& error) {
  std::lock_guard lock(mu_);
  view_.state = state;
  if (!error.empty()) view_.error = error;
}

Status Follower::Apply(const std::vector<LogEntry>& entries, Position* at, std::string* gap) {
  std::vector<LoggedPurge> purges;
  Position next = *at;
  uint64_t skipped = 0;
  for (const LogEntry& entry : entries) {
    // Entries are numbered without holes: a hole is an entry trimmed or deleted before
    // this node applied it, a number at or below ours a log that started over.
    if (entry.seq != 0 && entry.seq != next.seq + 1) {
      *gap = "entry " + entry.id + " is number " + std::to_string(entry.seq) + ", after number " +
             std::to_string(next.seq) + ": purges in between are lost to this node";
      break;
    }
    LoggedPurge purge;
    std::string why = entry.malformed;
    if (why.empty() && !ToStorePurge(entry, keys_(), &purge, &why)) purge = LoggedPurge();
    if (why.empty()) {
      purges.push_back(std::move(purge));
    } else {
      // Never retried: a malformed entry would stop this node's log for good. Recorded as
      // applied, with nothing purged, and logged for the operator.
      spdlog::error("purge log {} entry {} skipped: {}", options_.log.ToString(), entry.id, why);
      ++skipped;
    }
    next = {entry.id, entry.seq != 0 ? entry.seq : next.seq};
  }
  if (next.id == at->id) return Status::OK();
  // Every purge read, and the position after the last, in one durable write.
  Status s = store_.ApplyLoggedPurges(options_.log.stream, next.Encode(), purges);
  if (!s.ok()) return s;
  // A kill point for failure tests (scripts/scenarios/pop.sh): the node dies the moment
  // purges are durable, before anything else happens.
  static const bool kill_point = std::getenv("EDGECACHE_TEST_KILL_AFTER_LOGGED_PURGE") != nullptr;
  if (kill_point) ::raise(SIGKILL);
  *at = next;
  std::lock_guard lock(mu_);
  view_.applied = at->id;
  view_.applied_seq = at->seq;
  view_.applied_entries += purges.size();
  view_.skipped_entries += skipped;
  return Status::OK();
}

Status Follower::Load(Position* at) {
  std::string recorded;
  Status s = store_.LogPosition(options_.log.stream, &recorded);
  if (!s.ok()) return s;
  if (recorded.empty()) {
    at->id.clear();  // never joined
    return Status::OK();
  }
  if (!Position::Decode(recorded, at))
    return Status::Corruption("the store's purge log position '" + recorded + "' is not ID SEQ");
  return Status::OK();
}

void Follower::Fence(const std::string& why) {
  fenced_.store(true, std::memory_order_release);
  spdlog::error(
      "purge log {}: {}; serving nothing from the store until an operator decides "
      "(edgecachectl --node URL cluster resolve)",
      options_.log.ToString(), why);
  Set(State::kGap, why);
}

Status Follower::Step(std::chrono::milliseconds block, size_t* read) {
  *read = 0;
  std::lock_guard run(run_mu_);
  Status s;
  if (!registered_) {
    s = log_.Register(options_.node_id, options_.admin_url);
    if (!s.ok()) return s;
    registered_ = true;
  }
  Position at;
  s = Load(&at);
  if (!s.ok()) return s;
  if (at.id.empty()) {
    // Joining: the purges before now concern objects this store never had.
    s = log_.End(&at);
    if (s.ok()) s = store_.ApplyLoggedPurges(options_.log.stream, at.Encode(), {});
    if (!s.ok()) return s;
    spdlog::info("purge log {}: joined at entry {} (number {})", options_.log.ToString(), at.id,
                 at.seq);
  }
  {
    std::lock_guard lock(mu_);
    view_.applied = at.id;
    view_.applied_seq = at.seq;
  }
  if (fenced()) return Status::OK();  // until an operator decides
  PurgeLog::Tail tail;
  s = log_.Read(at.id, kBatch, block, &tail);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    view_.log_end = tail.last_id;
    view_.log_end_seq = tail.counter;
  }
  const std::string before = at.id;
  std::string gap;
  s = Apply(tail.entries, &at, &gap);
  if (!s.ok()) return s;
  if (!gap.empty()) {
    Fence(gap);
  } else if (tail.entries.size() < kBatch && tail.counter != at.seq) {
    // All of the tail was read, and the log numbered more (or fewer) entries than this
    // node applied: the missing ones were trimmed away (or the log started over).
    Fence("the log numbered " + std::to_string(tail.counter) + " entries and holds none after " +
          "number " + std::to_string(at.seq) + ": purges in between are lost to this node");
  }
  *read = at.id != before ? 1 : 0;
  if (*read > 0) {
    // Shown by XINFO GROUPS and `edgecachectl --cluster stats`; the store's record is the
    // one that counts, so a failure here is only logged.
    Status ack = log_.Acknowledge(options_.node_id, at.id);
    if (!ack.ok()) spdlog::warn("purge log: {}", ack.ToString());
  }
  return Status::OK();
}

Status Follower::CatchUp(std::chrono::milliseconds deadline) {
  Set(State::kCatchingUp);
  const auto started = std::chrono::steady_clock::now();
  const auto until = started + deadline;
  Status last;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::Aborted("the node is stopping");
    }
    size_t read = 0;
    last = Step(std::chrono::milliseconds(0), &read);
    if (last.ok() && read == 0) {
      if (!fenced()) Set(State::kFollowing);
      const View v = Get();
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      spdlog::info("purge log {}: caught up at {} ({} purges applied in {} ms)",
                   options_.log.ToString(), v.applied, v.applied_entries, ms);
      return Status::OK();
    }
    if (!last.ok()) {
      spdlog::warn("purge log {}: {} (retrying)", options_.log.ToString(), last.ToString());
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
    }
  }
  if (last.ok()) last = Status::IOError("still catching up");
  Set(State::kUnreachable, last.message());
  return last;
}

void Follower::Start() {
  std::lock_guard lock(mu_);
  if (!stopping_) {
    thread_ = std::thread([this] {
      NameThisThread("ec-purge-log");
      Run();
    });
  }
}

void Follower::Run() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    size_t read = 0;
    Status s = Step(std::chrono::milliseconds(500), &read);
    if (!s.ok()) {
      const bool first = Get().state != State::kUnreachable;
      if (first)
        spdlog::warn("purge log {}: {} (retrying every second)", options_.log.ToString(),
                     s.ToString());
      Set(State::kUnreachable, s.message());
    } else if (!fenced()) {
      Set(State::kFollowing);
    }
    if (!s.ok() || fenced()) {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }
}

Status Follower::Resolve(bool purge_all) {
  std::lock_guard run(run_mu_);
  if (!fenced()) return Status::InvalidArgument("the purge log has no gap to resolve");
  Position at;
  Status s = Load(&at);
  if (!s.ok()) return s;
  PurgeLog::Tail tail;
  s = log_.Read(at.id, 1, std::chrono::milliseconds(0), &tail);
  if (!s.ok()) return s;
  // Past the hole: the entries the log still holds are applied next, as usual.
  at.seq =
      !tail.entries.empty() && tail.entries[0].seq != 0 ? tail.entries[0].seq - 1 : tail.counter;
  if (tail.entries.empty()) at.id = tail.last_id;
  std::vector<LoggedPurge> purges;
  if (purge_all) purges.push_back({LoggedPurge::Kind::kPrefixes, {""}, PurgeMode::kHard});
  s = store_.ApplyLoggedPurges(options_.log.stream, at.Encode(), purges);
  if (!s.ok()) return s;
  spdlog::warn("purge log {}: gap resolved by the operator ({}), going on after number {}",
               options_.log.ToString(), purge_all ? "store purged" : "store kept", at.seq);
  {
    std::lock_guard lock(mu_);
    view_.applied = at.id;
    view_.applied_seq = at.seq;
    view_.state = State::kFollowing;
    view_.error.clear();
  }
  fenced_.store(false, std::memory_order_release);
  wake_.notify_all();
  return Status::OK();
}

}  // namespace edgecache::cluster
