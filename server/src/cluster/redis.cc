#include "cluster/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>

namespace edgecache::cluster {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// A hiredis reply as a Reply; false for an error reply (its text in *error).
bool Convert(const redisReply& r, Reply* out, std::string* error) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out->type = Reply::Type::kString;
      out->str.assign(r.str, r.len);
      return true;
    case REDIS_REPLY_INTEGER:
      out->type = Reply::Type::kInteger;
      out->integer = r.integer;
      return true;
    case REDIS_REPLY_ARRAY:
      out->type = Reply::Type::kArray;
      out->elements.resize(r.elements);
      for (size_t i = 0; i < r.elements; ++i) {
        if (!Convert(*r.element[i], &out->elements[i], error)) return false;
      }
      return true;
    case REDIS_REPLY_ERROR:
      error->assign(r.str, r.len);
      return false;
    default:
      out->type = Reply::Type::kNil;
      return true;
  }
}

}  // namespace

std::string RedisUrl::ToString() const {
  return "redis://" + host + ":" + std::to_string(port) + "/" + stream;
}

std::optional<RedisUrl> ParseRedisUrl(std::string_view text) {
  constexpr std::string_view kScheme = "redis://";
  if (!text.starts_with(kScheme)) return std::nullopt;
  text.remove_prefix(kScheme.size());
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view authority = text.substr(0, slash);
  RedisUrl url;
  url.stream = std::string(text.substr(slash + 1));
  if (url.stream.empty() || url.stream.find_first_of("/?# \r\n") != std::string::npos)
    return std::nullopt;
  if (const size_t colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), url.port);
    if (ec != std::errc() || end != port.data() + port.size() || url.port < 1 || url.port > 65535)
      return std::nullopt;
    authority = authority.substr(0, colon);
  }
  if (authority.starts_with("[") && authority.ends_with("]"))
    authority = authority.substr(1, authority.size() - 2);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  url.host = std::string(authority);
  return url;
}

Redis::Redis(std::string host, int port, std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      timeout_(timeout),
      address_(host_ + ":" + std::to_string(port_)) {}

Redis::~Redis() { Drop(); }

void Redis::Drop() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

Status Redis::Connect() {
  if (context_ != nullptr) return Status::OK();
  context_ = redisConnectWithTimeout(host_.c_str(), port_, ToTimeval(timeout_));
  if (context_ == nullptr) return Status::IOError("redis " + address_ + ": out of memory");
  if (context_->err != 0) {
    Status s = Status::IOError("redis " + address_ + ": " + context_->errstr);
    Drop();
    return s;
  }
  return Status::OK();
}

Status Redis::Command(const std::vector<std::string>& args, Reply* reply,
                      std::chrono::milliseconds block) {
  Status s = Connect();
  if (!s.ok()) return s;
  if (redisSetTimeout(context_, ToTimeval(timeout_ + block)) != REDIS_OK) {
    Drop();
    return Status::IOError("redis " + address_ + ": cannot set the timeout");
  }
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (raw == nullptr) {
    s = Status::IOError("redis " + address_ + ": " +
                        (context_->errstr[0] != '\0' ? context_->errstr : "connection lost"));
    Drop();  // the connection is unusable after an I/O error
    return s;
  }
  *reply = Reply();
  std::string error;
  const bool ok = Convert(*raw, reply, &error);
  freeReplyObject(raw);
  if (!ok) return Status::InvalidArgument("redis " + address_ + ": " + error);
  return Status::OK();
}

}  // namespace edgecache::cluster
