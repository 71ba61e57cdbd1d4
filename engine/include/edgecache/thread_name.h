// Thread names, as `top -H`, `ps -L`, perf and /proc/PID/task/*/comm show them: "ec-" and
// the thread's role ("ec-store-0", "ec-net-1"), at most 15 characters (the kernel's limit;
// longer names are cut). The process's main thread keeps the binary's name, which is the
// process's name for `ps` and `pkill`.
//
// Thread safety: NameThisThread names only the calling thread; NamePoolThreads may be called
// from any thread but one that belongs to `pool`.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <string>

namespace edgecache {

void NameThisThread(const std::string& name);

// Names each of the `threads` threads of `pool` `prefix` and its number, from 0, and runs
// `setup` (when given) on each. Call it before anything else is posted to the pool: it
// holds each thread until every one has taken a name (so no thread takes two), and returns
// once they all have.
void NamePoolThreads(boost::asio::thread_pool& pool, size_t threads, const std::string& prefix,
                     const std::function<void()>& setup = {});

}  // namespace edgecache
