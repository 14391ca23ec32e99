// Every extern "C" entry point: clear the thread's message, run the C++ code,
// and turn whatever it throws into a status.  Nothing escapes this file.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include "attnroll.h"
#include "blas_report.hpp"
#include "config.hpp"
#include "error.hpp"
#include "post.hpp"
#include "rollout.hpp"
#include "spectral.hpp"
#include "stream.hpp"

namespace {

template <class Body>
int32_t guarded(Body &&body) noexcept {
    attnroll::clear_message();
    try {
        body();
        return ATTNROLL_OK;
    } catch (const attnroll::Error &e) {
        return e.status();
    } catch (const std::bad_alloc &) {
        attnroll::set_message("out of memory");
        return ATTNROLL_E_MEMORY;
    } catch (const std::length_error &e) {
        // A working array longer than any allocation can be (a broadcast
        // input of 2^61 elements, say): a memory failure, not a library bug.
        char text[160];
        std::snprintf(text, sizeof text, "out of memory: a working array would be too large (%s)", e.what());
        attnroll::set_message(text);
        return ATTNROLL_E_MEMORY;
    } catch (const std::exception &e) {
        attnroll::set_message(e.what());
        return ATTNROLL_E_INTERNAL;
    } catch (...) {
        attnroll::set_message("unknown internal error");
        return ATTNROLL_E_INTERNAL;
    }
}

template <class P>
void require(const P *pointer, const char *name) {
    if (!pointer) attnroll::fail(ATTNROLL_E_ARGUMENT, "%s: is NULL", name);
}


// A list option copied out: the length always, min(length, capacity) values.
template <class V>
void copy_list(const std::vector<V> &list, V *values, int64_t capacity, int64_t *count) {
    if (capacity < 0)
        attnroll::fail(ATTNROLL_E_ARGUMENT, "capacity: %lld, must be >= 0", static_cast<long long>(capacity));
    if (capacity > 0) require(values, "values");
    const int64_t n = static_cast<int64_t>(list.size());
    for (int64_t i = 0; i < n && i < capacity; ++i) values[i] = list[static_cast<size_t>(i)];
    *count = n;
}
}  // namespace

using attnroll::fail;

