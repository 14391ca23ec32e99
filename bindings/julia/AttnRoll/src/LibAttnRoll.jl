# LibAttnRoll.jl -- GENERATED from include/attnroll.h by bindings/julia/gen/generate.py.
# Do not edit: change the header and run
#     /usr/bin/python3 bindings/julia/gen/generate.py
# (ctest's julia_generated_up_to_date fails while this file is stale, and
# julia_header_consistency checks it against the header independently).

"""
    AttnRoll.LibAttnRoll

The raw C interface of attnroll, generated from `include/attnroll.h`: one function per
`ATTNROLL_API` function (same name, same arguments in the same order, C types
mapped one to one: `int32_t` -> `Int32`, `int64_t` -> `Int64`, `double` ->
`Cdouble`, `T *` -> `Ptr{T}`, `const char *` -> `Cstring`), a constant per
`#define ATTNROLL_*`, the structs with the C layout (a `char x[N]` field is an
`NTuple{N, Cchar}`), and owning handles for the opaque types.  Every function
returns what the C function returns (a status is an `Int32`; nothing is checked
here).  The library is opened when the module is loaded (`__init__`), from
`ENV["ATTNROLL_LIBRARY"]` if set, else through the system loader;
`library_path()` tells which file.
"""
module LibAttnRoll

using Libdl

export ATTNROLL_VERSION_MAJOR, ATTNROLL_VERSION_MINOR, ATTNROLL_VERSION_PATCH, ATTNROLL_VERSION_NUMBER,
       ATTNROLL_VERSION_STRING, ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE,
       ATTNROLL_E_DTYPE, ATTNROLL_E_OVERLAP, ATTNROLL_E_MEMORY, ATTNROLL_E_STATE,
       ATTNROLL_E_INTERNAL, ATTNROLL_F32, ATTNROLL_F64, ATTNROLL_F16,
       ATTNROLL_BF16, ATTNROLL_MAX_NDIM, ATTNROLL_OPT_QUERY_ROWS, ATTNROLL_OPT_LAYER_BEGIN,
       ATTNROLL_OPT_LAYER_END, ATTNROLL_OPT_THREADS, ATTNROLL_OPT_RESIDUAL, ATTNROLL_OPT_DROP_TOKENS,
       ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_OPT_HEAD_WEIGHTS, ATTNROLL_OPT_DISCARD_RATIO, ATTNROLL_OPT_PROTECT,
       ATTNROLL_OPT_RULE, ATTNROLL_OPT_CUMULATIVE, ATTNROLL_FUSE_MEAN, ATTNROLL_FUSE_MAX,
       ATTNROLL_FUSE_MIN, ATTNROLL_FUSE_ENTROPY, ATTNROLL_FUSE_WEIGHTS, ATTNROLL_FUSE_GRAD,
       ATTNROLL_RULE_ROLLOUT, ATTNROLL_RULE_CHEFER, ATTNROLL_OPTION_INT, ATTNROLL_OPTION_FLOAT,
       ATTNROLL_OPTION_INTS, ATTNROLL_OPTION_FLOATS, ATTNROLL_SIMD_UNKNOWN, ATTNROLL_SIMD_SSE,
       ATTNROLL_SIMD_AVX, ATTNROLL_SIMD_AVX2, ATTNROLL_SIMD_AVX512, attnroll_tensor,
       attnroll_config, attnroll_stream, attnroll_blas_info, ConfigHandle,
       StreamHandle, destroy!, attnroll_version_number, attnroll_version_string,
       attnroll_status_string, attnroll_last_error, attnroll_dtype_size, attnroll_max_ndim,
       attnroll_option_info, attnroll_config_create, attnroll_config_destroy, attnroll_config_set_int,
       attnroll_config_set_float, attnroll_config_set_ints, attnroll_config_set_floats, attnroll_config_get_int,
       attnroll_config_get_float, attnroll_config_get_ints, attnroll_config_get_floats, attnroll_spatial,
       attnroll_spatial_grad, attnroll_select_instance, attnroll_select_shape, attnroll_temporal,
       attnroll_minmax_rows, attnroll_column_mean, attnroll_minmax, attnroll_stream_create,
       attnroll_stream_push, attnroll_stream_push_grad, attnroll_stream_result, attnroll_stream_info,
       attnroll_stream_destroy, attnroll_blas_report, attnroll_blas_kernel_level, attnroll_blas_selfcheck,
       attnroll_flow, attnroll_singular_values, attnroll_effective_rank, library_path

# ------------------------------------------------------------------------
# Constants (#define ATTNROLL_*)

const ATTNROLL_VERSION_MAJOR = Int32(1)
const ATTNROLL_VERSION_MINOR = Int32(0)
const ATTNROLL_VERSION_PATCH = Int32(0)
const ATTNROLL_VERSION_NUMBER = Int32(10000)
const ATTNROLL_VERSION_STRING = "1.0.0"
const ATTNROLL_OK = Int32(0)
const ATTNROLL_E_ARGUMENT = Int32(1)
const ATTNROLL_E_SHAPE = Int32(2)
const ATTNROLL_E_DTYPE = Int32(3)
const ATTNROLL_E_OVERLAP = Int32(4)
const ATTNROLL_E_MEMORY = Int32(5)
const ATTNROLL_E_STATE = Int32(6)
const ATTNROLL_E_INTERNAL = Int32(7)
const ATTNROLL_F32 = Int32(1)
const ATTNROLL_F64 = Int32(2)
const ATTNROLL_F16 = Int32(3)
const ATTNROLL_BF16 = Int32(4)
const ATTNROLL_MAX_NDIM = Int32(16)
const ATTNROLL_OPT_QUERY_ROWS = Int32(1)
const ATTNROLL_OPT_LAYER_BEGIN = Int32(2)
const ATTNROLL_OPT_LAYER_END = Int32(3)
const ATTNROLL_OPT_THREADS = Int32(4)
const ATTNROLL_OPT_RESIDUAL = Int32(5)
const ATTNROLL_OPT_DROP_TOKENS = Int32(6)
const ATTNROLL_OPT_HEAD_FUSION = Int32(7)
const ATTNROLL_OPT_HEAD_WEIGHTS = Int32(8)
const ATTNROLL_OPT_DISCARD_RATIO = Int32(9)
const ATTNROLL_OPT_PROTECT = Int32(10)
const ATTNROLL_OPT_RULE = Int32(11)
const ATTNROLL_OPT_CUMULATIVE = Int32(12)
const ATTNROLL_FUSE_MEAN = Int32(0)
const ATTNROLL_FUSE_MAX = Int32(1)
const ATTNROLL_FUSE_MIN = Int32(2)
const ATTNROLL_FUSE_ENTROPY = Int32(3)
const ATTNROLL_FUSE_WEIGHTS = Int32(4)
const ATTNROLL_FUSE_GRAD = Int32(5)
const ATTNROLL_RULE_ROLLOUT = Int32(0)
const ATTNROLL_RULE_CHEFER = Int32(1)
const ATTNROLL_OPTION_INT = Int32(1)
const ATTNROLL_OPTION_FLOAT = Int32(2)
const ATTNROLL_OPTION_INTS = Int32(3)
const ATTNROLL_OPTION_FLOATS = Int32(4)
const ATTNROLL_SIMD_UNKNOWN = Int32(0)
const ATTNROLL_SIMD_SSE = Int32(1)
const ATTNROLL_SIMD_AVX = Int32(2)
const ATTNROLL_SIMD_AVX2 = Int32(3)
const ATTNROLL_SIMD_AVX512 = Int32(4)

