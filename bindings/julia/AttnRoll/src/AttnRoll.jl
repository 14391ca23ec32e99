"""
    AttnRoll

Attention rollout (Abnar & Zuidema, 2020) for vision and video transformers, through
the attnroll C library.  Julia arrays are read in place whatever their strides (views,
`PermutedDimsArray`s, transposes: anything with `strides` and `pointer`; other arrays
are copied with `collect`), and results come back as new Julia arrays.

    using AttnRoll
    layers = [rand(Float32, 197, 197, 12, 4) for _ in 1:12]   # each (N, N, H, F)
    R   = spatial(layers)                    # (197, 197, 4) Float32
    cls = spatial(layers; query_rows = [1])  # (197, 1, 4): the CLS row of each frame

# Dimension order

A Julia array is column-major, the C library's arrays are row-major, and the binding
passes the memory as it is: **Julia's dimensions are the C dimensions reversed**.  A
Julia `Array{Float32,4}` of size `(N, N, H, F)` *is* the C `[F, H, N, N]` layer, and
Julia element `A[j, i, h, f]` is C's `A[f, h, i, j]`: the attention of query token `i`
to key token `j` (each column `A[:, i, h, f]` is a softmax distribution, the layout
of NNlib's `dot_product_attention` scores, `(keys, queries, heads, batch)`).

Results follow the same rule.  The C spatial output `[F, N, N]` comes back as a
Julia array `R` of size `(N, N, F)` with `R[j, i, f]` = C's `R[f, i, j]`: **row `i`
of frame `f`'s rollout is the column `R[:, i, f]`** (how much output token `i` draws
on each input token `j`), and `R[:, 1, f]` is the CLS row.  With `k` query rows the
size is `(N, k, F)` and `R[:, q, f]` is the row `query_rows[q]`.  A temporal rollout
`[T, T]` comes back as `(T, T)` with `R[:, i]` its row `i`.

For the mathematical orientation (`M[i, j, f]` = row `i`, column `j`) pass
`order = :math` to any function (the matrix dimensions of the inputs are then read as
`(query, key, ...)` and the result is permuted the same way), or convert a result
with [`mathorder`](@ref).

# Indices

`query_rows` are 1-based Julia row numbers (`1` is the CLS token) and `layer_range`
a range of 1-based layer numbers (`2:L` skips the first layer).  Instance ids
(`temporal`, `select_instance`) are passed through unchanged: they are 0-based, like
the model's `refiner_id`, and select C's `A[i]`, i.e. Julia's `A[:, :, i + 1]`.

Messages of errors raised by the C library use the C conventions: 0-based indices
(`layers[0]` is Julia's `layers[1]`) and shapes in C order (reversed Julia sizes).

See also: [`spatial`](@ref), [`temporal`](@ref), [`select_instance`](@ref),
[`Stream`](@ref), [`flow`](@ref), [`singular_values`](@ref), [`effective_rank`](@ref),
[`minmax_rows`](@ref), [`column_mean`](@ref),
[`AttnRoll.minmax`](@ref), [`AttnRollError`](@ref), `AttnRoll.LibAttnRoll` (the raw
C functions).
"""
module AttnRoll

using LinearAlgebra: Adjoint, Transpose

include("LibAttnRoll.jl")
using .LibAttnRoll

export spatial, temporal, select_instance, minmax_rows, column_mean, Stream, result,
       layers_pushed, bytes_held, mathorder, AttnRollError, blas_info, blas_kernel_level,
       blas_selfcheck, flow, singular_values, effective_rank

# `minmax` is not exported: Base exports a different `minmax`; call `AttnRoll.minmax`.

# --------------------------------------------------------------------------
# Errors

"""
    AttnRollError(status::Int32, name::String, message::String)

A failed attnroll call.  `status` is the C status (`LibAttnRoll.ATTNROLL_E_SHAPE`, ...),
`name` its name from `attnroll_status_string` (`"ATTNROLL_E_SHAPE"`), and `message` the
library's message for the call, read with `attnroll_last_error()` right after it
returned, on the same thread; it names the argument and the value at fault.  Messages
from the library use C conventions (0-based indices such as `layers[0]`, shapes in C
order); checks made by this binding before calling the library raise the same error
type with the status the library would give, and name Julia indices and sizes.
"""
struct AttnRollError <: Exception
    status::Int32
    name::String
    message::String
end

AttnRollError(status::Integer, message::AbstractString) =
    AttnRollError(Int32(status), _status_name(status), String(message))

function Base.showerror(io::IO, err::AttnRollError)
    print(io, "AttnRollError: ", err.message, " [", err.name, "]")
end

_status_name(status::Integer) = unsafe_string(attnroll_status_string(Int32(status)))

@noinline _fail(status::Integer, message::AbstractString) = throw(AttnRollError(status, message))

# The message must be read before any other library call on this thread: the
# next call clears it.  Nothing between the failed call and this read yields.
@noinline function _throw_status(status::Int32)
    message = unsafe_string(attnroll_last_error())
    throw(AttnRollError(status, _status_name(status), message))
end

@inline function _check(status::Int32)
    status == ATTNROLL_OK || _throw_status(status)
    return nothing
end

"""
    AttnRoll.version_number() -> Int

The loaded library's version, `10000 * major + 100 * minor + patch`.  The library's
file is `AttnRoll.library_path()`.
"""
version_number() = Int(attnroll_version_number())

# --------------------------------------------------------------------------
# Element types

_is_bfloat16(::Type{T}) where {T} =
    isbitstype(T) && sizeof(T) == 2 && T isa DataType && nameof(T) === :BFloat16

function _input_code(::Type{T}, name::AbstractString, dtype) where {T}
    if dtype === nothing
        T === Float32 && return ATTNROLL_F32
        T === Float64 && return ATTNROLL_F64
        T === Float16 && return ATTNROLL_F16
        _is_bfloat16(T) && return ATTNROLL_BF16
        hint = (T === UInt16 || T === Int16) ? " (for bfloat16 bits pass dtype = :bfloat16)" : ""
        _fail(ATTNROLL_E_DTYPE,
              "$name: element type $T is not supported; use Float16, Float32 or Float64$hint")
    end
    if (dtype isa Symbol || dtype isa AbstractString) && Symbol(dtype) === :bfloat16
        (T === UInt16 || T === Int16 || _is_bfloat16(T)) && return ATTNROLL_BF16
        _fail(ATTNROLL_E_DTYPE,
              "$name: dtype = :bfloat16 needs UInt16 or Int16 bits, got element type $T")
    end
    _fail(ATTNROLL_E_DTYPE, "dtype: $(repr(dtype)) is not supported; the only override is " *
                            ":bfloat16 (UInt16 or Int16 arrays holding bfloat16 bits)")
end

function _out_code(out_type)
    out_type === Float32 && return ATTNROLL_F32
    out_type === Float64 && return ATTNROLL_F64
    _fail(ATTNROLL_E_DTYPE,
          "out_type: $(repr(out_type)) is not an output type; use Float32 or Float64")
