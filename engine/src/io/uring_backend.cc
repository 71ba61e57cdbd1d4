#include "io/uring_backend.h"

#include <liburing.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "edgecache/thread_name.h"
#include "io/posix_backend.h"

namespace edgecache::io {
namespace {

class UringBackend final : public IoBackend {
 public:
  explicit UringBackend(unsigned depth) : depth_(depth) {}

  Status Start() {
    // Plain flags, by the one entry point the node's link leaves alone (the asio rings'
    // io_uring_queue_init is wrapped: server/src/util/event_loop.cc).
    io_uring_params params{};
    int rc = io_uring_queue_init_params(depth_, &ring_, &params);
    if (rc < 0)
      return Status::NotSupported(std::string("io_uring_queue_init: ") + std::strerror(-rc));
    started_ = true;
    reaper_ = std::thread([this] {
      NameThisThread("ec-io-reap");
      Reap();
    });
    return Status::OK();
  }

  ~UringBackend() override {
    if (!started_) return;
    {
      std::unique_lock lock(mu_);
      idle_.wait(lock, [this] { return inflight_ == 0; });
      // A NOP with no operation attached tells the reaper to stop.
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data(sqe, nullptr);
      io_uring_submit(&ring_);
    }
    reaper_.join();
    io_uring_queue_exit(&ring_);
  }

  void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) override {
    Submit(std::move(done), [&](io_uring_sqe* sqe) {
      io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), offset);
    });
  }

  void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) override {
    Submit(std::move(done), [&](io_uring_sqe* sqe) {
      io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(len), offset);
    });
  }

  ssize_t WriteBlocking(int fd, const void* buf, size_t len, uint64_t offset) override {
    return Pwrite(fd, buf, len, offset);
  }

  void Sync(int fd, Callback done) override {
    Submit(std::move(done),
           [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); });
  }

  std::string_view Name() const override { return "io_uring"; }

 private:
  struct Op {
    Callback done;
  };

  template <typename Prep>
  void Submit(Callback done, Prep&& prep) {
    auto* op = new Op{std::move(done)};
    std::unique_lock lock(mu_);
    // Bounding in-flight operations by the ring size keeps the completion queue from
    // overflowing on kernels without IORING_FEAT_NODROP.
    idle_.wait(lock, [this] { return inflight_ < depth_; });
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {  // submission queue full: hand it to the kernel and retry
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    prep(sqe);
    io_uring_sqe_set_data(sqe, op);
    ++inflight_;
    // On a transient failure (EAGAIN: no kernel memory for the request now; EBUSY: the
    // completion queue is full until the reaper drains it) the sqe stays queued: submit
    // again until the kernel has it, or an operation no later call submits would never
    // complete and its caller would wait forever.
    // A partial submit leaves the rest queued likewise. A hard (ring-level) error leaves it
    // for the next submission; there is no way to take an sqe back.
    while (io_uring_sq_ready(&ring_) > 0) {
      const int rc = io_uring_submit(&ring_);
      if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) break;
      if (rc <= 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void Reap() {
    for (;;) {
      io_uring_cqe* cqe = nullptr;
      int rc = io_uring_wait_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      if (rc < 0) continue;
      auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (op == nullptr) return;
      {
        // Released before the callback runs, so a callback that submits again cannot
        // wait on a slot that only this thread would free.
        std::lock_guard lock(mu_);
        --inflight_;
        idle_.notify_all();
      }
      op->done(res);
      delete op;
    }
  }

  const unsigned depth_;
  io_uring ring_{};
  bool started_ = false;
  std::thread reaper_;
  std::mutex mu_;
  std::condition_variable idle_;
  unsigned inflight_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace

Status MakeUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out) {
  auto backend = std::make_unique<UringBackend>(queue_depth);
  Status s = backend->Start();
  if (!s.ok()) return s;
  *out = std::move(backend);
  return Status::OK();
}

}  // namespace edgecache::io
