// Allocation-failure injection, SQLite's method, for tests only: compiled in
// with -DATTNROLL_ALLOC_FAULTS=ON (never in a release build).  A test arms the
// k-th allocation the library makes from then on to fail, runs a call, and
// walks k = 1, 2, ... until the call makes fewer than k allocations
// (tests/test_alloc_faults.c; the hook is declared in tests/alloc_fault.h).
//
// What counts as an allocation, on whatever thread it happens:
//  - every operator new / new[] called by the library's own code, in all its
//    forms (plain, nothrow, aligned).  The library is linked with
//    --wrap=<symbol> for each of them (src/CMakeLists.txt): only references
//    from libattnroll's own objects are redirected to the __wrap_ functions
//    below, so the program's allocations, OpenBLAS's and those made inside
//    libstdc++ are neither counted nor failed.  A wrapper that lets the
//    allocation through calls the real operator new (__real_*: whatever the
//    process resolves it to, ASan's included), so the matching deletes stay
//    the real ones too;
//  - every Buffer (buffer.hpp), before its malloc or mmap.
// The armed allocation fails once: operator new throws std::bad_alloc, the
// nothrow forms return nullptr, a Buffer throws std::bad_alloc.
#include "alloc_fault.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "attnroll.h"

// The wrapped symbols are the Itanium C++ ABI names with size_t = unsigned long.
static_assert(std::is_same<std::size_t, unsigned long>::value,
              "ATTNROLL_ALLOC_FAULTS wraps operator new by its LP64 symbol names");

namespace {
std::atomic<int64_t> made{0};   // allocations counted since the last arming
std::atomic<int64_t> armed{0};  // the one of them that fails (1-based); 0: none
}  // namespace

namespace attnroll {
bool allocation_fails() noexcept {
    const int64_t n = made.fetch_add(1, std::memory_order_relaxed) + 1;
    return n == armed.load(std::memory_order_relaxed);
}
}  // namespace attnroll

extern "C" {

// The test hook (tests/alloc_fault.h).  Exported like the public functions
// (attnroll.map exports attnroll_*), from this build only.
ATTNROLL_API int64_t attnroll_test_fail_allocation(int64_t k);

int64_t attnroll_test_fail_allocation(int64_t k) {
    armed.store(0, std::memory_order_relaxed);
    const int64_t before = made.exchange(0, std::memory_order_relaxed);
    armed.store(k > 0 ? k : 0, std::memory_order_relaxed);
    return before;
}

#define ATTNROLL_HIDDEN __attribute__((visibility("hidden")))

// The real ones (the linker turns __real_X into a reference to X).
void *__real__Znwm(std::size_t);
void *__real__Znam(std::size_t);
void *__real__ZnwmRKSt9nothrow_t(std::size_t, const std::nothrow_t &) noexcept;
void *__real__ZnamRKSt9nothrow_t(std::size_t, const std::nothrow_t &) noexcept;
void *__real__ZnwmSt11align_val_t(std::size_t, std::align_val_t);
void *__real__ZnamSt11align_val_t(std::size_t, std::align_val_t);
void *__real__ZnwmSt11align_val_tRKSt9nothrow_t(std::size_t, std::align_val_t, const std::nothrow_t &) noexcept;
void *__real__ZnamSt11align_val_tRKSt9nothrow_t(std::size_t, std::align_val_t, const std::nothrow_t &) noexcept;

// operator new(size_t), new[](size_t)
ATTNROLL_HIDDEN void *__wrap__Znwm(std::size_t size) {
    if (attnroll::allocation_fails()) throw std::bad_alloc();
    return __real__Znwm(size);
}
ATTNROLL_HIDDEN void *__wrap__Znam(std::size_t size) {
    if (attnroll::allocation_fails()) throw std::bad_alloc();
    return __real__Znam(size);
}
// operator new(size_t, nothrow_t), new[](size_t, nothrow_t)
ATTNROLL_HIDDEN void *__wrap__ZnwmRKSt9nothrow_t(std::size_t size, const std::nothrow_t &tag) noexcept {
    return attnroll::allocation_fails() ? nullptr : __real__ZnwmRKSt9nothrow_t(size, tag);
}
ATTNROLL_HIDDEN void *__wrap__ZnamRKSt9nothrow_t(std::size_t size, const std::nothrow_t &tag) noexcept {
    return attnroll::allocation_fails() ? nullptr : __real__ZnamRKSt9nothrow_t(size, tag);
}
// operator new(size_t, align_val_t), new[](size_t, align_val_t)
ATTNROLL_HIDDEN void *__wrap__ZnwmSt11align_val_t(std::size_t size, std::align_val_t align) {
    if (attnroll::allocation_fails()) throw std::bad_alloc();
    return __real__ZnwmSt11align_val_t(size, align);
}
ATTNROLL_HIDDEN void *__wrap__ZnamSt11align_val_t(std::size_t size, std::align_val_t align) {
    if (attnroll::allocation_fails()) throw std::bad_alloc();
    return __real__ZnamSt11align_val_t(size, align);
}
// operator new(size_t, align_val_t, nothrow_t), new[](size_t, align_val_t, nothrow_t)
ATTNROLL_HIDDEN void *__wrap__ZnwmSt11align_val_tRKSt9nothrow_t(std::size_t size, std::align_val_t align,
                                                               const std::nothrow_t &tag) noexcept {
    return attnroll::allocation_fails() ? nullptr : __real__ZnwmSt11align_val_tRKSt9nothrow_t(size, align, tag);
}
ATTNROLL_HIDDEN void *__wrap__ZnamSt11align_val_tRKSt9nothrow_t(std::size_t size, std::align_val_t align,
                                                               const std::nothrow_t &tag) noexcept {
    return attnroll::allocation_fails() ? nullptr : __real__ZnamSt11align_val_tRKSt9nothrow_t(size, align, tag);
}

}  // extern "C"
