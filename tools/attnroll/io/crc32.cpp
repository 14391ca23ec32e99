#include "io/crc32.hpp"

#include <zlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define ATTNROLL_CRC_FOLDING 1
#endif

namespace cli {

namespace {

#if ATTNROLL_CRC_FOLDING
// Folding by carry-less multiplication (Gopal et al., Intel, "Fast CRC
// Computation for Generic Polynomials Using PCLMULQDQ Instruction", 2009),
// bit-reflected for the zip polynomial 0x104C11DB7.  Folding a 128-bit lane
// forward by D bits multiplies its halves by K(D+32) and K(D-32), where
// K(n) = reflect32(x^n mod P) << 1; the final Barrett reduction uses P and
// floor(x^64 / P), reflected.  (Values computed from that definition; the
// tests compare every result with zlib's.)
struct FoldConstants {
    long long lo, hi;  // K(D+32), K(D-32)
};
constexpr FoldConstants kFold2048 = {0x11542778a, 0x1322d1430};
constexpr FoldConstants kFold512 = {0x154442bd4, 0x1c6e41596};
constexpr FoldConstants kFold384 = {0x3db1ecdc, 0x174359406};
constexpr FoldConstants kFold256 = {0xf1da05aa, 0x15a546366};
constexpr FoldConstants kFold128 = {0x1751997d0, 0x0ccaa009e};
constexpr long long kFold64 = 0x163cd6124;
constexpr long long kBarrettP = 0x1db710641, kBarrettMu = 0x1f7011641;

#define CRC_TARGET __attribute__((target("pclmul,sse4.1")))
#define CRC_TARGET_512 __attribute__((target("pclmul,sse4.1,avx512f,avx512vl,vpclmulqdq")))

CRC_TARGET inline __m128i k128(FoldConstants k) { return _mm_set_epi64x(k.hi, k.lo); }
CRC_TARGET inline __m128i load128(const unsigned char *q) { return _mm_loadu_si128(reinterpret_cast<const __m128i *>(q)); }
CRC_TARGET inline __m128i fold(__m128i acc, __m128i k) {
    return _mm_xor_si128(_mm_clmulepi64_si128(acc, k, 0x00), _mm_clmulepi64_si128(acc, k, 0x11));
}

// Folds the remaining 16-byte blocks into `x` and reduces it to the raw CRC.
CRC_TARGET uint32_t finish(__m128i x, const unsigned char *p, size_t n) {
    const __m128i k1 = k128(kFold128);
    for (; n >= 16; p += 16, n -= 16) x = _mm_xor_si128(fold(x, k1), load128(p));
    // 128 -> 96 -> 64 bits, then Barrett to 32.
    const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
    x = _mm_xor_si128(_mm_clmulepi64_si128(x, k1, 0x10), _mm_srli_si128(x, 8));
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), _mm_cvtsi64_si128(kFold64), 0x00),
                      _mm_srli_si128(x, 4));
    const __m128i pm = _mm_set_epi64x(kBarrettMu, kBarrettP);
    __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), pm, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), pm, 0x00);
    return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x, t), 1));
}

// The raw (not inverted) CRC register after n >= 64 bytes, a multiple of 16:
// four 128-bit lanes, 512 bits apart.
CRC_TARGET uint32_t fold_crc(uint32_t reg, const unsigned char *p, size_t n) {
    __m128i x0 = _mm_xor_si128(load128(p), _mm_cvtsi32_si128(static_cast<int>(reg)));
    __m128i x1 = load128(p + 16), x2 = load128(p + 32), x3 = load128(p + 48);
    const __m128i k4 = k128(kFold512), k1 = k128(kFold128);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = _mm_xor_si128(fold(x0, k4), load128(p));
        x1 = _mm_xor_si128(fold(x1, k4), load128(p + 16));
        x2 = _mm_xor_si128(fold(x2, k4), load128(p + 32));
        x3 = _mm_xor_si128(fold(x3, k4), load128(p + 48));
    }
    const __m128i x = _mm_xor_si128(fold(_mm_xor_si128(fold(_mm_xor_si128(fold(x0, k1), x1), k1), x2), k1), x3);
    return finish(x, p, n);
}

