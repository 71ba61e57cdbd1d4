// Store-scale figures for docs/performance.md, on a store of --objects small objects:
//  * resident memory per stored object, beyond the configured caches;
//  * time to open the store after a clean stop and after kill -9;
//  * time for a tag purge to take effect with 100k and with all objects under the tag, and
//    time until its background cleanup has removed the index entries;
//  * the same 100k objects purged one URL at a time, for comparison.
// Run from a release build:  build-release/bench/engine_scale --objects 1000000
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string Key(uint64_t i) { return "scale.example/obj/" + std::to_string(i); }

std::vector<std::string> Tags(uint64_t i) {
  std::vector<std::string> tags{"all"};
  if (i < 100000) tags.emplace_back("first100k");
  if (i >= 100000 && i < 200000) tags.emplace_back("second100k");
  return tags;
}

uint64_t index_cache_mib = 16;

StoreOptions ScaleOptions() {
  StoreOptions o;
  o.capacity_bytes = 16ull << 30;
  o.segment_bytes = 64ull << 20;
  o.ram_cache_bytes = 16ull << 20;
  o.index_cache_bytes = index_cache_mib << 20;
  return o;
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

void Insert(Store& store, uint64_t begin, uint64_t end, int threads) {
  std::atomic<uint64_t> next{begin};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (uint64_t i; (i = next.fetch_add(1)) < end;) {
        ObjectMeta meta;
        meta.tags = Tags(i);
        meta.etag = "\"" + std::to_string(i) + "\"";
        Check(testing::Put(store, {Key(i), ""}, "0123456789abcdef", meta), "insert");
      }
    });
  }
  for (auto& t : pool) t.join();
}

// Fraction of `sample` random keys in [begin, end) that miss.
double MissRatio(Store& store, uint64_t begin, uint64_t end, int sample) {
  std::mt19937_64 rng(7);
  int misses = 0;
  for (int k = 0; k < sample; ++k) {
    ObjectInfo info;
    misses += store.Lookup({Key(begin + rng() % (end - begin)), ""}, &info).IsNotFound();
  }
  return static_cast<double>(misses) / sample;
}

}  // namespace
}  // namespace edgecache

int main(int argc, char** argv) {
  using namespace edgecache;
  CLI::App app{"edgecache store-scale benchmark"};
  uint64_t objects = 1000000;
  int threads = 2;
  app.add_option("--objects", objects, "objects to store (>= 200000)")
      ->check(CLI::Range(200000, 100000000));
  app.add_option("--threads", threads, "inserting threads")->check(CLI::Range(1, 64));
  app.add_option("--index-cache-mib", index_cache_mib,
                 "RocksDB block cache (index, filters, memtables); small so it fills early")
      ->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  testing::TempDir tmp;
  const std::string dir = tmp.Sub("store");
  std::unique_ptr<Store> store;
  Check(Store::Open(ScaleOptions(), dir, &store), "open");
  const uint64_t rss_before = ResidentBytes();
  auto t0 = Clock::now();
  Insert(*store, 0, objects / 2, threads);
  const uint64_t rss_half = ResidentBytes();
  Insert(*store, objects / 2, objects, threads);
  double insert_s = Ms(t0) / 1000;
  const uint64_t rss_after = ResidentBytes();
  const StoreOptions o = ScaleOptions();
  const double caches = static_cast<double>(o.ram_cache_bytes + o.index_cache_bytes);
  const double delta = static_cast<double>(rss_after) - static_cast<double>(rss_before);
  // The second half's growth per object: what each further object costs once the caches
  // (which fill early) are warm. The goal is at most 16 bytes.
  const double marginal =
      (static_cast<double>(rss_after) - static_cast<double>(rss_half)) / (objects - objects / 2);
  std::printf("backend %s\n", std::string(store->IoBackendName()).c_str());
  std::printf("inserted %llu objects in %.1f s (%.0f objects/s, %d threads)\n",
              (unsigned long long)objects, insert_s, objects / insert_s, threads);
  std::printf(
      "resident memory: +%.1f MiB for %llu objects (configured caches: %.0f MiB); "
      "growth over the second half: %.1f bytes/object\n",
      delta / 1048576, (unsigned long long)objects, caches / 1048576, marginal);

  // Open after a clean stop.
  store.reset();
  t0 = Clock::now();
  Check(Store::Open(ScaleOptions(), dir, &store), "reopen");
  std::printf("open after clean stop: %.1f ms (%llu objects)\n", Ms(t0),
              (unsigned long long)store->Counters().objects);
  store.reset();

  // Open after kill -9: a child writes until killed.
  int fds[2];
  if (::pipe(fds) != 0) return 1;
  pid_t pid = ::fork();
  if (pid == 0) {
    std::unique_ptr<Store> child;
    Check(Store::Open(ScaleOptions(), dir, &child), "child open");
    char ready = 'r';
    for (uint64_t i = objects;; ++i) {
      Check(testing::Put(*child, {Key(i), ""}, "killed writer", {}), "child insert");
      if (i == objects + 1000 && ::write(fds[1], &ready, 1) != 1) ::_exit(2);
    }
  }
  char ready;
  if (::read(fds[0], &ready, 1) != 1) return 1;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  t0 = Clock::now();
  Check(Store::Open(ScaleOptions(), dir, &store), "open after kill");
  std::printf("open after kill -9: %.1f ms\n", Ms(t0));
  store->WaitForBackgroundWork();  // counter recount

  // Tag purges.
  for (auto [tag, begin, end] :
       {std::tuple<const char*, uint64_t, uint64_t>{"first100k", 0, 100000},
        {"all", 100000, objects}}) {
    uint64_t covered = end - begin;
    t0 = Clock::now();
    Check(store->PurgeTag(tag, PurgeMode::kHard, nullptr), "purge tag");
    double effect_ms = Ms(t0);
    double miss = MissRatio(*store, begin, end, 10000);
    auto t1 = Clock::now();
    store->WaitForBackgroundWork();
    std::printf(
        "purge tag %s (%llu live objects under it): in effect after %.3f ms (durable; "
        "%.1f%% of 10000 sampled URLs miss), index entries removed after %.0f ms\n",
        tag, (unsigned long long)covered, effect_ms, miss * 100, Ms(t1));
    if (std::string(tag) == "first100k") {
      // The next 100k objects purged one URL at a time, for comparison.
      t0 = Clock::now();
      for (uint64_t i = 100000; i < 200000; ++i) {
        Check(store->PurgeUrl(Key(i), PurgeMode::kHard, nullptr), "purge url");
      }
      std::printf("purge by URL list of 100000 objects: %.0f ms\n", Ms(t0));
    }
  }
  std::printf("objects left: %llu\n", (unsigned long long)store->Counters().objects);
  return 0;
}
