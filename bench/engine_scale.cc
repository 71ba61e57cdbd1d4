// Store-scale figures for docs/performance.md, on a store of --objects small objects:
//  * resident memory per stored object, beyond the configured caches;
//  * time to open the store after a clean stop and after kill -9;
//  * a tag purge of all of them: time until it is in effect (the call returns durable;
//    then every covered URL is looked up and must miss) and until its background cleanup
//    has removed the index entries and released their bytes from the store's accounts;
//  * the same objects stored again and purged by URL list, a call per URL and one call for
//    the list (--url-purge-objects of them, the time for all extrapolated), for comparison.
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
  // Extra tags on a fifth of the objects: the index cost of objects with several tags.
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

// How many of the keys in [begin, end) a lookup still finds.
uint64_t Hits(Store& store, uint64_t begin, uint64_t end) {
  uint64_t hits = 0;
  for (uint64_t i = begin; i < end; ++i) {
    ObjectInfo info;
    hits += store.Lookup({Key(i), ""}, &info).ok();
  }
  return hits;
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
  uint64_t url_objects = 100000;
  app.add_option("--url-purge-objects", url_objects,
                 "objects purged one URL at a time for the comparison (default 100000; the "
                 "time for all objects is extrapolated from their rate)")
      ->check(CLI::Range(1000, 100000000));
  app.add_option("--index-cache-mib", index_cache_mib,
                 "RocksDB block cache (index, filters, memtables); small so it fills early")
      ->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);
  url_objects = std::min(url_objects, objects);
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

  // Purge by tag of every stored object (all carry the tag "all"), then the same objects
  // stored again and purged by URL list.
  const uint64_t bytes_before = store->Counters().body_bytes;
  t0 = Clock::now();
  Check(store->PurgeTag("all", PurgeMode::kHard, nullptr), "purge tag");
  const double tag_effect_ms = Ms(t0);
  auto t1 = Clock::now();
  const uint64_t tag_hits = Hits(*store, 0, objects);  // every covered URL, not a sample
  const double check_ms = Ms(t1);
  store->WaitForBackgroundWork();
  const double tag_cleanup_ms = Ms(t0);
  const StoreCounters after_tag = store->Counters();
  std::printf(
      "purge tag (%llu objects under it): in effect and durable after %.3f ms; then all %llu "
      "URLs looked up in %.0f ms: %llu hits (must be 0)\n",
      (unsigned long long)objects, tag_effect_ms, (unsigned long long)objects, check_ms,
      (unsigned long long)tag_hits);
  std::printf(
      "  index entries removed and their bytes released after %.0f ms (live body bytes %.1f "
      "MiB -> %.1f MiB, objects left %llu: the kill -9 writer's, untagged)\n",
      tag_cleanup_ms, bytes_before / 1048576.0, after_tag.body_bytes / 1048576.0,
      (unsigned long long)after_tag.objects);

  // The same objects by URL list, two ways: a purge call per URL (a synced write each),
  // and one PurgeUrls call for the list (one sync; what `edgecachectl purge url` does).
  double url_ms[2] = {0, 0};
  for (int batched = 0; batched < 2; ++batched) {
    t0 = Clock::now();
    Insert(*store, 0, url_objects, threads);
    std::printf("stored the first %llu objects again in %.1f s\n", (unsigned long long)url_objects,
                Ms(t0) / 1000);
    t0 = Clock::now();
    if (batched) {
      std::vector<std::string> keys;
      for (uint64_t i = 0; i < url_objects; ++i) keys.push_back(Key(i));
      Check(store->PurgeUrls(keys, PurgeMode::kHard, nullptr), "purge urls");
    } else {
      for (uint64_t i = 0; i < url_objects; ++i) {
        Check(store->PurgeUrl(Key(i), PurgeMode::kHard, nullptr), "purge url");
      }
    }
    url_ms[batched] = Ms(t0);
    const uint64_t hits = Hits(*store, 0, url_objects);
    const double full_ms = url_ms[batched] * static_cast<double>(objects) / url_objects;
    std::printf(
        "purge by URL list (%s) of the same %llu objects: %.0f ms (%.1f us per URL, %llu hits "
        "after: must be 0)%s\n",
        batched ? "one PurgeUrls call" : "a call per URL", (unsigned long long)url_objects,
        url_ms[batched], url_ms[batched] * 1000 / url_objects, (unsigned long long)hits,
        url_objects == objects ? ""
                               : (" -> " + std::to_string(static_cast<long long>(full_ms)) +
                                  " ms for all " + std::to_string(objects) + " at that rate")
                                     .c_str());
    std::printf(
        "  ratio to the tag purge: %.0fx until in effect, %.1fx until the index entries are "
        "gone\n",
        full_ms / std::max(tag_effect_ms, 0.001), full_ms / tag_cleanup_ms);
  }
  std::printf("objects left: %llu\n", (unsigned long long)store->Counters().objects);
  return 0;
}
