#include "outputs.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "cli_error.hpp"

namespace cli {

void Outputs::npz(const std::string &path, std::vector<NpzEntry> entries) {
    auto shared = std::make_shared<std::vector<NpzEntry>>(std::move(entries));
    add(path, [path, shared](bool force) { write_npz(path, *shared, force); });
}

void Outputs::bytes(const std::string &path, std::string content) {
    auto shared = std::make_shared<std::string>(std::move(content));
    add(path, [path, shared](bool force) { write_file_atomic(path, shared->data(), shared->size(), force); });
}

void Outputs::add(const std::string &path, Writer write) { files_.push_back({path, std::move(write)}); }

std::vector<std::string> Outputs::paths() const {
    std::vector<std::string> out;
    for (const File &f : files_) out.push_back(f.path);
    return out;
}

void Outputs::commit(bool force, long threads) const {
    if (!force)
        for (const File &f : files_)
            if (std::filesystem::exists(f.path)) throw Error(f.path + ": exists; pass --force to replace it");

    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&] {
        while (!failed.load()) {
            const size_t i = next++;
            if (i >= files_.size()) return;
            try {
                files_[i].write(force);
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex);
                if (!first_error) first_error = std::current_exception();
                failed = true;
            }
        }
    };
    if (threads <= 0) threads = static_cast<long>(std::max(1u, std::thread::hardware_concurrency()));
    const size_t helpers = std::min(files_.size(), static_cast<size_t>(threads)) - (files_.empty() ? 0 : 1);
    std::vector<std::thread> pool;
    try {
        for (size_t t = 0; t < helpers; ++t) pool.emplace_back(work);
    } catch (const std::system_error &) {
        // No more threads: the ones started and this one share the work.
    }
    work();
    for (std::thread &t : pool) t.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace cli
