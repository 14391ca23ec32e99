#include "discard.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace attnroll {

namespace {

template <class T>
using KeyOf = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;

// Unsigned keys in the order of the values: negatives flipped, positives with
// the sign bit set, every NaN the largest key.
template <class T>
inline KeyOf<T> order_key(T v) {
    using K = KeyOf<T>;
    constexpr K sign = K(1) << (8 * sizeof(K) - 1);
    K bits;
    std::memcpy(&bits, &v, sizeof bits);
    const K key = (bits & sign) ? ~bits : (bits | sign);
    return v != v ? ~K(0) : key;
}

// The key of rank `rank` (0-based) among keys[0..count), by 11-bit digits from
// the top, keeping only the candidates that share the digits found so far.
template <class K>
K select_key(std::vector<K> &keys, int64_t count, int64_t rank) {
    constexpr int kBits = 11, kBins = 1 << kBits;
    K prefix = 0;
    for (int shift = static_cast<int>(8 * sizeof(K)) - kBits;; shift -= kBits) {
        const int s = shift < 0 ? 0 : shift;
        const int width = shift < 0 ? kBits + shift : kBits;
        const K mask = static_cast<K>((K(1) << width) - 1);
        int64_t hist[kBins] = {};
        for (int64_t i = 0; i < count; ++i) ++hist[(keys[static_cast<size_t>(i)] >> s) & mask];
        int64_t digit = 0;
        while (rank >= hist[digit]) rank -= hist[digit++];
        prefix |= static_cast<K>(static_cast<K>(digit) << s);
        if (s == 0) return prefix;
        int64_t kept = 0;
        for (int64_t i = 0; i < count; ++i) {
            const K k = keys[static_cast<size_t>(i)];
            if (static_cast<int64_t>((k >> s) & mask) == digit) keys[static_cast<size_t>(kept++)] = k;
        }
        count = kept;
    }
}

}  // namespace

template <class T>
void discard_smallest(T *map, int64_t n, double ratio, const std::vector<char> &protected_cols) {
    using K = KeyOf<T>;
    int64_t open_cols = 0;
    for (int64_t j = 0; j < n; ++j) open_cols += protected_cols[static_cast<size_t>(j)] ? 0 : 1;
    const int64_t m = n * open_cols;
    const int64_t drop = static_cast<int64_t>(std::floor(ratio * static_cast<double>(m)));
    if (drop <= 0) return;

    std::vector<K> keys(static_cast<size_t>(m));
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            if (!protected_cols[static_cast<size_t>(j)]) keys[static_cast<size_t>(c++)] = order_key(map[i * n + j]);
    const K threshold = select_key(keys, m, drop - 1);

    // Everything below the threshold goes; of the entries equal to it, the
    // lowest indices go until `drop` entries have been zeroed.
    int64_t below = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            if (!protected_cols[static_cast<size_t>(j)] && order_key(map[i * n + j]) < threshold) ++below;
    int64_t ties = drop - below;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            if (protected_cols[static_cast<size_t>(j)]) continue;
            const K key = order_key(map[i * n + j]);
            if (key < threshold) {
                map[i * n + j] = T(0);
            } else if (key == threshold && ties > 0) {
                map[i * n + j] = T(0);
                --ties;
            }
        }
}

template void discard_smallest<float>(float *, int64_t, double, const std::vector<char> &);
template void discard_smallest<double>(double *, int64_t, double, const std::vector<char> &);

}  // namespace attnroll
