// Redis: one blocking connection to a Redis server (hiredis), and the replies it gives, for
// the cluster's purge log (cluster/purge_log.h). Every failure is a Status naming the
// server; a connection that failed once is dropped and made again on the next command.
//
// Thread safety: a Redis object is used by one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/status.h"

struct redisContext;

namespace edgecache::cluster {

// "redis://HOST[:PORT]/STREAM" (port 6379 by default); nullopt when it is not one.
struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string stream;
  std::string ToString() const;  // as parsed, for messages
};
std::optional<RedisUrl> ParseRedisUrl(std::string_view text);

// One reply: a string (bulk or status), an integer, nil, or an array of replies. An error
// reply is returned as a Status, never as a Reply.
struct Reply {
  enum class Type { kString, kInteger, kNil, kArray } type = Type::kNil;
  std::string str;
  long long integer = 0;
  std::vector<Reply> elements;
  bool nil() const { return type == Type::kNil; }
};

class Redis {
 public:
  // `timeout` bounds the connection and every command that does not block on purpose.
  Redis(std::string host, int port, std::chrono::milliseconds timeout);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Runs one command (its arguments as they are, binary-safe). `block` is how long the
  // command itself may wait on the server (XREAD BLOCK), on top of the timeout.
  // IOError when the server cannot be reached or the connection broke, Corruption for
  // a reply hiredis cannot read, InvalidArgument carrying an error reply's text.
  Status Command(const std::vector<std::string>& args, Reply* reply,
                 std::chrono::milliseconds block = std::chrono::milliseconds(0));

  const std::string& address() const { return address_; }

 private:
  Status Connect();
  void Drop();

  const std::string host_;
  const int port_;
  const std::chrono::milliseconds timeout_;
  const std::string address_;  // "HOST:PORT"
  redisContext* context_ = nullptr;
};

}  // namespace edgecache::cluster
