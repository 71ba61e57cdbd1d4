#include "util/event_loop.h"

#include <liburing.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

// asio (Boost 1.81) sets its rings up with io_uring_queue_init(entries, ring, 0); every
// binary linking this file wraps that call (-Wl,--wrap, server/CMakeLists.txt) to add
// IORING_SETUP_COOP_TASKRUN: a completion for a thread that is running is left for its next
// entry into the kernel (each pass of the loop makes one) instead of interrupting it with an
// IPI. Without it a 1 KiB hit paid ~15% of its CPU in those interrupts (docs/performance.md).
// A sleeping thread is still woken. Kernels before 5.19 refuse the flag: plain then.
extern "C" int __real_io_uring_queue_init(unsigned entries, io_uring* ring, unsigned flags);
extern "C" int __wrap_io_uring_queue_init(unsigned entries, io_uring* ring, unsigned flags) {
  const int rc = __real_io_uring_queue_init(
      entries, ring, flags | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  return rc == -EINVAL ? __real_io_uring_queue_init(entries, ring, flags) : rc;
}

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
