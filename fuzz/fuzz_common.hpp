// Shared by the libFuzzer targets over the C API: decoding bytes into tensor
// views, configs and buffers, and the checks every call gets.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "attnroll.h"

namespace fz {

// A failed property: print what and where, then abort so libFuzzer keeps the input.
[[noreturn]] inline void fail(const char *what, const char *call, int32_t status) {
    std::fprintf(stderr, "fuzz: %s: %s (status %d %s, message \"%s\")\n", call, what, status,
                 attnroll_status_string(status), attnroll_last_error());
    std::abort();
}

// status must be one of `allowed`; a failure needs a message, a success none.
inline void check_status(const char *call, int32_t status, std::initializer_list<int32_t> allowed) {
    bool ok = false;
    for (int32_t a : allowed) ok = ok || a == status;
    if (!ok) fail("status not in the header's list for this function", call, status);
    const char *msg = attnroll_last_error();
    if (!msg) fail("attnroll_last_error() is NULL", call, status);
    if (status != ATTNROLL_OK && msg[0] == '\0') fail("failure without a message", call, status);
    if (status == ATTNROLL_OK && msg[0] != '\0') fail("success with a message", call, status);
}

constexpr std::initializer_list<int32_t> kCompute = {ATTNROLL_OK,    ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE,
                                                     ATTNROLL_E_DTYPE, ATTNROLL_E_OVERLAP, ATTNROLL_E_MEMORY};

// Aligned byte buffer (64 bytes), so that a view can be placed at any offset.
struct Buffer {
    std::unique_ptr<unsigned char[]> raw;
    unsigned char *p = nullptr;
    size_t size = 0;
    explicit Buffer(size_t n = 0) { resize(n); }
    void resize(size_t n) {
        raw.reset(new unsigned char[n + 64]());
        p = raw.get() + (64 - reinterpret_cast<uintptr_t>(raw.get()) % 64) % 64;
        size = n;
    }
};

// A decoded tensor view, owning its shape and strides (and, when `own`, its data).
struct View {
    int32_t dtype = ATTNROLL_F32;
    std::vector<int64_t> shape, strides;
    bool null_strides = true, null_shape = false, null_data = false;
    Buffer own;
    unsigned char *data = nullptr;
    bool finite_nonneg = false;  // every element in the span finite, >= 0 and small
    bool valid_span = false;     // data points at memory covering the whole span
    bool overflow = false;       // count or span does not fit int64: the library must refuse it
    int64_t count = 0;           // elements (when !overflow)
    attnroll_tensor t{};

    const attnroll_tensor *tensor() {
        t.data = null_data ? nullptr : data;
        t.dtype = dtype;
        t.ndim = static_cast<int32_t>(shape.size());
        t.shape = null_shape ? nullptr : shape.data();
        t.strides = null_strides ? nullptr : strides.data();
        return &t;
    }
};

inline size_t dtype_size(int32_t dtype) {
    const int32_t s = attnroll_dtype_size(dtype);
    return s > 0 ? static_cast<size_t>(s) : 1;
}

inline int64_t pick_extent(FuzzedDataProvider &fdp, int64_t small_max) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: return 0;
        case 1: return -1;
        case 2: return int64_t(1) << fdp.ConsumeIntegralInRange<int>(20, 62);
        case 3: return INT64_MAX;
        case 4: return fdp.ConsumeIntegral<int64_t>();
        default: return fdp.ConsumeIntegralInRange<int64_t>(1, small_max);
    }
}

// The next C-order stride after s for an axis of extent e, saturating (the
// span check refuses what does not fit).
inline int64_t grow(int64_t s, int64_t e) {
    if (e < 1 || e >= (int64_t(1) << 20)) return s;
    return s > INT64_MAX / e ? INT64_MAX / 2 : s * e;
}

