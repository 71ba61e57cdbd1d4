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

}  // namespace

bool UseShortSlice() {
  const pid_t self = ::gettid();
  const uint64_t slice = std::chrono::nanoseconds(kBackgroundSlice).count();
  SchedAttr attr;
  std::memset(&attr, 0, sizeof(attr));
  if (::syscall(SYS_sched_getattr, self, &attr, sizeof(attr), 0) != 0) return false;
  // Only a thread the fair scheduler runs: real-time and idle policies are left as set.
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return false;
  // Policy, nice value and flags as they are (sched_setattr sets them all); the slice.
  attr.size = sizeof(attr);
  attr.sched_flags &= kResetOnFork;
  attr.sched_runtime = slice;
  if (::syscall(SYS_sched_setattr, self, &attr, 0) != 0) return false;
  // Kernels before custom slices accept the call and ignore the runtime of a fair thread:
  // only what the kernel reports back says whether it took it.
  std::memset(&attr, 0, sizeof(attr));
  if (::syscall(SYS_sched_getattr, self, &attr, sizeof(attr), 0) != 0) return false;
  return attr.sched_runtime == slice;
}

}  // namespace edgecache
