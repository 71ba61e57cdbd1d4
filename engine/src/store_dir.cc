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

// Reads the marker of an existing store (its format version in *version), or checks that a
// new one may be created here.
Status CheckMarker(const std::string& dir, bool* exists, uint32_t* version) {
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
  in >> magic >> word >> *version;
  if (magic != "edgecache-store" || word != "format") {
    return Status::Corruption(marker + " is not an edgecache store marker");
  }
  if (*version < format::kOldestStoreFormatVersion || *version > format::kStoreFormatVersion) {
    return Status::Incompatible("store " + dir + " has format version " + std::to_string(*version) +
                                "; this build reads versions " +
                                std::to_string(format::kOldestStoreFormatVersion) + " to " +
                                std::to_string(format::kStoreFormatVersion));
  }
  return Status::OK();
}

// Replaces the marker whole (a crash leaves the old one or the new one).
Status WriteMarker(const std::string& dir) {
  const std::string marker = dir + "/" + kMarkerFile;
  const std::string temp = marker + ".tmp";
  const std::string text =
      "edgecache-store format " + std::to_string(format::kStoreFormatVersion) + "\n";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + temp);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written) return Status::FromErrno(err, "write " + temp);
  if (::rename(temp.c_str(), marker.c_str()) != 0) {
    return Status::FromErrno(errno, "rename " + temp);
  }
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
  uint32_t version = 0;
  Status s = CheckMarker(dir, &exists, &version);
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
  // A store of an older format is marked with this one once opened for writing, as it may
  // then hold keys the older builds do not read (docs/storage-format.md).
  if (!exists || (version < format::kStoreFormatVersion && !options.read_only)) {
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
