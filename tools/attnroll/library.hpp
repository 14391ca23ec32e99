// The tool's glue to the library's C API: statuses become cli::Error with the
// library's message, handles are owned, shapes and dtypes are printable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnroll.h"

namespace cli {

// Throws cli::Error "where: <attnroll_last_error()>" unless status is ATTNROLL_OK.
void check(int32_t status, const std::string &where);

std::string shape_text(const std::vector<int64_t> &shape);  // "[2,16,433,433]"
const char *dtype_text(int32_t dtype);                      // "float32"

// Owns an attnroll_config.
struct Config {
    attnroll_config *handle = nullptr;
    Config();
    ~Config();
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
};

using StreamPtr = std::unique_ptr<attnroll_stream, void (*)(attnroll_stream *)>;
// A float32 stream of `frames` frames of n tokens; `where` names it in errors.
StreamPtr make_stream(const Config &config, int64_t frames, int64_t n, const std::string &where);

}  // namespace cli
