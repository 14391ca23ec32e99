// fuzz_config: sequences of config set/get calls against a model built from
// attnroll_option_info:
//   - statuses are the documented ones (OK, ARGUMENT, MEMORY), failures have a
//     message and leave the config unchanged;
//   - a value inside the key's [lower, upper] is accepted (except the
//     documented exceptions: LAYER_END 0, DISCARD_RATIO 1, NaN/inf), one
//     outside is refused; a key of another kind is refused;
//   - get returns what the last accepted set stored;
//   - option_info gives every key the answer it gave when the model was built
//     (once per process).
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "fuzz_common.hpp"

using namespace fz;

namespace {

struct Value {
    int32_t kind = 0;
    double lower = 0, upper = 0;
    int64_t i = 0;
    double f = 0;
    std::vector<int64_t> is;
    std::vector<double> fs;
};

constexpr int32_t kMaxKey = 40;

bool same_double(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// A buffer of n elements set to `fill`: on the stack for the short lists the
// targets set (check_model runs after every call), on the heap beyond.
template <class T>
struct ListBuffer {
    T small[16];
    std::vector<T> big;
    T *get(size_t n, T fill) {
        T *p = small;
        if (n > 16) {
            big.resize(n);
            p = big.data();
        }
        std::fill(p, p + n, fill);
        return p;
    }
};

void check_model(const attnroll_config *c, const std::map<int32_t, Value> &model) {
    ListBuffer<int64_t> ints;
    ListBuffer<double> floats;
    for (const auto &kv : model) {
        const Value &v = kv.second;
        int32_t st;
        switch (v.kind) {
            case ATTNROLL_OPTION_INT: {
                int64_t x = 0;
                st = attnroll_config_get_int(c, kv.first, &x);
                check_status("attnroll_config_get_int", st, {ATTNROLL_OK});
                if (x != v.i) fail("get_int differs from the value set", "attnroll_config_get_int", st);
                break;
            }
            case ATTNROLL_OPTION_FLOAT: {
                double x = 0;
                st = attnroll_config_get_float(c, kv.first, &x);
                check_status("attnroll_config_get_float", st, {ATTNROLL_OK});
                if (!same_double(x, v.f)) fail("get_float differs from the value set", "attnroll_config_get_float", st);
                break;
            }
            case ATTNROLL_OPTION_INTS: {
                int64_t n = -1;
                const size_t cap = v.is.size() + 1;
                int64_t *xs = ints.get(cap, -99);
                st = attnroll_config_get_ints(c, kv.first, xs, static_cast<int64_t>(cap), &n);
                check_status("attnroll_config_get_ints", st, {ATTNROLL_OK});
                if (n != static_cast<int64_t>(v.is.size())) fail("get_ints count", "attnroll_config_get_ints", st);
                for (size_t k = 0; k < v.is.size(); ++k)
                    if (xs[k] != v.is[k]) fail("get_ints differs from the list set", "attnroll_config_get_ints", st);
                if (xs[cap - 1] != -99) fail("get_ints wrote past the count", "attnroll_config_get_ints", st);
                break;
            }
            case ATTNROLL_OPTION_FLOATS: {
                int64_t n = -1;
                const size_t cap = v.fs.size() + 1;
                double *xs = floats.get(cap, -99.0);
                st = attnroll_config_get_floats(c, kv.first, xs, static_cast<int64_t>(cap), &n);
                check_status("attnroll_config_get_floats", st, {ATTNROLL_OK});
                if (n != static_cast<int64_t>(v.fs.size())) fail("get_floats count", "attnroll_config_get_floats", st);
                for (size_t k = 0; k < v.fs.size(); ++k)
                    if (!same_double(xs[k], v.fs[k])) fail("get_floats differs", "attnroll_config_get_floats", st);
                if (xs[cap - 1] != -99.0) fail("get_floats wrote past the count", "attnroll_config_get_floats", st);
                break;
            }
            default: break;
        }
    }
}

// Documented exceptions to "inside [lower, upper] is accepted".
bool refused_inside(int32_t key, double value) {
    if (key == ATTNROLL_OPT_LAYER_END && value == 0) return true;
#ifdef ATTNROLL_OPT_DISCARD_RATIO
    if (key == ATTNROLL_OPT_DISCARD_RATIO && value >= 1) return true;
#endif
    return !std::isfinite(value);
}

double pick_double(FuzzedDataProvider &fdp, const Value &v) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
        case 0: return fdp.ConsumeFloatingPoint<double>();
        case 1: return std::nan("");
        case 2: return fdp.ConsumeBool() ? INFINITY : -INFINITY;
        case 3: return v.lower;
        case 4: return v.upper;
        case 5: return std::nextafter(v.upper, INFINITY);
        default: {
            const double lo = std::max(v.lower, -1e12), hi = std::min(v.upper, 1e12);
            return lo <= hi ? fdp.ConsumeFloatingPointInRange<double>(lo, hi) : lo;
        }
    }
}

