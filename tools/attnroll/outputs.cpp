#include "outputs.hpp"

#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"
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
        created.push_back(dir);
    } else if (!std::filesystem::is_directory(dir)) {
        throw Error(dir.string() + ": cannot create the folder: " + (ec ? ec.message() : "a file is in the way"));
    }
}

}  // namespace

void Outputs::commit(bool force, long threads) const {
    if (!force)
        for (const File &f : files_)
            if (std::filesystem::exists(f.path)) throw Error(f.path + ": exists; pass --force to replace it");

    std::vector<std::filesystem::path> created;
    std::vector<char> written(files_.size(), 0);
    try {
        for (const File &f : files_) create_folders(std::filesystem::path(f.path).parent_path(), created);
        parallel_for(files_.size(), threads > 0 ? static_cast<size_t>(threads) : 0, [&](size_t i, size_t) {
            files_[i].write(force);
            written[i] = 1;
        });
    } catch (...) {
        std::error_code ignored;
        for (size_t i = 0; i < files_.size(); ++i)
            if (written[i]) std::filesystem::remove(files_[i].path, ignored);
        for (auto it = created.rbegin(); it != created.rend(); ++it) std::filesystem::remove(*it, ignored);  // if empty
        throw;
    }
}

}  // namespace cli
