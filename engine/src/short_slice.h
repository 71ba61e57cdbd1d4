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
// A slice is only enforced at a wakeup or a timer tick, though (every 4 ms at HZ=250): a
// network thread that never sleeps under load is never woken, so a background thread the
// scheduler picks still runs to the next tick. Work that may fall behind for a while
// without harm (RocksDB's compactions) therefore runs under SCHED_IDLE: any other thread
// that wakes takes the core from it at once, and on a busy core it gets the smallest share
// (so its tick-long turns come a fifth as often as at nice 19), while it still has all of
// an idle core's time.
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

// Moves the calling thread to SCHED_IDLE, its nice value kept. True when the kernel took it (or the
// thread was already there); false for a real-time thread, which is left as it is. Needs no
// privilege; a thread cannot leave SCHED_IDLE again without one (RLIMIT_NICE permitting).
bool UseIdlePolicy();

}  // namespace edgecache
