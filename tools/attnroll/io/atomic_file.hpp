// Output files appear whole or not at all: each is written to a temporary
// name beside its target (".NAME.tmp-PID-N") and renamed over it only when
// complete, so an interrupted run never leaves a partial file under a real
// name.  An existing target is refused unless `force`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cli {

// Throws "PATH: already exists (use --force to replace it)" when the path
// exists and not `force`.
void refuse_existing(const std::string &path, bool force);

// A fresh temporary name beside `path`, unique within this process and
// (with the pid) across processes.  It is removed if the run is interrupted
// (io/interrupt.hpp) before commit_temp renames it.
std::string temp_name(const std::string &path);

// Removes the temporary files in `dir` that a run killed outright (SIGKILL,
// a crash, a power cut) left behind: names temp_name makes whose process no
// longer exists.  Returns how many it removed.
size_t remove_stale_temps(const std::string &dir);

// The pid in a name temp_name makes (".NAME.tmp-PID-N", or libzip's
// ".NAME.tmp-PID-N.XXXXXX" beside it), or -1 for any other name.
long temp_owner(std::string_view name);

// Moves the complete temporary file onto `path`.  Without force an existing
// target is never replaced, even one that appeared after refuse_existing; on
// failure the temporary file is removed.
void commit_temp(const std::string &tmp, const std::string &path, bool force);

// Flushes a written file to disk (best effort, before the rename).
void fsync_path(const std::string &path);

// Writes bytes atomically by the rules above.
void write_file_atomic(const std::string &path, const void *data, size_t size, bool force);

}  // namespace cli
