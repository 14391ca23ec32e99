// attnroll's own worker threads, and keeping OpenBLAS's threads out of their way.
#pragma once

#include <cstdint>
#include <functional>

namespace attnroll {

// While any instance is alive in the process, OpenBLAS runs single-threaded;
// the count in force before the first one is restored when the last one dies.
class BlasSingleThreaded {
public:
    BlasSingleThreaded();
    ~BlasSingleThreaded();
    BlasSingleThreaded(const BlasSingleThreaded &) = delete;
    BlasSingleThreaded &operator=(const BlasSingleThreaded &) = delete;
};

// Worker count for a call: `requested` (the THREADS option; 0 = OpenBLAS's own
// count before attnroll touched it, capped at the online processors), reduced
// to 1 when the work is too small to pay for starting threads, and never more
// than the number of independent tasks.
int choose_workers(int64_t requested, double work_per_task, int64_t tasks);

// Runs fn(task, worker) for task in [0, tasks) on `workers` threads (the caller
// is worker 0).  Exceptions from fn are rethrown in the caller after all join.
void parallel_for(int64_t tasks, int workers,
                  const std::function<void(int64_t task, int worker)> &fn);

// Splits each of `frames` frames into row blocks so that frames*blocks tasks
// keep `workers` threads evenly busy.
int64_t row_blocks(int64_t frames, int64_t rows, int workers);
// Rows [begin, end) of block b out of `blocks` over `rows` rows.
inline int64_t block_begin(int64_t b, int64_t blocks, int64_t rows) { return rows * b / blocks; }

}  // namespace attnroll
