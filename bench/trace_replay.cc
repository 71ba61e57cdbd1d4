// trace_replay: a request trace replayed through the real engine at a given capacity, for
// hit ratios and flash writes (docs/performance.md, issue "what to keep").
//
//   trace_replay --trace FILE --format oracleGeneral|csv --cache-size SIZE
//                [--admission all|probation]
//   trace_replay --generate FILE --format oracleGeneral|csv [--requests N] [--objects M]
//                [--alpha A] [--one-hit-share S] [--mean-size BYTES] [--scan N] [--seed N]
//
// Replay: each request looks its object up; a hit reads the body, a miss inserts an object
// of the traced size (time is compressed: requests follow each other at once). Printed:
// miss ratios, bytes written to segments per requested and per unique byte, resident memory
// per stored object, requests per second; the last line reads
// "object_miss_ratio=… byte_miss_ratio=… bytes_written=… requests=…". With probation, a
// tenth of the cache size is the probation queue (RAM) and the rest the segments, so both
// policies get the same bytes.
//
// Formats: libCacheSim's oracleGeneral (little-endian records of uint32 time, uint64 id,
// uint32 size, int64 next access) and CSV lines "time,id,size" (a header line is skipped).
// The generator writes a synthetic trace: Zipf(alpha) popularity over `objects` ids, a share
// of one-hit wonders (ids requested once), sizes around `mean-size` (log-normal, from the
// id), and optionally a scan of `scan` new ids once each in the middle.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "config/config.h"
#include "edgecache/store.h"

using namespace edgecache;

namespace {

struct Request {
  uint32_t time = 0;
  uint64_t id = 0;
  uint32_t size = 0;
};

#pragma pack(push, 1)
struct OracleRecord {
  uint32_t time;
  uint64_t id;
  uint32_t size;
  int64_t next;
};
#pragma pack(pop)
static_assert(sizeof(OracleRecord) == 24);

bool ReadTrace(const std::string& path, const std::string& format, std::vector<Request>* out,
               std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  if (format == "oracleGeneral") {
    OracleRecord r;
    while (in.read(reinterpret_cast<char*>(&r), sizeof(r))) out->push_back({r.time, r.id, r.size});
    if (in.gcount() != 0) {
      *error = path + ": a partial record at the end (not oracleGeneral?)";
      return false;
    }
    return true;
  }
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    unsigned long long t = 0, id = 0, size = 0;
    if (std::sscanf(line.c_str(), "%llu,%llu,%llu", &t, &id, &size) != 3) {
      if (number == 1) continue;  // a header
      *error = path + ":" + std::to_string(number) + ": not time,id,size";
      return false;
    }
    out->push_back({static_cast<uint32_t>(t), id, static_cast<uint32_t>(size)});
  }
  return true;
}

bool WriteTrace(const std::string& path, const std::string& format,
                const std::vector<Request>& trace) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (format == "csv") {
    out << "time,id,size\n";
    for (const Request& r : trace) out << r.time << ',' << r.id << ',' << r.size << '\n';
    return static_cast<bool>(out);
  }
  // oracleGeneral: the next access of each request, from a backward pass.
  std::vector<int64_t> next(trace.size(), -1);
  std::unordered_map<uint64_t, int64_t> seen;
  for (size_t i = trace.size(); i-- > 0;) {
    auto it = seen.find(trace[i].id);
    if (it != seen.end()) next[i] = it->second;
    seen[trace[i].id] = static_cast<int64_t>(i);
  }
  for (size_t i = 0; i < trace.size(); ++i) {
    OracleRecord r{trace[i].time, trace[i].id, trace[i].size, next[i]};
    out.write(reinterpret_cast<const char*>(&r), sizeof(r));
  }
  return static_cast<bool>(out);
}

struct GenOptions {
  uint64_t requests = 1'000'000, objects = 100'000, mean_size = 16 * 1024, scan = 0, seed = 1;
  double alpha = 1.0, one_hit_share = 0.3;
};

