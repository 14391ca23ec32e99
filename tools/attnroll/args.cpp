#include "args.hpp"

#include <climits>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cli_error.hpp"
#include "parse_long.h"

namespace cli {

std::string Args::value(const std::string &key, const std::string &fallback) const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
}

Args parse_args(int argc, char **argv, const std::set<std::string> &with_value, const std::set<std::string> &flags) {
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-o") a = "--output";
        if (a == "--out") a = "--output";
        if (a.size() > 1 && a[0] == '-') {
            std::string key = a, value;
            const size_t eq = a.find('=');
            if (eq != std::string::npos) {
                key = a.substr(0, eq);
                value = a.substr(eq + 1);
                if (key == "--out") key = "--output";
            }
            if (flags.count(key) && eq == std::string::npos) {
                args.flags.insert(key);
            } else if (with_value.count(key)) {
                if (eq == std::string::npos) {
                    if (i + 1 >= argc) throw Error(key + ": needs a value", kExitUsage);
                    value = argv[++i];
                }
                args.values[key] = value;
            } else {
                throw Error(a + ": unknown option (see " + std::string(argv[0]) + " --help)", kExitUsage);
            }
        } else {
            args.positional.push_back(a);
        }
    }
    return args;
}

long parse_long(const std::string &text, const std::string &what, long lo, long hi) {
    long v = 0;
    if (!parse_long_in(text.c_str(), LONG_MIN, LONG_MAX, &v))
        throw Error(what + ": '" + text + "' is not a whole number", kExitUsage);
    if (v < lo || v > hi)
        throw Error(what + ": " + text + " is out of range (" + std::to_string(lo) + ".." +
                        (hi == LONG_MAX ? std::string("") : std::to_string(hi)) + ")",
                    kExitUsage);
    return v;
}

std::vector<long> parse_long_list(const std::string &text, const std::string &what, long lo, long hi) {
    std::vector<long> out;
    std::stringstream list(text);
    for (std::string item; std::getline(list, item, ',');) out.push_back(parse_long(item, what, lo, hi));
    if (out.empty() || text.back() == ',') throw Error(what + ": '" + text + "' is not a list like 3,15", kExitUsage);
    return out;
}

std::vector<std::string> parse_word_list(const std::string &text, const std::string &what) {
    std::vector<std::string> out;
    std::stringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
        if (item.empty()) throw Error(what + ": '" + text + "' has an empty item", kExitUsage);
        out.push_back(item);
    }
    if (out.empty() || text.back() == ',') throw Error(what + ": '" + text + "' is not a list like 3,15", kExitUsage);
    return out;
}

Grid parse_grid(const std::string &text) {
    const size_t x = text.find('x');
    if (x == std::string::npos || x == 0 || x + 1 == text.size())
        throw Error("--grid: '" + text + "' is not RxC (e.g. 24x18)", kExitUsage);
    long rows = 0, cols = 0;
    if (!parse_long_in(text.substr(0, x).c_str(), LONG_MIN, LONG_MAX, &rows) ||
        !parse_long_in(text.substr(x + 1).c_str(), LONG_MIN, LONG_MAX, &cols))
        throw Error("--grid: '" + text + "' is not RxC (e.g. 24x18)", kExitUsage);
    if (rows < 1 || cols < 1) throw Error("--grid: '" + text + "' needs positive sizes", kExitUsage);
    return {rows, cols};
}

Grid grid_for(long patches, const Grid &g, const std::string &tokens) {
    if (g.rows > 0) {
        if (g.rows * g.cols != patches)
            throw Error("--grid: " + std::to_string(g.rows) + "x" + std::to_string(g.cols) + " has " +
                            std::to_string(g.rows * g.cols) + " patches but the tokens are " + tokens,
                        kExitUsage);
        return g;
    }
    const long side = std::lround(std::sqrt(static_cast<double>(patches)));
    if (patches < 1 || side * side != patches)
        throw Error("--grid: " + std::to_string(patches) + " patches (" + tokens + ") are not a square grid; give --grid RxC",
                    kExitUsage);
    return {side, side};
}

double parse_fraction(const std::string &text, const std::string &what, double lo, double hi) {
    char *end = nullptr;
    errno = 0;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno != 0 || !(v >= lo && v < hi))
        throw Error(what + ": '" + text + "' is not a number in [" + std::to_string(lo).substr(0, 3) + ", " +
                        std::to_string(hi).substr(0, 3) + ")",
                    kExitUsage);
    return v;
}

}  // namespace cli
