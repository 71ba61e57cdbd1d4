// The version of edgecache and edgecachectl, and how this build was made (`--version`,
// `--version --verbose`, the admin API's /api/v1/node).
//
// Thread safety: pure functions.
#pragma once

#include <string>

namespace edgecache::version {

// "0.1.0"
const char* Version();
// "edgecache 0.1.0" for `program`.
std::string Line(const std::string& program);
// The build's details, one "name: value" per line: build type, compiler, flags,
// allocator, sanitizers, the liburing it was built with and whether io_uring can be set
// up on this machine (the I/O backend `io_backend = "auto"` would pick).
std::string Details();

}  // namespace edgecache::version