uint32_t SizeOf(uint64_t id, uint64_t mean, uint64_t seed) {
  std::mt19937_64 rng(id * 0x9E3779B97F4A7C15ull + seed);
  std::lognormal_distribution<double> d(std::log(static_cast<double>(mean)) - 0.5, 1.0);
  return static_cast<uint32_t>(std::clamp(d(rng), 128.0, 8.0 * 1024 * 1024));
}

std::vector<Request> Generate(const GenOptions& o) {
  std::vector<double> cdf(o.objects);
  double sum = 0;
  for (uint64_t i = 0; i < o.objects; ++i) cdf[i] = sum += 1.0 / std::pow(i + 1.0, o.alpha);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Request> trace;
  trace.reserve(o.requests + o.scan);
  uint64_t fresh = o.objects;  // ids past the popular ones: requested once
  for (uint64_t i = 0; i < o.requests; ++i) {
    if (o.scan > 0 && i == o.requests / 2) {
      for (uint64_t k = 0; k < o.scan; ++k, ++fresh) {
        trace.push_back({static_cast<uint32_t>(i), fresh, SizeOf(fresh, o.mean_size, o.seed)});
      }
    }
    uint64_t id;
    if (u(rng) < o.one_hit_share) {
      id = fresh++;
    } else {
      id = std::lower_bound(cdf.begin(), cdf.end(), u(rng) * sum) - cdf.begin();
    }
    trace.push_back({static_cast<uint32_t>(i), id, SizeOf(id, o.mean_size, o.seed)});
  }
  return trace;
}

