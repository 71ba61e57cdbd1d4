// StoreDir: the store directory's own files. The EDGECACHE marker says the directory holds
// a store and in which format; the LOCK file admits one writer (which records its pid in
// it) or any number of read-only users, never both.
//
// Thread safety: none needed; the lock is held from Open until destruction.
#pragma once

#include <memory>
#include <string>

#include "edgecache/options.h"
#include "edgecache/status.h"

namespace edgecache {

class StoreDir {
 public:
  // Creates `dir` when missing and allowed, checks its marker (or writes one into an
  // empty directory) and takes the lock. Busy, naming the holder, when it is taken.
  static Status Open(const StoreOptions& options, const std::string& dir,
                     std::unique_ptr<StoreDir>* out);
  ~StoreDir();

 private:
  StoreDir() = default;
  int lock_fd_ = -1;
};

}  // namespace edgecache
