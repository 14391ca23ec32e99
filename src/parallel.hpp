// attnroll's own worker threads, and keeping OpenBLAS's threads out of their way.
#pragma once

#include <cstdint>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

// A fixed set of worker threads for one computation (a call or a stream):
// started once, woken for each parallel step, so a 24-layer rollout does not
// pay for starting threads 24 times.  Idle workers sleep on a condition
// variable and use no processor time.
class Workers {
public:
    // `count` >= 1 workers including the calling thread.  If the system
    // refuses to start a thread, the work runs on fewer.
    explicit Workers(int count);
    ~Workers();
    Workers(const Workers &) = delete;
    Workers &operator=(const Workers &) = delete;

    int count() const { return static_cast<int>(threads_.size()) + 1; }

    // Runs fn(task, worker) for every task in [0, tasks), the caller being
    // worker 0; returns when all are done.  An exception thrown by fn stops
    // the handing out of tasks and is rethrown here, with the thread's
    // message (error.hpp) of the worker that threw it.
    void run(int64_t tasks, const std::function<void(int64_t task, int worker)> &fn);

private:
    void serve(int worker);
    void work(int worker);

    std::mutex mutex_;
    std::condition_variable wake_, finished_;
    const std::function<void(int64_t, int)> *job_ = nullptr;
    int64_t tasks_ = 0;
    std::atomic<int64_t> next_{0};
    int busy_ = 0;
    uint64_t generation_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
    char error_message_[512] = "";  // the message fail() wrote on the thread that threw error_
    std::vector<std::thread> threads_;
};

// Splits each of `frames` frames into row blocks so that frames*blocks tasks
// keep `workers` threads evenly busy.
int64_t row_blocks(int64_t frames, int64_t rows, int workers);
// Rows [begin, end) of block b out of `blocks` over `rows` rows.
inline int64_t block_begin(int64_t b, int64_t blocks, int64_t rows) { return rows * b / blocks; }

}  // namespace attnroll