# ------------------------------------------------------------------------
# Types

"""C struct `attnroll_tensor` (immutable, same layout as the C struct)."""
struct attnroll_tensor
    data::Ptr{Cvoid}
    dtype::Int32
    ndim::Int32
    shape::Ptr{Int64}
    strides::Ptr{Int64}
end

"""Opaque C type `attnroll_config`; only ever used as `Ptr{attnroll_config}`."""
mutable struct attnroll_config end

"""Opaque C type `attnroll_stream`; only ever used as `Ptr{attnroll_stream}`."""
mutable struct attnroll_stream end

"""C struct `attnroll_blas_info` (immutable, same layout as the C struct)."""
struct attnroll_blas_info
    blas::NTuple{128, Cchar}
    kernel::NTuple{32, Cchar}
    kernel_level::Int32
    cpu_level::Int32
    kernel_below_cpu::Int32
    best_kernel::NTuple{32, Cchar}
    fix::NTuple{64, Cchar}
    coretype_env::NTuple{32, Cchar}
end

"""
    ConfigHandle(ptr::Ptr{attnroll_config} = C_NULL)

Owns an `attnroll_config *`: `destroy!(handle)` calls `attnroll_config_destroy` and sets the
pointer to `C_NULL`, so the finalizer (which does the same) and any further
`destroy!` are no-ops.  Passes as the pointer to any `Ptr{attnroll_config}` argument;
ccall keeps the handle alive during the call.
"""
mutable struct ConfigHandle
    ptr::Ptr{attnroll_config}
    function ConfigHandle(ptr::Ptr{attnroll_config} = Ptr{attnroll_config}(C_NULL))
        handle = new(ptr)
        finalizer(destroy!, handle)
        return handle
    end
end

Base.unsafe_convert(::Type{Ptr{attnroll_config}}, handle::ConfigHandle) = handle.ptr

function destroy!(handle::ConfigHandle)
    ptr = handle.ptr
    handle.ptr = Ptr{attnroll_config}(C_NULL)
    ptr == C_NULL || attnroll_config_destroy(ptr)
    return nothing
end

"""
    StreamHandle(ptr::Ptr{attnroll_stream} = C_NULL)

Owns an `attnroll_stream *`: `destroy!(handle)` calls `attnroll_stream_destroy` and sets the
pointer to `C_NULL`, so the finalizer (which does the same) and any further
`destroy!` are no-ops.  Passes as the pointer to any `Ptr{attnroll_stream}` argument;
ccall keeps the handle alive during the call.
"""
mutable struct StreamHandle
    ptr::Ptr{attnroll_stream}
    function StreamHandle(ptr::Ptr{attnroll_stream} = Ptr{attnroll_stream}(C_NULL))
        handle = new(ptr)
        finalizer(destroy!, handle)
        return handle
    end
end

Base.unsafe_convert(::Type{Ptr{attnroll_stream}}, handle::StreamHandle) = handle.ptr

function destroy!(handle::StreamHandle)
    ptr = handle.ptr
    handle.ptr = Ptr{attnroll_stream}(C_NULL)
    ptr == C_NULL || attnroll_stream_destroy(ptr)
    return nothing
end

# ------------------------------------------------------------------------
# Functions: each calls through a pointer looked up when the library is loaded

const _fp_attnroll_version_number = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_version_string = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_status_string = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_last_error = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_dtype_size = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_max_ndim = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_option_info = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_create = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_destroy = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_set_int = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_set_float = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_set_ints = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_set_floats = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_get_int = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_get_float = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_get_ints = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_config_get_floats = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_spatial = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_spatial_grad = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_select_instance = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_select_shape = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_temporal = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_minmax_rows = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_column_mean = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_minmax = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_create = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_push = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_push_grad = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_result = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_info = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_stream_destroy = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_blas_report = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_blas_kernel_level = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_blas_selfcheck = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_flow = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_singular_values = Ref{Ptr{Cvoid}}(C_NULL)
const _fp_attnroll_effective_rank = Ref{Ptr{Cvoid}}(C_NULL)

"""
    attnroll_version_number() -> Int32

```c
int32_t attnroll_version_number(void);
@return the ATTNROLL_VERSION_NUMBER the library was built with.  Compare it
with the macro to detect a header/library mismatch at run time.
```
"""
function attnroll_version_number()
    @ccall $(_pointer(_fp_attnroll_version_number, :attnroll_version_number))()::Int32
end

"""
    attnroll_version_string() -> Cstring

```c
const char *attnroll_version_string(void);
@return the ATTNROLL_VERSION_STRING the library was built with (static
storage, never NULL, never to be freed).
```
"""
function attnroll_version_string()
    @ccall $(_pointer(_fp_attnroll_version_string, :attnroll_version_string))()::Cstring
end

"""
    attnroll_status_string(status) -> Cstring

```c
const char *attnroll_status_string(int32_t status);
@return a static, constant name for a status ("ATTNROLL_OK",
"ATTNROLL_E_SHAPE", ...; "unknown status" for any other value).  Never NULL.
```
"""
function attnroll_status_string(status)
    @ccall $(_pointer(_fp_attnroll_status_string, :attnroll_status_string))(status::Int32)::Cstring
end

