// Attention flow (Abnar & Zuidema 2020): the maximum flow through the layered
// attention graph, from a token at the top level to each token at level 0.
//
// The network of one frame and one source q has L'+1 levels of N' tokens; the
// arc from (l+1, i) to (l, k) has capacity Abar_l[i, k], the layer's factor
// from the pipeline (LayerFuser: drop, fusion, discard, rule).  Only the
// source's node is used at the top level and only the sink's at level 0
// (the other nodes there have no arcs in, or no arcs out), so a max flow runs
// on s, levels L'-1 .. 1, and t.
//
// Arithmetic is exact: for each source the capacities are scaled so that the
// source's total out-capacity U is 2^61 and rounded to int64; Dinic's
// algorithm then runs in integers (no epsilon, no drift), and the value is
// scaled back.  Rounding a capacity moves it by at most U * 2^-62, so the
// value is within (arcs of the minimum cut) * U * 2^-62 of the exact real one.
// A capacity above U is clamped to U (no arc can carry more than U).
//
// Dinic on the dense layered graph: arcs are not stored as lists but as
// matrices per layer, R (residual of the downward arc (l+1,i) -> (l,k), laid
// out [i][k]) and B (its flow, i.e. the residual of the upward arc, laid out
// [k][i]), so that every node's arcs in either direction are one contiguous
// row.  Per worker: 2 (L'-2) N'^2 int64 plus O(L' N') for the nodes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "config.hpp"
#include "error.hpp"
#include "method.hpp"
#include "parallel.hpp"
#include "rollout.hpp"
#include "spectral.hpp"
#include "tensor.hpp"

namespace attnroll {

namespace {

constexpr int64_t kTop = int64_t(1) << 61;  // the source's out-capacity, scaled

// The integer capacities shared by every sink of one (frame, source).
struct Network {
    int64_t n = 0, levels = 0;      // N', L'
    std::vector<int64_t> middle;    // layers 1 .. L'-2, each [i][k] (upper i, lower k)
    std::vector<int64_t> source;    // arcs s -> (L'-1, k)
    const double *bottom = nullptr; // Abar_0, N' x N' (row-major), for the sink arcs
    double factor = 0;              // capacity (real) = integer * factor
    int64_t quantize(double c) const {
        const double x = std::nearbyint(c / factor);
        return x >= static_cast<double>(kTop) ? kTop : static_cast<int64_t>(x);
    }
};

// One worker's Dinic state for a network.
class Dinic {
public:
    Dinic(int64_t n, int64_t levels)
        : n_(n), levels_(levels),
          residual_(static_cast<size_t>(std::max<int64_t>(0, levels - 2) * n * n)),
          flow_(residual_.size()), source_(static_cast<size_t>(n)), sink_(static_cast<size_t>(n)),
          dist_(static_cast<size_t>((levels - 1) * n)), cur_(dist_.size()), queue_(dist_.size()) {}

    // Max flow from the source to token j at level 0, in integer units.
    int64_t run(const Network &net, int64_t j) {
        std::copy(net.middle.begin(), net.middle.end(), residual_.begin());
        std::fill(flow_.begin(), flow_.end(), 0);
        std::copy(net.source.begin(), net.source.end(), source_.begin());
        // Each sink arc holds up to kTop = 2^61, so their sum may not fit in
        // int64: only whether any can carry flow matters here.
        bool reachable = false;
        for (int64_t u = 0; u < n_; ++u) {
            sink_[static_cast<size_t>(u)] = net.quantize(net.bottom[u * n_ + j]);
            reachable = reachable || sink_[static_cast<size_t>(u)] > 0;
        }
        int64_t total = 0;
        if (!reachable) return 0;
        while (bfs()) {
            std::fill(cur_.begin(), cur_.end(), 0);
            const int64_t top = (levels_ - 2) * n_;
            for (int64_t k = 0; k < n_; ++k) {
                int64_t &r = source_[static_cast<size_t>(k)];
                if (r <= 0 || dist_[static_cast<size_t>(top + k)] != 1 || 1 >= dist_t_) continue;
                const int64_t d = dfs(levels_ - 1, k, r);
                r -= d;
                total += d;
            }
        }
        return total;
    }

private:
    int64_t *res(int64_t m) { return residual_.data() + (m - 1) * n_ * n_; }
    int64_t *flo(int64_t m) { return flow_.data() + (m - 1) * n_ * n_; }
    int64_t id(int64_t l, int64_t u) const { return (l - 1) * n_ + u; }

