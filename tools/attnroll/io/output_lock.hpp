// Two runs writing the same outputs at once would replace each other's files
// and manifests.  A run holds a lock on its output folder for as long as it
// runs: on the whole folder, or, when it is restricted to some videos
// (--videos, as a cluster's tasks are), on just those videos, so that runs
// over different videos of one folder may go on side by side.  A second run
// that would overlap refuses at once, naming the folder and the other run.
//
// The locks are POSIX record locks on a file in the system's temporary
// folder named after the output folder's canonical path (the output folder
// itself may not exist yet, and must not be left behind empty); the kernel
// releases them when the process ends, however it ends.
#pragma once

#include <set>
#include <string>

namespace cli {

class OutputLock {
public:
    // Locks `folder` for `command` ("spatial", "temporal"): the whole of it
    // when `videos` is empty, else each of those videos.  Throws an Error
    // naming the folder (and the other run's pid) when another run holds an
    // overlapping lock.
    OutputLock(const std::string &folder, const std::string &command, const std::set<std::string> &videos);
    ~OutputLock();
    OutputLock(const OutputLock &) = delete;
    OutputLock &operator=(const OutputLock &) = delete;

private:
    int fd_ = -1;
};

}  // namespace cli