end

# --------------------------------------------------------------------------
# Array views: the memory of a Julia array as an attnroll_tensor, in place

# What one attnroll_tensor points at, kept alive (GC.@preserve) during a call.
mutable struct _View
    owner::Any               # the array whose memory is read or written
    ptr::Ptr{Cvoid}          # its first element
    dtype::Int32
    shape::Vector{Int64}     # C order: the Julia size reversed
    strides::Vector{Int64}   # C order, in elements
end

# Only while the _View is preserved.
_tensor(v::_View) = attnroll_tensor(v.ptr, v.dtype, Int32(length(v.shape)), pointer(v.shape),
                                    pointer(v.strides))

_permutation(::PermutedDimsArray{T,N,perm}) where {T,N,perm} = perm

# (pointer to the first element, strides in elements) when the library can read
# x where it is, else nothing.
function _layout(x::AbstractArray)
    if x isa PermutedDimsArray
        inner = _layout(parent(x))
        inner === nothing && return nothing
        perm = _permutation(x)
        st = inner[2]
        return (inner[1], ntuple(d -> st[perm[d]], ndims(x)))
    elseif x isa Transpose || (x isa Adjoint && eltype(x) <: Real)
        p = parent(x)
        inner = _layout(p)
        inner === nothing && return nothing
        st = inner[2]
        # a transposed vector is a 1 x n row; the stride of an extent-1 axis is never used
        return ndims(p) == 1 ? (inner[1], (st[1] * length(p), st[1])) : (inner[1], (st[2], st[1]))
    end
    return _strided_layout(x)
end

function _strided_layout(x::AbstractArray)
    (applicable(strides, x) && applicable(pointer, x)) || return nothing
    st = try
        strides(x)
    catch
        return nothing
    end
    ptr = try
        pointer(x)
    catch
        return nothing
    end
    (ptr isa Ptr && length(st) == ndims(x)) || return nothing
    return (Ptr{Cvoid}(ptr), ntuple(d -> Int(st[d]), ndims(x)))
end

function _make_view(owner, ptr::Ptr{Cvoid}, st, code::Int32, x::AbstractArray)
    n = ndims(x)
    shape = Int64[size(x, n + 1 - d) for d in 1:n]
    cstrides = Int64[st[n + 1 - d] for d in 1:n]
    return _View(owner, ptr, code, shape, cstrides)
end

# An input: x itself when its memory can be read in place (any strides, aligned
# elements), else a column-major copy (collect).
function _view(x, name::AbstractString, dtype = nothing)
    x isa AbstractArray ||
        throw(ArgumentError("$name: expected an array, got a value of type $(typeof(x))"))
    T = eltype(x)
    code = _input_code(T, name, dtype)
    layout = _layout(x)
    owner = x
    if layout === nothing || UInt(layout[1]) % sizeof(T) != 0
        owner = collect(x)
        layout = (Ptr{Cvoid}(pointer(owner)), strides(owner))
    end
    return _make_view(owner, layout[1], layout[2], code, x)
end

# An output: a new column-major Array, seen by C as row-major with the reversed shape.
_out_view(out::Array, code::Int32) = _make_view(out, Ptr{Cvoid}(pointer(out)), strides(out), code, out)

# --------------------------------------------------------------------------
# Orientation

function _check_order(order::Symbol)
    order === :native || order === :math ||
        throw(ArgumentError("order: expected :native or :math, got $(repr(order))"))
    return order
end

# order = :math reads the first two (matrix) dimensions of an input swapped: a
# PermutedDimsArray, so still without a copy.
function _swap12(x)
    (x isa AbstractArray && ndims(x) >= 2) || return x
    return PermutedDimsArray(x, (2, 1, ntuple(d -> d + 2, ndims(x) - 2)...))
end

_oriented(x, order::Symbol) = order === :math ? _swap12(x) : x
_result(out::Array, order::Symbol) = order === :math ? mathorder(out) : out

"""
    mathorder(R) -> Array

A result in the mathematical orientation: the first two dimensions swapped
(`permutedims(R, (2, 1, 3, ...))`, a copy), so that `M[i, j, f]` is row `i`, column
`j` of frame `f`'s rollout (C's `R[f, i, j]`), `M[i, :, f]` is row `i` and
`M[1, :, f]` the CLS row.  The same as passing `order = :math` to the function that
made `R`.  `mathorder(mathorder(R)) == R`.
"""
function mathorder(R::AbstractArray)
    ndims(R) >= 2 ||
        throw(ArgumentError("mathorder: needs a matrix or a stack of matrices, got $(ndims(R)) dimension(s)"))
    return permutedims(R, (2, 1, ntuple(d -> d + 2, ndims(R) - 2)...))
end

# --------------------------------------------------------------------------
# Options

function _int64(x::Integer, name::AbstractString)
    typemin(Int64) <= x <= typemax(Int64) ||
        _fail(ATTNROLL_E_ARGUMENT, "$name: $x is out of range")
    return Int64(x)
end

function _instance(instance::Integer)
    instance < 0 && _fail(ATTNROLL_E_ARGUMENT,
                          "instance: $instance is negative; instance ids are 0-based, like the model's refiner_id")
    return _int64(instance, "instance")
end

# 1-based Julia rows -> 0-based C rows.
function _query_rows(rows, ntokens)
    rows === nothing && return nothing
    (rows isa AbstractVector || rows isa Tuple) ||
        throw(ArgumentError("query_rows: expected a vector, range or tuple of 1-based row numbers, " *
                            "got a value of type $(typeof(rows))"))
    isempty(rows) && _fail(ATTNROLL_E_ARGUMENT, "query_rows: is empty; pass nothing for all rows")
    out = Vector{Int64}(undef, length(rows))
    for (k, r) in enumerate(rows)
        (r isa Integer && !(r isa Bool)) ||
            throw(ArgumentError("query_rows[$k]: expected an integer row number, got $(repr(r))"))
        r < 1 && _fail(ATTNROLL_E_ARGUMENT,
                       "query_rows[$k]: $r is not a row; rows are numbered from 1 (1 is the CLS row)")
        if r > typemax(Int64) || (ntokens !== nothing && r > ntokens)
            _fail(ATTNROLL_E_ARGUMENT, "query_rows[$k]: row $r is out of range" *
                                       (ntokens === nothing ? "" : " 1:$ntokens"))
        end
        out[k] = Int64(r) - 1
    end
    return out
end

