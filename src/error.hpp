// The one way the library reports failure: throw attnroll::Error from anywhere
// inside, catch it at the ABI boundary (api.cpp) and turn it into a status.
// The message is kept per thread so concurrent callers never see each other's.
#pragma once

#include <cstdint>
#include <exception>

namespace attnroll {

class Error : public std::exception {
public:
    explicit Error(int32_t status) : status_(status) {}
    int32_t status() const noexcept { return status_; }
    const char *what() const noexcept override;

private:
    int32_t status_;
};

// Formats the calling thread's message (printf-style) and throws Error(status).
[[noreturn]] void fail(int32_t status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Sets the calling thread's message without throwing (used at the boundary).
void set_message(const char *text) noexcept;
void clear_message() noexcept;
const char *message() noexcept;

}  // namespace attnroll
