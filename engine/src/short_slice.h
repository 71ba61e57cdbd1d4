// Short scheduler slices for background threads.
//
// The engine's background threads (the store's workers and maintenance thread, RocksDB's
// flush and compaction threads) share cores with the network threads. A lower priority
// (RocksDB's run at nice 10 and 19) gives a smaller share of a busy core, not shorter
// turns: once the scheduler picks one of them, it runs for a whole slice (a few
// milliseconds by default), and every request on that core waits for it. That set the miss p99 on a
// saturated core. Linux 6.12's scheduler (EEVDF custom slices) lets a thread ask for a shorter
// slice: such a thread runs in turns of kBackgroundSlice and gives the core back in between.
//
// Thread safety: changes only the calling thread.
#pragma once

#include <chrono>

namespace edgecache {

inline constexpr std::chrono::microseconds kBackgroundSlice{100};

// Asks for kBackgroundSlice turns for the calling thread, its nice value unchanged. True
// when the kernel took it; false on a kernel without custom slices (before 6.12), where
// the thread runs as before. Needs no privilege.
bool UseShortSlice();

}  // namespace edgecache
