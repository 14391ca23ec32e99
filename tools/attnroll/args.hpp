// Command-line parsing shared by every command: --options with or without a
// value (--key=value or --key value; -o is --output), positional arguments,
// and the typed values (whole numbers, lists, patch grids) each checked once,
// with errors that name the option and the value (exit status 2).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cli {

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;
    std::set<std::string> flags;

    bool has(const std::string &flag) const { return flags.count(flag) > 0; }
    bool given(const std::string &key) const { return values.count(key) > 0; }
    std::string value(const std::string &key, const std::string &fallback) const;
};

// argv[0] is the command's name; options and positionals follow.  `with_value`
// lists the options that take a value, `flags` those that do not.
Args parse_args(int argc, char **argv, const std::set<std::string> &with_value, const std::set<std::string> &flags);

// A whole number in [lo, hi]; `what` (the option) names it in the error.
long parse_long(const std::string &text, const std::string &what, long lo, long hi);
// A comma-separated list of whole numbers in [lo, hi], not empty.
std::vector<long> parse_long_list(const std::string &text, const std::string &what, long lo, long hi);

// A comma-separated list of non-empty words ("3,15", "demo").
std::vector<std::string> parse_word_list(const std::string &text, const std::string &what);

// A patch grid of rows x cols ("24x18").
struct Grid {
    long rows = 0, cols = 0;
};
Grid parse_grid(const std::string &text);
// The patch grid for `patches` patch tokens: `given` when set (checked), else
// a square one.  `tokens` says what the tokens are, for the message
// ("N=433: 1 CLS + 432 patches").
Grid grid_for(long patches, const Grid &given, const std::string &tokens);

// A number with a fraction in [lo, hi) for `what` (an option name).
double parse_fraction(const std::string &text, const std::string &what, double lo, double hi);

}  // namespace cli