int64_t to_i64(double x) {
    if (!(x > -4e18)) return static_cast<int64_t>(-4e18);
    if (!(x < 4e18)) return static_cast<int64_t>(4e18);
    return static_cast<int64_t>(x);
}

int64_t pick_int(FuzzedDataProvider &fdp, const Value &v) {
    const int64_t lo = to_i64(v.lower), hi = to_i64(v.upper);
    switch (fdp.ConsumeIntegralInRange<int>(0, 5)) {
        case 0: return fdp.ConsumeIntegral<int64_t>();
        case 1: return lo - 1;
        case 2: return hi;
        default: return fdp.ConsumeIntegralInRange<int64_t>(lo, hi > lo + 100 || hi < lo ? lo + 100 : hi);
    }
}

bool inside(const Value &v, int32_t key, double x) {
    return x >= v.lower && x <= v.upper && !refused_inside(key, x);
}

// The keys option_info knows, with their kind and bounds and the defaults of
// a new config.  option_info is a pure function of its key, so this is
// computed (and checked) once per process instead of once per input: about
// 30 of the 43 keys are unknown, and each refusal is a C++ exception inside
// the library, which under ASan cost most of the time of a short input.
const std::map<int32_t, Value> &option_model() {
    static const std::map<int32_t, Value> model = [] {
        attnroll_config *c = nullptr;
        if (attnroll_config_create(&c) != ATTNROLL_OK) fail("create failed", "attnroll_config_create", 0);
        std::map<int32_t, Value> m;
        for (int32_t key = -2; key <= kMaxKey; ++key) {
            Value v;
            const int32_t st = attnroll_option_info(key, &v.kind, &v.lower, &v.upper);
            check_status("attnroll_option_info", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
            if (st != ATTNROLL_OK) continue;
            if (v.kind < ATTNROLL_OPTION_INT || v.kind > ATTNROLL_OPTION_FLOATS || !(v.lower <= v.upper))
                fail("option_info: bad kind or bounds", "attnroll_option_info", st);
            int64_t n = 0;
            if (v.kind == ATTNROLL_OPTION_INT) attnroll_config_get_int(c, key, &v.i);
            if (v.kind == ATTNROLL_OPTION_FLOAT) attnroll_config_get_float(c, key, &v.f);
            if (v.kind == ATTNROLL_OPTION_INTS) {
                attnroll_config_get_ints(c, key, nullptr, 0, &n);
                v.is.resize(static_cast<size_t>(n));
                attnroll_config_get_ints(c, key, v.is.data(), n, &n);
            }
            if (v.kind == ATTNROLL_OPTION_FLOATS) {
                attnroll_config_get_floats(c, key, nullptr, 0, &n);
                v.fs.resize(static_cast<size_t>(n));
                attnroll_config_get_floats(c, key, v.fs.data(), n, &n);
            }
            m[key] = v;
        }
        attnroll_config_destroy(c);
        return m;
    }();
    return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    // The model: every key option_info knows, with its default; a new config
    // must hold the defaults.
    std::map<int32_t, Value> model = option_model();
    attnroll_config *c = nullptr;
    if (attnroll_config_create(&c) != ATTNROLL_OK) fail("create failed", "attnroll_config_create", 0);
    check_model(c, model);
    while (fdp.remaining_bytes() > 0) {
        int32_t key = fdp.ConsumeIntegralInRange<int32_t>(-2, kMaxKey);
        if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) key = fdp.ConsumeIntegral<int32_t>();
        const auto it = model.find(key);
        const Value none;
        const Value &v = it == model.end() ? none : it->second;
        const int op = fdp.ConsumeIntegralInRange<int>(0, 5);
        int32_t st = ATTNROLL_OK;
        bool expect_ok = false;
        Value next = v;
        switch (op) {
            case 0: {
                const int64_t x = pick_int(fdp, v);
                st = attnroll_config_set_int(c, key, x);
                expect_ok = v.kind == ATTNROLL_OPTION_INT && inside(v, key, static_cast<double>(x));
                next.i = x;
                check_status("attnroll_config_set_int", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                break;
            }
            case 1: {
                const double x = pick_double(fdp, v);
                st = attnroll_config_set_float(c, key, x);
                expect_ok = v.kind == ATTNROLL_OPTION_FLOAT && inside(v, key, x);
                next.f = x;
                check_status("attnroll_config_set_float", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                break;
            }
            case 2: {
                std::vector<int64_t> xs(fdp.ConsumeIntegralInRange<size_t>(0, 6));
                expect_ok = v.kind == ATTNROLL_OPTION_INTS;
                for (int64_t &x : xs) {
                    x = pick_int(fdp, v);
                    expect_ok = expect_ok && inside(v, key, static_cast<double>(x));
                }
                const bool null_values = xs.empty() && fdp.ConsumeBool();
                int64_t count = static_cast<int64_t>(xs.size());
                if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) { count = -1; expect_ok = false; }
                st = attnroll_config_set_ints(c, key, null_values ? nullptr : xs.data(), count);
                next.is = xs;
                check_status("attnroll_config_set_ints", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_MEMORY});
                break;
            }
            case 3: {
                std::vector<double> xs(fdp.ConsumeIntegralInRange<size_t>(0, 6));
                expect_ok = v.kind == ATTNROLL_OPTION_FLOATS;
                for (double &x : xs) {
                    x = pick_double(fdp, v);
                    expect_ok = expect_ok && inside(v, key, x);
                }
                int64_t count = static_cast<int64_t>(xs.size());
                if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) { count = -1; expect_ok = false; }
                st = attnroll_config_set_floats(c, key, xs.empty() && fdp.ConsumeBool() ? nullptr : xs.data(), count);
                next.fs = xs;
                check_status("attnroll_config_set_floats", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_MEMORY});
                break;
            }
            case 4: {  // get with a short buffer, NULLs, negative capacity
                int64_t cap = fdp.ConsumeIntegralInRange<int64_t>(-1, 3), n = -5;
                std::vector<int64_t> buf(4, -7);
                const bool null_count = fdp.ConsumeIntegralInRange<int>(0, 7) == 0;
                st = attnroll_config_get_ints(fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : c, key,
                                              cap > 0 || fdp.ConsumeBool() ? buf.data() : nullptr, cap,
                                              null_count ? nullptr : &n);
                check_status("attnroll_config_get_ints", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                if (st == ATTNROLL_OK) {
                    if (v.kind != ATTNROLL_OPTION_INTS || n != static_cast<int64_t>(v.is.size()))
                        fail("get_ints OK for a key of another kind, or a wrong count", "attnroll_config_get_ints", st);
                    for (int64_t k = cap < 0 ? 0 : cap; k < 4; ++k)
                        if (buf[static_cast<size_t>(k)] != -7) fail("get_ints wrote past capacity", "attnroll_config_get_ints", st);
                } else if (n != -5) {
                    fail("count written although the call failed", "attnroll_config_get_ints", st);
                }
                break;
            }
            default: {  // set on NULL config, get of unknown keys, option_info against the model
                int32_t kind = -1;
                double lower = 0, upper = 0;
                st = attnroll_option_info(key, &kind, &lower, &upper);
                check_status("attnroll_option_info", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                if ((st == ATTNROLL_OK) != (it != model.end()) ||
                    (st == ATTNROLL_OK && (kind != v.kind || !same_double(lower, v.lower) || !same_double(upper, v.upper))))
                    fail("option_info differs from its first answer for this key", "attnroll_option_info", st);
                st = attnroll_config_set_int(nullptr, key, 0);
                check_status("attnroll_config_set_int", st, {ATTNROLL_E_ARGUMENT});
                int64_t x = 12345;
                st = attnroll_config_get_int(c, key, fdp.ConsumeBool() ? nullptr : &x);
                check_status("attnroll_config_get_int", st, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                if (st != ATTNROLL_OK && x != 12345) fail("value written although the call failed", "attnroll_config_get_int", st);
                if (st == ATTNROLL_OK && v.kind != ATTNROLL_OPTION_INT) fail("get_int OK for another kind", "attnroll_config_get_int", st);
                break;
            }
        }
        if (op <= 3) {
            if (expect_ok && st != ATTNROLL_OK && st != ATTNROLL_E_MEMORY)
                fail("a value inside the key's bounds was refused", "attnroll_config_set_*", st);
            if (!expect_ok && st == ATTNROLL_OK) fail("a value outside the key's bounds was accepted", "attnroll_config_set_*", st);
            if (st == ATTNROLL_OK) model[key] = next;
        }
        check_model(c, model);
    }
    attnroll_config_destroy(c);
    return 0;
}
