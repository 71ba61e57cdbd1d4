// A small blocking HTTP/1.1 client (Boost.Beast) for edgecachectl: the admin API of a node
// over TCP or a Unix socket, and the node's client listener for `warm`. One connection,
// kept alive across requests; every send and receive is bounded by the timeout.
//
// Thread safety: one client per thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "edgecache/status.h"

namespace edgecache::ctl {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined by ", "
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // `where`: "http://HOST:PORT", "HOST:PORT" or "unix:/PATH". IOError when it cannot
  // connect (the message says where and why), InvalidArgument for a malformed address.
  static Status Connect(const std::string& where, std::chrono::milliseconds timeout,
                        std::unique_ptr<HttpClient>* out);

  // Sends one request and reads the whole response. On an I/O error the connection is
  // closed and reopened once before giving up (a kept-alive connection the server closed).
  virtual Status Send(const std::string& method, const std::string& target,
                      const std::map<std::string, std::string>& headers, const std::string& body,
                      HttpReply* reply) = 0;
};

}  // namespace edgecache::ctl
