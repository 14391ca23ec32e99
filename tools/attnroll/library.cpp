#include "library.hpp"

#include "cli_error.hpp"

namespace cli {

void check(int32_t status, const std::string &where) {
    if (status != ATTNROLL_OK) throw Error(where + ": " + attnroll_last_error());
}

std::string shape_text(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

const char *dtype_text(int32_t dtype) {
    switch (dtype) {
        case ATTNROLL_F16: return "float16";
        case ATTNROLL_BF16: return "bfloat16";
        case ATTNROLL_F32: return "float32";
        case ATTNROLL_F64: return "float64";
        default: return "unknown";
    }
}

Config::Config() { check(attnroll_config_create(&handle), "attnroll_config_create"); }
Config::~Config() { attnroll_config_destroy(handle); }

StreamPtr make_stream(const Config &config, int64_t frames, int64_t n, const std::string &where) {
    attnroll_stream *raw = nullptr;
    check(attnroll_stream_create(config.handle, frames, n, ATTNROLL_F32, &raw), where);
    return {raw, attnroll_stream_destroy};
}

}  // namespace cli
