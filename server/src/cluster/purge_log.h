// The purge log of a point of presence: a Redis stream every purge is appended to
// (`edgecachectl purge --cluster`) and that every node applies in order
// (cluster/follower.h), so a purge reaches every node, also one that was down when it was
// issued (docs/operations.md).
//
// An entry's fields: "seq" (its number: the counter STREAM + ":seq", incremented in the same
// atomic step as the entry is added, so entries are numbered 1, 2, 3 … in log order),
// "kind" (url, tag or prefix), "mode" (hard or soft) and "values", a JSON array of the
// URLs, tags or URL prefixes as the operator wrote them; each node turns them into keys
// with its own cache-key rules, as its admin API does. The numbers show a node whether the
// log still holds every entry after its position: a trimmed or deleted entry leaves a hole
// (Redis's own stream metadata does not record what XTRIM removed).
//
// Nodes register in the stream's consumer groups, one group per node named by its node_id,
// and set their group's last-delivered ID to the last entry they applied, so XINFO GROUPS
// lists every node and how far it got. The hash STREAM + ":nodes" maps each node_id to its
// admin API URL, for `edgecachectl --cluster stats`.
//
// Thread safety: a PurgeLog is used by one thread at a time.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "admin/store_report.h"
#include "cluster/redis.h"
#include "edgecache/object.h"
#include "edgecache/status.h"

namespace edgecache::cluster {

// Where a node is in the log: the last entry it applied, and that entry's number.
struct Position {
  std::string id = "0-0";
  uint64_t seq = 0;
  std::string Encode() const;  // "ID SEQ", as the store records it
  static bool Decode(std::string_view text, Position* out);
};

struct LogEntry {
  std::string id;
  uint64_t seq = 0;  // 0: the entry has no number (not written by edgecachectl)
  admin::PurgeKind kind = admin::PurgeKind::kUrl;
  PurgeMode mode = PurgeMode::kHard;
  std::vector<std::string> values;
  std::string malformed;  // non-empty: why the entry cannot be applied (it is skipped)
};

class PurgeLog {
 public:
  PurgeLog(RedisUrl url, std::chrono::milliseconds timeout);

  const RedisUrl& url() const { return url_; }

  // Appends one purge; *id receives its entry ID. Returns once Redis has it.
  Status Append(admin::PurgeKind kind, const std::vector<std::string>& values, PurgeMode mode,
                std::string* id);

  // What the log holds after a position, read in one atomic step: the entries (at most
  // `count`), the number the newest entry got, and the newest entry's ID.
  struct Tail {
    std::vector<LogEntry> entries;
    uint64_t counter = 0;
    std::string last_id = "0-0";
  };
  // Waits up to `block` (0: not at all) for an entry after `after`, then reads the tail.
  Status Read(const std::string& after, size_t count, std::chrono::milliseconds block, Tail* out);
  // The log's end (the newest entry's ID and number), for a node that joins.
  Status End(Position* end);

  // Registers `node_id` (its consumer group, created at the stream's end, and its admin URL).
  Status Register(const std::string& node_id, const std::string& admin_url);
  // Records that `node_id` applied every entry up to `id`.
  Status Acknowledge(const std::string& node_id, const std::string& id);

  struct Member {
    std::string node_id, admin_url;
    std::string applied;  // the last entry ID it applied
    uint64_t behind = 0;  // entries after it (counted up to 10,000)
  };
  Status Members(std::vector<Member>* out);

 private:
  Status Call(const std::vector<std::string>& args, Reply* reply,
              std::chrono::milliseconds block = std::chrono::milliseconds(0));

  const RedisUrl url_;
  Redis redis_;
};

}  // namespace edgecache::cluster
