#include "parallel.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace attnroll {

namespace {
std::mutex blas_mutex;
int blas_users = 0;       // live BlasSingleThreaded instances
int blas_saved = 0;       // OpenBLAS's thread count before the first of them

int openblas_threads_before_us() {
    std::lock_guard<std::mutex> lock(blas_mutex);
    return blas_users ? blas_saved : openblas_get_num_threads();
}
}  // namespace

BlasSingleThreaded::BlasSingleThreaded() {
    std::lock_guard<std::mutex> lock(blas_mutex);
    if (blas_users++ == 0) {
        blas_saved = openblas_get_num_threads();
        if (blas_saved > 1) openblas_set_num_threads(1);
    }
}

BlasSingleThreaded::~BlasSingleThreaded() {
    std::lock_guard<std::mutex> lock(blas_mutex);
    if (--blas_users == 0 && blas_saved > 1) openblas_set_num_threads(blas_saved);
}

int choose_workers(int64_t requested, double work_per_task, int64_t tasks) {
    int64_t n = requested;
    if (n <= 0) {
        const int64_t online = std::max<int64_t>(1, std::thread::hardware_concurrency());
        n = std::min<int64_t>(std::max(1, openblas_threads_before_us()), online);
    }
    // Starting a thread costs tens of microseconds: below ~1e6 element
    // operations in a whole task set it is not worth it.
    if (work_per_task * static_cast<double>(tasks) < 1e6) n = 1;
    n = std::min<int64_t>(n, std::max<int64_t>(1, tasks));
    return static_cast<int>(std::max<int64_t>(1, n));
}

void parallel_for(int64_t tasks, int workers,
                  const std::function<void(int64_t task, int worker)> &fn) {
    if (workers <= 1 || tasks <= 1) {
        for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
        return;
    }
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto run = [&](int worker) {
        try {
            for (int64_t t; (t = next.fetch_add(1)) < tasks;) fn(t, worker);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next.store(tasks);  // stop handing out work
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(workers - 1));
    try {
        for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
    } catch (...) {
        // Could not start a thread: the ones running (and this one) finish the work.
    }
    run(0);
    for (auto &t : threads) t.join();
    if (error) std::rethrow_exception(error);
}

int64_t row_blocks(int64_t frames, int64_t rows, int workers) {
    if (workers <= 1 || frames % workers == 0) return 1;
    return std::min<int64_t>(workers, rows);
}

}  // namespace attnroll
