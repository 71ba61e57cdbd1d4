// IoBackend: the one interface through which the engine reads and writes body segments.
//
// Two implementations ship with the engine: io_uring (liburing) and a portable
// pread/pwrite fallback that runs the calls on a small thread pool. MakeIoBackend(kAuto)
// tries io_uring first and falls back when the kernel or a container's seccomp profile
// refuses it. Tests wrap a backend to inject faults (EIO, ENOSPC, torn writes).
//
// Contract:
//  * Operations are asynchronous (but WriteBlocking): the call only submits, and `done` runs
//    later on a thread owned by the backend (never inline in the submitting call), with the
//    number of bytes transferred (>= 0) or a negative errno.
//  * A short read or write is reported as such; the engine treats it as an error.
//  * The caller keeps `buf` alive and untouched until `done` runs, and keeps `fd` open.
//  * `done` must be quick and must not block: post longer work elsewhere.
//  * The destructor waits for every submitted operation's `done` to have returned.
//
// Thread safety: all methods may be called concurrently from any thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "edgecache/status.h"

namespace edgecache {

class IoBackend {
 public:
  // Bytes transferred (>= 0) or -errno.
  using Callback = std::function<void(ssize_t result)>;

  virtual ~IoBackend() = default;

  virtual void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) = 0;
  virtual void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) = 0;
  // Write, done on the calling thread, which may block: returns what Write's callback would
  // get. For callers that are themselves a worker (the store's group commit): a buffered
  // write to a file goes through the page cache at once, and handing it to the backend's
  // thread and back only added two thread hops (io_uring passes a buffered ext4 write to a
  // kernel worker thread anyway). The default runs Write and waits for it; the shipped
  // backends call pwrite(2).
  virtual ssize_t WriteBlocking(int fd, const void* buf, size_t len, uint64_t offset);
  // fdatasync(fd).
  virtual void Sync(int fd, Callback done) = 0;
  // "io_uring" or "pread/pwrite" (a wrapper names what it wraps).
  virtual std::string_view Name() const = 0;
};

enum class IoBackendKind { kAuto, kIoUring, kPosix };

// Creates a backend. kIoUring fails with NotSupported when the ring cannot be set up;
// kAuto then falls back to kPosix. `threads` sizes the pread/pwrite pool (>= 1).
Status MakeIoBackend(IoBackendKind kind, int threads, std::unique_ptr<IoBackend>* out);

// Blocking helpers over the asynchronous interface, for start-up and tooling paths
// that may block. They return the byte count or a Status naming `what`.
Status ReadFully(IoBackend& io, int fd, void* buf, size_t len, uint64_t offset,
                 std::string_view what);
Status WriteFully(IoBackend& io, int fd, const void* buf, size_t len, uint64_t offset,
                  std::string_view what);
Status SyncFile(IoBackend& io, int fd, std::string_view what);

}  // namespace edgecache