// Strides: C order, Fortran order, reversed, broadcast or fuzzed per axis.
inline void pick_strides(FuzzedDataProvider &fdp, View &v) {
    const size_t n = v.shape.size();
    v.strides.assign(n, 0);
    const int mode = fdp.ConsumeIntegralInRange<int>(0, 7);
    v.null_strides = mode == 0;
    if (mode <= 1) {  // C order
        int64_t s = 1;
        for (size_t i = n; i-- > 0;) {
            v.strides[i] = s;
            s = grow(s, v.shape[i]);
        }
    } else if (mode == 2) {  // Fortran order
        int64_t s = 1;
        for (size_t i = 0; i < n; ++i) {
            v.strides[i] = s;
            s = grow(s, v.shape[i]);
        }
    } else {
        int64_t s = 1;
        for (size_t i = n; i-- > 0;) {
            switch (fdp.ConsumeIntegralInRange<int>(0, 9)) {
                case 0: v.strides[i] = 0; break;
                case 1: v.strides[i] = -s; break;
                case 2: v.strides[i] = fdp.ConsumeIntegralInRange<int64_t>(-70, 70); break;
                case 3: v.strides[i] = fdp.ConsumeBool() ? INT64_MAX : INT64_MIN; break;
                case 4: v.strides[i] = int64_t(1) << fdp.ConsumeIntegralInRange<int>(24, 62); break;
                case 5: v.strides[i] = s <= INT64_MAX / 2 ? 2 * s : s; break;
                default: v.strides[i] = s; break;
            }
            s = grow(s, v.shape[i]);
        }
    }
}

// Element offsets the view spans, [lo, hi]; false when not representable.
inline bool span_of(const View &v, __int128 &lo, __int128 &hi, __int128 &count) {
    lo = hi = 0;
    count = 1;
    for (size_t i = 0; i < v.shape.size(); ++i) {
        const int64_t e = v.shape[i];
        if (e < 1) return false;
        count *= e;
        if (count > INT64_MAX) return false;
        const __int128 reach = static_cast<__int128>(e - 1) * v.strides[i];
        if (reach < 0) lo += reach; else hi += reach;
        if (hi - lo > (static_cast<__int128>(1) << 70)) return false;  // far beyond int64 either way
    }
    return true;
}

// The harness's own per-element loops (filling and reading views) are not
// the library's behaviour: without coverage instrumentation they cost no
// comparison callbacks per element and add no features of their own.  Such a
// loop must not be inlined into an instrumented caller (the instrumentation
// runs after inlining): FZ_LOOP.
#define FZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#define FZ_LOOP __attribute__((noinline, no_sanitize("coverage")))

// The next value of the fill generator (xorshift32) and whether it stands for 0.
struct FillGen {
    uint32_t x;
    FZ_NO_COVERAGE bool next() {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        return (x >> 3) % 5 == 0;
    }
    FZ_NO_COVERAGE float value(bool zero) const { return zero ? 0.0f : static_cast<float>(x % 1000u) / 997.0f; }
};

// An N-byte value from g (as Make writes it) every `es` bytes; the last one
// may be cut short by the end of the span (es < N: an unknown dtype code).
template <size_t N, class Make>
FZ_LOOP void fill_elements(unsigned char *p, size_t bytes, size_t es, FillGen g, Make make) {
    unsigned char e[N];
    for (size_t i = 0; i + es <= bytes; i += es) {
        make(g, e);
        if (N <= bytes - i) std::memcpy(p + i, e, N);
        else std::memcpy(p + i, e, bytes - i);
    }
}

FZ_LOOP inline void fill_pattern(unsigned char *p, size_t from, size_t bytes) {
    for (size_t i = from; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 37u + 11u);
}

