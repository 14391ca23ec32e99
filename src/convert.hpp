// Exact conversions of every input dtype to float/double.
#pragma once

#include <cstdint>
#include <cstring>

#include "attnroll.h"

namespace attnroll {

// IEEE binary16 -> binary32, exact for every value (subnormals, inf, NaN).
inline float half_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    const uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24 is exact in binary32.
        float f = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        std::memcpy(&bits, &f, sizeof bits);
        bits |= sign;
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

// bfloat16 is the upper half of a binary32.
inline float bf16_to_float(uint16_t b) {
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

// Element `offset` (in elements) of an array of `dtype` starting at `base`,
// which need not be aligned.
template <class T>
inline T load_element(const char *base, int32_t dtype, int64_t offset) {
    const char *p = base + offset * attnroll_dtype_size(dtype);
    switch (dtype) {
        case ATTNROLL_F32: {
            float v;
            std::memcpy(&v, p, sizeof v);
            return static_cast<T>(v);
        }
        case ATTNROLL_F64: {
            double v;
            std::memcpy(&v, p, sizeof v);
            return static_cast<T>(v);
        }
        default: {
            uint16_t bits;
            std::memcpy(&bits, p, sizeof bits);
            return static_cast<T>(dtype == ATTNROLL_F16 ? half_to_float(bits) : bf16_to_float(bits));
        }
    }
}

}  // namespace attnroll