"""
    attnroll_last_error() -> Cstring

```c
const char *attnroll_last_error(void);
@return the calling thread's message for its most recent failing call, or ""
if its most recent call succeeded (or it made none).  Never NULL.  The text is
owned by the library and valid until the calling thread's next attnroll call.
```
"""
function attnroll_last_error()
    @ccall $(_pointer(_fp_attnroll_last_error, :attnroll_last_error))()::Cstring
end

"""
    attnroll_dtype_size(dtype) -> Int32

```c
int32_t attnroll_dtype_size(int32_t dtype);
@return the size in bytes of one element of dtype, or 0 if dtype is not
one of the ATTNROLL_F* values.
```
"""
function attnroll_dtype_size(dtype)
    @ccall $(_pointer(_fp_attnroll_dtype_size, :attnroll_dtype_size))(dtype::Int32)::Int32
end

"""
    attnroll_max_ndim() -> Int32

```c
int32_t attnroll_max_ndim(void);
@return ATTNROLL_MAX_NDIM, for bindings that cannot read macros.
```
"""
function attnroll_max_ndim()
    @ccall $(_pointer(_fp_attnroll_max_ndim, :attnroll_max_ndim))()::Int32
end

"""
    attnroll_option_info(key, kind, lower, upper) -> Int32

```c
int32_t attnroll_option_info(int32_t key, int32_t *kind, double *lower, double *upper);
Describes an option key, for bindings and tools that build options
generically.
  [in]  key    an ATTNROLL_OPT_* value
  [out] kind   ATTNROLL_OPTION_INT, _FLOAT, _INTS or _FLOATS; may be NULL
  [out] lower  smallest accepted value (for lists: of each element); may be NULL
  [out] upper  largest accepted value (for lists: of each element); may be NULL
               (ATTNROLL_OPT_DISCARD_RATIO reports 1 but refuses 1 itself;
               HEAD_WEIGHTS reports -DBL_MAX..DBL_MAX: any finite value)
@return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT for an unknown key.
```
"""
function attnroll_option_info(key, kind, lower, upper)
    @ccall $(_pointer(_fp_attnroll_option_info, :attnroll_option_info))(key::Int32, kind::Ptr{Int32}, lower::Ptr{Cdouble}, upper::Ptr{Cdouble})::Int32
end

"""
    attnroll_config_create(config) -> Int32

```c
int32_t attnroll_config_create(attnroll_config **config);
Creates a config holding every option at its default.
  [out] config  receives the new config; must not be NULL.  On failure
                *config is set to NULL.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (config NULL), ATTNROLL_E_MEMORY.
The caller owns the config and frees it with attnroll_config_destroy.
```
"""
function attnroll_config_create(config)
    @ccall $(_pointer(_fp_attnroll_config_create, :attnroll_config_create))(config::Ptr{Ptr{attnroll_config}})::Int32
end

"""
    attnroll_config_destroy(config) -> Nothing

```c
void attnroll_config_destroy(attnroll_config *config);
Frees a config.  NULL is a no-op.  Computing functions keep no reference, so
a config may be destroyed as soon as the calls using it have returned.
```
"""
function attnroll_config_destroy(config)
    @ccall $(_pointer(_fp_attnroll_config_destroy, :attnroll_config_destroy))(config::Ptr{attnroll_config})::Cvoid
end

"""
    attnroll_config_set_int(config, key, value) -> Int32

```c
int32_t attnroll_config_set_int(attnroll_config *config, int32_t key, int64_t value);
Set an option.  config must not be NULL.  A key of the wrong kind, an
unknown key or a value outside the key's bounds is refused with
ATTNROLL_E_ARGUMENT and leaves the config unchanged.
set_ints and set_floats copy count values (count 0 clears the list; values
may then be NULL).  Returns ATTNROLL_E_MEMORY if the copy cannot be
allocated.  set_float and set_floats refuse NaN and infinities.
```
"""
function attnroll_config_set_int(config, key, value)
    @ccall $(_pointer(_fp_attnroll_config_set_int, :attnroll_config_set_int))(config::Ptr{attnroll_config}, key::Int32, value::Int64)::Int32
end

"""
    attnroll_config_set_float(config, key, value) -> Int32

```c
int32_t attnroll_config_set_float(attnroll_config *config, int32_t key, double value);
```
"""
function attnroll_config_set_float(config, key, value)
    @ccall $(_pointer(_fp_attnroll_config_set_float, :attnroll_config_set_float))(config::Ptr{attnroll_config}, key::Int32, value::Cdouble)::Int32
end

"""
    attnroll_config_set_ints(config, key, values, count) -> Int32

```c
int32_t attnroll_config_set_ints(attnroll_config *config, int32_t key, const int64_t *values, int64_t count);
```
"""
function attnroll_config_set_ints(config, key, values, count)
    @ccall $(_pointer(_fp_attnroll_config_set_ints, :attnroll_config_set_ints))(config::Ptr{attnroll_config}, key::Int32, values::Ptr{Int64}, count::Int64)::Int32
end

"""
    attnroll_config_set_floats(config, key, values, count) -> Int32

```c
int32_t attnroll_config_set_floats(attnroll_config *config, int32_t key, const double *values, int64_t count);
```
"""
function attnroll_config_set_floats(config, key, values, count)
    @ccall $(_pointer(_fp_attnroll_config_set_floats, :attnroll_config_set_floats))(config::Ptr{attnroll_config}, key::Int32, values::Ptr{Cdouble}, count::Int64)::Int32
end

"""
    attnroll_config_get_int(config, key, value) -> Int32

```c
int32_t attnroll_config_get_int(const attnroll_config *config, int32_t key, int64_t *value);
Read an option.  config and the output pointers must not be NULL (except
values, below).  A key of the wrong kind or an unknown key gives
ATTNROLL_E_ARGUMENT.
get_ints and get_floats write the list length to *count and copy
min(count, capacity) values to values; values may be NULL when capacity is 0
(to ask for the length first).  capacity must be >= 0.
```
"""
function attnroll_config_get_int(config, key, value)
    @ccall $(_pointer(_fp_attnroll_config_get_int, :attnroll_config_get_int))(config::Ptr{attnroll_config}, key::Int32, value::Ptr{Int64})::Int32
end

