// Short scheduler slices: see short_slice.h.
#include "short_slice.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace edgecache {
namespace {

// The kernel's struct sched_attr as sched_setattr(2) first defined it (48 bytes); glibc
// 2.36 declares neither the calls nor the struct, and the kernel's header clashes with
// <sched.h>.
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};
static_assert(sizeof(SchedAttr) == 48);
constexpr uint64_t kResetOnFork = 0x01;  // SCHED_FLAG_RESET_ON_FORK
constexpr uint64_t kSliceNs = std::chrono::nanoseconds(kBackgroundSlice).count();

// Sets the calling thread's policy to `policy` (SCHED_IDLE) or keeps it (-1), asks for
// kBackgroundSlice turns (which the kernel applies to SCHED_OTHER and SCHED_BATCH), and
// reads back what it took into *taken. Only a SCHED_OTHER or SCHED_BATCH thread (or,
// moving to SCHED_IDLE, one already there) is changed: real-time policies, and an idle
// thread someone else set, are left as they are.
bool SetBackground(int policy, SchedAttr* taken) {
  const pid_t self = ::gettid();
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  if (::syscall(SYS_sched_getattr, self, &attr, sizeof(attr), 0) != 0) return false;
  const bool fair = attr.sched_policy == SCHED_OTHER || attr.sched_policy == SCHED_BATCH;
  if (!fair && !(policy == SCHED_IDLE && attr.sched_policy == SCHED_IDLE)) return false;
  // Nice value and flags as they are (sched_setattr sets them all); the slice.
  attr.size = sizeof(attr);
  if (policy >= 0) attr.sched_policy = static_cast<uint32_t>(policy);
  attr.sched_flags &= kResetOnFork;
  attr.sched_runtime = kSliceNs;
  if (::syscall(SYS_sched_setattr, self, &attr, 0) != 0) return false;
  std::memset(taken, 0, sizeof(*taken));
  return ::syscall(SYS_sched_getattr, self, taken, sizeof(*taken), 0) == 0;
}

}  // namespace

bool UseShortSlice() {
  SchedAttr taken;
  // Kernels before custom slices accept the call and ignore the runtime of a fair thread:
  // only what the kernel reports back says whether it took it.
  return SetBackground(-1, &taken) && taken.sched_runtime == kSliceNs;
}

bool UseIdlePolicy() {
  SchedAttr taken;
  return SetBackground(SCHED_IDLE, &taken) && taken.sched_policy == SCHED_IDLE;
}

}  // namespace edgecache