// Values: small finite non-negative numbers (so a result must be finite), or
// raw fuzz bytes (anything: NaN, infinities, negatives, subnormals).
inline void fill(FuzzedDataProvider &fdp, unsigned char *p, size_t bytes, int32_t dtype, bool nice) {
    if (!nice) {
        const std::vector<uint8_t> b = fdp.ConsumeBytes<uint8_t>(bytes);
        if (!b.empty()) std::memcpy(p, b.data(), b.size());
        fill_pattern(p, b.size(), bytes);
        return;
    }
    const FillGen g{fdp.ConsumeIntegral<uint32_t>() | 1u};
    const size_t es = dtype_size(dtype);
    switch (dtype) {
        case ATTNROLL_F64:
            fill_elements<8>(p, bytes, es, g, [](FillGen &s, unsigned char *e) FZ_NO_COVERAGE {
                const double d = s.value(s.next());
                std::memcpy(e, &d, 8);
            });
            break;
        case ATTNROLL_F16:  // 0 or a number in [1/1024, 1): sign 0, exponent 5..14
            fill_elements<2>(p, bytes, es, g, [](FillGen &s, unsigned char *e) FZ_NO_COVERAGE {
                const bool zero = s.next();
                const uint16_t h = zero ? 0 : static_cast<uint16_t>(((5u + s.x % 10u) << 10) | ((s.x >> 8) & 0x3ffu));
                std::memcpy(e, &h, 2);
            });
            break;
        case ATTNROLL_BF16:
            fill_elements<2>(p, bytes, es, g, [](FillGen &s, unsigned char *e) FZ_NO_COVERAGE {
                const float f = s.value(s.next());
                uint32_t u;
                std::memcpy(&u, &f, 4);
                const uint16_t h = static_cast<uint16_t>(u >> 16);
                std::memcpy(e, &h, 2);
            });
            break;
        default:  // F32, and 4-byte values at every byte of an unknown dtype's span
            fill_elements<4>(p, bytes, es, g, [](FillGen &s, unsigned char *e) FZ_NO_COVERAGE {
                const float f = s.value(s.next());
                std::memcpy(e, &f, 4);
            });
            break;
    }
}

// Decodes a view.  `want` (when not empty) is a shape the caller expects, used
// most of the time so that calls get past validation; `max_bytes` bounds the
// memory behind it; views whose span does not fit are either refusable
// (overflow) or replaced by a C-order layout.
inline void make_view(FuzzedDataProvider &fdp, View &v, const std::vector<int64_t> &want, bool output,
                      size_t max_bytes = 1 << 18) {
    // dtype
    switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: v.dtype = fdp.ConsumeIntegral<int32_t>(); break;
        case 1: v.dtype = ATTNROLL_F16; break;
        case 2: v.dtype = ATTNROLL_BF16; break;
        case 3: case 4: case 5: v.dtype = ATTNROLL_F64; break;
        default: v.dtype = ATTNROLL_F32; break;
    }
    if (output && v.dtype != ATTNROLL_F32 && v.dtype != ATTNROLL_F64 && fdp.ConsumeIntegralInRange<int>(0, 3))
        v.dtype = ATTNROLL_F32;
    // shape
    const int shape_mode = fdp.ConsumeIntegralInRange<int>(0, 9);
    if (!want.empty() && shape_mode >= 3) {
        v.shape = want;
        if (shape_mode == 3 && !v.shape.empty()) {  // one extent changed
            const size_t i = fdp.ConsumeIntegralInRange<size_t>(0, v.shape.size() - 1);
            v.shape[i] = pick_extent(fdp, 9);
        }
    } else {
        const int ndim = fdp.ConsumeIntegralInRange<int>(0, 10) == 0 ? fdp.ConsumeIntegralInRange<int>(0, 20)
                                                                       : fdp.ConsumeIntegralInRange<int>(1, 5);
        for (int i = 0; i < ndim; ++i) v.shape.push_back(pick_extent(fdp, 9));
    }
    pick_strides(fdp, v);
    v.null_shape = fdp.ConsumeIntegralInRange<int>(0, 63) == 0;
    v.null_data = fdp.ConsumeIntegralInRange<int>(0, 63) == 0;
    const size_t es = dtype_size(v.dtype);
    __int128 lo, hi, count;
    bool fits = span_of(v, lo, hi, count);
    if (fits) {
        const __int128 bytes = (hi - lo + 1) * static_cast<__int128>(es);
        const bool representable = (hi - lo + 1) * static_cast<__int128>(es) <= INT64_MAX && count <= INT64_MAX;
        if (!representable) {
            v.overflow = true;
            fits = false;
        } else if (bytes > static_cast<__int128>(max_bytes) || count > (1 << 20)) {
            // Too big to back with memory: a smaller C-order layout instead.
            fits = false;
        }
    } else {
        // An extent < 1 (or overflow of the count): refusable.
        v.overflow = true;
        for (int64_t e : v.shape) if (e < 1) v.overflow = true;
    }
    if (!fits && !v.overflow) {
        // Shrink: every extent to at most 9, then leading extents to 1 until
        // it fits; C order.
        for (int64_t &e : v.shape) e = e > 9 ? 9 : e;
        v.null_strides = true;
        for (size_t lead = 0; lead <= v.shape.size(); ++lead) {
            if (lead > 0) v.shape[lead - 1] = 1;
            v.strides.assign(v.shape.size(), 0);
            int64_t s = 1;
            for (size_t i = v.shape.size(); i-- > 0;) { v.strides[i] = s; s = grow(s, v.shape[i]); }
            fits = span_of(v, lo, hi, count) && (hi - lo + 1) * static_cast<__int128>(es) <= max_bytes;
            if (fits) break;
        }
    }
    if (v.shape.size() < 1 || v.shape.size() > ATTNROLL_MAX_NDIM) fits = false;
    if (fits) {
        const size_t span = static_cast<size_t>((hi - lo + 1) * static_cast<__int128>(es));
        // Inputs may be misaligned; outputs must be aligned.
        const size_t skew = output ? 0 : (fdp.ConsumeIntegralInRange<int>(0, 3) == 0 ? fdp.ConsumeIntegralInRange<size_t>(1, 7) : 0);
        v.own.resize(span + skew);
        v.data = v.own.p + skew + static_cast<size_t>(-lo * static_cast<__int128>(es));
        v.finite_nonneg = fdp.ConsumeIntegralInRange<int>(0, 3) != 0;
        fill(fdp, v.own.p + skew, span, v.dtype, v.finite_nonneg);
        v.valid_span = true;
        v.count = static_cast<int64_t>(count);
    } else {
        // Never read if refused; a small buffer in case the library looks at it.
        v.own.resize(64);
        v.data = v.own.p;
        v.valid_span = false;
    }
}

