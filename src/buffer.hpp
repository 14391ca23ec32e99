// Uninitialised working memory for the rollout state.  Large buffers are
// mapped with MAP_POPULATE: the kernel provides all their pages in one system
// call instead of one page fault per 4 KiB on first touch, which on virtual
// machines is a visible share of a call's time.  Because populating commits
// the memory at once, a buffer of 64 MiB or more is first checked against the
// memory available (memory.hpp): too large is ATTNROLL_E_MEMORY, not a
// process the kernel kills.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

#include "alloc_fault.hpp"
#include "memory.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace attnroll {

template <class T>
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(size_t count) : count_(count) {
        if (count == 0) return;
        if (count > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
        const size_t bytes = count * sizeof(T);
        reserve_or_fail(bytes);
        if (allocation_fails()) throw std::bad_alloc();  // tests only (alloc_fault.hpp)
#if defined(__linux__) && defined(MAP_POPULATE)
        if (bytes >= kMapped) {
            void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (p == MAP_FAILED) throw std::bad_alloc();
            data_ = static_cast<T *>(p);
            mapped_ = true;
            return;
        }
#endif
        data_ = static_cast<T *>(std::malloc(bytes));
        if (!data_) throw std::bad_alloc();
    }
    ~Buffer() {
#if defined(__linux__) && defined(MAP_POPULATE)
        if (mapped_) {
            munmap(data_, count_ * sizeof(T));
            return;
        }
#endif
        std::free(data_);
    }
    Buffer(Buffer &&other) noexcept { swap(other); }
    Buffer &operator=(Buffer &&other) noexcept {
        swap(other);
        return *this;
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;

    void swap(Buffer &other) noexcept {
        std::swap(data_, other.data_);
        std::swap(count_, other.count_);
        std::swap(mapped_, other.mapped_);
    }
    T *data() { return data_; }
    const T *data() const { return data_; }
    size_t size() const { return count_; }
    size_t bytes() const { return count_ * sizeof(T); }

private:
    static constexpr size_t kMapped = size_t(256) << 10;
    T *data_ = nullptr;
    size_t count_ = 0;
    bool mapped_ = false;
};

}  // namespace attnroll
