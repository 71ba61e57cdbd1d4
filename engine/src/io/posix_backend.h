// The portable backend: pread/pwrite/fdatasync run on a small thread pool.
#pragma once

#include <memory>

#include "edgecache/io_backend.h"

namespace edgecache::io {

std::unique_ptr<IoBackend> MakePosixBackend(int threads);

}  // namespace edgecache::io
