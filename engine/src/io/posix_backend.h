// The portable backend: pread/pwrite/fdatasync run on a small thread pool.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "edgecache/io_backend.h"

namespace edgecache::io {

std::unique_ptr<IoBackend> MakePosixBackend(int threads);

// One pwrite(2) on the calling thread: the bytes written or -errno (EINTR retried).
ssize_t Pwrite(int fd, const void* buf, size_t len, uint64_t offset);

}  // namespace edgecache::io
