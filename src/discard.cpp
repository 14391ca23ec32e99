#include "discard.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace attnroll {

namespace {

template <class T>
using KeyOf = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;

// Unsigned keys in the order of the values: negatives flipped, positives with
// the sign bit set, every NaN one below the largest key, which marks a
// protected column (never selected: at most M - 1 entries go).  Masks, not
// branches, so the loops over a map vectorise.
template <class T>
inline KeyOf<T> order_key(T v, KeyOf<T> protect) {
    using K = KeyOf<T>;
    constexpr int top = 8 * sizeof(K) - 1;
    K bits;
    std::memcpy(&bits, &v, sizeof bits);
    const K key = bits ^ ((K(0) - (bits >> top)) | (K(1) << top));
    const K nan = K(0) - K(v != v);
    return (key & ~nan) | ((~K(0) - 1) & nan) | protect;
}

// The key of rank `rank` (0-based) among keys[0..count), by 11-bit digits
// from the top, keeping (in place) only the candidates that share the digits
// found so far.  `ties` gets how many keys equal to it are among the
// `rank + 1` smallest, `equal` how many there are.
template <class K>
K select_key(K *keys, int64_t count, int64_t rank, int64_t &ties, int64_t &equal) {
    constexpr int kBits = 11, kBins = 1 << kBits;
    K prefix = 0;
    for (int shift = static_cast<int>(8 * sizeof(K)) - kBits;; shift -= kBits) {
        const int s = shift < 0 ? 0 : shift;
        const int width = shift < 0 ? kBits + shift : kBits;
        const K mask = static_cast<K>((K(1) << width) - 1);
        // Four histograms: peaky maps put most keys in a few bins, and one
        // counter incremented back to back waits on its own store.
        uint32_t hist[4][kBins] = {};
        int64_t i = 0;
        for (; i + 4 <= count; i += 4)
            for (int k = 0; k < 4; ++k) ++hist[k][(keys[i + k] >> s) & mask];
        for (; i < count; ++i) ++hist[0][(keys[i] >> s) & mask];
        int64_t digit = 0;
        int64_t in_bin = 0;
        for (;; ++digit) {
            in_bin = int64_t(hist[0][digit]) + hist[1][digit] + hist[2][digit] + hist[3][digit];
            if (rank < in_bin) break;
            rank -= in_bin;
        }
        prefix |= static_cast<K>(static_cast<K>(digit) << s);
        if (s == 0) {
            ties = rank + 1;
            equal = in_bin;
            return prefix;
        }
        int64_t kept = 0;  // branch-free: which keys stay is data
        for (i = 0; i < count; ++i) {
            const K k = keys[i];
            keys[kept] = k;
            kept += static_cast<int64_t>((k >> s) & mask) == digit;
        }
        count = kept;
    }
}

}  // namespace

template <class T>
void discard_smallest(T *map, int64_t n, double ratio, const std::vector<char> &protected_cols) {
    using K = KeyOf<T>;
    std::vector<K> protect(static_cast<size_t>(n));  // per column: all ones if protected
    int64_t open_cols = 0;
    for (int64_t j = 0; j < n; ++j) {
        protect[static_cast<size_t>(j)] = protected_cols[static_cast<size_t>(j)] ? ~K(0) : K(0);
        open_cols += protected_cols[static_cast<size_t>(j)] ? 0 : 1;
    }
    const int64_t m = n * open_cols;
    const int64_t drop = static_cast<int64_t>(std::floor(ratio * static_cast<double>(m)));
    if (drop <= 0) return;

    // Every entry's key; the protected ones rank above all M open entries, so
    // the rank among all n*n keys is the rank among the open ones.
    const K *pk = protect.data();
    std::vector<K> keys(static_cast<size_t>(n * n));  // the selection then works in it
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) keys[static_cast<size_t>(i * n + j)] = order_key(map[i * n + j], pk[j]);
    int64_t ties = 0, equal = 0;
    K threshold = select_key(keys.data(), n * n, drop - 1, ties, equal);

    if (ties == equal) {
        ++threshold;  // every entry equal to it goes (a protected key, ~0, stays above)
    } else {
        // Of the entries equal to the threshold, the lowest indices go (a
        // zeroed one is then at most the threshold, and already 0) ...
        for (int64_t i = 0; i < n && ties > 0; ++i)
            for (int64_t j = 0; j < n && ties > 0; ++j)
                if (order_key(map[i * n + j], pk[j]) == threshold) {
                    map[i * n + j] = T(0);
                    --ties;
                }
    }
    // ... and everything below it.
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            T &v = map[i * n + j];
            const K keep = K(0) - K(!(order_key(v, pk[j]) < threshold));
            K b;
            std::memcpy(&b, &v, sizeof b);
            b &= keep;
            std::memcpy(&v, &b, sizeof b);
        }
}

template void discard_smallest<float>(float *, int64_t, double, const std::vector<char> &);
template void discard_smallest<double>(double *, int64_t, double, const std::vector<char> &);

}  // namespace attnroll
