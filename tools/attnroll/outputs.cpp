#include "outputs.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <system_error>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"
#include "io/interrupt.hpp"
#include "parallel_for.hpp"

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

namespace {

// Creates `dir` and any missing parents; appends the ones it created to
// `created`, outermost first.
void create_folders(const std::filesystem::path &dir, std::vector<std::filesystem::path> &created) {
    if (dir.empty() || std::filesystem::is_directory(dir)) return;
    create_folders(dir.parent_path(), created);
    std::error_code ec;
    if (std::filesystem::create_directory(dir, ec)) {
        remove_folder_on_interrupt(dir.string());
        created.push_back(dir);
    } else if (!std::filesystem::is_directory(dir)) {
        throw Error(dir.string() + ": cannot create the folder: " + (ec ? ec.message() : "a file is in the way"));
    }
}

}  // namespace

// Temporary files a killed run left in the folders written to, removed once
// per folder per run, with a note.
void Outputs::clear_stale_temps_once() const {
    static std::mutex mutex;
    static std::set<std::string> done;
    std::set<std::string> folders;
    for (const File &f : files_) folders.insert(std::filesystem::path(f.path).parent_path().string());
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::string &dir : folders) {
        if (!done.insert(dir).second) continue;
        const size_t n = remove_stale_temps(dir.empty() ? "." : dir);
        if (n)
            std::fprintf(stderr, "attnroll: %s: removed %zu temporary file%s left by an interrupted run\n",
                         dir.c_str(), n, n == 1 ? "" : "s");
    }
}

void Outputs::commit(bool force, long threads) const {
    if (!force)
        for (const File &f : files_)
            if (std::filesystem::exists(f.path)) throw Error(f.path + ": exists; pass --force to replace it");

    std::vector<std::filesystem::path> created;
    std::vector<char> written(files_.size(), 0);
    // New files belong to this unit until it is complete: an interruption
    // removes them (a file replaced with --force is registered once written).
    std::vector<std::string> registered;
    for (const File &f : files_)
        if (!std::filesystem::exists(f.path)) {
            remove_on_interrupt(f.path);
            registered.push_back(f.path);
        }
    const auto release = [&] {
        for (const std::string &p : registered) keep_on_interrupt(p);
        for (const auto &d : created) keep_on_interrupt(d.string());
    };
    try {
        for (const File &f : files_) create_folders(std::filesystem::path(f.path).parent_path(), created);
        clear_stale_temps_once();
        parallel_for(files_.size(), threads > 0 ? static_cast<size_t>(threads) : 0, [&](size_t i, size_t) {
            files_[i].write(force);
            if (force) remove_on_interrupt(files_[i].path);
            written[i] = 1;
        });
        if (force)
            for (const File &f : files_) registered.push_back(f.path);
        release();
    } catch (...) {
        if (force)
            for (const File &f : files_) registered.push_back(f.path);
        release();
        std::error_code ignored;
        for (size_t i = 0; i < files_.size(); ++i)
            if (written[i]) std::filesystem::remove(files_[i].path, ignored);
        for (auto it = created.rbegin(); it != created.rend(); ++it) std::filesystem::remove(*it, ignored);  // if empty
        throw;
    }
}

}  // namespace cli
