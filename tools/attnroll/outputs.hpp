// The files one unit of work (a spatial window, a temporal video) produces,
// collected first and then written together.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "formats/npz.hpp"

namespace cli {

class Outputs {
public:
    // A file and how to write it: the writer must write `path` atomically
    // (a temporary name, renamed when complete), refusing an existing file
    // unless `force`, and may run on any thread.
    using Writer = std::function<void(bool force)>;

    void npz(const std::string &path, std::vector<NpzEntry> entries);
    void bytes(const std::string &path, std::string content);
    void add(const std::string &path, Writer write);

    // All or nothing.  Refuses, before writing anything, when a target exists
    // and `force` is false.  Creates the folders the files go in, then runs
    // the writers on up to `threads` threads (0: one per core, see
    // parallel_for); encoding the heat maps is most of their work.  When a
    // writer fails, no writer starts after it, and once the running ones have
    // finished every file this commit wrote is removed, as is every folder it
    // created, and the error is rethrown.  (With `force`, a file that was
    // replaced before the failure is gone: its old contents are not kept.)
    void commit(bool force, long threads = 0) const;

    std::vector<std::string> paths() const;

private:
    void clear_stale_temps_once() const;
    struct File {
        std::string path;
        Writer write;
    };
    std::vector<File> files_;
};

}  // namespace cli