# 1-based inclusive layer numbers -> the C [begin, end) (end -1 = all layers).
function _layer_range(lr, nlayers)
    lr === nothing && return nothing
    if lr isa AbstractUnitRange{<:Integer}
        first_, last_ = first(lr), last(lr)
    elseif lr isa Tuple{Integer,Union{Integer,Nothing}}
        first_, last_ = lr
    else
        throw(ArgumentError("layer_range: expected a range of 1-based layer numbers such as 2:12, " *
                            "or (first, nothing) for the layers from first on; got $(repr(lr))"))
    end
    first_ < 1 && _fail(ATTNROLL_E_ARGUMENT,
                        "layer_range: layers are numbered from 1, got first layer $first_")
    if last_ !== nothing
        last_ < first_ && _fail(ATTNROLL_E_ARGUMENT, "layer_range: $first_:$last_ holds no layer")
        nlayers !== nothing && last_ > nlayers &&
            _fail(ATTNROLL_E_ARGUMENT, "layer_range: last layer $last_ is past the last layer ($nlayers)")
    end
    nlayers !== nothing && first_ > nlayers &&
        _fail(ATTNROLL_E_ARGUMENT, "layer_range: first layer $first_ is past the last layer ($nlayers)")
    return (_int64(first_, "layer_range") - 1, last_ === nothing ? Int64(-1) : _int64(last_, "layer_range"))
end

const _HEAD_FUSIONS = (mean = ATTNROLL_FUSE_MEAN, max = ATTNROLL_FUSE_MAX, min = ATTNROLL_FUSE_MIN,
                      entropy = ATTNROLL_FUSE_ENTROPY, weights = ATTNROLL_FUSE_WEIGHTS,
                      grad = ATTNROLL_FUSE_GRAD)
const _RULES = (rollout = ATTNROLL_RULE_ROLLOUT, chefer = ATTNROLL_RULE_CHEFER)

# :entropy or "entropy" -> its C value; anything else names the keyword and value.
function _choice(value, table::NamedTuple, name::AbstractString)
    key = value isa AbstractString ? Symbol(value) : value
    if key isa Symbol && haskey(table, key)
        return table[key]
    end
    _fail(ATTNROLL_E_ARGUMENT, "$name: $(repr(value)) is not one of " *
                               join([repr(k) for k in keys(table)], ", "))
end

# The rollout method keywords (include/attnroll.h, "The pipeline"), checked and
# turned into C option values.  grads: true when gradients are given (then
# head_fusion = nothing means :grad), false when they are not, nothing when not
# known yet (a Stream: each push says).
struct _Method
    drop::Int64
    fusion::Int32
    weights::Union{Nothing,Vector{Float64}}
    discard::Float64
    protect::Union{Nothing,Vector{Int64}}
    rule::Int32
    cumulative::Bool
end

function _method(; drop_tokens::Integer = 0, head_fusion = nothing, head_weights = nothing,
                 discard_ratio::Real = 0.0, protect = nothing, rule = :rollout,
                 cumulative::Bool = false, grads = false)
    drop_tokens < 0 && _fail(ATTNROLL_E_ARGUMENT, "drop_tokens: $drop_tokens is negative")
    drop = _int64(drop_tokens, "drop_tokens")
    if head_fusion === nothing
        head_fusion = grads === true ? :grad : :mean
    end
    fusion = _choice(head_fusion, _HEAD_FUSIONS, "head_fusion")
    weights = nothing
    if head_weights !== nothing
        (head_weights isa AbstractVector || head_weights isa Tuple) ||
            throw(ArgumentError("head_weights: expected a vector of numbers, got a value of type " *
                                "$(typeof(head_weights))"))
        isempty(head_weights) && _fail(ATTNROLL_E_ARGUMENT, "head_weights: is empty; give one weight per head")
        weights = Float64[]
        for (h, w) in enumerate(head_weights)
            (w isa Real && !(w isa Bool)) ||
                throw(ArgumentError("head_weights[$h]: expected a number, got $(repr(w))"))
            isfinite(w) || _fail(ATTNROLL_E_ARGUMENT, "head_weights[$h]: $w is not finite")
            push!(weights, Float64(w))
        end
    end
    fusion == ATTNROLL_FUSE_WEIGHTS && weights === nothing &&
        _fail(ATTNROLL_E_ARGUMENT, "head_fusion: :weights needs head_weights = [one weight per head]")
    fusion != ATTNROLL_FUSE_WEIGHTS && weights !== nothing &&
        _fail(ATTNROLL_E_ARGUMENT, "head_weights: given with head_fusion = $(repr(head_fusion)); " *
                                   "they are used only with head_fusion = :weights")
    (0 <= discard_ratio < 1) ||
        _fail(ATTNROLL_E_ARGUMENT, "discard_ratio: $discard_ratio is outside [0, 1)")
    columns = nothing
    if protect !== nothing
        (protect isa AbstractVector || protect isa Tuple) ||
            throw(ArgumentError("protect: expected a vector of 1-based column numbers, got a value " *
                                "of type $(typeof(protect))"))
        columns = Int64[]
        for (q, c) in enumerate(protect)
            (c isa Integer && !(c isa Bool)) ||
                throw(ArgumentError("protect[$q]: expected an integer column number, got $(repr(c))"))
            c < 1 && _fail(ATTNROLL_E_ARGUMENT,
                           "protect[$q]: $c is not a column; columns are numbered from 1")
            push!(columns, _int64(c, "protect[$q]") - 1)
        end
    end
    rule_code = _choice(rule, _RULES, "rule")
    grads === true && fusion != ATTNROLL_FUSE_GRAD &&
        _fail(ATTNROLL_E_ARGUMENT, "grads: given with head_fusion = $(repr(head_fusion)); " *
                                   "gradients are used only with head_fusion = :grad")
    grads === false && fusion == ATTNROLL_FUSE_GRAD &&
        _fail(ATTNROLL_E_ARGUMENT, "head_fusion: :grad needs the gradients, grads = [one per layer] " *
                                   "(or push!(stream, layer; grad = g))")
    return _Method(drop, fusion, weights, Float64(discard_ratio), columns, rule_code, cumulative)
end

_default(m::_Method) = m.drop == 0 && m.fusion == ATTNROLL_FUSE_MEAN && m.discard == 0 &&
                       m.protect === nothing && m.rule == ATTNROLL_RULE_ROLLOUT && !m.cumulative

const _KEYWORDS = ("drop_tokens" => "ATTNROLL_OPT_DROP_TOKENS", "head_fusion" => "ATTNROLL_OPT_HEAD_FUSION",
                   "head_weights" => "ATTNROLL_OPT_HEAD_WEIGHTS",
                   "discard_ratio" => "ATTNROLL_OPT_DISCARD_RATIO", "protect" => "ATTNROLL_OPT_PROTECT",
                   "rule" => "ATTNROLL_OPT_RULE", "cumulative" => "ATTNROLL_OPT_CUMULATIVE")

# _check, with the keyword put in front of a library message about a method
# option ("drop_tokens: config ATTNROLL_OPT_DROP_TOKENS: 9 ...").
function _check_named(status::Int32)
    try
        _check(status)
    catch err
        err isa AttnRollError || rethrow()
        for (keyword, name) in _KEYWORDS
            if occursin(name, err.message) && !startswith(err.message, keyword) &&
               !startswith(err.message, "grad")
                throw(AttnRollError(err.status, err.name, "$keyword: " * err.message))
            end
        end
        rethrow()
    end
    return nothing