extern "C" {

int32_t attnroll_version_number(void) { return ATTNROLL_VERSION_NUMBER; }

const char *attnroll_version_string(void) { return ATTNROLL_VERSION_STRING; }

const char *attnroll_status_string(int32_t status) {
    switch (status) {
        case ATTNROLL_OK: return "ATTNROLL_OK";
        case ATTNROLL_E_ARGUMENT: return "ATTNROLL_E_ARGUMENT";
        case ATTNROLL_E_SHAPE: return "ATTNROLL_E_SHAPE";
        case ATTNROLL_E_DTYPE: return "ATTNROLL_E_DTYPE";
        case ATTNROLL_E_OVERLAP: return "ATTNROLL_E_OVERLAP";
        case ATTNROLL_E_MEMORY: return "ATTNROLL_E_MEMORY";
        case ATTNROLL_E_STATE: return "ATTNROLL_E_STATE";
        case ATTNROLL_E_INTERNAL: return "ATTNROLL_E_INTERNAL";
        default: return "unknown status";
    }
}

const char *attnroll_last_error(void) { return attnroll::message(); }

int32_t attnroll_dtype_size(int32_t dtype) {
    switch (dtype) {
        case ATTNROLL_F32: return 4;
        case ATTNROLL_F64: return 8;
        case ATTNROLL_F16:
        case ATTNROLL_BF16: return 2;
        default: return 0;
    }
}

int32_t attnroll_max_ndim(void) { return ATTNROLL_MAX_NDIM; }

/* ---- options ---- */

int32_t attnroll_option_info(int32_t key, int32_t *kind, double *lower, double *upper) {
    return guarded([&] {
        const attnroll::OptionInfo &o = attnroll::option_info(key);
        if (kind) *kind = o.kind;
        if (lower) *lower = o.lower;
        if (upper) *upper = o.upper;
    });
}

int32_t attnroll_config_create(attnroll_config **config) {
    if (config) *config = nullptr;
    return guarded([&] {
        require(config, "config");
        *config = new attnroll_config();
    });
}

void attnroll_config_destroy(attnroll_config *config) { delete config; }

int32_t attnroll_config_set_int(attnroll_config *config, int32_t key, int64_t value) {
    return guarded([&] {
        require(config, "config");
        attnroll::set_int(*config, key, value);
    });
}

int32_t attnroll_config_set_float(attnroll_config *config, int32_t key, double value) {
    return guarded([&] {
        require(config, "config");
        attnroll::set_float(*config, key, value);
    });
}

int32_t attnroll_config_set_ints(attnroll_config *config, int32_t key, const int64_t *values,
                                 int64_t count) {
    return guarded([&] {
        require(config, "config");
        attnroll::set_ints(*config, key, values, count);
    });
}

int32_t attnroll_config_set_floats(attnroll_config *config, int32_t key, const double *values,
                                   int64_t count) {
    return guarded([&] {
        require(config, "config");
        attnroll::set_floats(*config, key, values, count);
    });
}

int32_t attnroll_config_get_int(const attnroll_config *config, int32_t key, int64_t *value) {
    return guarded([&] {
        require(config, "config");
        require(value, "value");
        *value = attnroll::get_int(*config, key);
    });
}

int32_t attnroll_config_get_float(const attnroll_config *config, int32_t key, double *value) {
    return guarded([&] {
        require(config, "config");
        require(value, "value");
        *value = attnroll::get_float(*config, key);
    });
}


int32_t attnroll_config_get_ints(const attnroll_config *config, int32_t key, int64_t *values,
                                 int64_t capacity, int64_t *count) {
    return guarded([&] {
        require(config, "config");
        require(count, "count");
        copy_list(attnroll::get_ints(*config, key), values, capacity, count);
    });
}

int32_t attnroll_config_get_floats(const attnroll_config *config, int32_t key, double *values,
                                   int64_t capacity, int64_t *count) {
    return guarded([&] {
        require(config, "config");
        require(count, "count");
        copy_list(attnroll::get_floats(*config, key), values, capacity, count);
    });
}

/* ---- rollouts ---- */

int32_t attnroll_spatial(const attnroll_tensor *layers, int32_t num_layers,
                         const attnroll_config *config, const attnroll_tensor *out) {
    return guarded([&] { attnroll::spatial(layers, nullptr, num_layers, config, out); });
}

int32_t attnroll_spatial_grad(const attnroll_tensor *layers, const attnroll_tensor *grads,
                              int32_t num_layers, const attnroll_config *config,
                              const attnroll_tensor *out) {
    return guarded([&] {
        require(grads, "grads");
        attnroll::spatial(layers, grads, num_layers, config, out);
    });
}

int32_t attnroll_select_instance(const attnroll_tensor *attn, int64_t instance,
                                 const attnroll_tensor *out) {
    return guarded([&] { attnroll::select_instance(attn, instance, out); });
}

int32_t attnroll_select_shape(const attnroll_tensor *attn, int64_t instance, int64_t *rows,
                              int64_t *cols) {
    return guarded([&] { attnroll::select_shape(attn, instance, rows, cols); });
}

int32_t attnroll_temporal(const attnroll_tensor *layers, int32_t num_layers, int64_t instance,
                          const attnroll_config *config, const attnroll_tensor *out) {
    return guarded([&] { attnroll::temporal(layers, num_layers, instance, config, out); });
}

int32_t attnroll_minmax_rows(const attnroll_tensor *in, const attnroll_tensor *out) {
    return guarded([&] { attnroll::minmax_rows(in, out); });
}

int32_t attnroll_column_mean(const attnroll_tensor *in, const attnroll_tensor *out) {
    return guarded([&] { attnroll::column_mean(in, out); });
}

int32_t attnroll_minmax(const attnroll_tensor *in, const attnroll_tensor *out) {
    return guarded([&] { attnroll::minmax(in, out); });
}

/* ---- attention flow and spectra ---- */

int32_t attnroll_flow(const attnroll_tensor *layers, int32_t num_layers, const attnroll_config *config,
                      const attnroll_tensor *out) {
    return guarded([&] { attnroll::flow(layers, num_layers, config, out); });
}

int32_t attnroll_singular_values(const attnroll_tensor *in, const attnroll_tensor *out) {
    return guarded([&] { attnroll::singular_values(in, out); });
}

int32_t attnroll_effective_rank(const attnroll_tensor *in, const attnroll_tensor *out) {
    return guarded([&] { attnroll::effective_rank(in, out); });
}

/* ---- streaming ---- */

int32_t attnroll_stream_create(const attnroll_config *config, int64_t frames, int64_t tokens,
                               int32_t dtype, attnroll_stream **stream) {
    if (stream) *stream = nullptr;
    return guarded([&] {
        require(stream, "stream");
        *stream = attnroll::make_stream(config, frames, tokens, dtype).release();
    });
}

int32_t attnroll_stream_push(attnroll_stream *stream, const attnroll_tensor *layer) {
    return guarded([&] {
        require(stream, "stream");
        stream->push(layer, nullptr);
    });
}

int32_t attnroll_stream_push_grad(attnroll_stream *stream, const attnroll_tensor *layer,
                                  const attnroll_tensor *grad) {
    return guarded([&] {
        require(stream, "stream");
        require(grad, "grad");
        stream->push(layer, grad);
    });
}

int32_t attnroll_stream_result(attnroll_stream *stream, const attnroll_tensor *out) {
    return guarded([&] {
        require(stream, "stream");
        stream->result(out);
    });
}

int32_t attnroll_stream_info(const attnroll_stream *stream, int64_t *layers_pushed,
                             int64_t *bytes_held) {
    return guarded([&] {
        require(stream, "stream");
        if (layers_pushed) *layers_pushed = stream->layers_pushed();
        if (bytes_held) *bytes_held = stream->bytes_held();
    });
}

void attnroll_stream_destroy(attnroll_stream *stream) { delete stream; }

/* ---- BLAS kernel and CPU ---- */

int32_t attnroll_blas_report(attnroll_blas_info *info) {
    return guarded([&] {
        require(info, "info");
        attnroll::blas_report(*info);
    });
}

int32_t attnroll_blas_kernel_level(const char *core_name) { return attnroll::blas_kernel_level(core_name); }

int32_t attnroll_blas_selfcheck(int32_t *passed, double *max_rel_error) {
    return guarded([&] {
        require(passed, "passed");
        double single = 0, dbl = 0;
        attnroll::blas_selfcheck(single, dbl);
        *passed = single <= 1e-4 && dbl <= 1e-12;
        if (max_rel_error) *max_rel_error = std::max(single, dbl);
    });
}

}  // extern "C"
