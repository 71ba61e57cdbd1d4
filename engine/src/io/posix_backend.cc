#include "io/posix_backend.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>

#include "edgecache/thread_name.h"

namespace edgecache::io {
namespace {

class PosixBackend final : public IoBackend {
 public:
  explicit PosixBackend(int threads) : pool_(static_cast<size_t>(threads)) {
    NamePoolThreads(pool_, static_cast<size_t>(threads), "ec-io-");
  }
  ~PosixBackend() override { pool_.join(); }

  void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) override {
    boost::asio::post(pool_, [=, done = std::move(done)] {
      ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
      done(n < 0 ? -errno : n);
    });
  }

  void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) override {
    boost::asio::post(pool_, [=, done = std::move(done)] { done(Pwrite(fd, buf, len, offset)); });
  }

  ssize_t WriteBlocking(int fd, const void* buf, size_t len, uint64_t offset) override {
    return Pwrite(fd, buf, len, offset);
  }

  void Sync(int fd, Callback done) override {
    boost::asio::post(pool_,
                      [=, done = std::move(done)] { done(::fdatasync(fd) < 0 ? -errno : 0); });
  }

  std::string_view Name() const override { return "pread/pwrite"; }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace

ssize_t Pwrite(int fd, const void* buf, size_t len, uint64_t offset) {
  for (;;) {
    const ssize_t n = ::pwrite(fd, buf, len, static_cast<off_t>(offset));
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

std::unique_ptr<IoBackend> MakePosixBackend(int threads) {
  return std::make_unique<PosixBackend>(threads < 1 ? 1 : threads);
}

}  // namespace edgecache::io
