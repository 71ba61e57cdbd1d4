// Engine micro-benchmarks. Run from a release build:
//   build-release/bench/engine_bench --benchmark_min_time=1
// Figures (docs/performance.md):
//  * BM_Insert/<size>: objects/s and bytes/s, and vs_raw_write = engine bytes/s divided by
//    the raw sequential pwrite bandwidth of the same disk, measured in the same run just
//    before (1.0 would be "as fast as writing the bytes with pwrite").
//  * BM_Hit/<size>/<ram>: lookup + full read; ram=1 served from the RAM cache, ram=0 from
//    the segment files through the I/O backend (the OS page cache may hold them).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
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

StoreOptions BenchOptions(uint64_t ram_cache) {
  StoreOptions o;
  o.capacity_bytes = 8ull << 30;
  o.segment_bytes = 64ull << 20;
  o.ram_cache_bytes = ram_cache;
  return o;
}

// Raw sequential write bandwidth (bytes/s): pwrite in 1 MiB blocks, no sync, like the
// engine under SyncPolicy::kNone.
double RawWriteBandwidth(const std::string& dir, uint64_t bytes) {
  std::string path = dir + "/raw";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  std::string block(1 << 20, 'r');
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < bytes; off += block.size()) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(off)) < 0) std::abort();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(bytes) / secs;
}

void BM_Insert(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  TempDir dir;
  std::unique_ptr<Store> store;
  if (!Store::Open(BenchOptions(64ull << 20), dir.Sub("s"), &store).ok()) std::abort();
  const std::string body = Body(1, size);
  uint64_t i = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::unique_ptr<InsertHandle> insert;
    Status s = store->BeginInsert({"bench/" + std::to_string(i++), ""}, {}, &insert);
    if (s.ok()) s = insert->Append(body);
    if (s.ok()) s = insert->Commit();
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double engine_bw = static_cast<double>(i * size) / secs;
  const double raw_bw = RawWriteBandwidth(dir.path(), std::max<uint64_t>(i * size, 64ull << 20));
  state.SetBytesProcessed(static_cast<int64_t>(i * size));
  state.SetItemsProcessed(static_cast<int64_t>(i));
  state.counters["raw_write_MBps"] = raw_bw / 1e6;
  state.counters["vs_raw_write"] = engine_bw / raw_bw;
}
BENCHMARK(BM_Insert)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Hit(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const bool ram = state.range(1) != 0;
  TempDir dir;
  std::unique_ptr<Store> store;
  if (!Store::Open(BenchOptions(ram ? 256ull << 20 : 0), dir.Sub("s"), &store).ok()) std::abort();
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
    ->ArgsProduct({{1 << 10, 1 << 20}, {1, 0}})
    ->ArgNames({"size", "ram"})
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
