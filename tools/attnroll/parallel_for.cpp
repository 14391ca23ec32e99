#include "parallel_for.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace cli {

size_t worker_count(size_t count, size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    return std::max<size_t>(1, std::min(count, threads));
}

void parallel_for(size_t count, size_t threads, const std::function<void(size_t index, size_t worker)> &task) {
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&](size_t worker) {
        while (!failed.load()) {
            const size_t index = next++;
            if (index >= count) return;
            try {
                task(index, worker);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex);
                if (!first_error) first_error = std::current_exception();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    try {
        for (size_t w = 1; w < worker_count(count, threads); ++w) pool.emplace_back(work, w);
    } catch (const std::system_error &) {
        // No more threads: the ones started and this one share the tasks.
    }
    work(0);
    for (std::thread &t : pool) t.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace cli
