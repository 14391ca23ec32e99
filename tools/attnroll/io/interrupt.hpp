// Ctrl-C (SIGINT), SIGTERM and SIGHUP leave nothing half-written: every
// temporary file, and every file and folder of the unit being committed, is
// registered here while it exists unfinished; a signal removes them, says so,
// and ends the process with status 128 + the signal (130 for SIGINT, 143 for
// SIGTERM).
//
// The signals are taken by one thread that waits for them (sigwait), not by
// an asynchronous handler, so the clean-up may lock, allocate and read
// folders like any other code.
#pragma once

#include <string>

namespace cli {

// Blocks the three signals in the calling thread (and so in every thread it
// starts afterwards) and starts the waiting thread.  Call once, in main,
// before any other thread starts.
void start_interrupt_cleanup();

// Removed if the process is interrupted: a temporary file (also libzip's own
// temporary files named after it, "<path>.XXXXXX"), or a file being committed.
void remove_on_interrupt(const std::string &path);

// Removed, if empty, if the process is interrupted (folders are removed
// innermost first, after the files).
void remove_folder_on_interrupt(const std::string &path);

// The path is finished (or gone): an interruption leaves it alone.
void keep_on_interrupt(const std::string &path);

}  // namespace cli