    // Distances from the source in the residual graph, up to the sink's.
    bool bfs() {
        std::fill(dist_.begin(), dist_.end(), -1);
        dist_t_ = std::numeric_limits<int32_t>::max();
        size_t head = 0, tail = 0;
        const int64_t top = levels_ - 1;
        for (int64_t k = 0; k < n_; ++k)
            if (source_[static_cast<size_t>(k)] > 0) {
                dist_[static_cast<size_t>(id(top, k))] = 1;
                queue_[tail++] = static_cast<int32_t>(id(top, k));
            }
        while (head < tail) {
            const int64_t node = queue_[head++];
            const int64_t l = node / n_ + 1, u = node % n_;
            const int32_t next = dist_[static_cast<size_t>(node)] + 1;
            if (l == 1) {
                if (sink_[static_cast<size_t>(u)] > 0) {
                    dist_t_ = next;  // every node nearer than t is labelled by now
                    return true;
                }
            } else {
                const int64_t *row = res(l - 1) + u * n_;
                int32_t *d = dist_.data() + id(l - 1, 0);
                for (int64_t k = 0; k < n_; ++k)
                    if (row[k] > 0 && d[k] < 0) {
                        d[k] = next;
                        queue_[tail++] = static_cast<int32_t>(id(l - 1, k));
                    }
            }
            if (l <= levels_ - 2) {
                const int64_t *row = flo(l) + u * n_;
                int32_t *d = dist_.data() + id(l + 1, 0);
                for (int64_t i = 0; i < n_; ++i)
                    if (row[i] > 0 && d[i] < 0) {
                        d[i] = next;
                        queue_[tail++] = static_cast<int32_t>(id(l + 1, i));
                    }
            }
        }
        return false;
    }

    // Pushes up to `limit` from (l, u) to t along shortest residual paths.
    int64_t dfs(int64_t l, int64_t u, int64_t limit) {
        const size_t node = static_cast<size_t>(id(l, u));
        const int32_t next = dist_[node] + 1;
        const int64_t down = l == 1 ? 1 : n_, up = l <= levels_ - 2 ? n_ : 0;
        int64_t total = 0;
        int64_t &c = cur_[node];
        for (; c < down + up; ++c) {
            if (c < down) {
                if (l == 1) {
                    int64_t &r = sink_[static_cast<size_t>(u)];
                    if (r <= 0 || next != dist_t_) continue;
                    const int64_t d = std::min(r, limit - total);
                    r -= d;
                    total += d;
                } else {
                    int64_t &r = res(l - 1)[u * n_ + c];
                    if (r <= 0 || next >= dist_t_ || dist_[static_cast<size_t>(id(l - 1, c))] != next) continue;
                    const int64_t d = dfs(l - 1, c, std::min(r, limit - total));
                    if (d == 0) continue;
                    r -= d;
                    flo(l - 1)[c * n_ + u] += d;
                    total += d;
                }
            } else {
                const int64_t i = c - down;
                int64_t &r = flo(l)[u * n_ + i];
                if (r <= 0 || next >= dist_t_ || dist_[static_cast<size_t>(id(l + 1, i))] != next) continue;
                const int64_t d = dfs(l + 1, i, std::min(r, limit - total));
                if (d == 0) continue;
                r -= d;
                res(l)[i * n_ + u] += d;
                total += d;
            }
            if (total == limit) return total;  // the arc may have room left: keep it current
        }
        dist_[node] = -1;  // blocked for the rest of this phase
        return total;
    }

