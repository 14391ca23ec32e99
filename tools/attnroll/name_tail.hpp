// Reading a file name from its end.  The names the tool recognises (the
// users' layer dumps, its own temporary files) end in literals and runs of
// digits whose extents are fixed from the right, so peeling them off the end
// gives the same match as an anchored pattern with a greedy `(.+)` in front,
// in linear time, without allocating and without recursion (libstdc++'s
// std::regex recurses once per character and was most of the cost of
// scanning a dump folder).
#pragma once

#include <cstddef>
#include <string_view>

namespace cli {

class NameTail {
public:
    explicit NameTail(std::string_view name) : rest_(name) {}

    // Removes `literal` from the end; false, removing nothing, when the rest
    // does not end with it.
    bool take(std::string_view literal) {
        if (rest_.size() < literal.size() || rest_.substr(rest_.size() - literal.size()) != literal) return false;
        rest_.remove_suffix(literal.size());
        return true;
    }

    // Removes the run of ASCII digits at the end into `digits`.  The run is
    // always taken whole: every caller's next step is a literal that does not
    // end in a digit.  False, removing nothing, when the run is empty or
    // longer than `max_digits`.
    bool take_digits(std::string_view &digits, size_t max_digits = std::string_view::npos) {
        size_t n = 0;
        while (n < rest_.size() && is_digit(rest_[rest_.size() - 1 - n])) ++n;
        if (n == 0 || n > max_digits) return false;
        digits = rest_.substr(rest_.size() - n);
        rest_.remove_suffix(n);
        return true;
    }

    // What is left in front.
    std::string_view rest() const { return rest_; }

    static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

    // A free-text field (a video id): at least one character, none of them a
    // line break (what a pattern's `.+` accepts).
    static bool is_text(std::string_view field) {
        if (field.empty()) return false;
        for (char ch : field)
            if (ch == '\n' || ch == '\r') return false;
        return true;
    }

private:
    std::string_view rest_;
};

}  // namespace cli
