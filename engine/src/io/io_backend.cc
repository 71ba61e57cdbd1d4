// Backend selection and the blocking helpers declared in edgecache/io_backend.h.
#include "edgecache/io_backend.h"

#include <future>
#include <string>

#include "io/posix_backend.h"
#include "io/uring_backend.h"

namespace edgecache {
namespace {

constexpr unsigned kUringQueueDepth = 256;

// Runs one operation to completion, resubmitting the rest after a short transfer.
Status RunFully(IoBackend& io, bool write, int fd, char* buf, size_t len, uint64_t offset,
                std::string_view what) {
  size_t done_bytes = 0;
  while (done_bytes < len) {
    std::promise<ssize_t> result;
    auto cb = [&result](ssize_t n) { result.set_value(n); };
    if (write) {
      io.Write(fd, buf + done_bytes, len - done_bytes, offset + done_bytes, cb);
    } else {
      io.Read(fd, buf + done_bytes, len - done_bytes, offset + done_bytes, cb);
    }
    ssize_t n = result.get_future().get();
    if (n < 0) return Status::FromErrno(static_cast<int>(-n), what);
    if (n == 0) {
      return write ? Status::IOError(std::string(what) + ": write made no progress")
                   : Status::Corruption(std::string(what) + ": unexpected end of file");
    }
    done_bytes += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

Status MakeIoBackend(IoBackendKind kind, int threads, std::unique_ptr<IoBackend>* out) {
  if (kind == IoBackendKind::kPosix) {
    *out = io::MakePosixBackend(threads);
    return Status::OK();
  }
  Status s = io::MakeUringBackend(kUringQueueDepth, out);
  if (s.ok() || kind == IoBackendKind::kIoUring) return s;
  s.IgnoreError();  // kAuto: the caller logs which backend it got via Name()
  *out = io::MakePosixBackend(threads);
  return Status::OK();
}

Status ReadFully(IoBackend& io, int fd, void* buf, size_t len, uint64_t offset,
                 std::string_view what) {
  return RunFully(io, false, fd, static_cast<char*>(buf), len, offset, what);
}

Status WriteFully(IoBackend& io, int fd, const void* buf, size_t len, uint64_t offset,
                  std::string_view what) {
  return RunFully(io, true, fd, static_cast<char*>(const_cast<void*>(buf)), len, offset, what);
}

ssize_t IoBackend::WriteBlocking(int fd, const void* buf, size_t len, uint64_t offset) {
  std::promise<ssize_t> result;
  Write(fd, buf, len, offset, [&result](ssize_t n) { result.set_value(n); });
  return result.get_future().get();
}

Status SyncFile(IoBackend& io, int fd, std::string_view what) {
  std::promise<ssize_t> result;
  io.Sync(fd, [&result](ssize_t n) { result.set_value(n); });
  ssize_t n = result.get_future().get();
  if (n < 0) return Status::FromErrno(static_cast<int>(-n), what);
  return Status::OK();
}

}  // namespace edgecache