    int64_t n_, levels_;
    std::vector<int64_t> residual_, flow_, source_, sink_;
    std::vector<int32_t> dist_;
    std::vector<int64_t> cur_;
    std::vector<int32_t> queue_;
    int32_t dist_t_ = 0;
};

struct FlowJob {
    std::vector<LayerView> layers;  // the range, cut to N' tokens
    std::vector<int64_t> names;     // each one's index in the caller's array
    int64_t frames = 1, n = 0;
    std::vector<int64_t> sources;   // query rows (all rows when none given)
};

// Refuses a capacity that is NaN, infinite or negative.
void check_capacities(const double *a, int64_t n, int64_t layer, int64_t frame) {
    for (int64_t e = 0; e < n * n; ++e) {
        const double c = a[e];
        if (std::isfinite(c) && c >= 0) continue;
        fail(ATTNROLL_E_ARGUMENT,
             "%s: frame %lld: capacity Abar[%lld,%lld] = %g after the pipeline; a flow needs finite, "
             "non-negative capacities", layer_name(layer).c_str(), static_cast<long long>(frame),
             static_cast<long long>(e / n), static_cast<long long>(e % n), c);
    }
}

void compute(const FlowJob &job, const Method &method, int64_t threads, std::vector<double> &result) {
    const int64_t n = job.n, levels = static_cast<int64_t>(job.layers.size());
    const int64_t rows = static_cast<int64_t>(job.sources.size());
    const double per_sink = static_cast<double>(levels) * static_cast<double>(n) * static_cast<double>(n) * 4.0;
    Workers workers(choose_workers(threads, per_sink, std::max<int64_t>(n, levels)));
    std::vector<std::unique_ptr<Dinic>> solvers(static_cast<size_t>(workers.count()));
    std::vector<double> factors(static_cast<size_t>(levels * n * n));
    std::vector<LayerFuser<double>> fusers;
    fusers.reserve(static_cast<size_t>(levels));
    for (const LayerView &v : job.layers) fusers.emplace_back(v, nullptr, method);

    Network net;
    net.n = n;
    net.levels = levels;
    net.bottom = factors.data();
    if (levels > 2) net.middle.resize(static_cast<size_t>((levels - 2) * n * n));
    net.source.resize(static_cast<size_t>(n));

    for (int64_t f = 0; f < job.frames; ++f) {
        workers.run(levels, [&](int64_t l, int) {
            double *a = factors.data() + l * n * n;
            fusers[static_cast<size_t>(l)].frame(f, a);
            check_capacities(a, n, job.names[static_cast<size_t>(l)], f);
        });
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t q = job.sources[static_cast<size_t>(r)];
            double *out = result.data() + (f * rows + r) * n;
            const double *top = factors.data() + (levels - 1) * n * n + q * n;
            if (levels == 1) {  // one arc from (1, q) to (0, j)
                std::copy(top, top + n, out);
                continue;
            }
            double total = 0;
            for (int64_t k = 0; k < n; ++k) total += top[k];
            if (!(total > 0) || !std::isfinite(total)) {
                std::fill(out, out + n, 0.0);
                if (!std::isfinite(total))
                    fail(ATTNROLL_E_ARGUMENT, "%s: frame %lld: row %lld sums to %g; a flow needs a finite source "
                         "capacity", layer_name(job.names.back()).c_str(), static_cast<long long>(f),
                         static_cast<long long>(q), total);
                continue;
            }
            net.factor = total / static_cast<double>(kTop);
            for (int64_t k = 0; k < n; ++k) net.source[static_cast<size_t>(k)] = net.quantize(top[k]);
            workers.run(levels - 2, [&](int64_t m, int) {
                const double *a = factors.data() + (m + 1) * n * n;
                int64_t *c = net.middle.data() + m * n * n;
                for (int64_t e = 0; e < n * n; ++e) c[e] = net.quantize(a[e]);
            });
            workers.run(n, [&](int64_t j, int worker) {
                std::unique_ptr<Dinic> &solver = solvers[static_cast<size_t>(worker)];
                if (!solver) solver.reset(new Dinic(n, levels));
                out[j] = static_cast<double>(solver->run(net, j)) * net.factor;
            });
        }
    }
}

}  // namespace

