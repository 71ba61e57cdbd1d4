// The io_uring backend (liburing): one ring, submissions under a short mutex, one thread
// reaping completions and running the callbacks.
#pragma once

#include <memory>

#include "edgecache/io_backend.h"

namespace edgecache::io {

// NotSupported when the kernel or a seccomp profile refuses io_uring_setup.
Status MakeUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out);

}  // namespace edgecache::io
