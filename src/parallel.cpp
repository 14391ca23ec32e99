#include "parallel.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstdio>

#include "error.hpp"

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

Workers::Workers(int count) {
    try {
        for (int w = 1; w < count; ++w) threads_.emplace_back(&Workers::serve, this, w);
    } catch (...) {
        // Could not start a thread: the ones running (and the caller) do the work.
    }
}

Workers::~Workers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto &t : threads_) t.join();
}

void Workers::work(int worker) {
    try {
        for (int64_t t; (t = next_.fetch_add(1)) < tasks_;) (*job_)(t, worker);
    } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) {
            error_ = std::current_exception();
            // fail() wrote the message on this thread; the caller reports it.
            std::snprintf(error_message_, sizeof error_message_, "%s", message());
        }
        next_.store(tasks_);  // stop handing out work
    }
}

void Workers::serve(int worker) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        lock.unlock();
        work(worker);
        lock.lock();
        if (--busy_ == 0) finished_.notify_one();
    }
}

void Workers::run(int64_t tasks, const std::function<void(int64_t task, int worker)> &fn) {
    if (threads_.empty() || tasks <= 1) {
        for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        tasks_ = tasks;
        next_.store(0);
        busy_ = static_cast<int>(threads_.size());
        error_ = nullptr;
        ++generation_;
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
    if (error_) {
        set_message(error_message_);
        std::rethrow_exception(error_);
    }
}

int64_t row_blocks(int64_t frames, int64_t rows, int workers) {
    if (workers <= 1 || frames % workers == 0) return 1;
    return std::min<int64_t>(workers, rows);
}

}  // namespace attnroll