"""
    attnroll_config_get_float(config, key, value) -> Int32

```c
int32_t attnroll_config_get_float(const attnroll_config *config, int32_t key, double *value);
```
"""
function attnroll_config_get_float(config, key, value)
    @ccall $(_pointer(_fp_attnroll_config_get_float, :attnroll_config_get_float))(config::Ptr{attnroll_config}, key::Int32, value::Ptr{Cdouble})::Int32
end

"""
    attnroll_config_get_ints(config, key, values, capacity, count) -> Int32

```c
int32_t attnroll_config_get_ints(const attnroll_config *config, int32_t key, int64_t *values, int64_t capacity, int64_t *count);
```
"""
function attnroll_config_get_ints(config, key, values, capacity, count)
    @ccall $(_pointer(_fp_attnroll_config_get_ints, :attnroll_config_get_ints))(config::Ptr{attnroll_config}, key::Int32, values::Ptr{Int64}, capacity::Int64, count::Ptr{Int64})::Int32
end

"""
    attnroll_config_get_floats(config, key, values, capacity, count) -> Int32

```c
int32_t attnroll_config_get_floats(const attnroll_config *config, int32_t key, double *values, int64_t capacity, int64_t *count);
```
"""
function attnroll_config_get_floats(config, key, values, capacity, count)
    @ccall $(_pointer(_fp_attnroll_config_get_floats, :attnroll_config_get_floats))(config::Ptr{attnroll_config}, key::Int32, values::Ptr{Cdouble}, capacity::Int64, count::Ptr{Int64})::Int32
end

