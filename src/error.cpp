#include "error.hpp"

#include <cstdarg>
#include <cstdio>

namespace attnroll {

namespace {
// Fixed-size so that recording an error can never itself fail.
thread_local char tls_message[512] = "";
}

const char *Error::what() const noexcept { return tls_message; }

void fail(int32_t status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(tls_message, sizeof tls_message, format, args);
    va_end(args);
    throw Error(status);
}

void set_message(const char *text) noexcept {
    std::snprintf(tls_message, sizeof tls_message, "%s", text);
}

void clear_message() noexcept { tls_message[0] = '\0'; }

const char *message() noexcept { return tls_message; }

}  // namespace attnroll