end

function _apply(handle, m::_Method)
    _check_named(attnroll_config_set_int(handle, ATTNROLL_OPT_DROP_TOKENS, m.drop))
    _check_named(attnroll_config_set_int(handle, ATTNROLL_OPT_HEAD_FUSION, Int64(m.fusion)))
    if m.weights !== nothing
        _check_named(attnroll_config_set_floats(handle, ATTNROLL_OPT_HEAD_WEIGHTS, m.weights,
                                                length(m.weights)))
    end
    _check_named(attnroll_config_set_float(handle, ATTNROLL_OPT_DISCARD_RATIO, m.discard))
    if m.protect !== nothing
        _check_named(attnroll_config_set_ints(handle, ATTNROLL_OPT_PROTECT, m.protect, length(m.protect)))
    end
    _check_named(attnroll_config_set_int(handle, ATTNROLL_OPT_RULE, Int64(m.rule)))
    _check_named(attnroll_config_set_int(handle, ATTNROLL_OPT_CUMULATIVE, Int64(m.cumulative)))
    return nothing
end

# N' = N - k, or N when k >= N (the library then refuses k).
_kept(ntokens, m) = (ntokens !== nothing && m !== nothing && m.drop < ntokens) ? ntokens - Int(m.drop) : ntokens

# L' for a cumulative output: the layers of the C range [b, e) among nlayers, 1
# when the range does not fit (the library then says why).
function _range_length(lrange, nlayers::Integer)
    b, e = lrange === nothing ? (Int64(0), Int64(-1)) : lrange
    e = e < 0 ? Int64(nlayers) : e
    return (0 <= b < e <= nlayers) ? Int(e - b) : 1
end

# A config for the options (a NULL handle when every option is at its default)
# and the number of query rows (nothing = all rows).  ntokens counts the tokens
# left after the method's drop_tokens.
function _config(query_rows, layer_range, threads::Integer, residual::Real, ntokens, nlayers,
                 method = nothing)
    rows = _query_rows(query_rows, ntokens)
    lrange = _layer_range(layer_range, nlayers)
    handle = ConfigHandle()
    if rows === nothing && lrange === nothing && threads == 0 && residual == 1 &&
       (method === nothing || _default(method))
        return handle, nothing
    end
    ref = Ref{Ptr{attnroll_config}}(C_NULL)
    _check(attnroll_config_create(ref))
    handle.ptr = ref[]
    try
        if rows !== nothing
            _check(attnroll_config_set_ints(handle, ATTNROLL_OPT_QUERY_ROWS, rows, length(rows)))
        end
        if lrange !== nothing
            _check(attnroll_config_set_int(handle, ATTNROLL_OPT_LAYER_BEGIN, lrange[1]))
            _check(attnroll_config_set_int(handle, ATTNROLL_OPT_LAYER_END, lrange[2]))
        end
        _check(attnroll_config_set_int(handle, ATTNROLL_OPT_THREADS, _int64(threads, "threads")))
        _check(attnroll_config_set_float(handle, ATTNROLL_OPT_RESIDUAL, Float64(residual)))
        method === nothing || _apply(handle, method)
    catch
        destroy!(handle)
        rethrow()
    end
    return handle, rows === nothing ? nothing : length(rows)
end

# --------------------------------------------------------------------------
# Layers

# A vector of layer arrays from a vector or tuple of arrays, or from one stacked
# array whose LAST Julia dimension is the layer axis (C's first).
function _layer_list(layers, stacked_rank::Int, stacked_what::AbstractString)
    if layers isa Tuple
        list = Any[layers...]
    elseif layers isa AbstractArray && eltype(layers) <: Number
        n = ndims(layers)
        if stacked_rank != 0 && n != stacked_rank
            _fail(ATTNROLL_E_SHAPE, "layers: a single array must be the stacked layers $stacked_what, " *
                                    "got size $(size(layers)); pass a vector of arrays for other layouts")
        end
        (n >= 1 && size(layers, n) >= 1) ||
            _fail(ATTNROLL_E_SHAPE, "layers: size $(size(layers)) holds no layer")
        list = Any[selectdim(layers, n, l) for l in axes(layers, n)]
    elseif layers isa AbstractVector
        list = Any[layers...]
    else
        throw(ArgumentError("layers: expected a vector or tuple of arrays, or one stacked array; " *
                            "got a value of type $(typeof(layers))"))
    end
    isempty(list) && _fail(ATTNROLL_E_ARGUMENT, "layers: is empty; give at least one layer")
    return list
end

_layer_views(list, dtype, order::Symbol) =
    _View[_view(_oriented(x, order), "layers[$i]", dtype) for (i, x) in enumerate(list)]

# --------------------------------------------------------------------------
# Spatial rollout