uint64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      uint64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"replay a request trace through the engine: miss ratios and bytes written"};
  std::string trace_path, format = "oracleGeneral", generate, cache_size = "1GiB",
                          admission = "all", store_dir;
  GenOptions gen;
  app.add_option("--trace", trace_path, "the trace to replay");
  app.add_option("--format", format, "oracleGeneral or csv")
      ->check(CLI::IsMember({"oracleGeneral", "csv"}));
  app.add_option("--cache-size", cache_size, "store capacity, e.g. 512MiB");
  app.add_option("--admission", admission,
                 "all: every miss is written; probation: a tenth of the cache holds new objects "
                 "in RAM, written only when requested again")
      ->check(CLI::IsMember({"all", "probation"}));
  app.add_option("--store", store_dir, "store directory (default: a new temporary one)");
  app.add_option("--generate", generate, "write a synthetic trace to this file instead");
  app.add_option("--requests", gen.requests, "generator: requests (default 1000000)");
  app.add_option("--objects", gen.objects, "generator: popular objects (default 100000)");
  app.add_option("--alpha", gen.alpha, "generator: Zipf exponent (default 1.0)");
  app.add_option("--one-hit-share", gen.one_hit_share,
                 "generator: share of requests for ids requested once (default 0.3)");
  app.add_option("--mean-size", gen.mean_size, "generator: typical object size (default 16384)");
  app.add_option("--scan", gen.scan, "generator: a scan of this many new ids mid-trace");
  app.add_option("--seed", gen.seed, "generator: random seed (default 1)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  if (!generate.empty()) {
    std::vector<Request> trace = Generate(gen);
    if (!WriteTrace(generate, format, trace)) {
      std::fprintf(stderr, "trace_replay: cannot write %s\n", generate.c_str());
      return 1;
    }
    std::printf("wrote %zu requests to %s (%s)\n", trace.size(), generate.c_str(), format.c_str());
    return 0;
  }
  if (trace_path.empty()) {
    std::fprintf(stderr, "trace_replay: give --trace FILE (or --generate FILE)\n");
    return 2;
  }
  const auto capacity = config::ParseSize(cache_size);
  if (!capacity) {
    std::fprintf(stderr, "trace_replay: --cache-size '%s' is not a size\n", cache_size.c_str());
    return 2;
  }
  std::vector<Request> trace;
  std::string error;
  if (!ReadTrace(trace_path, format, &trace, &error)) {
    std::fprintf(stderr, "trace_replay: %s\n", error.c_str());
    return 2;
  }

  const bool temporary = store_dir.empty();
  if (temporary) {
    store_dir =
        (std::filesystem::temp_directory_path() / ("trace_replay." + std::to_string(::getpid())))
            .string();
  }
  StoreOptions options;
  options.capacity_bytes = *capacity;
  if (admission == "probation") {
    options.admission = Admission::kProbation;
    options.probation_bytes = *capacity / 10;
    options.capacity_bytes = *capacity - options.probation_bytes;
  }
  options.segment_bytes =
      std::clamp<uint64_t>((*capacity / 16) & ~((1ull << 20) - 1), 1ull << 20, 64ull << 20);
  options.chunk_bytes = std::min<uint64_t>(options.chunk_bytes, options.segment_bytes / 4);
  options.ram_cache_bytes = 0;  // every hit is a store hit: the disk is what is measured
  std::unique_ptr<Store> store;
  Status s = Store::Open(options, store_dir, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n", s.ToString().c_str());
    return 2;
  }
  const uint64_t rss_before = ResidentBytes();

  std::string body;
  uint64_t misses = 0, requested_bytes = 0, missed_bytes = 0, unique_bytes = 0;
  std::unordered_set<uint64_t> seen;
  const auto start = std::chrono::steady_clock::now();
  for (const Request& r : trace) {
    const uint32_t size = std::max<uint32_t>(r.size, 1);
    requested_bytes += size;
    if (seen.insert(r.id).second) unique_bytes += size;
    const ObjectKey key{"t/" + std::to_string(r.id), ""};
    ObjectInfo info;
    s = store->Lookup(key, &info);
    if (s.ok() && info.body_length == size) {
      s = store->Read(info, &body);
      if (s.ok()) continue;
    }
    s.IgnoreError();
    ++misses;
    missed_bytes += size;
    std::unique_ptr<InsertHandle> insert;
    s = store->BeginInsert(key, ObjectMeta(), &insert);
    if (s.ok()) {
      body.assign(size, static_cast<char>(r.id));
      s = insert->Append(body);
    }
    if (s.ok()) s = insert->Commit();
    if (!s.ok()) {
      std::fprintf(stderr, "trace_replay: insert: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  store->WaitForBackgroundWork();
  const StoreCounters c = store->Counters();
  const uint64_t rss_after = ResidentBytes();
  store.reset();
  if (temporary) std::filesystem::remove_all(store_dir);

  const double n = static_cast<double>(trace.size());
  std::printf("trace %s: %zu requests, %zu objects, %.1f MiB requested, %.1f MiB unique\n",
              trace_path.c_str(), trace.size(), seen.size(), requested_bytes / 1048576.0,
              unique_bytes / 1048576.0);
  std::printf("cache %s (admission %s): %llu objects stored at the end\n", cache_size.c_str(),
              admission.c_str(), static_cast<unsigned long long>(c.objects));
  if (admission == "probation") {
    std::printf("probation: %llu promoted, %llu not admitted, %llu held at the end\n",
                static_cast<unsigned long long>(c.promoted),
                static_cast<unsigned long long>(c.not_admitted),
                static_cast<unsigned long long>(c.probation_objects));
  }
  std::printf("written per requested byte %.3f, per unique byte %.3f\n",
              static_cast<double>(c.written_bytes) / std::max<uint64_t>(requested_bytes, 1),
              static_cast<double>(c.written_bytes) / std::max<uint64_t>(unique_bytes, 1));
  std::printf("resident memory per stored object %.0f bytes; %.0f requests/s\n",
              c.objects ? static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0) /
                              c.objects
                        : 0.0,
              n / seconds);
  std::printf("object_miss_ratio=%.4f byte_miss_ratio=%.4f bytes_written=%llu requests=%zu\n",
              n > 0 ? misses / n : 0.0,
              requested_bytes ? static_cast<double>(missed_bytes) / requested_bytes : 0.0,
              static_cast<unsigned long long>(c.written_bytes), trace.size());
  return 0;
}
