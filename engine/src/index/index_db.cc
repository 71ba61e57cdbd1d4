#include "index/index_db.h"

#include <pthread.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "format/index_layout.h"
#include "short_slice.h"

namespace edgecache::index {
namespace {

rocksdb::CompressionType BestCompression() {
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

// Whether the calling thread is RocksDB's thread named `name`: never a thread of ours that
// happens to flush or compact.
bool IsRocksThread(std::string_view name) {
  char own[16] = {};
  return pthread_getname_np(pthread_self(), own, sizeof(own)) == 0 && std::string_view(own) == name;
}

// RocksDB's background threads give way to the network threads they share cores with.
//
// Its flush thread lowers its own priority by kFlushNiceLevels at its first flush. A
// memtable flush takes 25-50 ms of CPU at once; at the network threads' priority it held
// a shared core for slices of several milliseconds, and that set the miss p99. Ten levels
// down its scheduler weight is about a tenth of a network thread's, still several times
// the ~2% of a saturated core a stream of misses needs it to have, so it keeps up (at the
// lowest priority, nice 19, it did not: writes then stalled). Compactions run at nice 19
// (LowerThreadPoolCPUPriority, at open).
//
// A lower priority is a smaller share, not a shorter turn: the flush thread also asks for
// short scheduler slices (short_slice.h) at its first flush. The compaction threads go
// further, to SCHED_IDLE at their first compaction: a turn ends at a timer tick (4 ms)
// unless a thread wakes, and a network thread busy with hits never sleeps, so at nice 19
// a compaction after a burst of misses still stopped it for 4 ms every ~270 ms (the 1 KiB
// hit p99 0.7 → 2.8 ms on the rig). Compactions may fall behind for a while: RocksDB slows
// writes only when level-0 files pile up, and misses ran as fast with them idle. Neither
// needs a privilege; only the thread itself is changed, and only once.
class BackgroundGivesWay final : public rocksdb::EventListener {
 public:
  static constexpr int kFlushNiceLevels = 10;

  void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
    thread_local bool done = false;
    if (done) return;
    done = true;
    if (!IsRocksThread("rocksdb:high")) return;
    const id_t self = static_cast<id_t>(::gettid());
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, self);
    if (nice != -1 || errno == 0)
      ::setpriority(PRIO_PROCESS, self, std::min(nice + kFlushNiceLevels, 19));
    UseShortSlice();
  }

  void OnCompactionBegin(rocksdb::DB*, const rocksdb::CompactionJobInfo&) override {
    thread_local bool done = false;
    if (done) return;
    done = true;
    if (IsRocksThread("rocksdb:low")) UseIdlePolicy();
  }
};

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNoSpace()) return Status::NoSpace(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsBusy() || s.IsTimedOut()) return Status::Busy(msg);
  return Status::IOError(msg);
}

void IndexDb::Close() {
  if (!db) return;
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles.clear();
  db->Close().PermitUncheckedError();
  db.reset();
}

Status OpenIndexDb(const StoreOptions& options, const std::string& path, IndexDb* out) {
  std::shared_ptr<rocksdb::Cache> block_cache =
      rocksdb::NewLRUCache(options.index_cache_bytes, /*num_shard_bits=*/6);

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = block_cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  // Level 0's filter partitions and index blocks are held by their table readers: every
  // lookup probes each level-0 file (a new URL's misses all of them), and finding its
  // filter partition in the block cache took a hash and a shard lock per file.
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.format_version = 5;

  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = BestCompression();
  cf.write_buffer_size = 16 << 20;
  cf.max_write_buffer_number = 3;
  cf.level_compaction_dynamic_level_bytes = true;
  // A Bloom filter over each memtable's whole keys: a new URL's lookups (Vary names, then
  // the entry) and its insert's read of the entry it replaces all miss, and without it
  // each walked the memtable's skiplist (~2% of a miss's CPU each). 2% of the memtable.
  cf.memtable_prefix_bloom_size_ratio = 0.02;
  cf.memtable_whole_key_filtering = true;

  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.max_open_files = 1024;
  db.max_background_jobs = 2;
  db.keep_log_file_num = 4;
  db.listeners.push_back(std::make_shared<BackgroundGivesWay>());
  // Memtables of every family together stay within a quarter of the index cache budget
  // (at least 16 MiB) and are charged to the block cache.
  db.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      std::max<size_t>(16 << 20, options.index_cache_bytes / 4), block_cache);

  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf},
      {format::kEntriesFamily, cf},
      {format::kVaryFamily, cf},
      {format::kTagsFamily, cf},
      {format::kSegmentsFamily, cf},
  };
  // Compactions start at the lowest CPU priority and move to SCHED_IDLE at their first job
  // (BackgroundGivesWay): on a node whose cores are all busy they would otherwise delay a
  // network thread's requests (a hit p99 several times higher while the index compacted
  // after a burst of misses). Flushes run ten levels down, not at the lowest: writes would
  // stall behind a memtable that cannot be flushed.
  rocksdb::Status lowered = rocksdb::Env::Default()->LowerThreadPoolCPUPriority(
      rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow);
  lowered.PermitUncheckedError();  // an Env that cannot: compactions at the usual priority
  rocksdb::DB* raw = nullptr;
  // Read-only: RocksDB replays its WAL into memory and writes nothing (no lock file either;
  // the store's own LOCK keeps writers out).
  rocksdb::Status s = options.read_only
                          ? rocksdb::DB::OpenForReadOnly(db, path, families, &out->handles, &raw)
                          : rocksdb::DB::Open(db, path, families, &out->handles, &raw);
  if (!s.ok()) return FromRocks(s, "open index " + path);
  out->db.reset(raw);
  out->meta = out->handles[0];
  out->entries = out->handles[1];
  out->vary = out->handles[2];
  out->tags = out->handles[3];
  out->segments = out->handles[4];
  return Status::OK();
}

}  // namespace edgecache::index
