// Natural logarithm without a libm call, written so that a loop over an array
// vectorises: integer bit operations, one division and a polynomial (the
// fdlibm/musl reduction log(x) = e*ln2 + log1p(f), f = m - 1, m in
// [sqrt(1/2), sqrt(2)), log1p(f) from s = f/(2+f)).  The double version keeps
// fdlibm's seven coefficients (< 1 ulp), so float64 entropies match a libm
// reference to ~1e-16; the float version uses four (~1e-7 relative).
// Positive normal x only on the fast path; x = 0 gives -inf, x < 0 or NaN
// gives NaN, +inf gives +inf, a positive subnormal is treated as DBL_MIN/FLT_MIN.
//
// No branch: the polynomial is always evaluated and the special cases are
// merged in by bit masks.  GCC turns a select of the result into a branch
// around the division (which may trap), and then cannot vectorise; 64-bit
// integer compares have no SSE2 form either, hence the double compares.
// (GCC 12 still leaves the double version scalar on plain SSE2: it cannot
// widen a compare of doubles to a 64-bit mask there; the float one, which the
// F32 outputs use, runs four to a vector.)
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace attnroll {

template <class T, class U>
inline T bits_to(U u) {
    T t;
    std::memcpy(&t, &u, sizeof t);
    return t;
}

// log(x) for a positive, normal, finite x only: what the caller knows holds
// (the entropy, on rows checked once) skips fast_log's special cases.
inline double log_normal(double x) {
    const uint64_t b = bits_to<uint64_t>(x);
    // The exponent field as an exact double: 2^52 + field, minus 2^52.
    const double field = bits_to<double>(0x4330000000000000ull | (b >> 52 & 0x7ff));
    const uint64_t mant = b & 0x000fffffffffffffull;
    // m > sqrt(2): halve m, bump e.
    const uint64_t big = 0 - static_cast<uint64_t>(bits_to<double>(mant | 0x3ff0000000000000ull) > 1.4142135623730951);
    const double e = field - 4503599627370496.0 - 1023.0 + bits_to<double>(0x3ff0000000000000ull & big);
    const double m = bits_to<double>(mant | (0x3ff0000000000000ull - (0x0010000000000000ull & big)));
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
    const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 +
                           w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    const double r = t1 + t2, hfsq = 0.5 * f * f;
    return e * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + r) + e * 1.90821492927058770002e-10)) - f);
}

inline double fast_log(double x) {
    // Positive subnormals (and 0, negatives, NaN: replaced below) as DBL_MIN.
    // Every select is a bit mask (see above).
    const uint64_t normal = 0 - static_cast<uint64_t>(x > 2.2250738585072014e-308);  // all ones or zero
    const double y = log_normal(bits_to<double>((bits_to<uint64_t>(x) & normal) | (0x0010000000000000ull & ~normal)));
    // Positive and finite: y.  Else +inf -> +inf, +-0 -> -inf, negative or NaN -> NaN.
    const double inf = std::numeric_limits<double>::infinity();
    const uint64_t is_inf = 0 - static_cast<uint64_t>(x == inf), is_zero = 0 - static_cast<uint64_t>(x == 0.0);
    const uint64_t special = (0x7ff0000000000000ull & is_inf) | (0xfff0000000000000ull & is_zero) |
                             (0x7ff8000000000000ull & ~(is_inf | is_zero));
    const uint64_t fast = 0 - static_cast<uint64_t>((x > 0.0) & (x < inf));
    return bits_to<double>((bits_to<uint64_t>(y) & fast) | (special & ~fast));
}

inline float log_normal(float x) {
    const uint32_t b = bits_to<uint32_t>(x);
    const float field = bits_to<float>(0x4b000000u | (b >> 23 & 0xff));
    const uint32_t mant = b & 0x007fffffu;
    const uint32_t big = 0 - static_cast<uint32_t>(bits_to<float>(mant | 0x3f800000u) > 1.41421356f);
    const float e = field - 8388608.0f - 127.0f + bits_to<float>(0x3f800000u & big);
    const float m = bits_to<float>(mant | (0x3f800000u - (0x00800000u & big)));
    const float f = m - 1.0f, s = f / (2.0f + f), z = s * s, w = z * z;
    const float t1 = w * (0.40000972152f + w * 0.24279078841f);
    const float t2 = z * (0.66666662693f + w * 0.28498786688f);
    const float r = t1 + t2, hfsq = 0.5f * f * f;
    return e * 6.9313812256e-01f - ((hfsq - (s * (hfsq + r) + e * 9.0580006145e-06f)) - f);
}

inline float fast_log(float x) {
    const uint32_t normal = 0 - static_cast<uint32_t>(x > 1.17549435e-38f);
    const float y = log_normal(bits_to<float>((bits_to<uint32_t>(x) & normal) | (0x00800000u & ~normal)));
    const float inf = std::numeric_limits<float>::infinity();
    const uint32_t is_inf = 0 - static_cast<uint32_t>(x == inf), is_zero = 0 - static_cast<uint32_t>(x == 0.0f);
    const uint32_t special = (0x7f800000u & is_inf) | (0xff800000u & is_zero) | (0x7fc00000u & ~(is_inf | is_zero));
    const uint32_t fast = 0 - static_cast<uint32_t>((x > 0.0f) & (x < inf));
    return bits_to<float>((bits_to<uint32_t>(y) & fast) | (special & ~fast));
}

}  // namespace attnroll
