#include "cluster/purge_log.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

namespace edgecache::cluster {
namespace {

namespace json = boost::json;

// A reply that is an array of alternating names and values: the value named `name`.
const Reply* Field(const Reply& r, std::string_view name) {
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    if (r.elements[i].str == name) return &r.elements[i + 1];
  }
  return nullptr;
}

// One XREAD/XRANGE entry: [id, [field, value, ...]].
LogEntry Decode(const Reply& raw) {
  LogEntry e;
  if (raw.elements.size() != 2) {
    e.malformed = "not an entry";
    return e;
  }
  e.id = raw.elements[0].str;
  const Reply& fields = raw.elements[1];
  if (const Reply* seq = Field(fields, "seq")) {
    auto [end, ec] = std::from_chars(seq->str.data(), seq->str.data() + seq->str.size(), e.seq);
    if (ec != std::errc() || end != seq->str.data() + seq->str.size()) e.seq = 0;
  }
  const Reply* kind = Field(fields, "kind");
  const Reply* mode = Field(fields, "mode");
  const Reply* values = Field(fields, "values");
  if (kind == nullptr || mode == nullptr || values == nullptr) {
    e.malformed = "kind, mode or values missing";
    return e;
  }
  auto parsed_kind = admin::ParsePurgeKind(kind->str);
  if (!parsed_kind) {
    e.malformed = "unknown kind '" + kind->str + "'";
    return e;
  }
  e.kind = *parsed_kind;
  if (mode->str != "hard" && mode->str != "soft") {
    e.malformed = "unknown mode '" + mode->str + "'";
    return e;
  }
  e.mode = mode->str == "soft" ? PurgeMode::kSoft : PurgeMode::kHard;
  boost::system::error_code ec;
  json::value v = json::parse(values->str, ec);
  if (ec || !v.is_array() || v.as_array().empty()) {
    e.malformed = "values is not a non-empty JSON array";
    return e;
  }
  for (const json::value& item : v.as_array()) {
    if (!item.is_string()) {
      e.malformed = "values holds something other than strings";
      return e;
    }
    e.values.emplace_back(item.as_string());
  }
  return e;
}

}  // namespace

PurgeLog::PurgeLog(RedisUrl url, std::chrono::milliseconds timeout)
    : url_(std::move(url)), redis_(url_.host, url_.port, timeout) {}

Status PurgeLog::Call(const std::vector<std::string>& args, Reply* reply,
                      std::chrono::milliseconds block) {
  return redis_.Command(args, reply, block);
}

namespace {

// KEYS: the stream, its counter. ARGV: kind, mode, values. Numbers and adds in one step.
constexpr char kAppendScript[] = R"lua(
local seq = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], '*', 'seq', seq, 'kind', ARGV[1], 'mode', ARGV[2],
                  'values', ARGV[3])
)lua";

// KEYS: the stream, its counter. ARGV: the ID to read after, how many. Returns {counter,
// last generated ID, entries}.
constexpr char kReadScript[] = R"lua(
local counter = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
end
local entries = {}
if ARGV[2] ~= '0' then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
return {counter, last, entries}
)lua";

}  // namespace

std::string Position::Encode() const { return id + " " + std::to_string(seq); }

bool Position::Decode(std::string_view text, Position* out) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || space == 0) return false;
  out->id = std::string(text.substr(0, space));
  const std::string_view n = text.substr(space + 1);
  auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), out->seq);
  return ec == std::errc() && end == n.data() + n.size();
}

Status PurgeLog::Append(admin::PurgeKind kind, const std::vector<std::string>& values,
                        PurgeMode mode, std::string* id) {
  if (values.empty()) return Status::InvalidArgument("nothing to purge");
  json::array array;
  for (const std::string& v : values) array.emplace_back(v);
  Reply r;
  Status s = Call(
      {"EVAL", kAppendScript, "2", url_.stream, url_.stream + ":seq", admin::PurgeKindName(kind),
       mode == PurgeMode::kSoft ? "soft" : "hard", json::serialize(array)},
      &r);
  if (!s.ok()) return s;
  if (r.type != Reply::Type::kString) return Status::Corruption("XADD answered no entry ID");
  *id = r.str;
  return Status::OK();
}

Status PurgeLog::Read(const std::string& after, size_t count, std::chrono::milliseconds block,
                      Tail* out) {
  *out = Tail();
  Reply r;
  Status s;
  if (block.count() > 0) {
    // Only to wait: what is there is then read in one atomic step with the counter.
    s = Call({"XREAD", "COUNT", "1", "BLOCK", std::to_string(block.count()), "STREAMS", url_.stream,
              after},
             &r, block);
    if (!s.ok()) return s;
  }
  s = Call(
      {"EVAL", kReadScript, "2", url_.stream, url_.stream + ":seq", after, std::to_string(count)},
      &r);
  if (!s.ok()) return s;
  if (r.elements.size() != 3) return Status::Corruption("purge log read: unexpected reply");
  out->counter = static_cast<uint64_t>(std::max<long long>(0, r.elements[0].integer));
  out->last_id = r.elements[1].str;
  for (const Reply& raw : r.elements[2].elements) out->entries.push_back(Decode(raw));
  return Status::OK();
}

Status PurgeLog::End(Position* end) {
  Tail tail;
  Status s = Read("0-0", 0, std::chrono::milliseconds(0), &tail);
  if (!s.ok()) return s;
  end->id = tail.last_id;
  end->seq = tail.counter;
  return Status::OK();
}

Status PurgeLog::Register(const std::string& node_id, const std::string& admin_url) {
  Reply r;
  Status s = Call({"XGROUP", "CREATE", url_.stream, node_id, "$", "MKSTREAM"}, &r);
  if (!s.ok() && s.message().find("BUSYGROUP") == std::string::npos) return s;
  return Call({"HSET", url_.stream + ":nodes", node_id, admin_url}, &r);
}

Status PurgeLog::Acknowledge(const std::string& node_id, const std::string& id) {
  Reply r;
  return Call({"XGROUP", "SETID", url_.stream, node_id, id}, &r);
}

Status PurgeLog::Members(std::vector<Member>* out) {
  out->clear();
  Reply groups;
  Status s = Call({"XINFO", "GROUPS", url_.stream}, &groups);
  if (!s.ok()) return s;
  Reply urls;
  s = Call({"HGETALL", url_.stream + ":nodes"}, &urls);
  if (!s.ok()) return s;
  for (const Reply& g : groups.elements) {
    Member m;
    if (const Reply* name = Field(g, "name")) m.node_id = name->str;
    if (const Reply* last = Field(g, "last-delivered-id")) m.applied = last->str;
    if (const Reply* url = Field(urls, m.node_id)) m.admin_url = url->str;
    Reply after;
    s = Call({"XRANGE", url_.stream, "(" + m.applied, "+", "COUNT", "10000"}, &after);
    if (!s.ok()) return s;
    m.behind = after.elements.size();
    out->push_back(std::move(m));
  }
  return Status::OK();
}

}  // namespace edgecache::cluster
