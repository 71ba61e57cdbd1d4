// InflightIo: counts I/O operations whose callbacks have not run yet, so the store's
// destructor can wait for the last one before it frees what they use.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace edgecache {

class InflightIo {
 public:
  void Begin() { count_.fetch_add(1, std::memory_order_relaxed); }
  // At the end of the operation's callback.
  void End() {
    std::lock_guard lock(mu_);
    if (count_.fetch_sub(1) == 1) idle_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return count_.load() == 0; });
  }

 private:
  std::atomic<int64_t> count_{0};
  std::mutex mu_;
  std::condition_variable idle_;
};

}  // namespace edgecache
