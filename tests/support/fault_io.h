// FaultInjectingIo: an IoBackend wrapper that fails chosen operations, for fault tests.
//
// Reads and writes pass through to the wrapped backend until a fault is armed:
//  * FailReads(errno) / FailWrites(errno): every later read / write completes with -errno
//    without touching the file (0 disarms);
//  * TearNextWrite(): the next write stores only its first half and then reports a short
//    write, as a crash in the middle of a write would leave it.
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <memory>

#include "edgecache/io_backend.h"

namespace edgecache::testing {

class FaultInjectingIo final : public IoBackend {
 public:
  explicit FaultInjectingIo(std::unique_ptr<IoBackend> base) : base_(std::move(base)) {}

  void FailReads(int err) { read_errno_ = err; }
  void FailWrites(int err) { write_errno_ = err; }
  void TearNextWrite() { tear_next_write_ = true; }
  int failed_reads() const { return failed_reads_; }
  int failed_writes() const { return failed_writes_; }

  void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) override {
    if (int err = read_errno_.load()) {
      ++failed_reads_;
      // Through the base so the callback runs on a backend thread, as the contract says.
      base_->Sync(fd, [err, done = std::move(done)](ssize_t) { done(-err); });
      return;
    }
    base_->Read(fd, buf, len, offset, std::move(done));
  }

  void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) override {
    if (int err = write_errno_.load()) {
      ++failed_writes_;
      base_->Sync(fd, [err, done = std::move(done)](ssize_t) { done(-err); });
      return;
    }
    if (tear_next_write_.exchange(false) && len > 1) {
      base_->Write(fd, buf, len / 2, offset, std::move(done));
      return;
    }
    base_->Write(fd, buf, len, offset, std::move(done));
  }

  void Sync(int fd, Callback done) override { base_->Sync(fd, std::move(done)); }
  std::string_view Name() const override { return "fault-injecting"; }

 private:
  std::unique_ptr<IoBackend> base_;
  std::atomic<int> read_errno_{0};
  std::atomic<int> write_errno_{0};
  std::atomic<bool> tear_next_write_{false};
  std::atomic<int> failed_reads_{0};
  std::atomic<int> failed_writes_{0};
};

}  // namespace edgecache::testing
