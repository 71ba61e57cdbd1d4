#include "version/version.h"

#include <memory>

#include "edgecache/io_backend.h"
#include "version/build_info.h"

namespace edgecache::version {

const char* Version() { return EDGECACHE_VERSION; }

std::string Line(const std::string& program) { return program + " " + EDGECACHE_VERSION; }

std::string Details() {
  std::unique_ptr<IoBackend> io;
  const bool uring = MakeIoBackend(IoBackendKind::kIoUring, 1, &io).ok();
  std::string out;
  out += "build type: " EDGECACHE_BUILD_TYPE "\n";
  out += "compiler: " EDGECACHE_COMPILER "\n";
  out += "flags: " EDGECACHE_CXX_FLAGS "\n";
  out += "allocator: " EDGECACHE_ALLOCATOR "\n";
  out += "sanitizers: " EDGECACHE_SANITIZERS "\n";
  out += "liburing: " EDGECACHE_LIBURING "\n";
  out += "event loop: " EDGECACHE_EVENT_LOOP "\n";
  out += std::string("I/O backend here (auto): ") +
         (uring ? "io_uring" : "posix (io_uring cannot be set up on this machine)") + "\n";
  return out;
}

}  // namespace edgecache::version