"""
    spatial(layers; query_rows = nothing, layer_range = nothing, out_type = Float32,
            threads = 0, residual = 1.0, dtype = nothing, order = :native) -> Array

Spatial rollout, per frame: `R = Abar_e ⋯ Abar_b` over the layers in `layer_range`,
with `Abar_l = normalize_rows(mean_over_heads(A_l) + residual * I)` (no final
normalisation).

- `layers`: a vector (or tuple) of arrays, layer 1 first, each of size `(N, N, H, F)`
  (C `[F, H, N, N]`) or `(N, N, H)` for one frame; or one stacked array of size
  `(N, N, H, F, L)`.  Element types `Float16`, `Float32`, `Float64`, or `UInt16`/`Int16`
  bfloat16 bits with `dtype = :bfloat16`; types and layouts may differ between layers
  (but note that Julia converts the arrays of a literal `[a, b]` to a common element
  type; write a tuple `(a, b)` or `Any[a, b]` to pass them as they are).
- `query_rows`: 1-based rows of `R` to compute (`[1]` is the CLS row), at a cost of
  `O(L k N^2)` instead of `O(L N^3)`.
- `layer_range`: 1-based layers to roll out, e.g. `2:L` (or `(2, nothing)`) to leave out
  the first layer.
- `out_type`: `Float32` (products in `sgemm`) or `Float64` (`dgemm`).
- `threads`: worker threads, `0` for the library's default.

The rollout method (the header's "The pipeline", in this order; the defaults give the
spec's rollout, Abnar & Zuidema 2020):

- `drop_tokens = k`: drop the first `k` tokens of every map and re-normalise its rows
  (`1` drops CLS, the users' newest script); results then have `N' = N - k` tokens.
- `head_fusion`: `:mean` (default), `:max`, `:min` (vit-explain), `:entropy`
  (softmax(-entropy) head weights, the users' newest script), `:weights` (with
  `head_weights`, one per head, used as given) or `:grad` (mean over heads of
  max(G .* A, 0), Chefer et al. 2021; the default when `grads` are given).
- `discard_ratio = p` in [0, 1): zero the floor(p M) smallest fused entries outside the
  `protect`ed columns (1-based, default `[1]`, the CLS column; `Int[]` for none).
- `rule`: `:rollout` (`normalize_rows(Abar + residual I)`) or `:chefer`
  (`Abar + residual I` unnormalised: `R <- R + Abar R`).
- `grads`: one gradient per layer, each the size of its layer, any element type and
  layout (`grads_dtype = :bfloat16` for bfloat16 bits).
- `cumulative = true`: every partial product, on a new last dimension of length `L'`
  (the layers of `layer_range`).

Returns an array of size `(N', N', F)` (`(N', N')` for `(N, N, H)` layers), or
`(N', k, F)` (`(N', k)`) with `k` query rows, and `(..., L')` with `cumulative = true`,
where `R[j, i, f]` is C's `R[f, i, j]`: row `i` of frame `f`'s rollout is the column
`R[:, i, f]` (with query rows, `R[:, q, f]` is the row `query_rows[q]`).
`order = :math` reads each layer's matrix dimensions as `(query, key)` instead and
returns `permutedims(R, (2, 1, 3))`, where `R[i, :, f]` is row `i`.  Throws
[`AttnRollError`](@ref) on any error; a bad keyword value names the keyword.
"""
function spatial(layers; query_rows = nothing, layer_range = nothing, out_type = Float32,
                 threads::Integer = 0, residual::Real = 1.0, dtype = nothing,
                 order::Symbol = :native, drop_tokens::Integer = 0, head_fusion = nothing,
                 head_weights = nothing, discard_ratio::Real = 0.0, protect = nothing,
                 rule = :rollout, grads = nothing, grads_dtype = nothing, cumulative::Bool = false)
    code = _out_code(out_type)
    _check_order(order)
    list = _layer_list(layers, 5, "(N, N, H, F, L)")
    method = _method(; drop_tokens = drop_tokens, head_fusion = head_fusion, head_weights = head_weights,
                     discard_ratio = discard_ratio, protect = protect, rule = rule, cumulative = cumulative,
                     grads = grads !== nothing)
    views = _layer_views(list, dtype, order)
    gviews = _View[]
    if grads !== nothing
        glist = _layer_list(grads, 5, "(N, N, H, F, L)")
        length(glist) == length(list) ||
            _fail(ATTNROLL_E_ARGUMENT, "grads: $(length(glist)) gradients for $(length(list)) layers; " *
                                       "give one per layer")
        for (i, x) in enumerate(glist)
            push!(gviews, _view(_oriented(x, order), "grads[$i]", grads_dtype))
        end
    end
    shape = views[1].shape
    rank = length(shape)
    ntokens = _kept((rank == 3 || rank == 4) ? Int(shape[end]) : nothing, method)
    cfg, k = _config(query_rows, layer_range, threads, residual, ntokens, length(list), method)
    n = ntokens === nothing ? 1 : ntokens
    rows = k === nothing ? n : k
    jsize = rank == 4 ? (n, rows, Int(shape[1])) : rank == 3 ? (n, rows) : (1,)
    if method.cumulative
        jsize = (jsize..., _range_length(_layer_range(layer_range, length(list)), length(list)))
    end
    out = Array{out_type}(undef, jsize)
    ov = _out_view(out, code)
    try
        GC.@preserve views gviews ov begin
            tensors = attnroll_tensor[_tensor(v) for v in views]
            if grads === nothing
                _check_named(attnroll_spatial(tensors, length(tensors), cfg, Ref(_tensor(ov))))
            else
                gtensors = attnroll_tensor[_tensor(v) for v in gviews]
                _check_named(attnroll_spatial_grad(tensors, gtensors, length(tensors), cfg, Ref(_tensor(ov))))
            end
        end
    finally
        destroy!(cfg)
    end
    return _result(out, order)
end

# --------------------------------------------------------------------------
# Temporal rollout

"""
    select_instance(attn, instance; out_type = Float64, dtype = nothing, order = :native) -> Matrix

The `[T, T]` attention matrix of one instance from a temporal attention array, by
the library's selection rules, applied to the C dimensions (the Julia size
reversed).  `instance` is 0-based, like the model's `refiner_id`:

- `(T, T)` (C `[T, T]`): the array itself;
- `(T, T, Q)` (C `[Q, T, T]`): `attn[:, :, instance + 1]` if `Q > instance`, else
  `attn[:, instance + 1, :]` if `T > instance`, else `attn[:, :, 1]`;
- rank 4 and more, e.g. `(T, T, H, Q)`: the last Julia dimension (C's first) whose
  extent is `> instance` is indexed with `instance + 1` (if none is, every leading
  dimension with `1`), and the leading dimensions left over are averaged.

Returns the selected matrix in the same orientation as `attn` (`(T, T)`); with
`order = :math` the matrix dimensions of `attn` are read as `(query, key)` and so is
the result.
"""
function select_instance(attn, instance::Integer; out_type = Float64, dtype = nothing,
                         order::Symbol = :native)
    code = _out_code(out_type)
    _check_order(order)
    inst = _instance(instance)
    v = _view(_oriented(attn, order), "attn", dtype)
    rows, cols = Ref{Int64}(0), Ref{Int64}(0)
    GC.@preserve v begin
        _check(attnroll_select_shape(Ref(_tensor(v)), inst, rows, cols))
    end
    out = Array{out_type}(undef, Int(cols[]), Int(rows[]))
    ov = _out_view(out, code)
    GC.@preserve v ov begin
        _check(attnroll_select_instance(Ref(_tensor(v)), inst, Ref(_tensor(ov))))
    end
    return _result(out, order)
end

