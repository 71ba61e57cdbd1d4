// Engine micro-benchmarks. Run from a release build:
//   build-release/bench/engine_bench --benchmark_min_time=1
// Figures (docs/performance.md):
//  * BM_Insert/<size>/<uring>: objects/s and bytes/s into the page cache; synced_MBps, the
//    same inserts including the sync() that puts them on disk; and vs_raw_write, that
//    divided by the bandwidth of writing as many bytes with pwrite + sync() to the same
//    disk right after (1.0 = as fast as the raw disk). uring=1 io_uring, 0 pread/pwrite.
//  * BM_Hit/<size>/<ram>: lookup + full read; ram=1 served from the RAM cache, ram=0 from
//    the segment files through the I/O backend (the OS page cache may hold them).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::TempDir;

StoreOptions BenchOptions(uint64_t ram_cache, bool uring = true) {
  StoreOptions o;
  o.io_backend = uring ? IoBackendKind::kIoUring : IoBackendKind::kPosix;
  o.capacity_bytes = 8ull << 30;
  o.segment_bytes = 64ull << 20;
  o.ram_cache_bytes = ram_cache;
  return o;
}

// Raw sequential write bandwidth (bytes/s) of the disk under `dir`: `bytes` written with
// pwrite in 1 MiB blocks, then sync(), so the figure is the disk's and not the page cache's.
double RawWriteBandwidth(const std::string& dir, uint64_t bytes) {
  std::string path = dir + "/raw";
  std::string block(1 << 20, 'r');
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < bytes; off += block.size()) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(off)) < 0) std::abort();
  }
  ::sync();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(bytes) / secs;
}

// Inserts objects of `size` bytes; afterwards writes as many bytes raw, and reports the
// ratio of the two bandwidths, each including the sync() that puts the bytes on disk.
void BM_Insert(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  TempDir dir;
  std::unique_ptr<Store> store;
  if (!Store::Open(BenchOptions(64ull << 20, state.range(1) != 0), dir.Sub("s"), &store).ok()) {
    state.SkipWithError("cannot open a store with this backend");
    return;
  }
  const std::string body = Body(1, size);
  uint64_t i = 0;
  ::sync();
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::unique_ptr<InsertHandle> insert;
    Status s = store->BeginInsert({"bench/" + std::to_string(i++), ""}, {}, &insert);
    if (s.ok()) s = insert->Append(body);
    if (s.ok()) s = insert->Commit();
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  ::sync();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double engine_bw = static_cast<double>(i * size) / secs;
  const double raw_bw = RawWriteBandwidth(dir.path(), std::max<uint64_t>(i * size, 32ull << 20));
  state.SetBytesProcessed(static_cast<int64_t>(i * size));
  state.SetItemsProcessed(static_cast<int64_t>(i));
  state.counters["synced_MBps"] = engine_bw / 1e6;
  state.counters["raw_synced_MBps"] = raw_bw / 1e6;
  state.counters["vs_raw_write"] = engine_bw / raw_bw;
}
BENCHMARK(BM_Insert)
    ->Args({1 << 10, 1})
    ->Args({1 << 10, 0})
    ->Iterations(20000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Insert)
    ->Args({64 << 10, 1})
    ->Args({64 << 10, 0})
    ->Iterations(4000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Insert)
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 0})
    ->Iterations(400)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Small inserts from several threads at once, as a proxy's concurrent misses make them:
// the per-insert thread hand-offs overlap, so objects/s scales past one writer's latency.
void BM_InsertConcurrent(benchmark::State& state) {
  static std::unique_ptr<TempDir> dir;
  static std::unique_ptr<Store> store;
  if (state.thread_index() == 0) {
    dir = std::make_unique<TempDir>();
    if (!Store::Open(BenchOptions(64ull << 20), dir->Sub("s"), &store).ok()) std::abort();
  }
  const std::string body = Body(1, static_cast<size_t>(state.range(0)));
  uint64_t i = 0;
  for (auto _ : state) {
    std::string key = "bench/" + std::to_string(state.thread_index()) + "/" + std::to_string(i++);
    Status s = testing::Put(*store, {key, ""}, body, {}, body.size());
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
  state.SetBytesProcessed(static_cast<int64_t>(i * body.size()));
  if (state.thread_index() == 0) {
    store.reset();
    dir.reset();
  }
}
BENCHMARK(BM_InsertConcurrent)
    ->Arg(1 << 10)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_Hit(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const bool ram = state.range(1) != 0;
  TempDir dir;
  std::unique_ptr<Store> store;
  StoreOptions options = BenchOptions(ram ? 256ull << 20 : 0);
  // probation:1 measures what admission = probation adds to a hit on a written object
  // (the store is not full, so every object is written).
  if (state.range(2) != 0) options.admission = Admission::kProbation;
  if (!Store::Open(options, dir.Sub("s"), &store).ok()) std::abort();
  constexpr int kObjects = 64;
  for (int k = 0; k < kObjects; ++k) {
    if (!testing::Put(*store, {"hit/" + std::to_string(k), ""}, Body(k, size), {}, size).ok()) {
      std::abort();
    }
  }
  std::string out;
  uint64_t i = 0;
  for (auto _ : state) {
    ObjectInfo info;
    Status s = store->Lookup({"hit/" + std::to_string(i++ % kObjects), ""}, &info);
    if (s.ok()) s = store->Read(info, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(i * size));
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_Hit)
    ->ArgsProduct({{1 << 10, 1 << 20}, {1, 0}, {0, 1}})
    ->ArgNames({"size", "ram", "probation"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace edgecache

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
