// How much memory the process can still take without the kernel's OOM killer
// stepping in: large working buffers are checked against it first, so that a
// request the machine cannot hold is ATTNROLL_E_MEMORY and not a killed process.
#pragma once

#include <cstddef>

namespace attnroll {

// Bytes available now: /proc/meminfo's MemAvailable, lowered to the headroom
// under the process's cgroup v2 memory.max when one is set.  SIZE_MAX when
// neither can be read (not Linux, no /proc): no bound is then applied.
size_t available_memory() noexcept;

// Throws Error(ATTNROLL_E_MEMORY) naming both sizes when `bytes` exceeds
// available_memory().  Checked for buffers of kCheckedBytes and more only:
// reading /proc costs about 20 us, nothing beside populating 64 MiB.
constexpr size_t kCheckedBytes = size_t(64) << 20;
void reserve_or_fail(size_t bytes);

}  // namespace attnroll
