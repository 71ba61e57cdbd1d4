// IndexDb: the RocksDB instance that holds the store's metadata index, opened with the
// column families of format/index_layout.h and tuned for an index of tens of millions of
// small entries in bounded memory:
//  * bloom filters (10 bits/key) on every family, so a miss costs no data-block read;
//  * index and filter blocks partitioned and kept in the block cache, charged to it, so
//    their memory is bounded by index_cache_bytes instead of growing with the key count;
//  * memtables charged to the same cache through a write buffer manager.
//
// Thread safety: RocksDB's (all methods of rocksdb::DB are thread-safe).
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "edgecache/options.h"
#include "edgecache/status.h"

namespace edgecache::index {

struct IndexDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; closed by Close()
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* entries = nullptr;
  rocksdb::ColumnFamilyHandle* vary = nullptr;
  rocksdb::ColumnFamilyHandle* tags = nullptr;
  rocksdb::ColumnFamilyHandle* segments = nullptr;

  ~IndexDb() { Close(); }
  void Close();
};

Status OpenIndexDb(const StoreOptions& options, const std::string& path, IndexDb* out);

// A RocksDB status as an engine status naming `what`.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace edgecache::index