"""
    attnroll_spatial(layers, num_layers, config, out) -> Int32

```c
int32_t attnroll_spatial(const attnroll_tensor *layers, int32_t num_layers, const attnroll_config *config, const attnroll_tensor *out);
Spatial rollout (spec: "Spatial Rollout") through the pipeline above; with
every option at its default, per frame:
  Abar_i = normalize_rows(mean_over_heads(A_i) + I),  R = Abar_{L-1} @ ... @ Abar_0.

  [in]  layers      num_layers views, layer 0 first.  Each is [F,H,N,N]
                    (frames, heads, tokens, tokens) or [H,N,N] (one frame).
                    All must have the same rank and shape; dtype and strides
                    may differ from layer to layer.  Must not be NULL.
                    Every head is read, also along a broadcast (stride 0)
                    heads axis, so such a view gives the same bits as its
                    materialized copy; the work grows with H either way.
  [in]  num_layers  >= 1.
  [in]  config      options, or NULL for the defaults.  ATTNROLL_FUSE_GRAD
                    is refused here (ATTNROLL_E_ARGUMENT): it needs
                    attnroll_spatial_grad.
  [out] out         F32 or F64, shape as in the table above.  Must not
                    overlap itself or any layer.  The products run in the
                    output's precision (sgemm for F32, dgemm for F64).

Memory: O(F*N'^2) working space (two [F,N',N'] matrices in the output
precision, or two [F,q,N'] with query rows and no CUMULATIVE, plus one
N'xN' scratch matrix per worker, and two more per worker with ENTROPY or
DISCARD, which need a whole frame's fused map); the input is read in place,
never copied.  CUMULATIVE writes each partial product straight into out and
holds nothing more; with query rows it runs the full forward product
(O(L*N'^3), as without query rows) and writes rows q of each R_l.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (NULL, counts, layer range, an
        option against these shapes: k >= N, query row or protected column
        >= N', weights with a fusion other than WEIGHTS, GRAD fusion),
        _SHAPE (shapes, out, HEAD_WEIGHTS length != H), _DTYPE, _OVERLAP,
        _MEMORY.
```
"""
function attnroll_spatial(layers, num_layers, config, out)
    @ccall $(_pointer(_fp_attnroll_spatial, :attnroll_spatial))(layers::Ptr{attnroll_tensor}, num_layers::Int32, config::Ptr{attnroll_config}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_spatial_grad(layers, grads, num_layers, config, out) -> Int32

```c
int32_t attnroll_spatial_grad(const attnroll_tensor *layers, const attnroll_tensor *grads, int32_t num_layers, const attnroll_config *config, const attnroll_tensor *out);
Spatial rollout with gradients, for ATTNROLL_FUSE_GRAD (and only for it:
any other fusion is ATTNROLL_E_ARGUMENT, "gradients given but ...").
  [in]  grads  num_layers views, grads[i] the gradient of the explained
               score with respect to layers[i]: the same shape as
               layers[i] (else ATTNROLL_E_SHAPE naming grads[i]), any of the
               four dtypes and any strides.  Must not be NULL.  out must not
               overlap any of them.
Everything else as attnroll_spatial.
@return as attnroll_spatial.
```
"""
function attnroll_spatial_grad(layers, grads, num_layers, config, out)
    @ccall $(_pointer(_fp_attnroll_spatial_grad, :attnroll_spatial_grad))(layers::Ptr{attnroll_tensor}, grads::Ptr{attnroll_tensor}, num_layers::Int32, config::Ptr{attnroll_config}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_select_instance(attn, instance, out) -> Int32

```c
int32_t attnroll_select_instance(const attnroll_tensor *attn, int64_t instance, const attnroll_tensor *out);
Instance selection (spec: select_instance_attention), writing the selected
[T,T] matrix to out.  For an array A of rank n and instance id i:
  n == 2   A itself.
  n == 3   if the last two extents are equal: A[i] if shape[0] > i, else
           A[:, i, :] if shape[1] > i, else A[0];
           if they differ: A[0] (not square, so a rollout reports a shape
           error; select_instance itself writes it if out has that shape).
  n >= 4   the first of the n-2 leading axes whose extent is > i is indexed
           with i; if none is, each leading axis is indexed with 0 (the first
           [T,T] slice).  If more than one leading axis then remains, they are
           AVERAGED element-wise (as heads are averaged; the original scripts
           silently skipped such a layer).  A remaining axis of stride 0 (a
           broadcast) holds one value however long it is: it is not walked,
           so the work follows the memory the view covers, and no table is
           kept for any axis.

  [in]  attn      any dtype, rank 2..ATTNROLL_MAX_NDIM, any strides.
  [in]  instance  >= 0.
  [out] out       F32 or F64, shape equal to the selected matrix's.  Must not
                  overlap itself or attn.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _MEMORY.
```
"""
function attnroll_select_instance(attn, instance, out)
    @ccall $(_pointer(_fp_attnroll_select_instance, :attnroll_select_instance))(attn::Ptr{attnroll_tensor}, instance::Int64, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_select_shape(attn, instance, rows, cols) -> Int32

```c
int32_t attnroll_select_shape(const attnroll_tensor *attn, int64_t instance, int64_t *rows, int64_t *cols);
The shape attnroll_select_instance would write for attn and instance, so a
caller can allocate out (and a temporal rollout's [T,T]) without repeating
the rules.
  [in]  attn      as for attnroll_select_instance.
  [in]  instance  >= 0.
  [out] rows, cols  the selected matrix's extents; must not be NULL.
O(rank): reads the shape and strides only, allocates nothing.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE.
```
"""
function attnroll_select_shape(attn, instance, rows, cols)
    @ccall $(_pointer(_fp_attnroll_select_shape, :attnroll_select_shape))(attn::Ptr{attnroll_tensor}, instance::Int64, rows::Ptr{Int64}, cols::Ptr{Int64})::Int32
end

"""
    attnroll_temporal(layers, num_layers, instance, config, out) -> Int32

```c
int32_t attnroll_temporal(const attnroll_tensor *layers, int32_t num_layers, int64_t instance, const attnroll_config *config, const attnroll_tensor *out);
Temporal rollout (spec: "Temporal Rollout"):
  T_i     = normalize_rows(select(A_i, instance) + r*I)
  rollout = T_{e-1} @ ... @ T_{b+1} @ T_b
over the layer range [b, e) (ATTNROLL_OPT_LAYER_BEGIN/END, default all; the
"rollout without layer 0" is b = 1).

  [in]  layers      num_layers views, layer 0 first, each of rank >= 2; ranks
                    and layouts may differ.  Every layer (also those outside
                    the range) must select (as attnroll_select_instance) to a square [T,T]
                    with the same T.  Must not be NULL.
  [in]  num_layers  >= 1.
  [in]  instance    >= 0 (the refiner_id).
  [in]  config      options, or NULL for the defaults.  RULE, RESIDUAL,
                    QUERY_ROWS, CUMULATIVE and the layer range apply as in
                    the spatial pipeline; DROP_TOKENS, HEAD_FUSION,
                    HEAD_WEIGHTS and DISCARD_RATIO are spatial only and must
                    keep their defaults (else ATTNROLL_E_ARGUMENT).
  [out] out         F32 or F64, [T,T], or [k,T] with k query rows; with
                    CUMULATIVE a leading axis L' ([L',T,T] or [L',k,T]).
                    Must not overlap itself or any layer.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _MEMORY.
```
"""
function attnroll_temporal(layers, num_layers, instance, config, out)
    @ccall $(_pointer(_fp_attnroll_temporal, :attnroll_temporal))(layers::Ptr{attnroll_tensor}, num_layers::Int32, instance::Int64, config::Ptr{attnroll_config}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_minmax_rows(in_, out) -> Int32

```c
int32_t attnroll_minmax_rows(const attnroll_tensor *in, const attnroll_tensor *out);
Each row of a matrix scaled to [0,1]: out[i,j] = (in[i,j] - min_j in[i,:]) /
(max_j in[i,:] - min_j in[i,:]).  in: [R,C]; out: F32/F64 [R,C].
```
"""
function attnroll_minmax_rows(in_, out)
    @ccall $(_pointer(_fp_attnroll_minmax_rows, :attnroll_minmax_rows))(in_::Ptr{attnroll_tensor}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_column_mean(in_, out) -> Int32

```c
int32_t attnroll_column_mean(const attnroll_tensor *in, const attnroll_tensor *out);
Mean over rows for each column: out[j] = mean_i in[i,j].  in: [R,C];
out: F32/F64 [C].
```
"""
function attnroll_column_mean(in_, out)
    @ccall $(_pointer(_fp_attnroll_column_mean, :attnroll_column_mean))(in_::Ptr{attnroll_tensor}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_minmax(in_, out) -> Int32

```c
int32_t attnroll_minmax(const attnroll_tensor *in, const attnroll_tensor *out);
The whole array scaled to [0,1]: out = (in - min(in)) / (max(in) - min(in)).
in: any rank; out: F32/F64 of the same shape.
```
"""
function attnroll_minmax(in_, out)
    @ccall $(_pointer(_fp_attnroll_minmax, :attnroll_minmax))(in_::Ptr{attnroll_tensor}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_stream_create(config, frames, tokens, dtype, stream) -> Int32

```c
int32_t attnroll_stream_create(const attnroll_config *config, int64_t frames, int64_t tokens, int32_t dtype, attnroll_stream **stream);
Creates a stream for layers of F = frames frames and N = tokens tokens.
  [in]  config  options (copied; later changes to config do not affect the
                stream), or NULL for the defaults.  Checked here against
                N as attnroll_spatial does (k < N, query rows and protected
                columns < N' = N - k, weights only with WEIGHTS fusion); the
                weights' length is checked against H at each push.
  [in]  frames  F >= 1.
  [in]  tokens  N >= 1 (and at most 2^31-1, the BLAS index range).
  [in]  dtype   ATTNROLL_F32 or ATTNROLL_F64: the precision the products run
                in (sgemm or dgemm).  The result may be read as either.
  [out] stream  receives the new stream; must not be NULL; set to NULL on
                failure.  Free it with attnroll_stream_destroy.

Memory held: without query rows, two F*N*N matrices in the stream's
precision plus one N*N scratch matrix per worker thread, whatever the number
of layers L or heads H.  With k query rows the fused N*N matrix of every
pushed layer in the range is kept (L*F*N*N values, still independent of H)
and the backward pass, O(L*k*N^2), runs in attnroll_stream_result.  With
ATTNROLL_OPT_CUMULATIVE the stream keeps every partial product it will
write (L'*F*N'*N', or L'*F*k*N' with query rows, in its precision) besides
the running product.  ENTROPY and DISCARD add two N'xN' matrices per worker.
attnroll_stream_info reports the bytes.  The stream keeps its worker threads
(ATTNROLL_OPT_THREADS) asleep between pushes, until it is destroyed.
The running product is allocated here, at once, and committed (its pages
are provided straight away, not on first touch).  Before that, every
working buffer of 64 MiB or more is checked against the memory available
now (Linux: /proc/meminfo MemAvailable, lowered to the headroom under the
process's cgroup v2 memory.max): a request that does not fit is
ATTNROLL_E_MEMORY with both sizes in the message, instead of a process the
kernel's OOM killer ends later.  The same check guards every function's
large buffers.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _DTYPE, _MEMORY.
```
"""
function attnroll_stream_create(config, frames, tokens, dtype, stream)
    @ccall $(_pointer(_fp_attnroll_stream_create, :attnroll_stream_create))(config::Ptr{attnroll_config}, frames::Int64, tokens::Int64, dtype::Int32, stream::Ptr{Ptr{attnroll_stream}})::Int32
end

"""
    attnroll_stream_push(stream, layer) -> Int32

```c
int32_t attnroll_stream_push(attnroll_stream *stream, const attnroll_tensor *layer);
Pushes the next layer (the first push is layer 0).  layer is [F,H,N,N], or
[H,N,N] when F == 1; H may differ between layers; any dtype and strides.
With ATTNROLL_FUSE_GRAD use attnroll_stream_push_grad instead (this gives
ATTNROLL_E_ARGUMENT then).
Layers outside the configured range are validated and then ignored.
A layer of the wrong shape or dtype is refused (ATTNROLL_E_SHAPE /
ATTNROLL_E_DTYPE) and the stream stays usable, as if the push had not been
made.  Pushing after attnroll_stream_result gives ATTNROLL_E_STATE.
stream and layer must not be NULL.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _STATE, _MEMORY.
```
"""
function attnroll_stream_push(stream, layer)
    @ccall $(_pointer(_fp_attnroll_stream_push, :attnroll_stream_push))(stream::Ptr{attnroll_stream}, layer::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_stream_push_grad(stream, layer, grad) -> Int32

```c
int32_t attnroll_stream_push_grad(attnroll_stream *stream, const attnroll_tensor *layer, const attnroll_tensor *grad);
Pushes the next layer with its gradient, for ATTNROLL_FUSE_GRAD only (any
other fusion gives ATTNROLL_E_ARGUMENT).  grad has layer's shape (else
ATTNROLL_E_SHAPE naming grad), any dtype and strides.  Otherwise as
attnroll_stream_push, including a refused push leaving the stream usable.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _STATE, _MEMORY.
```
"""
function attnroll_stream_push_grad(stream, layer, grad)
    @ccall $(_pointer(_fp_attnroll_stream_push_grad, :attnroll_stream_push_grad))(stream::Ptr{attnroll_stream}, layer::Ptr{attnroll_tensor}, grad::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_stream_result(stream, out) -> Int32

```c
int32_t attnroll_stream_result(attnroll_stream *stream, const attnroll_tensor *out);
Writes the rollout of the pushed layers in the configured range and
finishes the stream (later pushes are refused; result may be asked again).
  [out] out  F32 or F64, [F,N',N'] (or [N',N'] when F == 1); with k query
             rows [F,k,N'] (or [k,N'] when F == 1); with CUMULATIVE a
             leading axis L' (the layers of the range pushed).
Gives ATTNROLL_E_STATE when no layer of the range has been pushed, or when
LAYER_END is set beyond the number of layers pushed.  out must not overlap
itself (ATTNROLL_E_OVERLAP).
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _STATE,
        _MEMORY.
```
"""
function attnroll_stream_result(stream, out)
    @ccall $(_pointer(_fp_attnroll_stream_result, :attnroll_stream_result))(stream::Ptr{attnroll_stream}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_stream_info(stream, layers_pushed, bytes_held) -> Int32

```c
int32_t attnroll_stream_info(const attnroll_stream *stream, int64_t *layers_pushed, int64_t *bytes_held);
Reports the stream's state.  Any output pointer may be NULL (not written).
  [out] layers_pushed  layers accepted so far.
  [out] bytes_held     bytes of working memory the stream holds now.
@return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT if stream is NULL.
```
"""
function attnroll_stream_info(stream, layers_pushed, bytes_held)
    @ccall $(_pointer(_fp_attnroll_stream_info, :attnroll_stream_info))(stream::Ptr{attnroll_stream}, layers_pushed::Ptr{Int64}, bytes_held::Ptr{Int64})::Int32
end

"""
    attnroll_stream_destroy(stream) -> Nothing

```c
void attnroll_stream_destroy(attnroll_stream *stream);
Frees a stream.  NULL is a no-op.
```
"""
function attnroll_stream_destroy(stream)
    @ccall $(_pointer(_fp_attnroll_stream_destroy, :attnroll_stream_destroy))(stream::Ptr{attnroll_stream})::Cvoid
end

"""
    attnroll_blas_report(info) -> Int32

```c
int32_t attnroll_blas_report(attnroll_blas_info *info);
Reports the BLAS in use, its kernel, and what the CPU supports.
  [out] info  filled in; must not be NULL.
Cheap (a few CPUID instructions); may be called at any time from any thread.
@return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT if info is NULL.
```
"""
function attnroll_blas_report(info)
    @ccall $(_pointer(_fp_attnroll_blas_report, :attnroll_blas_report))(info::Ptr{attnroll_blas_info})::Int32
end

"""
    attnroll_blas_kernel_level(core_name) -> Int32

```c
int32_t attnroll_blas_kernel_level(const char *core_name);
The ATTNROLL_SIMD_* level an OpenBLAS x86-64 core name is written for
(case-insensitive, as OPENBLAS_CORETYPE is read), e.g. 4 for "SkylakeX",
1 for "Prescott".  A program can refuse to force a kernel above the CPU's
level, which would stop on an illegal instruction.
@return the level, or ATTNROLL_SIMD_UNKNOWN for NULL or an unknown name.
```
"""
function attnroll_blas_kernel_level(core_name)
    @ccall $(_pointer(_fp_attnroll_blas_kernel_level, :attnroll_blas_kernel_level))(core_name::Cstring)::Int32
end

"""
    attnroll_blas_selfcheck(passed, max_rel_error) -> Int32

```c
int32_t attnroll_blas_selfcheck(int32_t *passed, double *max_rel_error);
Checks the kernel in use against plain loops: single and double precision
general matrix products (cblas_sgemm and cblas_dgemm, both transpose
settings, sizes that reach the kernels' edge cases) of fixed pseudo-random
matrices.  A kernel forced with OPENBLAS_CORETYPE onto a CPU its OpenBLAS
build does not know has been seen to compute wrong results; run this before
trusting one.  Takes about a millisecond; uses one thread.
  [out] passed         1 when every product is within tolerance
                       (|error| <= 1e-4 * sum |a_ik * b_kj| for single,
                       1e-12 * the same for double precision), else 0.
                       Must not be NULL.
  [out] max_rel_error  the largest |error| / sum |a_ik * b_kj| seen; may
                       be NULL.
@return ATTNROLL_OK (whatever the verdict: see passed),
        ATTNROLL_E_ARGUMENT (passed NULL), ATTNROLL_E_MEMORY.
```
"""
function attnroll_blas_selfcheck(passed, max_rel_error)
    @ccall $(_pointer(_fp_attnroll_blas_selfcheck, :attnroll_blas_selfcheck))(passed::Ptr{Int32}, max_rel_error::Ptr{Cdouble})::Int32
end

"""
    attnroll_flow(layers, num_layers, config, out) -> Int32

```c
int32_t attnroll_flow(const attnroll_tensor *layers, int32_t num_layers, const attnroll_config *config, const attnroll_tensor *out);
Attention flow (Abnar & Zuidema 2020, the second method of the rollout
paper): the maximum flow through the layered attention graph.

The network, per frame.  Let Abar_0 .. Abar_{L'-1} be the factors M_l of the
layer range [b, e) exactly as the spatial pipeline makes them (steps 1-4 of
"The pipeline": drop tokens, head fusion, discard, rule; L' = e - b, N' = N
- k).  The graph has L'+1 levels 0 .. L' of N' nodes, node (l, i) being token
i after l layers (level 0 is the input, level L' the output).  For every l
in 0 .. L'-1 and i, j there is one arc from (l+1, i) down to (l, j) with
capacity Abar_l[i, j]; there are no other arcs.  For a query row q and a
token j:
  out[f, q, j] = the value of a maximum flow from source (L', q) to sink
                 (0, j) in that network.
With one layer (L' = 1) this is Abar_0[q, j] itself.

Against rollout: rollout R[q, j] sums the products of the arc weights over
all paths from (L', q) to (0, j) (attention mixed linearly); flow asks how
much of the top node's unit of attention (rows of Abar sum to 1) can reach
token j at all when each arc carries at most its weight, so it is limited
by the narrowest cut between them.  Both are at most 1; flow values are
usually larger and flatter than rollout's, and a token cut off (a zero
column in Abar_0, say) gets 0 in both.

Exactness: for each frame and source the capacities are scaled so that the
source's total out-capacity U = sum_j Abar_{L'-1}[q, j] becomes 2^61 and
rounded to 64-bit integers; the maximum flow is then computed exactly in
integers (Dinic's algorithm on the dense layered graph) and scaled back
(rounded to the output's precision).  The result is within
(arcs of a minimum cut) * U * 2^-62 of the exact real maximum flow (about
1e-18 relative for U = 1): far inside 1e-12 relative (F64) or 2e-6 (F32)
for any flow that is not itself near U * 1e-13.  A capacity above U is
clamped to U, which changes no flow value.

Options: QUERY_ROWS (the sources; empty = every row: N' sources, so N'
times the work of one), LAYER_BEGIN/END, THREADS, RESIDUAL, DROP_TOKENS,
HEAD_FUSION (not GRAD: there is no gradient argument), HEAD_WEIGHTS,
DISCARD_RATIO, PROTECT act as for attnroll_spatial.  RULE must be
ATTNROLL_RULE_ROLLOUT (CHEFER is refused: Chefer's rule adds relevance over
all paths, R <- R + Abar @ R, and its unnormalised factors Abar + r*I are no
flow capacities).  CUMULATIVE must be 0.

Cost: per frame, the L' factors are made once (as for a rollout); then per
source q and sink j one max flow on (L'-1)*N' + 2 nodes and about
(L'-2)*N'^2 arcs.  Sinks are spread over the workers (ATTNROLL_OPT_THREADS).
Memory: the frame's L' factors (L'*N'^2 doubles) and their integer
capacities ((L'-2)*N'^2 int64), plus 2*(L'-2)*N'^2 int64 per worker.
Typical times on two cores: ViT-B (L = 12, N = 197) CLS flow well under a
second per frame; bench/attnroll_bench --flow measures it.

  [in]  layers      as for attnroll_spatial ([F,H,N,N] or [H,N,N], any dtype
                    and strides).  Must not be NULL.
  [in]  num_layers  >= 1.
  [in]  config      options, or NULL for the defaults.
  [out] out         F32 or F64, [F, N', N'] (or [N', N'] for 3-D layers);
                    with q query rows [F, q, N'] (or [q, N']).  Must not
                    overlap itself or any layer.
@return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (NULL, counts, layer range, an
        option as for attnroll_spatial, RULE != ROLLOUT, CUMULATIVE != 0, a
        capacity Abar_l[i,j] that is NaN, infinite or negative -- the message
        names the layer, frame, row and column), _SHAPE, _DTYPE, _OVERLAP,
        _MEMORY.  Nothing is written unless it returns ATTNROLL_OK.
```
"""
function attnroll_flow(layers, num_layers, config, out)
    @ccall $(_pointer(_fp_attnroll_flow, :attnroll_flow))(layers::Ptr{attnroll_tensor}, num_layers::Int32, config::Ptr{attnroll_config}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_singular_values(in_, out) -> Int32

```c
int32_t attnroll_singular_values(const attnroll_tensor *in, const attnroll_tensor *out);
Singular values, descending.  out: F32 or F64, [..., M] (the leading axes
of in, then M).
```
"""
function attnroll_singular_values(in_, out)
    @ccall $(_pointer(_fp_attnroll_singular_values, :attnroll_singular_values))(in_::Ptr{attnroll_tensor}, out::Ptr{attnroll_tensor})::Int32
end

"""
    attnroll_effective_rank(in_, out) -> Int32

```c
int32_t attnroll_effective_rank(const attnroll_tensor *in, const attnroll_tensor *out);
Effective rank exp(-sum_i p_i ln p_i), p = s / sum(s) over the singular
values s, with 0 ln 0 = 0; an all-zero matrix gives 0, the identity M, a
rank-one matrix 1.  out: F32 or F64, [...] (the leading axes of in), or [1]
when in is a single matrix [M, M].  The logarithms run in double.
```
"""
function attnroll_effective_rank(in_, out)
    @ccall $(_pointer(_fp_attnroll_effective_rank, :attnroll_effective_rank))(in_::Ptr{attnroll_tensor}, out::Ptr{attnroll_tensor})::Int32
end

# ------------------------------------------------------------------------
# Loading

const _SYMBOLS = (
    (_fp_attnroll_version_number, :attnroll_version_number),
    (_fp_attnroll_version_string, :attnroll_version_string),
    (_fp_attnroll_status_string, :attnroll_status_string),
    (_fp_attnroll_last_error, :attnroll_last_error),
    (_fp_attnroll_dtype_size, :attnroll_dtype_size),
    (_fp_attnroll_max_ndim, :attnroll_max_ndim),
    (_fp_attnroll_option_info, :attnroll_option_info),
    (_fp_attnroll_config_create, :attnroll_config_create),
    (_fp_attnroll_config_destroy, :attnroll_config_destroy),
    (_fp_attnroll_config_set_int, :attnroll_config_set_int),
    (_fp_attnroll_config_set_float, :attnroll_config_set_float),
    (_fp_attnroll_config_set_ints, :attnroll_config_set_ints),
    (_fp_attnroll_config_set_floats, :attnroll_config_set_floats),
    (_fp_attnroll_config_get_int, :attnroll_config_get_int),
    (_fp_attnroll_config_get_float, :attnroll_config_get_float),
    (_fp_attnroll_config_get_ints, :attnroll_config_get_ints),
    (_fp_attnroll_config_get_floats, :attnroll_config_get_floats),
    (_fp_attnroll_spatial, :attnroll_spatial),
    (_fp_attnroll_spatial_grad, :attnroll_spatial_grad),
    (_fp_attnroll_select_instance, :attnroll_select_instance),
    (_fp_attnroll_select_shape, :attnroll_select_shape),
    (_fp_attnroll_temporal, :attnroll_temporal),
    (_fp_attnroll_minmax_rows, :attnroll_minmax_rows),
    (_fp_attnroll_column_mean, :attnroll_column_mean),
    (_fp_attnroll_minmax, :attnroll_minmax),
    (_fp_attnroll_stream_create, :attnroll_stream_create),
    (_fp_attnroll_stream_push, :attnroll_stream_push),
    (_fp_attnroll_stream_push_grad, :attnroll_stream_push_grad),
    (_fp_attnroll_stream_result, :attnroll_stream_result),
    (_fp_attnroll_stream_info, :attnroll_stream_info),
    (_fp_attnroll_stream_destroy, :attnroll_stream_destroy),
    (_fp_attnroll_blas_report, :attnroll_blas_report),
    (_fp_attnroll_blas_kernel_level, :attnroll_blas_kernel_level),
    (_fp_attnroll_blas_selfcheck, :attnroll_blas_selfcheck),
    (_fp_attnroll_flow, :attnroll_flow),
    (_fp_attnroll_singular_values, :attnroll_singular_values),
    (_fp_attnroll_effective_rank, :attnroll_effective_rank),
)

const _library_handle = Ref{Ptr{Cvoid}}(C_NULL)
const _library_path = Ref{String}("")

"""
    library_path() -> String

The file the library was loaded from ("" before it is loaded).
"""
library_path() = _library_path[]

@noinline function _not_loaded(name::Symbol)
    error("AttnRoll: $name: libattnroll is not loaded (set ENV[\"ATTNROLL_LIBRARY\"] to its path, or install it, then reload AttnRoll)")
end

@inline function _pointer(ref::Base.RefValue{Ptr{Cvoid}}, name::Symbol)
    ptr = ref[]
    ptr == C_NULL && _not_loaded(name)
    return ptr
end

"""
    library_candidates() -> Vector{String}

Where `load_library()` looks: `ENV["ATTNROLL_LIBRARY"]` alone when it is set and
not empty, else the names the system loader resolves (the same search as
`dlopen(3)`: `LD_LIBRARY_PATH`, the ld.so cache, ...).
"""
function library_candidates()
    override = get(ENV, "ATTNROLL_LIBRARY", "")
    isempty(override) || return [override]
    names = ["libattnroll"]
    if Sys.isapple()
        push!(names, "libattnroll.1.dylib")
    elseif Sys.iswindows()
        push!(names, "attnroll")
    else
        push!(names, "libattnroll.so.1")
    end
    return names
end

"""
    load_library(candidates = library_candidates()) -> String

Opens the first candidate that loads, looks up every function, checks the
library's version against the header this file was generated from, and
returns the library's path.  Throws an error naming every candidate tried.
"""
function load_library(candidates::AbstractVector{<:AbstractString} = library_candidates())
    tried = String[]
    handle = C_NULL
    for name in candidates
        try
            handle = Libdl.dlopen(name)
            break
        catch err
            push!(tried, "  $name: " * sprint(showerror, err))
        end
    end
    if handle == C_NULL
        how = haskey(ENV, "ATTNROLL_LIBRARY") && !isempty(ENV["ATTNROLL_LIBRARY"]) ?
            "the library named by ATTNROLL_LIBRARY" : "libattnroll through the system loader"
        error("AttnRoll: cannot load $how. Build it (cmake --build build) and set " *
              "ENV[\"ATTNROLL_LIBRARY\"] to build/src/libattnroll.so.1, or install it " *
              "(cmake --install build). Tried:\n" * join(tried, "\n"))
    end
    path = Libdl.dlpath(handle)
    absent = [String(name) for (_, name) in _SYMBOLS
              if something(Libdl.dlsym(handle, name; throw_error = false), C_NULL) == C_NULL]
    isempty(absent) || error("AttnRoll: $path lacks " * join(absent, ", ") *
                              "; it is older than the header this binding was generated from")
    for (ref, name) in _SYMBOLS
        ref[] = Libdl.dlsym(handle, name)
    end
    _library_handle[] = handle
    _library_path[] = path
    version = attnroll_version_number()
    if div(version, 10000) != ATTNROLL_VERSION_MAJOR || version < ATTNROLL_VERSION_NUMBER
        found = unsafe_string(attnroll_version_string())
        for (ref, _) in _SYMBOLS
            ref[] = C_NULL
        end
        error("AttnRoll: $path is version $found; this binding needs " *
              "$(ATTNROLL_VERSION_MAJOR).x >= $(ATTNROLL_VERSION_STRING)")
    end
    return path
end

function __init__()
    # While a package image is being written nothing is called, so nothing is
    # loaded: no path or pointer is baked into the precompiled file.
    ccall(:jl_generating_output, Cint, ()) == 1 && return
    load_library()
    return
end

end # module LibAttnRoll