void flow(const attnroll_tensor *layers, int32_t num_layers, const attnroll_config *config,
          const attnroll_tensor *out) {
    if (!layers) fail(ATTNROLL_E_ARGUMENT, "layers: is NULL");
    if (num_layers < 1) fail(ATTNROLL_E_ARGUMENT, "num_layers: %d, must be >= 1", static_cast<int>(num_layers));
    const attnroll_config &options = options_or_defaults(config);

    std::vector<View> views;
    views.reserve(static_cast<size_t>(num_layers));
    for (int32_t i = 0; i < num_layers; ++i) {
        const std::string name = layer_name(i);
        View v = check_input(&layers[i], name);
        if (i == 0) {
            if (v.ndim != 3 && v.ndim != 4)
                fail(ATTNROLL_E_SHAPE, "%s: shape %s has rank %d, expected [F,H,N,N] or [H,N,N]", name.c_str(),
                     shape_string(v).c_str(), static_cast<int>(v.ndim));
            if (v.shape[v.ndim - 1] != v.shape[v.ndim - 2])
                fail(ATTNROLL_E_SHAPE, "%s: shape %s is not square in its last two dims", name.c_str(),
                     shape_string(v).c_str());
        } else {
            expect_shape(v, std::vector<int64_t>(views[0].shape, views[0].shape + views[0].ndim),
                         name + " (must match layers[0])");
        }
        views.push_back(v);
    }
    const View &first = views[0];
    const bool framed = first.ndim == 4;
    const int64_t n = first.shape[first.ndim - 1];
    const int64_t frames = framed ? first.shape[0] : 1;
    check_blas_extent(n, "layers[0]");
    const LayerRange range = resolve_range(options, num_layers);
    const int64_t kept = check_method(options, n, false);
    check_head_weights(options, first.shape[framed ? 1 : 0], "layers[0]");
    if (options.rule != ATTNROLL_RULE_ROLLOUT)
        fail(ATTNROLL_E_ARGUMENT, "config: ATTNROLL_OPT_RULE = %lld; attnroll_flow takes ATTNROLL_RULE_ROLLOUT "
             "only (Chefer's rule adds relevance over all paths; its unnormalised factors are no flow "
             "capacities)", static_cast<long long>(options.rule));
    if (options.cumulative != 0)
        fail(ATTNROLL_E_ARGUMENT, "config: ATTNROLL_OPT_CUMULATIVE = %lld; attnroll_flow has no per-layer "
             "outputs (set it to 0)", static_cast<long long>(options.cumulative));
    if (kept > (int64_t(1) << 31) / std::max<int64_t>(1, range.end - range.begin))
        fail(ATTNROLL_E_SHAPE, "layers[0]: %lld tokens x %lld layers exceed the flow's node index range",
             static_cast<long long>(kept), static_cast<long long>(range.end - range.begin));

    const View o = check_output(out, "out");
    expect_shape(o, output_shape(options, range.end - range.begin, frames, kept, framed), "out");
    for (int32_t i = 0; i < num_layers; ++i) expect_disjoint(o, "out", views[static_cast<size_t>(i)], layer_name(i));

    FlowJob job;
    job.frames = frames;
    job.n = kept;
    for (int64_t i = range.begin; i < range.end; ++i) {
        job.layers.push_back(drop_view(spatial_layer_view(views[static_cast<size_t>(i)]), options.drop_tokens));
        job.names.push_back(i);
    }
    job.sources = options.query_rows;
    if (job.sources.empty())
        for (int64_t q = 0; q < kept; ++q) job.sources.push_back(q);
    const Method method = method_of(options, kept);
    std::vector<double> result(static_cast<size_t>(frames) * job.sources.size() * static_cast<size_t>(kept));
    compute(job, method, options.threads, result);
    store(result.data(), o);
}

}  // namespace attnroll
