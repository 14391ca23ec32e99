// Warnings: printed on stderr as "attnroll: warning: ...", or, under
// --strict, raised as errors (the video at hand fails).
#pragma once

#include <cstdio>
#include <string>

#include "cli_error.hpp"

namespace cli {

class Warnings {
public:
    explicit Warnings(bool strict) : strict_(strict) {}
    void warn(const std::string &message) const {
        if (strict_) throw Error(message + " (an error under --strict)");
        std::fprintf(stderr, "attnroll: warning: %s\n", message.c_str());
    }

private:
    bool strict_;
};

}  // namespace cli