// ATTNROLL_FUZZ_VERBOSE=1: print each view before the call (to read a crash).
inline void describe(const char *name, const View &v) {
    static const bool verbose = [] {
        const char *e = std::getenv("ATTNROLL_FUZZ_VERBOSE");
        return e && *e == '1';
    }();
    if (!verbose) return;
    std::fprintf(stderr, "%s: dtype %d shape [", name, v.dtype);
    for (int64_t e : v.shape) std::fprintf(stderr, " %lld", static_cast<long long>(e));
    std::fprintf(stderr, " ] strides%s [", v.null_strides ? " (NULL)" : "");
    for (int64_t e : v.strides) std::fprintf(stderr, " %lld", static_cast<long long>(e));
    std::fprintf(stderr, " ] data %s+%td of %zu%s%s\n", v.null_data ? "NULL " : "", v.data - v.own.p, v.own.size,
                 v.overflow ? " overflow" : "", v.valid_span ? " valid" : "");
}

// A snapshot of bytes to check "output unchanged on failure".
struct Snapshot {
    const unsigned char *p = nullptr;
    std::vector<unsigned char> bytes;
    void take(const unsigned char *q, size_t n) { p = q; bytes.assign(q, q + n); }
    bool same() const { return !p || bytes.empty() || std::memcmp(p, bytes.data(), bytes.size()) == 0; }
};

// The elements of an F32/F64 view in C order (the view must have a valid span).
FZ_LOOP inline std::vector<double> values(const View &v) {
    std::vector<double> out;
    out.reserve(static_cast<size_t>(v.count));
    std::vector<int64_t> idx(v.shape.size(), 0);
    const int64_t n = v.count;
    for (int64_t k = 0; k < n; ++k) {
        int64_t off = 0;
        for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * v.strides[d];
        double x;
        if (v.dtype == ATTNROLL_F64) std::memcpy(&x, v.data + off * 8, 8);
        else { float f; std::memcpy(&f, v.data + off * 4, 4); x = f; }
        out.push_back(x);
        for (size_t d = idx.size(); d-- > 0;) {
            if (++idx[d] < v.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

FZ_LOOP inline bool all_finite(const View &v) {
    for (double x : values(v))
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace fz