// The same with VPCLMULQDQ: sixteen 128-bit lanes in four 512-bit registers,
// 2048 bits apart, for n >= 256.
CRC_TARGET_512 inline __m512i load(const unsigned char *q) { return _mm512_loadu_si512(q); }
CRC_TARGET_512 inline __m512i fold512(__m512i acc, __m512i k) {
    return _mm512_xor_si512(_mm512_clmulepi64_epi128(acc, k, 0x00), _mm512_clmulepi64_epi128(acc, k, 0x11));
}

CRC_TARGET_512 uint32_t fold_crc_512(uint32_t reg, const unsigned char *p, size_t n) {
    __m512i x0 = _mm512_xor_si512(load(p), _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                             static_cast<int>(reg)));
    __m512i x1 = load(p + 64), x2 = load(p + 128), x3 = load(p + 192);
    // (set, not broadcast/extract intrinsics: GCC 12 warns inside those.)
    const __m512i k16 = _mm512_set_epi64(kFold2048.hi, kFold2048.lo, kFold2048.hi, kFold2048.lo, kFold2048.hi,
                                         kFold2048.lo, kFold2048.hi, kFold2048.lo);
    const __m512i k4 = _mm512_set_epi64(kFold512.hi, kFold512.lo, kFold512.hi, kFold512.lo, kFold512.hi, kFold512.lo,
                                        kFold512.hi, kFold512.lo);
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        x0 = _mm512_xor_si512(fold512(x0, k16), load(p));
        x1 = _mm512_xor_si512(fold512(x1, k16), load(p + 64));
        x2 = _mm512_xor_si512(fold512(x2, k16), load(p + 128));
        x3 = _mm512_xor_si512(fold512(x3, k16), load(p + 192));
    }
    // Four registers to one (512 bits apart), then its four lanes to one.
    __m512i x = _mm512_xor_si512(fold512(_mm512_xor_si512(fold512(_mm512_xor_si512(fold512(x0, k4), x1), k4), x2), k4), x3);
    alignas(64) __m128i l[4];
    _mm512_store_si512(l, x);
    const __m128i y = _mm_xor_si128(_mm_xor_si128(fold(l[0], k128(kFold384)), fold(l[1], k128(kFold256))),
                                    _mm_xor_si128(fold(l[2], k128(kFold128)), l[3]));
    return finish(y, p, n);
}

bool cpu_has_vpclmul_512() {
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
        unsigned lo = 0, hi = 0;
        __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));  // XGETBV: ZMM state saved?
        if ((lo & 0xe6) != 0xe6) return false;
        if (__get_cpuid_max(0, nullptr) < 7) return false;
        __cpuid_count(7, 0, a, b, c, d);
        return (b & (1u << 16)) && (b & (1u << 31)) && (c & (1u << 10));  // AVX512F, AVX512VL, VPCLMULQDQ
    }();
    return has;
}

bool cpu_has_pclmul() {
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 1)) && (c & (1u << 19));  // PCLMULQDQ, SSE4.1
    }();
    return has;
}
#endif

}  // namespace

uint32_t crc32_update(uint32_t crc, const void *data, size_t size) {
    const auto *p = static_cast<const unsigned char *>(data);
#if ATTNROLL_CRC_FOLDING
    if (size >= 64 && cpu_has_pclmul()) {
        const size_t bulk = size & ~size_t{15};
        crc = ~(size >= 256 && cpu_has_vpclmul_512() ? fold_crc_512(~crc, p, bulk) : fold_crc(~crc, p, bulk));
        p += bulk;
        size -= bulk;
    }
#endif
    return static_cast<uint32_t>(crc32_z(crc, p, size));
}

uint32_t crc32_join(uint32_t crc_a, uint32_t crc_b, uint64_t size_b) {
    return static_cast<uint32_t>(crc32_combine64(crc_a, crc_b, static_cast<z_off64_t>(size_b)));
}

}  // namespace cli
