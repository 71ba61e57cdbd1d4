#include "store_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "format/index_layout.h"

namespace edgecache {
namespace {

namespace fs = std::filesystem;

constexpr char kMarkerFile[] = "EDGECACHE";
constexpr char kLockFile[] = "LOCK";

// Reads the marker of an existing store, or checks that a new one may be created here.
Status CheckMarker(const std::string& dir, bool* exists) {
  std::string marker = dir + "/" + kMarkerFile;
  std::ifstream in(marker);
  if (!in) {
    *exists = false;
    std::error_code ec;
    if (!fs::is_empty(dir, ec)) {
      return Status::InvalidArgument(dir +
                                     " is not empty and holds no edgecache store: refusing to "
                                     "use it (point --store at an empty or new directory)");
    }
    return Status::OK();
  }
  *exists = true;
  std::string magic, word;
  uint32_t version = 0;
  in >> magic >> word >> version;
  if (magic != "edgecache-store" || word != "format") {
    return Status::Corruption(marker + " is not an edgecache store marker");
  }
  if (version != format::kStoreFormatVersion) {
    return Status::Incompatible("store " + dir + " has format version " + std::to_string(version) +
                                "; this build reads version " +
                                std::to_string(format::kStoreFormatVersion));
  }
  return Status::OK();
}

Status WriteMarker(const std::string& dir) {
  std::string marker = dir + "/" + kMarkerFile;
  std::ofstream out(marker, std::ios::trunc);
  out << "edgecache-store format " << format::kStoreFormatVersion << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + marker);
  return Status::OK();
}

}  // namespace

Status StoreDir::Open(const StoreOptions& options, const std::string& dir,
                      std::unique_ptr<StoreDir>* out) {
  std::unique_ptr<StoreDir> d(new StoreDir());
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (!options.create_if_missing || options.read_only)
      return Status::NotFound("no store at " + dir);
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  }
  bool exists = false;
  Status s = CheckMarker(dir, &exists);
  if (!s.ok()) return s;
  if (!exists && options.read_only) return Status::NotFound("no store at " + dir);

  // Writers hold the lock exclusively; read-only users share it (and write no pid).
  std::string lock_path = dir + "/" + kLockFile;
  d->lock_fd_ = options.read_only ? ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC)
                                  : ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->lock_fd_ < 0) return Status::FromErrno(errno, "open " + lock_path);
  if (::flock(d->lock_fd_, (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    // The file names the last process that opened the store for writing: the holder when
    // a reader is refused (only a writer excludes readers), maybe not when a writer is.
    char pid[32] = {};
    ssize_t n = ::pread(d->lock_fd_, pid, sizeof(pid) - 1, 0);
    std::string writer = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!writer.empty() && writer.back() == '\n') writer.pop_back();
    if (options.read_only) {
      return Status::Busy("store " + dir + " is in use by another process (pid " + writer + ")");
    }
    return Status::Busy("store " + dir +
                        " is in use by another process: a node (last opened by pid " + writer +
                        ") or a read-only user such as edgecachectl");
  }
  if (!options.read_only) {
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(d->lock_fd_, 0) != 0 || ::pwrite(d->lock_fd_, pid.data(), pid.size(), 0) < 0) {
      return Status::FromErrno(errno, "write " + lock_path);
    }
  }
  if (!exists) {
    s = WriteMarker(dir);
    if (!s.ok()) return s;
  }

  *out = std::move(d);
  return Status::OK();
}

StoreDir::~StoreDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace edgecache