"""
    temporal(layers, instance; query_rows = nothing, layer_range = nothing, out_type = Float64,
             threads = 0, residual = 1.0, dtype = nothing, order = :native) -> Matrix

Temporal rollout: `rollout = T_e ⋯ T_b` with
`T_l = normalize_rows(select_instance(A_l, instance) + residual * I)`.

`layers` is a vector (or tuple) of arrays of any rank >= 2, whose ranks and layouts
may differ (`(T, T)`, `(T, T, Q)`, `(T, T, H, Q)`, ...), or one stacked array whose
last dimension is the layer axis.  Every layer must select a square `[T, T]` with
the same `T`.  `instance` is 0-based, like the model's `refiner_id` (see
[`select_instance`](@ref)); `query_rows` and `layer_range` are 1-based.

`rule = :chefer` uses `select_instance(A_l, instance) + residual * I` unnormalised, and
`cumulative = true` returns every partial product on a last dimension of length `L'`,
as for [`spatial`](@ref) (whose other method keywords are spatial only).

Returns a `(T, T)` matrix `R` with `R[:, i]` row `i` of the rollout (C's `R[i, :]`), or
`(T, k)` with `k` query rows (`(T, T, L')` / `(T, k, L')` when cumulative);
`order = :math` gives `R[i, :]` = row `i` instead.
"""
function temporal(layers, instance::Integer; query_rows = nothing, layer_range = nothing,
                  out_type = Float64, threads::Integer = 0, residual::Real = 1.0,
                  dtype = nothing, order::Symbol = :native, rule = :rollout, cumulative::Bool = false)
    code = _out_code(out_type)
    _check_order(order)
    inst = _instance(instance)
    list = _layer_list(layers, 0, "")
    views = _layer_views(list, dtype, order)
    rows, cols = Ref{Int64}(0), Ref{Int64}(0)
    first_view = views[1]
    status = GC.@preserve first_view attnroll_select_shape(Ref(_tensor(first_view)), inst, rows, cols)
    # when the first layer selects nothing, the rollout itself reports why
    t = status == ATTNROLL_OK ? Int(rows[]) : nothing
    method = _method(; rule = rule, cumulative = cumulative)
    cfg, k = _config(query_rows, layer_range, threads, residual, t, length(list), method)
    n = t === nothing ? 1 : t
    jsize = (n, k === nothing ? n : k)
    if cumulative
        jsize = (jsize..., _range_length(_layer_range(layer_range, length(list)), length(list)))
    end
    out = Array{out_type}(undef, jsize)
    ov = _out_view(out, code)
    try
        GC.@preserve views ov begin
            tensors = attnroll_tensor[_tensor(v) for v in views]
            _check_named(attnroll_temporal(tensors, length(tensors), inst, cfg, Ref(_tensor(ov))))
        end
    finally
        destroy!(cfg)
    end
    return _result(out, order)
end

# --------------------------------------------------------------------------
# Post-processing

function _post(cfunc, x, outsize, out_type, dtype, order::Symbol)
    code = _out_code(out_type)
    _check_order(order)
    v = _view(_oriented(x, order), "x", dtype)
    out = Array{out_type}(undef, outsize(reverse(Tuple(Int.(v.shape)))))
    ov = _out_view(out, code)
    GC.@preserve v ov begin
        _check(cfunc(Ref(_tensor(v)), Ref(_tensor(ov))))
    end
    return ndims(out) >= 2 ? _result(out, order) : out
end

"""
    minmax_rows(x; out_type = Float64, dtype = nothing, order = :native) -> Matrix

Each row of a rollout matrix scaled to `[0, 1]`: `(row - minimum(row)) / (maximum(row) -
minimum(row))`; a constant row becomes zeros, a row with a NaN all NaN.  Rows are C
rows, which in the native Julia order are the COLUMNS `x[:, i]` (the rollout rows of
[`spatial`](@ref) and [`temporal`](@ref) results); with `order = :math`, the Julia rows
`x[i, :]`.  Returns an array of the size of `x`.
"""
minmax_rows(x; out_type = Float64, dtype = nothing, order::Symbol = :native) =
    _post(attnroll_minmax_rows, x, identity, out_type, dtype, order)

"""
    column_mean(x; out_type = Float64, dtype = nothing, order = :native) -> Vector

The mean over the rollout rows for each token: C's `out[j] = mean_i x[i, j]`.  In the
native Julia order, where rollout row `i` is the column `x[:, i]`, that is
`vec(sum(x, dims = 2)) / size(x, 2)`, a vector of length `size(x, 1)`; with
`order = :math`, the mean over the Julia rows, of length `size(x, 2)`.
"""
column_mean(x; out_type = Float64, dtype = nothing, order::Symbol = :native) =
    _post(attnroll_column_mean, x, s -> length(s) == 2 ? (s[1],) : (1,), out_type, dtype, order)

"""
    AttnRoll.minmax(x; out_type = Float64, dtype = nothing) -> Array

The whole array scaled to `[0, 1]`: `(x .- minimum(x)) ./ (maximum(x) - minimum(x))`; a
constant array becomes zeros, an array with a NaN all NaN.  Any rank.  Not exported
(Base has a `minmax` of its own): call it as `AttnRoll.minmax`.
"""
minmax(x; out_type = Float64, dtype = nothing) =
    _post(attnroll_minmax, x, identity, out_type, dtype, :native)

# --------------------------------------------------------------------------
# Attention flow

"""
    flow(layers; query_rows = nothing, layer_range = nothing, out_type = Float32,
         threads = 0, residual = 1.0, dtype = nothing, order = :native, drop_tokens = 0,
         head_fusion = :mean, head_weights = nothing, discard_ratio = 0.0,
         protect = nothing) -> Array

Attention flow (Abnar & Zuidema 2020): for each query row `q` and token `j`, the value
of a maximum flow from token `q` after the last layer of `layer_range` to token `j`
before the first, through the layered graph whose arcs from token `i` at level `l + 1`
down to token `j` at level `l` carry capacity `Abar_l[i, j]` -- the factors
[`spatial`](@ref) multiplies, made by the same keywords (the header's "Attention flow"
defines the network).  With one layer the flow is `Abar` itself.  Exact: Dinic's
algorithm on integer capacities, within 1e-12 relative (`Float64`) or 2e-6
(`Float32`).

`layers` and the keywords are those of [`spatial`](@ref), except that there is no
`rule` (always `:rollout`), no `cumulative` and no `grads` (`head_fusion = :grad` is
refused).  Each query row is a source costing one max flow per token: `query_rows =
[1]` (CLS) is `N'` times cheaper than the default of every row.  A capacity that is
NaN, infinite or negative throws [`AttnRollError`](@ref) naming the layer, frame, row
and column (C conventions).

Returns the size [`spatial`](@ref) would: `(N', N', F)` (`(N', N')` for `(N, N, H)`
layers), or `(N', k, F)` (`(N', k)`) with `k` query rows, where `R[j, q, f]` is the
flow from row `q` to token `j`; `order = :math` as for `spatial`.
"""
function flow(layers; query_rows = nothing, layer_range = nothing, out_type = Float32,
              threads::Integer = 0, residual::Real = 1.0, dtype = nothing,
              order::Symbol = :native, drop_tokens::Integer = 0, head_fusion = :mean,
              head_weights = nothing, discard_ratio::Real = 0.0, protect = nothing)
    code = _out_code(out_type)
    _check_order(order)
    head_fusion === :grad &&
        _fail(ATTNROLL_E_ARGUMENT, "head_fusion: :grad is not available for flow, which takes no gradients")
    list = _layer_list(layers, 5, "(N, N, H, F, L)")
    method = _method(; drop_tokens = drop_tokens, head_fusion = head_fusion, head_weights = head_weights,
                     discard_ratio = discard_ratio, protect = protect)
    views = _layer_views(list, dtype, order)
    shape = views[1].shape
    rank = length(shape)
    ntokens = _kept((rank == 3 || rank == 4) ? Int(shape[end]) : nothing, method)
    cfg, k = _config(query_rows, layer_range, threads, residual, ntokens, length(list), method)
    n = ntokens === nothing ? 1 : ntokens
    rows = k === nothing ? n : k
    jsize = rank == 4 ? (n, rows, Int(shape[1])) : rank == 3 ? (n, rows) : (1,)
    out = Array{out_type}(undef, jsize)
    ov = _out_view(out, code)
    try
        GC.@preserve views ov begin
            tensors = attnroll_tensor[_tensor(v) for v in views]
            _check_named(attnroll_flow(tensors, length(tensors), cfg, Ref(_tensor(ov))))
        end
    finally
        destroy!(cfg)
    end
    return _result(out, order)
