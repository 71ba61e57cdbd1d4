#include "util/event_loop.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

namespace edgecache::util {

const char* BuiltEventLoop() {
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  return "io_uring";
#else
  return "epoll";
#endif
}

Status ProbeEventLoop() {
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  try {
    boost::asio::io_context io(1);
    boost::asio::steady_timer timer(io);  // the context's first I/O object sets up its ring
  } catch (const boost::system::system_error& e) {
    return Status::NotSupported("io_uring cannot be set up here (" + e.code().message() + ")");
  }
#endif
  return Status::OK();
}

Status UseEventLoop(EventLoop wanted, const char* program, char** argv) {
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  (void)program;
  (void)argv;
  if (wanted == EventLoop::kIoUring) {
    return Status::NotSupported("event_loop = \"io_uring\", but this binary is built on epoll");
  }
  return Status::OK();
#else
  std::string why = "event_loop = \"epoll\"";
  if (wanted != EventLoop::kEpoll) {
    Status probe = ProbeEventLoop();
    if (probe.ok()) return probe;
    if (wanted == EventLoop::kIoUring) {
      return Status::NotSupported("event_loop = \"io_uring\", but " + probe.message());
    }
    why = probe.message();
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return Status::IOError("cannot find this binary (/proc/self/exe): " + ec.message());
  const std::string twin = (self.parent_path() / (std::string(program) + "-epoll")).string();
  std::fprintf(stderr, "%s: %s: running %s\n", program, why.c_str(), twin.c_str());
  std::fflush(stderr);
  ::execv(twin.c_str(), argv);
  return Status::FromErrno(errno, "cannot run " + twin + " (" + why + ")");
#endif
}

}  // namespace edgecache::util
