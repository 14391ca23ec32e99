// The command-line tool's one error type: a message that already names the
// file (or argument) and what is wrong with it, and the exit status to use.
#pragma once

#include <stdexcept>
#include <string>

namespace cli {

enum ExitStatus { kExitOk = 0, kExitBadInput = 1, kExitUsage = 2 };

class Error : public std::runtime_error {
public:
    explicit Error(const std::string &message, int exit_status = kExitBadInput)
        : std::runtime_error(message), exit_status_(exit_status) {}
    int exit_status() const { return exit_status_; }

private:
    int exit_status_;
};

}  // namespace cli
