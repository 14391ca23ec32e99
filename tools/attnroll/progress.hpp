// A progress bar on stderr, drawn only when stderr is a terminal and the user
// did not ask for --quiet.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace cli {

class Progress {
public:
    Progress(const std::string &label, long total, bool quiet)
        : label_(label), total_(total), on_(!quiet && isatty(STDERR_FILENO) && total > 0) {
        draw();
    }
    ~Progress() {
        if (on_) std::fprintf(stderr, "\r\033[K");
    }
    Progress(const Progress &) = delete;
    Progress &operator=(const Progress &) = delete;
    void step(double amount = 1.0) {
        done_ += amount;
        draw();
    }

private:
    void draw() {
        if (!on_) return;
        const int width = 30;
        const int filled = std::min(width, static_cast<int>(width * done_ / static_cast<double>(total_)));
        std::fprintf(stderr, "\r%s [%s%s] %.0f/%ld", label_.c_str(), std::string(filled, '#').c_str(),
                     std::string(width - filled, '.').c_str(), std::floor(done_ + 1e-9), total_);
        std::fflush(stderr);
    }
    std::string label_;
    long total_;
    double done_ = 0;
    bool on_;
};

}  // namespace cli