end

# --------------------------------------------------------------------------
# Spectral diagnostics

# x of Julia size (M, M, b...) is C's [..., M, M]; a matrix and its transpose have
# the same singular values, so the orientation does not matter here.
function _spectrum(cfunc, x, outsize, out_type, dtype)
    code = _out_code(out_type)
    v = _view(x, "x", dtype)
    jsize = reverse(Tuple(Int.(v.shape)))
    out = Array{out_type}(undef, length(jsize) >= 2 ? outsize(jsize) : (1,))
    ov = _out_view(out, code)
    GC.@preserve v ov begin
        _check(cfunc(Ref(_tensor(v)), Ref(_tensor(ov))))
    end
    return out
end

"""
    singular_values(x; out_type = Float64, dtype = nothing) -> Array

The singular values of each square matrix `x[:, :, b...]` of an array of size
`(M, M, b...)` (C `[..., M, M]`; any element type the library reads, any strides), in
descending order: an array of size `(M, b...)` whose column `s[:, b...]` belongs to
`x[:, :, b...]`.  LAPACK's `?gesdd` (values only) in `out_type`'s precision
(`Float64`: `dgesdd`, `Float32`: `sgesdd`).  NaN or infinite entries, and a non-square
`x`, throw [`AttnRollError`](@ref).
"""
singular_values(x; out_type = Float64, dtype = nothing) =
    _spectrum(attnroll_singular_values, x, s -> (s[1], s[3:end]...), out_type, dtype)

"""
    effective_rank(x; out_type = Float64, dtype = nothing)

The effective rank (Roy & Vetterli 2007) of each square matrix `x[:, :, b...]`:
`exp(-sum(p .* log.(p)))` with `p = s / sum(s)` over its singular values `s`
(`0 log 0 = 0`).  The identity gives `M`, a rank-one matrix 1, a zero matrix 0.
Returns an array of size `(b...)`, or a number for a single matrix.  The SVD runs in
`out_type`'s precision as in [`singular_values`](@ref).
"""
function effective_rank(x; out_type = Float64, dtype = nothing)
    out = _spectrum(attnroll_effective_rank, x, s -> length(s) > 2 ? s[3:end] : (1,), out_type, dtype)
    return (x isa AbstractArray && ndims(x) == 2) ? out[1] : out
end

# --------------------------------------------------------------------------
# Streaming spatial rollout

"""
    Stream(frames, tokens; query_rows = nothing, layer_range = nothing, out_type = Float32,
           threads = 0, residual = 1.0, order = :native)
    Stream(f, frames, tokens; ...)     # do-block form: closes the stream after f(stream)

A streaming spatial rollout over layers of `F = frames` frames and `N = tokens` tokens:
`push!(stream, layer)` the layers in order (each `(N, N, H, F)`, or `(N, N, H)` when
`frames == 1`; the head count may change between layers), then `result(stream)` gives
the same numbers as [`spatial`](@ref) on the same layers, while holding only
`O(F N^2)` memory however many layers or heads.  `close(stream)` frees it now
(it is also freed when garbage collected); any later use throws an
[`AttnRollError`](@ref) with status `ATTNROLL_E_STATE`.

    R = Stream(4, 433) do s
        for layer in layers          # each (433, 433, 16, 4)
            push!(s, layer)
        end
        result(s)                    # (433, 433, 4)
    end
"""
mutable struct Stream
    handle::StreamHandle
    frames::Int
    tokens::Int
    rows::Int
    out_type::DataType
    order::Symbol
    cumulative::Bool
    range::Union{Nothing,Tuple{Int64,Int64}}
end

function Stream(frames::Integer, tokens::Integer; query_rows = nothing, layer_range = nothing,
                out_type = Float32, threads::Integer = 0, residual::Real = 1.0,
                order::Symbol = :native, drop_tokens::Integer = 0, head_fusion = :mean,
                head_weights = nothing, discard_ratio::Real = 0.0, protect = nothing,
                rule = :rollout, cumulative::Bool = false)
    code = _out_code(out_type)
    _check_order(order)
    f = _int64(frames, "frames")
    n = _int64(tokens, "tokens")
    method = _method(; drop_tokens = drop_tokens, head_fusion = head_fusion, head_weights = head_weights,
                     discard_ratio = discard_ratio, protect = protect, rule = rule, cumulative = cumulative,
                     grads = nothing)
    kept = _kept(n >= 1 ? Int(n) : nothing, method)
    cfg, k = _config(query_rows, layer_range, threads, residual, kept, nothing, method)
    ref = Ref{Ptr{attnroll_stream}}(C_NULL)
    try
        _check_named(attnroll_stream_create(cfg, f, n, code, ref))
    finally
        destroy!(cfg)
    end
    handle = StreamHandle(ref[])
    nk = kept === nothing ? Int(n) : kept
    return Stream(handle, Int(f), nk, k === nothing ? nk : k, out_type, order, cumulative,
                  _layer_range(layer_range, nothing))
end

function Stream(f::Function, frames::Integer, tokens::Integer; kwargs...)
    stream = Stream(frames, tokens; kwargs...)
    try
        return f(stream)
    finally
        close(stream)
    end
end

function _live(stream::Stream)
    stream.handle.ptr == C_NULL && _fail(ATTNROLL_E_STATE, "stream: is closed")
    return stream.handle
end

"""
    push!(stream::Stream, layer; grad = nothing, dtype = nothing, grad_dtype = nothing) -> stream

Adds the next layer, `(N, N, H, F)` (or `(N, N, H)` when `frames == 1`), any supported
element type and layout, and with `head_fusion = :grad` its gradient `grad` (the
layer's size, any element type and layout).  A layer of the wrong size or type is
refused with an [`AttnRollError`](@ref) and the stream stays usable; pushing after
`result` throws (`ATTNROLL_E_STATE`).
"""
function Base.push!(stream::Stream, layer; grad = nothing, dtype = nothing, grad_dtype = nothing)
    handle = _live(stream)
    v = _view(_oriented(layer, stream.order), "layer", dtype)
    if grad === nothing
        GC.@preserve v begin
            _check_named(attnroll_stream_push(handle, Ref(_tensor(v))))
        end
    else
        g = _view(_oriented(grad, stream.order), "grad", grad_dtype)
        GC.@preserve v g begin
            _check_named(attnroll_stream_push_grad(handle, Ref(_tensor(v)), Ref(_tensor(g))))
        end
    end
    return stream
end

