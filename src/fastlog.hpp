// Natural logarithm without a libm call, written so that a loop over an array
// vectorises: integer bit operations, one division and a polynomial (the
// fdlibm/musl reduction log(x) = e*ln2 + log1p(f), f = m - 1, m in
// [sqrt(1/2), sqrt(2)), log1p(f) from s = f/(2+f)).  The double version keeps
// fdlibm's seven coefficients (< 1 ulp), so float64 entropies match a libm
// reference to ~1e-16; the float version uses four (~1e-7 relative).
// Positive normal x only on the fast path; x = 0 gives -inf, x < 0 or NaN
// gives NaN, +inf gives +inf, a positive subnormal is treated as DBL_MIN/FLT_MIN.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace attnroll {

inline double fast_log(double x) {
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    // The exponent field as an exact double: 2^52 + field, minus 2^52.
    const uint64_t field_bits = 0x4330000000000000ull | (bits >> 52 & 0x7ff);
    double field;
    std::memcpy(&field, &field_bits, sizeof field);
    double e = field - 4503599627370496.0 - 1023.0;
    const uint64_t mant_bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    std::memcpy(&m, &mant_bits, sizeof m);
    const bool big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    e = big ? e + 1.0 : e;
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
    const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 +
                           w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    const double r = t1 + t2, hfsq = 0.5 * f * f;
    const double y = e * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + r) + e * 1.90821492927058770002e-10)) - f);
    const double inf = std::numeric_limits<double>::infinity();
    return x >= 2.2250738585072014e-308 && x < inf ? y
           : x == inf                              ? inf
           : x == 0.0                              ? -inf
                                                   : std::numeric_limits<double>::quiet_NaN();
}

inline float fast_log(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const uint32_t field_bits = 0x4b000000u | (bits >> 23 & 0xff);
    float field;
    std::memcpy(&field, &field_bits, sizeof field);
    float e = field - 8388608.0f - 127.0f;
    const uint32_t mant_bits = (bits & 0x007fffffu) | 0x3f800000u;
    float m;
    std::memcpy(&m, &mant_bits, sizeof m);
    const bool big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1.0f : e;
    const float f = m - 1.0f, s = f / (2.0f + f), z = s * s, w = z * z;
    const float t1 = w * (0.40000972152f + w * 0.24279078841f);
    const float t2 = z * (0.66666662693f + w * 0.28498786688f);
    const float r = t1 + t2, hfsq = 0.5f * f * f;
    const float y = e * 6.9313812256e-01f - ((hfsq - (s * (hfsq + r) + e * 9.0580006145e-06f)) - f);
    const float inf = std::numeric_limits<float>::infinity();
    return x >= 1.17549435e-38f && x < inf ? y
           : x == inf                      ? inf
           : x == 0.0f                     ? -inf
                                           : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace attnroll
