// Tasks shared out over a few threads, for the tool's frame-parallel rollout
// and its output writing.
#pragma once

#include <cstddef>
#include <functional>

namespace cli {

// Calls task(index, worker) for every index in [0, count), on up to `threads`
// threads (0: one per core), the calling thread among them; `worker` in
// [0, threads) names the thread, for per-thread buffers.  Once a task throws,
// no further task starts; the first exception is rethrown when every running
// task has finished.  If fewer threads can be started, those run all tasks.
void parallel_for(size_t count, size_t threads, const std::function<void(size_t index, size_t worker)> &task);

// The thread count parallel_for uses for `threads` (0: one per core), at
// most `count` and at least 1.
size_t worker_count(size_t count, size_t threads);

}  // namespace cli