"""
    result(stream::Stream) -> Array

The rollout of the layers pushed: size `(N', N', F)`, or `(N', k, F)` with `k` query
rows (the frame dimension is kept when `F == 1`; `N' = N - drop_tokens`), and
`(..., L')` with `cumulative = true`; `R[:, i, f]` is row `i` of frame `f`, as for
[`spatial`](@ref).  Finishes the stream: later pushes throw, `result` may be asked
again.
"""
function result(stream::Stream)
    handle = _live(stream)
    jsize = (stream.tokens, stream.rows, stream.frames)
    if stream.cumulative
        jsize = (jsize..., _range_length(stream.range, _info(stream)[1]))
    end
    out = Array{stream.out_type}(undef, jsize)
    ov = _out_view(out, _out_code(stream.out_type))
    GC.@preserve ov begin
        _check(attnroll_stream_result(handle, Ref(_tensor(ov))))
    end
    return _result(out, stream.order)
end

function _info(stream::Stream)
    handle = _live(stream)
    pushed, held = Ref{Int64}(0), Ref{Int64}(0)
    _check(attnroll_stream_info(handle, pushed, held))
    return Int(pushed[]), Int(held[])
end

"""
    layers_pushed(stream::Stream) -> Int

The number of layers the stream has accepted.
"""
layers_pushed(stream::Stream) = _info(stream)[1]

"""
    bytes_held(stream::Stream) -> Int

The bytes of working memory the stream holds now.
"""
bytes_held(stream::Stream) = _info(stream)[2]

"""
    close(stream::Stream)

Frees the stream's memory and threads; safe to call more than once.
"""
Base.close(stream::Stream) = destroy!(stream.handle)

Base.isopen(stream::Stream) = stream.handle.ptr != C_NULL

function Base.show(io::IO, stream::Stream)
    print(io, "AttnRoll.Stream(frames = ", stream.frames, ", tokens = ", stream.tokens,
          ", rows = ", stream.rows, ", out_type = ", stream.out_type, ", ",
          isopen(stream) ? "open" : "closed", ")")
end

# --------------------------------------------------------------------------
# BLAS kernel and CPU

const _SIMD_NAMES = ("UNKNOWN", "SSE", "AVX", "AVX2", "AVX512")

_simd_name(level::Integer) = 0 <= level < length(_SIMD_NAMES) ? _SIMD_NAMES[level + 1] : "LEVEL$level"

# A NUL-terminated C string held in a fixed char array (all of it without a NUL).
function _fixed_string(chars::Tuple)
    bytes = UInt8[c % UInt8 for c in chars]
    stop = findfirst(iszero, bytes)
    return String(bytes[1:(stop === nothing ? length(bytes) : stop - 1)])
end

"""
    blas_info() -> NamedTuple

The BLAS the library uses, its kernel, and what the CPU supports
(`attnroll_blas_report`):

| field | |
|---|---|
| `blas` | the BLAS's own description, `"OpenBLAS 0.3.21 ... Prescott MAX_THREADS=64"` |
| `kernel` | the kernel in use, `"Prescott"`, `"SkylakeX"`, ... |
| `kernel_level`, `kernel_level_name` | the vector level that kernel is written for: 0 `"UNKNOWN"`, 1 `"SSE"`, 2 `"AVX"`, 3 `"AVX2"`, 4 `"AVX512"` |
| `cpu_level`, `cpu_level_name` | the best level this CPU and OS support (CPUID and XGETBV) |
| `kernel_below_cpu` | both levels known and the kernel's lower: speed left unused |
| `best_kernel` | the OpenBLAS core for `cpu_level`: `"SkylakeX"`, `"Haswell"`, `"Sandybridge"` or `""` |
| `fix` | when `kernel_below_cpu`, the setting that fixes it, `"OPENBLAS_CORETYPE=SkylakeX"`; else `""` |
| `coretype_env` | `OPENBLAS_CORETYPE` in this process's environment (`""` when unset) |

OpenBLAS reads `OPENBLAS_CORETYPE` when it is loaded: the fix must be in the
environment before Julia starts.  When the kernel is below the CPU's level, loading
AttnRoll logs one warning that gives it.
"""
function blas_info()
    ref = Ref{attnroll_blas_info}()
    _check(attnroll_blas_report(ref))
    info = ref[]
    return (blas = _fixed_string(info.blas), kernel = _fixed_string(info.kernel),
            kernel_level = Int(info.kernel_level), kernel_level_name = _simd_name(info.kernel_level),
            cpu_level = Int(info.cpu_level), cpu_level_name = _simd_name(info.cpu_level),
            kernel_below_cpu = info.kernel_below_cpu != 0, best_kernel = _fixed_string(info.best_kernel),
            fix = _fixed_string(info.fix), coretype_env = _fixed_string(info.coretype_env))
end

"""
    blas_kernel_level(core_name::AbstractString) -> Int

The vector level (0 to 4, as in [`blas_info`](@ref)) an OpenBLAS x86-64 core name is
written for, case-insensitively: 4 for `"SkylakeX"`, 1 for `"Prescott"`, 0 for a name
attnroll does not know.
"""
function blas_kernel_level(core_name::AbstractString)
    '\0' in core_name && return 0     # no core has that name
    return Int(attnroll_blas_kernel_level(String(core_name)))
end

"""
    blas_selfcheck() -> (passed::Bool, max_rel_error::Float64)

Checks the BLAS kernel in use against plain loops: single and double precision
products (both transpose settings, sizes that reach the kernels' edge cases) of fixed
pseudo-random matrices, in about a millisecond.  `passed` when every product is within
`1e-4` (single) or `1e-12` (double precision) of the exact sum, relative to
`sum |a_ik * b_kj|`; `max_rel_error` is the largest such error.  Run it before
trusting a kernel forced with `OPENBLAS_CORETYPE`.
"""
function blas_selfcheck()
    passed, max_rel_error = Ref{Int32}(0), Ref{Float64}(0.0)
    _check(attnroll_blas_selfcheck(passed, max_rel_error))
    return (passed[] != 0, max_rel_error[])
end

# The warning for a blas_info() result, or nothing when the kernel is not below the CPU's.
function _kernel_warning(info)
    info.kernel_below_cpu || return nothing
    gain = (info.kernel_level, info.cpu_level) == (1, 4) ? "about 6x faster matrix products" :
           "faster matrix products"
    instead = isempty(info.coretype_env) ? "" : " instead of OPENBLAS_CORETYPE=$(info.coretype_env)"
    return "AttnRoll: OpenBLAS uses its $(info.kernel) kernel but this CPU supports " *
           "$(info.cpu_level_name); start Julia with $(info.fix) set in the environment$instead " *
           "($gain; it cannot take effect once OpenBLAS is loaded)"
end

function __init__()
    # LibAttnRoll's __init__ has run: it loads nothing while a package image is
    # written, and then there is nothing to report.
    isempty(library_path()) && return
    message = _kernel_warning(blas_info())
    message === nothing || @warn message maxlog = 1
    return
end

end # module AttnRoll
