#include "outputs.hpp"

#include <filesystem>
#include <memory>

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

void Outputs::commit(bool force, long threads) const {
    if (!force)
        for (const File &f : files_)
            if (std::filesystem::exists(f.path)) throw Error(f.path + ": exists; pass --force to replace it");

    parallel_for(files_.size(), threads > 0 ? static_cast<size_t>(threads) : 0,
                 [&](size_t i, size_t) { files_[i].write(force); });
}

}  // namespace cli
