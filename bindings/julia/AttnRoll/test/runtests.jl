# AttnRoll test suite: the cases of the Python binding's tests
# (bindings/python/tests), against a float64 transcription of the specification
# written here, plus the Julia-specific layouts (views, PermutedDimsArray,
# transposes, reinterpreted and misaligned memory) and dimension order.
#
#   ATTNROLL_LIBRARY=$PWD/build/src/libattnroll.so.1 \
#       julia --project=bindings/julia/AttnRoll -e 'using Pkg; Pkg.test()'

using AttnRoll
using AttnRoll.LibAttnRoll
using Random
using Test

# ==========================================================================
# Reference: the specification in plain Julia, float64, in C index order
# ==========================================================================
#
# cview(x) is the C array a Julia array is (its dimensions reversed), so that
# the reference reads like include/attnroll.h: c[f, h, i, j] is the attention
# of query i to key j.  jview turns a C-order result back into the Julia order
# the binding returns.

reversed_dims(n) = ntuple(d -> n + 1 - d, n)
cview(x) = ndims(x) <= 1 ? Float64.(collect(x)) : permutedims(Float64.(collect(x)), reversed_dims(ndims(x)))
jview(c) = ndims(c) <= 1 ? copy(c) : permutedims(c, reversed_dims(ndims(c)))

ref_eye(n) = [i == j ? 1.0 : 0.0 for i in 1:n, j in 1:n]

# Divide each row by its sum; a zero sum divides by 1.
function ref_normalize_rows!(m)
    for i in 1:size(m, 1)
        s = sum(m[i, :])
        if s == 0
            s = 1.0
        end
        m[i, :] ./= s
    end
    return m
end

# [H, N, N] -> normalize_rows(mean over heads + r * I)
function ref_fuse(a, residual)
    H, N = size(a, 1), size(a, 2)
    m = zeros(N, N)
    for h in 1:H
        m .+= a[h, :, :]
    end
    m ./= H
    for i in 1:N
        m[i, i] += residual
    end
    return ref_normalize_rows!(m)
end

# mats[1], mats[2], ... -> mats[end] * ... * mats[2] * mats[1]
function ref_chain(mats)
    r = ref_eye(size(mats[1], 1))
    for m in mats
        r = m * r
    end
    return r
end

# The layers a binding layer_range selects (1-based, inclusive).
function ref_layers(count, layer_range)
    layer_range === nothing && return 1:count
    layer_range isa AbstractUnitRange && return layer_range
    b, e = layer_range
    return b:(e === nothing ? count : e)
end

# Spatial rollout; returns the Julia-order result the binding should give.
function ref_spatial(layers; query_rows = nothing, layer_range = nothing, residual = 1.0)
    cl = [cview(x) for x in layers]
    framed = ndims(cl[1]) == 4
    if !framed
        cl = [reshape(c, 1, size(c)...) for c in cl]
    end
    F, N = size(cl[1], 1), size(cl[1], 4)
    rows = query_rows === nothing ? collect(1:N) : collect(query_rows)
    out = zeros(F, length(rows), N)
    for f in 1:F
        mats = [ref_fuse(cl[l][f, :, :, :], residual) for l in ref_layers(length(cl), layer_range)]
        out[f, :, :] = ref_chain(mats)[rows, :]
    end
    return framed ? jview(out) : jview(out[1, :, :])
end

# The header's instance selection, on a C-order array; instance is 0-based.
function ref_select(a, instance)
    n = ndims(a)
    i = instance
    n == 2 && return copy(a)
    if n == 3
        if size(a, 2) == size(a, 3)
            size(a, 1) > i && return a[i + 1, :, :]
            size(a, 2) > i && return a[:, i + 1, :]
        end
        return a[1, :, :]
    end
    for axis in 1:(n - 2)
        if size(a, axis) > i
            sel = a[ntuple(d -> d == axis ? i + 1 : Colon(), n)...]   # drops that axis
            left = n - 3                                             # leading axes left over
            left == 0 && return sel
            nlead = prod(size(sel)[1:left])
            flat = reshape(sel, nlead, size(sel, n - 2), size(sel, n - 1))
            return dropdims(sum(flat; dims = 1); dims = 1) ./ nlead
        end
    end
    return a[ntuple(d -> d <= n - 2 ? 1 : Colon(), n)...]
end

function ref_temporal(layers, instance; query_rows = nothing, layer_range = nothing, residual = 1.0)
    sel = [ref_select(cview(x), instance) for x in layers]
    T = size(sel[1], 1)
    all(s -> size(s) == (T, T), sel) || error("reference: the layers do not all select [T, T]")
    mats = [ref_normalize_rows!(s + residual * ref_eye(T)) for s in sel[ref_layers(length(sel), layer_range)]]
    r = ref_chain(mats)
    rows = query_rows === nothing ? collect(1:T) : collect(query_rows)
    return jview(r[rows, :])
end

function ref_unit(x)
    lo, hi = minimum(x), maximum(x)
    span = hi - lo
    if span == 0
        span = 1.0
    end
    return (x .- lo) ./ span
end

function ref_minmax_rows(x)
    c = cview(x)
    out = similar(c)
    for i in 1:size(c, 1)
        out[i, :] = ref_unit(c[i, :])
    end
    return jview(out)
end

ref_column_mean(x) = (c = cview(x); vec(sum(c; dims = 1)) ./ size(c, 1))
ref_minmax(x) = ref_unit(Float64.(collect(x)))

# ==========================================================================
# Helpers
# ==========================================================================

const TOL = Dict{DataType,Float64}(Float32 => 2e-6, Float64 => 1e-12)
const OUTS = (Float32, Float64)

# A generator seeded from a name, so that every test set is reproducible.
rng_for(name) = MersenneTwister(sum(Int(c) * k for (k, c) in enumerate(name)) % 2^32)

# Softmax attention over the FIRST Julia dimension (C's last: the keys) with
# sharp peaks, like real ViT maps.
function peaky(rng, dims...; T = Float32, temperature = 0.15)
    logits = randn(rng, dims...) ./ temperature
    logits .-= maximum(logits; dims = 1)
    p = exp.(logits)
    p ./= sum(p; dims = 1)
    return T.(p)
end

make_layers(rng; L = 4, F = 2, H = 3, N = 9, T = Float32) = [peaky(rng, N, N, H, F; T = T) for _ in 1:L]

# got (a binding result) against the float64 reference want.
function close_enough(got, want, T = eltype(got))
    if eltype(got) !== T
        @warn "element type $(eltype(got)), expected $T"
        return false
    end
    if size(got) != size(want)
        @warn "size $(size(got)), expected $(size(want))"
        return false
    end
    err = isempty(want) ? 0.0 : maximum(abs.(Float64.(got) .- want))
    err <= TOL[T] || @warn "max abs error $err > $(TOL[T]) ($T)"
    return err <= TOL[T]
end

maxdiff(a, b) = maximum(abs.(Float64.(a) .- Float64.(b)))

# true when f() throws an AttnRollError with this status whose message holds
# every one of words (case-insensitively).
function throws(f, status, words...)
    err = try
        f()
        nothing
    catch e
        e
    end
    if !(err isa AttnRollError)
        @warn "expected an AttnRollError with status $status, got $(repr(err))"
        return false
    end
    if err.status != status
        @warn "status $(err.status) ($(err.name)), expected $status: $(err.message)"
        return false
    end
    for w in words
        if !occursin(lowercase(w), lowercase(err.message))
            @warn "$(repr(w)) is not in the message $(repr(err.message))"
            return false
        end
    end
    return true
end

# true when f() throws an ArgumentError whose message holds every one of words.
function argerror(f, words...)
    err = try
        f()
        nothing
    catch e
        e
    end
    if !(err isa ArgumentError)
        @warn "expected an ArgumentError, got $(repr(err))"
        return false
    end
    return all(w -> occursin(lowercase(w), lowercase(err.msg)), words)
end

# bfloat16 bit patterns of float values: :truncate keeps the upper 16 bits of
# the binary32, :round rounds to nearest even (finite values).
function to_bf16(x::Real, mode::Symbol = :round)
    u = reinterpret(UInt32, Float32(x))
    mode === :truncate && return UInt16(u >> 16)
    lsb = (u >> 16) & 0x00000001
    return UInt16((u + 0x00007fff + lsb) >> 16)
end

bf16_to_f64(b::Union{UInt16,Int16}) = Float64(reinterpret(Float32, UInt32(reinterpret(UInt16, b)) << 16))

# A read-only array whose broadcast dimensions have stride 0: the memory of
# `parent` (extent 1 there) seen at a larger size, as numpy's broadcast_to does.
# It has `strides` and `pointer`, so AttnRoll reads it in place.
struct ZeroStride{T,N} <: AbstractArray{T,N}
    parent::Array{T,N}
    dims::NTuple{N,Int}
end
Base.size(z::ZeroStride) = z.dims
Base.getindex(z::ZeroStride{T,N}, I::Vararg{Int,N}) where {T,N} =
    z.parent[ntuple(d -> size(z.parent, d) == 1 ? 1 : I[d], N)...]
Base.strides(z::ZeroStride) = ntuple(d -> size(z.parent, d) == 1 ? 0 : stride(z.parent, d), ndims(z))
Base.unsafe_convert(::Type{Ptr{T}}, z::ZeroStride{T}) where {T} = pointer(z.parent)
Base.elsize(::Type{ZeroStride{T,N}}) where {T,N} = sizeof(T)

# The same values with the memory in reversed (row-major) order: the Julia
# counterpart of a numpy Fortran-ordered array.
rowmajor(x) = PermutedDimsArray(permutedims(x, reversed_dims(ndims(x))), reversed_dims(ndims(x)))

# The values of x stored one byte past an aligned address: read through
# reinterpret, the library cannot take the memory as it is.
function misaligned(x::Array{T}) where {T}
    bytes = zeros(UInt8, sizeof(x) + 1)
    copyto!(bytes, 2, reinterpret(UInt8, vec(x)), 1, sizeof(x))
    return reshape(reinterpret(T, view(bytes, 2:length(bytes))), size(x))
end

meanover(x, dims) = dropdims(sum(x; dims = dims); dims = dims) ./ prod(size(x, d) for d in dims)

# ==========================================================================

@testset "AttnRoll" begin

@testset "raw LibAttnRoll" begin
    @test attnroll_version_number() == ATTNROLL_VERSION_NUMBER
    @test unsafe_string(attnroll_version_string()) == ATTNROLL_VERSION_STRING
    @test AttnRoll.version_number() == 10000
    @test ATTNROLL_VERSION_STRING == "1.0.0"

    path = AttnRoll.library_path()
    @test path isa String && isfile(path)
    wanted = get(ENV, "ATTNROLL_LIBRARY", "")
    if !isempty(wanted)
        @test samefile(path, wanted)
    end

    status_names = ["ATTNROLL_OK", "ATTNROLL_E_ARGUMENT", "ATTNROLL_E_SHAPE", "ATTNROLL_E_DTYPE",
             "ATTNROLL_E_OVERLAP", "ATTNROLL_E_MEMORY", "ATTNROLL_E_STATE", "ATTNROLL_E_INTERNAL"]
    statuses = [ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE, ATTNROLL_E_DTYPE,
                ATTNROLL_E_OVERLAP, ATTNROLL_E_MEMORY, ATTNROLL_E_STATE, ATTNROLL_E_INTERNAL]
    @test statuses == Int32.(0:7)
    for (status, name) in zip(statuses, status_names)
        @test unsafe_string(attnroll_status_string(status)) == name
    end
    @test unsafe_string(attnroll_status_string(99)) == "unknown status"
    @test unsafe_string(attnroll_last_error()) == ""

    @test attnroll_dtype_size(ATTNROLL_F32) == 4
    @test attnroll_dtype_size(ATTNROLL_F64) == 8
    @test attnroll_dtype_size(ATTNROLL_F16) == 2
    @test attnroll_dtype_size(ATTNROLL_BF16) == 2
    @test attnroll_dtype_size(0) == 0
    @test attnroll_max_ndim() == ATTNROLL_MAX_NDIM == 16

    kind, lower, upper = Ref{Int32}(0), Ref{Cdouble}(0), Ref{Cdouble}(0)
    @test attnroll_option_info(ATTNROLL_OPT_QUERY_ROWS, kind, lower, upper) == ATTNROLL_OK
    @test kind[] == ATTNROLL_OPTION_INTS && lower[] == 0
    @test attnroll_option_info(ATTNROLL_OPT_THREADS, kind, lower, upper) == ATTNROLL_OK
    @test kind[] == ATTNROLL_OPTION_INT && (lower[], upper[]) == (0.0, 1024.0)
    @test attnroll_option_info(ATTNROLL_OPT_RESIDUAL, kind, lower, upper) == ATTNROLL_OK
    @test kind[] == ATTNROLL_OPTION_FLOAT && (lower[], upper[]) == (0.0, 1e6)
    @test attnroll_option_info(ATTNROLL_OPT_LAYER_END, kind, lower, upper) == ATTNROLL_OK
    @test kind[] == ATTNROLL_OPTION_INT && lower[] == -1
    @test attnroll_option_info(99, C_NULL, C_NULL, C_NULL) == ATTNROLL_E_ARGUMENT
    @test occursin("99", unsafe_string(attnroll_last_error()))

    # a config through the raw functions, owned by a ConfigHandle
    ref = Ref{Ptr{attnroll_config}}(C_NULL)
    @test attnroll_config_create(ref) == ATTNROLL_OK
    config = ConfigHandle(ref[])
    @test config.ptr != C_NULL
    @test attnroll_config_set_ints(config, ATTNROLL_OPT_QUERY_ROWS, Int64[0, 3], 2) == ATTNROLL_OK
    nvals = Ref{Int64}(-1)
    @test attnroll_config_get_ints(config, ATTNROLL_OPT_QUERY_ROWS, C_NULL, 0, nvals) == ATTNROLL_OK
    @test nvals[] == 2
    vals = zeros(Int64, 2)
    @test attnroll_config_get_ints(config, ATTNROLL_OPT_QUERY_ROWS, vals, 2, nvals) == ATTNROLL_OK
    @test vals == [0, 3]
    value = Ref{Int64}(0)
    @test attnroll_config_set_int(config, ATTNROLL_OPT_THREADS, 2) == ATTNROLL_OK
    @test attnroll_config_get_int(config, ATTNROLL_OPT_THREADS, value) == ATTNROLL_OK
    @test value[] == 2
    fvalue = Ref{Cdouble}(0)
    @test attnroll_config_set_float(config, ATTNROLL_OPT_RESIDUAL, 0.5) == ATTNROLL_OK
    @test attnroll_config_get_float(config, ATTNROLL_OPT_RESIDUAL, fvalue) == ATTNROLL_OK
    @test fvalue[] == 0.5
    @test attnroll_config_set_float(config, ATTNROLL_OPT_THREADS, 1.0) == ATTNROLL_E_ARGUMENT
    @test attnroll_config_set_int(config, ATTNROLL_OPT_THREADS, 1025) == ATTNROLL_E_ARGUMENT
    @test occursin("THREADS", unsafe_string(attnroll_last_error()))
    destroy!(config)
    @test config.ptr == C_NULL
    destroy!(config)                 # a second destroy is a no-op
    finalize(config)                 # and so is the finalizer after it
    @test config.ptr == C_NULL

    # the tensor struct has the C layout
    @test isbitstype(attnroll_tensor)
    @test sizeof(attnroll_tensor) == 32
    @test fieldnames(attnroll_tensor) == (:data, :dtype, :ndim, :shape, :strides)
    @test [fieldoffset(attnroll_tensor, k) for k in 1:5] == [0, 8, 12, 16, 24]

    # the README's C example through the raw API: a Julia (3, 3, 1) array is the
    # C-contiguous [1, 3, 3] layer, so the strides may be NULL
    a0 = Float32[1 0 0; 0.5 0.5 0; 0.2 0.3 0.5]
    a1 = Float32[0 1 0; 0 0 1; 1 0 0]
    l0, l1 = reshape(permutedims(a0), 3, 3, 1), reshape(permutedims(a1), 3, 3, 1)
    r = zeros(Float32, 9)
    lshape, oshape = Int64[1, 3, 3], Int64[3, 3]
    GC.@preserve l0 l1 r lshape oshape begin
        tensors = [attnroll_tensor(pointer(l0), ATTNROLL_F32, 3, pointer(lshape), C_NULL),
                   attnroll_tensor(pointer(l1), ATTNROLL_F32, 3, pointer(lshape), C_NULL)]
        out = Ref(attnroll_tensor(pointer(r), ATTNROLL_F32, 2, pointer(oshape), C_NULL))
        @test attnroll_spatial(tensors, 2, C_NULL, out) == ATTNROLL_OK
    end
    @test maxdiff(r[1:3], [0.625, 0.375, 0.0]) < 1e-6      # row 0 of R, row-major
    @test maxdiff(r[4:6], [0.175, 0.45, 0.375]) < 1e-6

    # a stream handle: destroy! twice and the finalizer after it are harmless
    sref = Ref{Ptr{attnroll_stream}}(C_NULL)
    @test attnroll_stream_create(C_NULL, 1, 4, ATTNROLL_F32, sref) == ATTNROLL_OK
    handle = StreamHandle(sref[])
    pushed = Ref{Int64}(-1)
    @test attnroll_stream_info(handle, pushed, C_NULL) == ATTNROLL_OK
    @test pushed[] == 0
    destroy!(handle)
    destroy!(handle)
    finalize(handle)
    @test handle.ptr == C_NULL
    @test attnroll_stream_info(handle, pushed, C_NULL) == ATTNROLL_E_ARGUMENT   # NULL stream
end

@testset "in-place views" begin
    # which inputs are read where they are (owner === x) and with what C strides
    a = rand(Float32, 2, 3, 4)
    v = AttnRoll._view(a, "x")
    @test v.owner === a && v.shape == [4, 3, 2] && v.strides == [6, 2, 1] && v.dtype == ATTNROLL_F32
    p = PermutedDimsArray(a, (2, 1, 3))
    v = AttnRoll._view(p, "x")
    @test v.owner === p && v.shape == [4, 2, 3] && v.strides == [6, 1, 2]
    s = view(a, 2:-1:1, :, 1:2:4)
    v = AttnRoll._view(s, "x")
    @test v.owner === s && v.shape == [2, 3, 2] && v.strides == [12, 2, -1]
    @test v.ptr == Ptr{Cvoid}(pointer(a, 2))
    m = rand(Float64, 3, 5)
    t = transpose(m)
    v = AttnRoll._view(t, "x")
    @test v.owner === t && v.shape == [3, 5] && v.strides == [1, 3]
    z = ZeroStride(rand(Float16, 4, 1), (4, 6))
    v = AttnRoll._view(z, "x")
    @test v.owner === z && v.strides == [0, 1] && v.dtype == ATTNROLL_F16
    b = reinterpret(Int16, rand(UInt16, 3, 3))
    v = AttnRoll._view(b, "x", :bfloat16)
    @test v.owner == b && v.dtype == ATTNROLL_BF16 && v.shape == [3, 3]
    # not strided, or misaligned: copied (collect), with the same values
    g = view(a, [2, 1], :, :)
    v = AttnRoll._view(g, "x")
    @test v.owner isa Array && v.owner !== g && v.owner == g
    mis = misaligned(rand(Float32, 4, 4))
    v = AttnRoll._view(mis, "x")
    @test v.owner isa Array && v.owner == mis && UInt(v.ptr) % 4 == 0

    # nothing the size of the input is allocated for strided inputs
    rng = rng_for("zero copy")
    layers = [PermutedDimsArray(peaky(rng, 64, 64, 8, 2), (2, 1, 3, 4)) for _ in 1:4]   # 1 MiB
    spatial(layers)
    bytes = @allocated spatial(layers)
    @test bytes < 64 * 64 * 2 * 4 + 200_000
end

@testset "spatial" begin
    rng = rng_for("spatial")

    @testset "full rollout, framed" begin
        for T in OUTS
            layers = make_layers(rng)
            got = spatial(layers; out_type = T)
            @test got isa Array{T,3}
            @test size(got) == (9, 9, 2)
            @test close_enough(got, ref_spatial(layers), T)
        end
        @test eltype(spatial(make_layers(rng; L = 2))) == Float32     # the default
    end

    @testset "unframed layers give a matrix" begin
        for T in OUTS
            layers = [peaky(rng, 7, 7, 4) for _ in 1:3]
            got = spatial(layers; out_type = T)
            @test size(got) == (7, 7)
            @test close_enough(got, ref_spatial(layers), T)
        end
    end

    @testset "rollout rows sum to one" begin
        # each row of R is a column here; every Abar is row-stochastic
        got = spatial(make_layers(rng; L = 6, N = 17); out_type = Float64)
        @test maximum(abs.(sum(got; dims = 1) .- 1)) <= 1e-12
    end

    @testset "README example, both orders" begin
        a0 = [1 0 0; 0.5 0.5 0; 0.2 0.3 0.5]      # row i = query i (mathematical order)
        a1 = [0 1 0; 0 0 1; 1 0 0]
        native = [reshape(Float32.(permutedims(a)), 3, 3, 1) for a in (a0, a1)]
        got = spatial(native; out_type = Float64)
        @test maxdiff(got[:, 1], [0.625, 0.375, 0.0]) < 1e-6     # row 1 of R is column 1
        @test maxdiff(got[:, 2], [0.175, 0.45, 0.375]) < 1e-6
        @test close_enough(got, ref_spatial(native), Float64)
        math = [reshape(Float32.(a), 3, 3, 1) for a in (a0, a1)]
        m = spatial(math; out_type = Float64, order = :math)
        @test maxdiff(m[1, :], [0.625, 0.375, 0.0]) < 1e-6       # row 1 of R is row 1
        @test maxdiff(m[2, :], [0.175, 0.45, 0.375]) < 1e-6
        @test mathorder(got) == permutedims(got)
        @test maxdiff(m, mathorder(got)) <= 1e-15       # the same numbers, read through other strides
        @test mathorder(mathorder(got)) == got
        cls = spatial(math; query_rows = [1], out_type = Float64, order = :math)
        @test size(cls) == (1, 3) && maxdiff(cls[1, :], [0.625, 0.375, 0.0]) < 1e-6
    end

    @testset "vector, tuple and stacked layers agree" begin
        layers = make_layers(rng; L = 3)
        from_list = spatial(layers; out_type = Float64)
        from_tuple = spatial(Tuple(layers); out_type = Float64)
        from_stack = spatial(cat(layers...; dims = 5); out_type = Float64)   # (N, N, H, F, L)
        @test from_list == from_tuple
        @test maxdiff(from_list, from_stack) <= 1e-15
    end

    @testset "single layer, single token" begin
        layers = make_layers(rng; L = 1)
        @test close_enough(spatial(layers; out_type = Float64), ref_spatial(layers), Float64)
        ones_layers = [ones(Float32, 1, 1, 3, 2) for _ in 1:2]
        @test spatial(ones_layers) == ones(Float32, 1, 1, 2)
    end

    @testset "query rows are 1-based" begin
        for rows in ([1], [4, 1, 4], collect(9:-1:1)), T in OUTS
            layers = make_layers(rng; L = 5)
            got = spatial(layers; query_rows = rows, out_type = T)
            @test size(got) == (9, length(rows), 2)
            @test close_enough(got, ref_spatial(layers; query_rows = rows), T)
            full = spatial(layers; out_type = T)
            @test maxdiff(got, full[:, rows, :]) <= (T === Float32 ? 1e-5 : 1e-13)
        end
        layers = [peaky(rng, 6, 6, 2) for _ in 1:3]
        got = spatial(layers; query_rows = (6, 2), out_type = Float64)
        @test size(got) == (6, 2)
        @test close_enough(got, ref_spatial(layers; query_rows = [6, 2]), Float64)
        layers = make_layers(rng; L = 2)
        for rows in (1:3, [3, 1], Int32[5], (Int16(2),), UInt8[2, 2])
            got = spatial(layers; query_rows = rows, out_type = Float64)
            @test close_enough(got, ref_spatial(layers; query_rows = Int.(collect(rows))), Float64)
        end
    end

    @testset "layer ranges are 1-based" begin
        for lr in (1:4, (2, nothing), 1:2, 2:3, 4:4, (3, nothing), (1, 4)), T in OUTS
            layers = make_layers(rng; L = 4)
            got = spatial(layers; layer_range = lr, out_type = T)
            @test close_enough(got, ref_spatial(layers; layer_range = lr), T)
        end
        layers = make_layers(rng; L = 5)
        got = spatial(layers; layer_range = 2:4, query_rows = [1, 3], out_type = Float64)
        @test close_enough(got, ref_spatial(layers; layer_range = 2:4, query_rows = [1, 3]), Float64)
        # layers outside the range are checked for shape but their values are not read
        layers = make_layers(rng; L = 3)
        poisoned = [layers[1], layers[2], fill(NaN32, size(layers[3]))]
        got = spatial(poisoned; layer_range = 1:2, out_type = Float64)
        @test close_enough(got, ref_spatial(layers; layer_range = 1:2), Float64)
    end

    @testset "residual" begin
        for residual in (0.0, 0.5, 2.5, 1e6), T in OUTS
            layers = make_layers(rng; L = 3)
            got = spatial(layers; residual = residual, out_type = T)
            @test close_enough(got, ref_spatial(layers; residual = residual), T)
        end
        layers = make_layers(rng; L = 3)
        a = spatial(layers; out_type = Float64)
        b = spatial(layers; residual = 1.0, threads = 1, out_type = Float64)
        @test maxdiff(a, b) <= 1e-15
        # with r = 0 a zero attention row (a zero column here) stays zero
        layers = make_layers(rng; L = 2, F = 1, H = 2, N = 5, T = Float64)
        layers[1][:, 3, :, :] .= 0
        layers[2][:, 5, :, :] .= 0
        got = spatial(layers; residual = 0.0, out_type = Float64)
        want = ref_spatial(layers; residual = 0.0)
        @test all(want[:, 5, 1] .== 0)
        @test close_enough(got, want, Float64)
        # all-zero attention plus the residual is the identity
        zero_layers = [zeros(Float32, 4, 4, 2, 1) for _ in 1:3]
        @test spatial(zero_layers) == reshape(Float32.(ref_eye(4)), 4, 4, 1)
    end

    @testset "threads do not change the result" begin
        layers = make_layers(rng; L = 3, F = 3, N = 20)
        want = ref_spatial(layers)
        for threads in (0, 1, 2, 3, 1024)
            @test close_enough(spatial(layers; threads = threads, out_type = Float64), want, Float64)
        end
    end

    @testset "inputs are not modified; outputs are new" begin
        layers = make_layers(rng; L = 3)
        copies = deepcopy(layers)
        got = spatial(layers)
        again = spatial(layers)
        @test layers == copies
        @test got == again && got !== again
        got .= 0
        @test layers == copies
    end

    @testset "element types may differ between layers" begin
        base = make_layers(rng; L = 3, T = Float64)
        layers = Any[Float16.(base[1]), Float32.(base[2]), base[3]]
        @test close_enough(spatial(layers; out_type = Float64), ref_spatial(layers), Float64)
    end

    @testset "ViT-like CLS row" begin
        layers = make_layers(rng; L = 8, F = 2, H = 4, N = 33)
        want = ref_spatial(layers; query_rows = [1])
        @test close_enough(spatial(layers; query_rows = [1], out_type = Float64), want, Float64)
        @test close_enough(spatial(layers; query_rows = [1]), want, Float32)
    end
end

@testset "layouts" begin
    rng = rng_for("layouts")
    L, F, H, N = 3, 2, 3, 8
    base(dims...) = peaky(rng, dims...; T = Float64)
    slices(stack) = [stack[:, :, :, :, l] for l in 1:size(stack, 5)]

    @testset "element types" begin
        for T in (Float16, Float32, Float64), out in OUTS
            stack = T.(base(N, N, H, F, L))
            want = ref_spatial(slices(stack))
            @test close_enough(spatial(slices(stack); out_type = out), want, out)
            @test close_enough(spatial(stack; out_type = out), want, out)
        end
    end

    @testset "bfloat16 bits" begin
        for out in OUTS, mode in (:round, :truncate), B in (UInt16, Int16)
            bits = reinterpret(B, to_bf16.(base(N, N, H, F, L), mode))
            exact = [bf16_to_f64.(collect(x)) for x in slices(bits)]
            got = spatial(slices(bits); dtype = :bfloat16, out_type = out)
            @test close_enough(got, ref_spatial(exact), out)
            @test spatial(bits; dtype = :bfloat16, out_type = out) == got
            @test spatial(slices(bits); dtype = "bfloat16", out_type = out) == got
        end
        x = Float32[1.0, -2.5, 0.0, 0.15625, ldexp(1f0, 100), -ldexp(1f0, -126), ldexp(3f0, -130)]
        for mode in (:round, :truncate)
            @test bf16_to_f64.(to_bf16.(x, mode)) == Float64.(x)
        end
        @test to_bf16(1f0 + ldexp(1f0, -8) + ldexp(1f0, -9), :round) == 0x3f81
        @test to_bf16(1f0 + ldexp(1f0, -8) + ldexp(1f0, -9), :truncate) == 0x3f80
        # a strided, reversed, transposed view of bits
        bits = to_bf16.(base(2N, 2N, H, F, L))
        v = PermutedDimsArray(view(bits, 1:2:2N, 2:2:2N, :, :, L:-1:1), (2, 1, 3, 4, 5))
        exact = [bf16_to_f64.(collect(x)) for x in slices(v)]
        for out in OUTS
            @test close_enough(spatial(v; dtype = :bfloat16, out_type = out), ref_spatial(exact), out)
        end
    end

    @testset "strided views, element type $T, output $out" for T in (Float16, Float32, Float64), out in OUTS
        a = T.(base(N, N, H, F, L))
        big = T.(base(2N, 2N, H, F, L))
        one_head = T.(base(N, N, 1, F, L))
        layouts = Any[     # Any[]: a typed literal could convert the arrays to a common type
            ("contiguous vector", slices(a)),
            ("stacked", a),
            ("matrix dimensions swapped", [PermutedDimsArray(x, (2, 1, 3, 4)) for x in slices(a)]),
            ("stacked, swapped", PermutedDimsArray(a, (2, 1, 3, 4, 5))),
            ("reversed layers", view(a, :, :, :, :, L:-1:1)),
            ("reversed frames, heads, rows", [view(a, :, N:-1:1, H:-1:1, F:-1:1, l) for l in 1:L]),
            ("reversed columns", [view(a, N:-1:1, :, :, :, l) for l in 1:L]),
            ("every other row and column", [view(big, 1:2:2N, 1:2:2N, :, :, l) for l in 1:L]),
            ("offset slices", [view(big, 4:N + 3, 2:2:2N, :, :, l) for l in 1:L]),
            ("stacked slice", view(big, 2:2:2N, 1:2:2N, :, :, :)),
            ("broadcast over heads", [ZeroStride(one_head[:, :, :, :, l], (N, N, H, F)) for l in 1:L]),
            ("broadcast over frames", [ZeroStride(a[:, :, :, 1:1, l], (N, N, H, F)) for l in 1:L]),
            ("broadcast layers", ZeroStride(a[:, :, :, :, 1:1], (N, N, H, F, L))),
            ("row-major memory", [rowmajor(x) for x in slices(a)]),
            ("row-major stacked", rowmajor(a)),
            ("layer axis not outermost", PermutedDimsArray(permutedims(a, (1, 2, 3, 5, 4)), (1, 2, 3, 5, 4))),
            ("reshaped contiguous view", [reshape(view(vec(x), :), size(x)) for x in slices(a)]),
            ("not strided (copied)", [view(x, [2, 1, 3, 4, 5, 6, 7, 8], :, :, :) for x in slices(a)]),
            ("misaligned (copied)", [misaligned(x) for x in slices(a)]),
        ]
        for (name, layers) in layouts
            list = layers isa AbstractArray{<:Number} ? [selectdim(layers, 5, l) for l in 1:L] : layers
            exact = [Float64.(collect(x)) for x in list]
            ok = close_enough(spatial(layers; out_type = out), ref_spatial(exact), out) &&
                 close_enough(spatial(layers; query_rows = [1, N], out_type = out),
                              ref_spatial(exact; query_rows = [1, N]), out)
            ok || @warn "layout $(repr(name)) failed"
            @test ok
        end
    end

    @testset "zero strides everywhere" begin
        m = Float32.(base(N, N))
        stack = ZeroStride(reshape(m, N, N, 1, 1, 1), (N, N, H, F, L))
        @test strides(stack) == (1, N, 0, 0, 0)
        exact = [repeat(Float64.(m), 1, 1, H, F) for _ in 1:L]
        constant = ZeroStride(fill(0.25f0, 1, 1, 1, 1, 1), (N, N, H, F, L))
        for out in OUTS
            @test close_enough(spatial(stack; out_type = out), ref_spatial(exact), out)
            @test close_enough(spatial(constant; out_type = out),
                               ref_spatial([fill(0.25, N, N, H, F) for _ in 1:L]), out)
        end
    end

    @testset "temporal layouts" begin
        T = 7
        big = base(2T, 2T, 3, 4)                                             # C [4, 3, 2T, 2T]
        layers = Any[
            view(Float16.(big), 1:2:2T, 1:2:2T, 1, 1),                        # (T, T) strided half
            PermutedDimsArray(view(big, 2:2:2T, 1:2:2T, :, 2), (2, 1, 3)),    # (T, T, 3) transposed
            ZeroStride(reshape(big[1:T, 1:T, 1, 3], T, T, 1, 1), (T, T, 5, 2)),  # zero strides
            rowmajor(Float32.(big[1:T, 1:T, :, 4])),                         # (T, T, 3) row-major
            big[T + 1:2T, T + 1:2T, :, 1],                                   # (T, T, 3) plain
            transpose(big[1:T, T + 1:2T, 2, 2]),                             # (T, T) Transpose
        ]
        exact = [Float64.(collect(x)) for x in layers]
        for instance in (0, 1, 2, 9), out in OUTS
            @test close_enough(temporal(layers, instance; out_type = out), ref_temporal(exact, instance), out)
        end
    end

    @testset "temporal bfloat16" begin
        a = base(6, 6, 3, 2, 4)                     # four layers of C [2, 3, 6, 6]
        bits = to_bf16.(a)
        exact = [bf16_to_f64.(bits[:, :, :, :, l]) for l in 1:4]
        @test close_enough(temporal(bits, 1; dtype = :bfloat16), ref_temporal(exact, 1), Float64)
    end
end

@testset "select_instance" begin
    rng = rng_for("select_instance")
    T = 6
    # (Julia size, instance, expected selection in Julia indexing); C sizes reversed
    cases = [
        ((T, T), 0, a -> a),
        ((T, T), 9, a -> a),
        ((T, T, 3), 0, a -> a[:, :, 1]),
        ((T, T, 3), 2, a -> a[:, :, 3]),
        ((T, T, 3), 6, a -> a[:, :, 1]),        # neither C axis > 6: A[0]
        ((T, T, 3), 3, a -> a[:, 4, :]),        # C A[:, 3, :], a (T, 3) here
        ((5, 5, 2), 3, a -> a[:, 4, :]),
        ((5, 5, 2), 1, a -> a[:, :, 2]),
        ((5, 5, 2), 7, a -> a[:, :, 1]),
        ((4, 5, 2), 1, a -> a[:, :, 1]),        # C [2, 5, 4]: not square, A[0]
        ((4, 5, 2), 0, a -> a[:, :, 1]),
        ((T, T, 4, 3), 1, a -> meanover(a[:, :, :, 2], (3,))),     # index C axis 0, average heads
        ((T, T, 4, 2), 3, a -> meanover(a[:, :, 4, :], (3,))),     # C axis 1 is the first > 3
        ((T, T, 3, 2), 5, a -> a[:, :, 1, 1]),                     # none > 5: the first slice
        ((T, T, 1, 1), 0, a -> a[:, :, 1, 1]),
        ((T, T, 4, 3, 2), 1, a -> meanover(a[:, :, :, :, 2], (3, 4))),
        ((T, T, 4, 3, 2), 2, a -> meanover(a[:, :, :, 3, :], (3, 4))),
        ((T, T, 4, 3, 2), 3, a -> meanover(a[:, :, 4, :, :], (3, 4))),
        ((T, T, 4, 3, 2), 4, a -> a[:, :, 1, 1, 1]),
        ((T, T, 2, 1, 1, 1), 1, a -> a[:, :, 2, 1, 1, 1]),
        ((T, T, 2, 1, 1, 2), 1, a -> meanover(a[:, :, :, :, :, 2], (3, 4, 5))),
    ]
    for (dims, instance, pick) in cases, out in OUTS
        a = randn(rng, dims...)
        want = pick(a)
        @test maxdiff(jview(ref_select(cview(a), instance)), want) <= 1e-14   # the reference agrees
        got = select_instance(Float32.(a), instance; out_type = out)
        @test close_enough(got, pick(Float64.(Float32.(a))), out)
    end
    @test eltype(select_instance(rand(Float32, T, T, 2), 1)) == Float64
    a = rand(rng, T, T, 2, 3)
    h = Float16.(a)
    @test close_enough(select_instance(h, 2), jview(ref_select(cview(h), 2)), Float64)
    bits = to_bf16.(a)
    @test close_enough(select_instance(bits, 2; dtype = :bfloat16),
                       jview(ref_select(cview(bf16_to_f64.(bits)), 2)), Float64)
    big = randn(rng, 2T, 2T, 3, 4)
    v = PermutedDimsArray(view(big, 2:2:2T, 1:2:2T, :, 4:-1:1), (2, 1, 3, 4))
    @test close_enough(select_instance(v, 1), jview(ref_select(cview(v), 1)), Float64)
    # order = :math: the matrix read as (query, key) and returned the same way
    m = randn(rng, T, T, 3)
    @test select_instance(m, 1; order = :math) == permutedims(select_instance(PermutedDimsArray(m, (2, 1, 3)), 1))
    @test select_instance(m, 1; order = :math) == m[:, :, 2]
end

@testset "temporal" begin
    rng = rng_for("temporal")
    T = 6
    mixed(; E = Float32) = Any[peaky(rng, T, T; T = E), peaky(rng, T, T, 3; T = E),
                               peaky(rng, T, T, 4, 3; T = E), peaky(rng, T, T, 2, 3, 2; T = E),
                               peaky(rng, T, T, 5; T = E)]

    @testset "mixed ranks" begin
        # instances 3..5 would select C A[:, i, :] ([3, T]) from the (T, T, 3) layer: see errors
        for instance in (0, 1, 2, 7, 100), out in OUTS
            layers = mixed()
            got = temporal(layers, instance; out_type = out)
            @test size(got) == (T, T)
            @test close_enough(got, ref_temporal(layers, instance), out)
        end
        @test eltype(temporal(mixed(), 1)) == Float64
        for I in (Int32(2), UInt8(2), big(2))
            layers = mixed()
            @test temporal(layers, I) == temporal(layers, 2)
        end
    end

    @testset "stacked layers" begin
        stack = peaky(rng, T, T, 2, 3, 7)               # seven layers of C [3, 2, T, T]
        list = [stack[:, :, :, :, l] for l in 1:7]
        got = temporal(stack, 1)
        @test close_enough(got, ref_temporal(list, 1), Float64)
        @test maxdiff(got, temporal(list, 1)) <= 1e-15
        matrices = peaky(rng, T, T, 4; T = Float64)     # four [T, T] layers
        @test close_enough(temporal(matrices, 0), ref_temporal([matrices[:, :, l] for l in 1:4], 0), Float64)
    end

    @testset "layer ranges, query rows, residual" begin
        for lr in ((2, nothing), 1:3, 3:5, (5, nothing))
            layers = mixed()
            @test close_enough(temporal(layers, 1; layer_range = lr), ref_temporal(layers, 1; layer_range = lr), Float64)
        end
        for rows in ([1], [6, 1, 6], T:-1:1), out in OUTS
            layers = mixed()
            got = temporal(layers, 2; query_rows = rows, out_type = out)
            @test size(got) == (T, length(rows))
            @test close_enough(got, ref_temporal(layers, 2; query_rows = rows), out)
        end
        for residual in (0.0, 0.25, 3.0)
            layers = mixed()
            got = temporal(layers, 1; residual = residual, threads = 1)
            @test close_enough(got, ref_temporal(layers, 1; residual = residual), Float64)
        end
        layers = [peaky(rng, T, T; T = Float64) for _ in 1:3]
        layers[2][:, 3] .= 0                            # C row 2 of layer 1
        @test close_enough(temporal(layers, 0; residual = 0.0), ref_temporal(layers, 0; residual = 0.0), Float64)
    end

    @testset "element types, single layer, order" begin
        base = mixed(; E = Float64)
        layers = Any[Float16.(base[1]), base[2], Float32.(base[3]), base[4], base[5]]
        @test close_enough(temporal(layers, 1), ref_temporal(layers, 1), Float64)
        a = peaky(rng, T, T, 3, 2; T = Float64)         # C [2, 3, T, T]
        sel = meanover(a[:, :, :, 2], (3,)) + ref_eye(T)
        @test close_enough(temporal([a], 1), sel ./ sum(sel; dims = 1), Float64)   # columns are rows
        copies = deepcopy(base)
        temporal(base, 2)
        @test base == copies
        math = [permutedims(x, (2, 1, 3:ndims(x)...)) for x in base]
        @test maxdiff(temporal(math, 1; order = :math), mathorder(temporal(base, 1))) <= 1e-15
    end
end

@testset "post-processing" begin
    rng = rng_for("post")

    @testset "minmax_rows scales each rollout row (a column here)" begin
        for E in (Float16, Float32, Float64), out in OUTS
            x = E.(3 .* randn(rng, 11, 5))              # C [5, 11]
            got = minmax_rows(x; out_type = out)
            @test size(got) == (11, 5)
            @test close_enough(got, ref_minmax_rows(x), out)
            @test all(minimum(got; dims = 1) .== 0) && all(maximum(got; dims = 1) .== 1)
        end
        x = rand(rng, 6, 4)
        x[:, 2] .= 0.25
        x[:, 4] .= 0
        got = minmax_rows(x)
        @test all(got[:, 2] .== 0) && all(got[:, 4] .== 0)
        @test close_enough(got, ref_minmax_rows(x), Float64)
        x = rand(rng, 5, 3)
        x[3, 2] = NaN
        got = minmax_rows(x)
        @test all(isnan, got[:, 2])
        @test !any(isnan, got[:, [1, 3]])
        @test close_enough(got[:, [1, 3]], ref_minmax_rows(x[:, [1, 3]]), Float64)
        @test minmax_rows(rand(rng, 1, 4)) == zeros(1, 4)
        x = rand(rng, 9, 1)
        @test close_enough(minmax_rows(x), ref_minmax_rows(x), Float64)
        m = randn(rng, 4, 7)
        @test minmax_rows(m; order = :math) == permutedims(minmax_rows(permutedims(m)))
        @test all(minimum(minmax_rows(m; order = :math); dims = 2) .== 0)
    end

    @testset "column_mean is the mean over rollout rows" begin
        for E in (Float16, Float32, Float64), out in OUTS
            x = E.(randn(rng, 5, 7))                     # C [7, 5]
            got = column_mean(x; out_type = out)
            @test size(got) == (5,)
            @test close_enough(got, ref_column_mean(x), out)
        end
        x = rand(rng, 13, 1)
        @test close_enough(column_mean(x), x[:, 1], Float64)
        m = randn(rng, 4, 7)
        @test close_enough(column_mean(m; order = :math), vec(sum(m; dims = 1)) ./ 4, Float64)
    end

    @testset "minmax of a whole array" begin
        for dims in ((1,), (9,), (4, 3), (4, 3, 2), (2, 1, 3, 1, 2)), out in OUTS
            x = Float32.(randn(rng, dims...))
            got = AttnRoll.minmax(x; out_type = out)
            @test size(got) == dims
            @test close_enough(got, ref_minmax(x), out)
        end
        @test AttnRoll.minmax(fill(7.5, 2, 2, 3)) == zeros(2, 2, 3)
        x = rand(rng, 4, 3)
        x[2, 3] = NaN
        @test all(isnan, AttnRoll.minmax(x))
        @test minmax(1, 2) == (1, 2)             # Base.minmax is untouched
    end

    @testset "defaults, bfloat16, layouts, inputs untouched" begin
        for f in (minmax_rows, column_mean, AttnRoll.minmax)
            @test eltype(f(rand(Float32, 3, 2))) == Float64
        end
        for (f, r) in ((minmax_rows, ref_minmax_rows), (column_mean, ref_column_mean), (AttnRoll.minmax, ref_minmax))
            bits = to_bf16.(randn(rng, 6, 4))
            got = f(bits; dtype = :bfloat16)
            @test close_enough(got, r(bf16_to_f64.(bits)), Float64)
            @test f(reinterpret(Int16, bits); dtype = :bfloat16) == got
            big = randn(rng, 16, 10)                     # C [10, 16]
            for v in (transpose(big), view(big, 1:3:16, 10:-1:1), view(big, 16:-2:1, 2:2:10),
                      rowmajor(big), ZeroStride(big[:, 1:1], (16, 4)), PermutedDimsArray(big, (2, 1)))
                @test close_enough(f(v), r(Float64.(collect(v))), Float64)
            end
            x = rand(rng, 5, 3)
            copy_x = copy(x)
            got = f(x)
            @test x == copy_x
            got .= -1
            @test x == copy_x
        end
    end
end

@testset "Stream" begin
    rng = rng_for("stream")
    layers5(; L = 4, F = 2, H = 3, N = 8, T = Float32) = make_layers(rng; L = L, F = F, H = H, N = N, T = T)

    @testset "same numbers as spatial and the reference" begin
        for out in OUTS
            layers = layers5()
            pushed = Int[]
            got = Stream(2, 8; out_type = out) do s
                for layer in layers
                    push!(pushed, layers_pushed(s))
                    push!(s, layer)
                end
                push!(pushed, layers_pushed(s))
                result(s)
            end
            @test pushed == [0, 1, 2, 3, 4]
            @test got isa Array{out,3} && size(got) == (8, 8, 2)
            @test close_enough(got, ref_spatial(layers), out)
            @test maxdiff(got, spatial(layers; out_type = out)) <= (out === Float32 ? 1e-6 : 1e-14)
        end
        s = Stream(2, 8)
        push!(s, layers5(; L = 1)[1])
        @test eltype(result(s)) == Float32
        close(s)
    end

    @testset "do-block closes; push! returns the stream" begin
        seen = Ref{Any}(nothing)
        Stream(1, 4) do s
            seen[] = s
            @test isopen(s)
            @test push!(s, peaky(rng, 4, 4, 2, 1)) === s
        end
        @test seen[] isa Stream && !isopen(seen[])
        @test throws(() -> push!(seen[], ones(Float32, 4, 4, 1, 1)), ATTNROLL_E_STATE, "closed")
        @test occursin("closed", sprint(show, seen[]))
    end

    @testset "query rows, layer ranges, residual, threads" begin
        for rows in ([1], [8, 1, 8, 4]), out in OUTS
            layers = layers5(; L = 5)
            s = Stream(2, 8; query_rows = rows, out_type = out)
            foreach(l -> push!(s, l), layers)
            got = result(s)
            again = result(s)                        # result may be asked again
            close(s)
            @test size(got) == (8, length(rows), 2)
            @test close_enough(got, ref_spatial(layers; query_rows = rows), out)
            @test got == again
        end
        for lr in ((2, nothing), 1:2, 2:3, 4:4)
            layers = layers5()
            got = Stream(2, 8; layer_range = lr, out_type = Float64) do s
                foreach(l -> push!(s, l), layers)
                result(s)
            end
            @test close_enough(got, ref_spatial(layers; layer_range = lr), Float64)
        end
        layers = layers5(; L = 5)
        got = Stream(2, 8; layer_range = 2:4, query_rows = [3, 1], out_type = Float64) do s
            foreach(l -> push!(s, l), layers)
            result(s)
        end
        @test close_enough(got, ref_spatial(layers; layer_range = 2:4, query_rows = [3, 1]), Float64)
        for residual in (0.0, 3.0)
            layers = layers5(; L = 3)
            got = Stream(2, 8; residual = residual, threads = 2, out_type = Float64) do s
                foreach(l -> push!(s, l), layers)
                result(s)
            end
            @test close_enough(got, ref_spatial(layers; residual = residual), Float64)
        end
        layers = layers5(; L = 3)
        got = Stream(2, 8; out_type = Float64, order = :math) do s
            foreach(l -> push!(s, PermutedDimsArray(l, (2, 1, 3, 4))), layers)
            result(s)
        end
        @test maxdiff(got, mathorder(ref_spatial(layers))) <= 1e-12
    end

    @testset "one frame, changing heads, any layout" begin
        layers = [peaky(rng, 6, 6, 3) for _ in 1:3]
        got = Stream(1, 6; out_type = Float64) do s
            push!(s, layers[1])
            push!(s, reshape(layers[2], 6, 6, 3, 1))  # (N, N, H, 1) is fine too
            push!(s, layers[3])
            result(s)
        end
        @test size(got) == (6, 6, 1)
        @test close_enough(got[:, :, 1], ref_spatial(layers), Float64)
        heads = [peaky(rng, 8, 8, h, 2) for h in (1, 4, 2)]
        got = Stream(2, 8; out_type = Float64) do s
            foreach(l -> push!(s, l), heads)
            result(s)
        end
        @test close_enough(got, ref_spatial(heads), Float64)
        base = layers5(; L = 5, T = Float64)
        big = zeros(16, 16, 3, 2)
        big[1:2:16, 1:2:16, :, :] .= base[5]
        bits = to_bf16.(base[2])
        got = Stream(2, 8; out_type = Float64) do s
            push!(s, Float16.(base[1]))
            push!(s, bits; dtype = :bfloat16)
            push!(s, rowmajor(Float32.(base[3])))
            push!(s, base[4])
            push!(s, view(big, 1:2:16, 1:2:16, :, :))
            result(s)
        end
        exact = [Float64.(Float16.(base[1])), bf16_to_f64.(bits), Float64.(Float32.(base[3])), base[4], base[5]]
        @test close_enough(got, ref_spatial(exact), Float64)
    end

    @testset "state rules" begin
        layers = layers5(; L = 2)
        s = Stream(2, 8; out_type = Float64)
        push!(s, layers[1])
        @test throws(() -> push!(s, ones(Float32, 7, 7, 3, 2)), ATTNROLL_E_SHAPE, "layer")
        @test throws(() -> push!(s, ones(Int32, 8, 8, 3, 2)), ATTNROLL_E_DTYPE, "layer", "Int32")
        @test layers_pushed(s) == 1                 # a refused push leaves the stream usable
        push!(s, layers[2])
        first_result = result(s)
        @test close_enough(first_result, ref_spatial(layers), Float64)
        err = try
            push!(s, layers[1])
            nothing
        catch e
            e
        end
        @test err isa AttnRollError && err.status == ATTNROLL_E_STATE && err.name == "ATTNROLL_E_STATE"
        @test result(s) == first_result
        @test layers_pushed(s) == 2
        close(s)
        close(s)                                    # closing twice is fine
        @test !isopen(s)
        for use in (() -> push!(s, layers[1]), () -> result(s), () -> layers_pushed(s), () -> bytes_held(s))
            @test throws(use, ATTNROLL_E_STATE, "closed")
        end
        finalize(s.handle)                          # the finalizer after close is a no-op
        @test throws(ATTNROLL_E_STATE, "stream") do
            Stream(1, 4) do t
                result(t)
            end
        end
        @test throws(ATTNROLL_E_STATE) do
            Stream(2, 8; layer_range = 1:3) do t
                push!(t, layers[1])
                result(t)
            end
        end
    end

    @testset "memory held" begin
        held = Int[]
        for (L, H) in ((1, 1), (3, 1), (2, 5))
            Stream(2, 16; threads = 1) do s
                for _ in 1:L
                    push!(s, peaky(rng, 16, 16, H, 2))
                end
                push!(held, bytes_held(s))
            end
        end
        @test held[1] > 0 && held[1] == held[2] == held[3]
        @test held[1] >= 2 * 2 * 16 * 16 * 4
        Stream(1, 16; query_rows = [1], threads = 1) do s
            push!(s, peaky(rng, 16, 16, 2, 1))
            first_bytes = bytes_held(s)
            push!(s, peaky(rng, 16, 16, 2, 1))
            @test bytes_held(s) > first_bytes
        end
    end

    @testset "many streams; unclosed streams are freed by the GC" begin
        layers = layers5(; L = 3)
        streams = [Stream(2, 8; out_type = Float64) for _ in 1:4]
        for layer in layers, s in streams
            push!(s, layer)
        end
        results = [result(s) for s in streams]
        foreach(close, streams)
        want = ref_spatial(layers)
        @test all(r -> close_enough(r, want, Float64), results)
        for _ in 1:20
            s = Stream(2, 8)
            push!(s, layers[1])
        end
        GC.gc()
        GC.gc()
        @test true                                   # the finalizers ran without a crash
    end
end

@testset "errors" begin
    rng = rng_for("errors")
    F, H, N = 2, 2, 5
    layers = [peaky(rng, N, N, H, F) for _ in 1:3]

    @testset "AttnRollError" begin
        err = try
            spatial(layers; threads = 1025)
            nothing
        catch e
            e
        end
        @test err isa AttnRollError && err isa Exception
        @test err.status === ATTNROLL_E_ARGUMENT && err.status isa Int32
        @test err.name == "ATTNROLL_E_ARGUMENT"
        @test occursin("THREADS", err.message)
        text = sprint(showerror, err)
        @test occursin(err.message, text) && occursin("ATTNROLL_E_ARGUMENT", text)
        for (status, name) in ((1, "ARGUMENT"), (2, "SHAPE"), (3, "DTYPE"), (4, "OVERLAP"),
                               (5, "MEMORY"), (6, "STATE"), (7, "INTERNAL"))
            e = AttnRollError(status, "x: test message")
            @test e.status === Int32(status) && e.name == "ATTNROLL_E_" * name
            @test e.message == "x: test message"
            @test AttnRollError(Int32(status), e.name, e.message).name == e.name
        end
    end

    @testset "the message is the library's, read right after the call" begin
        bad = [ones(Float32, N + 1, N, H, F)]                  # C [F, H, N, N + 1]
        @test throws(() -> spatial(bad), ATTNROLL_E_SHAPE, "layers[0]", "square")
        @test throws(() -> spatial(Any[layers[1], view(layers[2], 1:4, 1:4, :, :)]), ATTNROLL_E_SHAPE, "layers[1]")
        spatial(layers)                                         # a success in between
        err = try
            spatial(layers; residual = -1.0)
            nothing
        catch e
            e
        end
        @test err isa AttnRollError && occursin("RESIDUAL", err.message) && !occursin("layers[1]", err.message)
        @test unsafe_string(attnroll_last_error()) == err.message   # still this thread's message
        spatial(layers)
        @test unsafe_string(attnroll_last_error()) == ""
    end

    @testset "spatial arguments" begin
        @test throws(() -> spatial([]), ATTNROLL_E_ARGUMENT, "layers")
        @test throws(() -> spatial(()), ATTNROLL_E_ARGUMENT, "layers")
        for dims in ((N, N, H, F), (N, N, H), (N, N), (1, N, N, H, F, 2))
            @test throws(() -> spatial(ones(Float32, dims...)), ATTNROLL_E_SHAPE, "layers")
        end
        @test throws(() -> spatial(ones(Float32, N, N, H, F, 0)), ATTNROLL_E_SHAPE, "layers")
        @test throws(() -> spatial([layers[1], layers[2], layers[3][:, :, :, 1:1]]), ATTNROLL_E_SHAPE, "layers[2]")
        @test throws(() -> spatial([layers[1], layers[2][:, :, 1:1, :]]), ATTNROLL_E_SHAPE, "layers[1]")
        @test throws(() -> spatial([layers[1], layers[2][:, :, :, 1]]), ATTNROLL_E_SHAPE, "layers[1]")
        for dims in ((N, N), (N,), (N, N, H, F, 1, 1))
            @test throws(() -> spatial([ones(Float32, dims...)]), ATTNROLL_E_SHAPE, "layers[0]")
        end
        @test throws(() -> spatial([ones(Float32, N - 1, N, H, F)]), ATTNROLL_E_SHAPE, "layers[0]", "square")
        @test throws(() -> spatial([ones(Float32, N, N, H, 0)]), ATTNROLL_E_SHAPE, "layers[0]", "extent 0")
        for E in (Int32, Int64, UInt8, Bool, ComplexF32, BigFloat, Any)
            odd = Array{E}(undef, N, N, H, F)
            fill!(odd, E === Any ? 1.0 : one(E))
            @test throws(() -> spatial(Any[layers[1], odd]), ATTNROLL_E_DTYPE, "layers[2]")   # Any[]: a plain [...] would convert odd
        end
        for B in (UInt16, Int16)
            @test throws(() -> spatial([ones(B, N, N, H, F)]), ATTNROLL_E_DTYPE, string(B), "bfloat16")
        end
        @test throws(() -> spatial([ones(Float32, N, N, H, F)]; dtype = :bfloat16), ATTNROLL_E_DTYPE, "bfloat16")
        for d in (:float8, "bf16x", Float32)
            @test throws(() -> spatial([ones(UInt16, N, N, H, F)]; dtype = d), ATTNROLL_E_DTYPE, "dtype")
        end
        for obj in (nothing, "abc", 3.5, Dict("a" => 1))
            @test argerror(() -> spatial(Any[layers[1], obj]), "layers[2]")
        end
        @test throws(() -> spatial(Any[layers[1], [[1.0, 2.0], [3.0, 4.0]]]), ATTNROLL_E_DTYPE, "layers[2]")
        @test argerror(() -> spatial(42), "layers")
        for out in (Float16, Int32, ComplexF64, :bfloat16, nothing, Any, "nonsense")
            @test throws(() -> spatial(layers; out_type = out), ATTNROLL_E_DTYPE, "out_type")
        end
        x = ones(3, 3)
        for f in (() -> temporal([x], 0; out_type = Int64), () -> select_instance(x, 0; out_type = Int64),
                  () -> minmax_rows(x; out_type = Int64), () -> column_mean(x; out_type = Int64),
                  () -> AttnRoll.minmax(x; out_type = Int64), () -> Stream(1, 3; out_type = Float16))
            @test throws(f, ATTNROLL_E_DTYPE, "out_type")
        end
        @test argerror(() -> spatial(layers; order = :rowmajor), "order")
        @test_throws MethodError spatial(layers, [1])           # options are keywords
        @test_throws MethodError temporal(layers, 0, [1])
    end

    @testset "options" begin
        for rows in (1, 3, 2.0, "1")
            @test argerror(() -> spatial(layers; query_rows = rows), "query_rows")
        end
        for rows in ([1.5], Any[1, "2"], [nothing], [true])
            @test argerror(() -> spatial(layers; query_rows = rows), "query_rows")
        end
        for rows in ([N + 1], [1, N + 8], [2^40], [big(2)^70], [1, 0], [-1])
            @test throws(() -> spatial(layers; query_rows = rows), ATTNROLL_E_ARGUMENT, "query_rows")
        end
        @test throws(() -> spatial(layers; query_rows = Int[]), ATTNROLL_E_ARGUMENT, "query_rows")
        for lr in (3:2, 2:1, 1:0, 1:4, (4, nothing), (6, nothing), (0, nothing), 0:2, (-1, -1), (1, 0))
            @test throws(() -> spatial(layers; layer_range = lr), ATTNROLL_E_ARGUMENT, "layer")
        end
        for lr in (3, (1,), (0, 1, 2), "ab", (0.5, nothing), (1, 1.5), 1:2:3)
            @test argerror(() -> spatial(layers; layer_range = lr), "layer_range")
        end
        for threads in (-1, 1025, 2^40, big(2)^70)
            @test throws(() -> spatial(layers; threads = threads), ATTNROLL_E_ARGUMENT, "threads")
        end
        for threads in (1.5, "2", nothing)
            @test_throws TypeError spatial(layers; threads = threads)
        end
        for residual in (-1e-9, -1.0, 1e6 * (1 + 1e-12), Inf, NaN)
            @test throws(() -> spatial(layers; residual = residual), ATTNROLL_E_ARGUMENT, "residual")
        end
        for residual in (nothing, [1.0], "one")
            @test_throws TypeError spatial(layers; residual = residual)
        end
        t = [ones(3, 3), ones(3, 3)]
        @test throws(() -> temporal(t, 0; threads = -1), ATTNROLL_E_ARGUMENT, "threads")
        @test throws(() -> temporal(t, 0; residual = -1), ATTNROLL_E_ARGUMENT, "residual")
        @test throws(() -> temporal(t, 0; query_rows = [4]), ATTNROLL_E_ARGUMENT, "query_rows")
        @test throws(() -> temporal(t, 0; layer_range = 1:3), ATTNROLL_E_ARGUMENT, "layer")
        @test argerror(() -> temporal(t, 0; query_rows = 1), "query_rows")
    end

    @testset "temporal and select_instance" begin
        T = 6
        @test throws(() -> temporal([ones(3, 3)], -1), ATTNROLL_E_ARGUMENT, "instance")
        @test throws(() -> select_instance(ones(3, 3), -1), ATTNROLL_E_ARGUMENT, "instance")
        for instance in (1.5, "0", nothing, [0])
            @test_throws MethodError temporal([ones(3, 3)], instance)
            @test_throws MethodError select_instance(ones(3, 3), instance)
        end
        # instance 4 selects C A[:, 4, :] ([3, T]) from the (T, T, 3) layer
        @test throws(() -> temporal([ones(T, T), ones(T, T, 3)], 4), ATTNROLL_E_SHAPE, "layers[1]", "square")
        @test throws(() -> temporal([ones(T - 1, T, 2), ones(T, T)], 0), ATTNROLL_E_SHAPE, "layers[0]")
        @test throws(() -> temporal([ones(T + 1, T)], 0), ATTNROLL_E_SHAPE, "layers[0]")
        @test throws(() -> temporal([ones(4, 4), ones(4, 4, 2), ones(5, 5)], 0), ATTNROLL_E_SHAPE, "layers[2]")
        @test throws(() -> temporal([ones(4, 4), ones(4)], 0), ATTNROLL_E_SHAPE, "layers[1]")
        @test throws(() -> select_instance(ones(4), 0), ATTNROLL_E_SHAPE, "attn")
        @test throws(() -> temporal([], 0), ATTNROLL_E_ARGUMENT, "layers")
        @test throws(() -> temporal([ones(Int32, 3, 3)], 0), ATTNROLL_E_DTYPE, "layers[1]")
        @test throws(() -> select_instance(ones(UInt16, 3, 3), 0), ATTNROLL_E_DTYPE, "UInt16")
        deep = ones(ntuple(d -> d <= 2 ? 2 : 1, 17))          # rank 17 > ATTNROLL_MAX_NDIM
        @test throws(() -> select_instance(deep, 0), ATTNROLL_E_SHAPE, "ndim")
        @test throws(() -> AttnRoll.minmax(deep), ATTNROLL_E_SHAPE, "ndim")
    end

    @testset "post-processing" begin
        for f in (minmax_rows, column_mean), dims in ((4,), (4, 3, 2))
            @test throws(() -> f(ones(dims...)), ATTNROLL_E_SHAPE, "shape")
        end
        for f in (minmax_rows, column_mean, AttnRoll.minmax)
            @test throws(() -> f(ones(Int64, 2, 2)), ATTNROLL_E_DTYPE, "Int64")
            @test argerror(() -> f("not an array"), "x")
        end
        @test throws(() -> AttnRoll.minmax(fill(3.0)), ATTNROLL_E_SHAPE, "ndim")    # 0 dimensions
        @test throws(() -> AttnRoll.minmax(ones(3, 0)), ATTNROLL_E_SHAPE, "extent 0")
        @test_throws ArgumentError mathorder([1.0, 2.0])
    end

    @testset "streams" begin
        for (frames, tokens, name) in ((0, 4, "frames"), (1, 0, "tokens"), (-1, 4, "frames"), (1, 2^31, "tokens"))
            @test throws(() -> Stream(frames, tokens), ATTNROLL_E_ARGUMENT, name)
        end
        @test_throws MethodError Stream(1.0, 4)
        @test_throws MethodError Stream(1, "4")
        @test throws(() -> Stream(1, 4; query_rows = [5]), ATTNROLL_E_ARGUMENT, "query_rows")
        @test throws(() -> Stream(1, 4; layer_range = 3:2), ATTNROLL_E_ARGUMENT, "layer")
        @test throws(() -> Stream(1, 4; threads = -2), ATTNROLL_E_ARGUMENT, "threads")
        @test throws(() -> Stream(1, 4; residual = -2), ATTNROLL_E_ARGUMENT, "residual")
        @test argerror(() -> Stream(1, 4; query_rows = 1), "query_rows")
        Stream(2, 4) do s
            @test throws(() -> push!(s, ones(Float32, 4, 4, 1, 3)), ATTNROLL_E_SHAPE, "layer")   # F = 3
            @test throws(() -> push!(s, ones(Float32, 4, 4, 1)), ATTNROLL_E_SHAPE, "layer")      # no F
            @test throws(() -> push!(s, ones(Int32, 4, 4, 1, 2)), ATTNROLL_E_DTYPE, "layer")
            @test throws(() -> push!(s, ones(UInt16, 4, 4, 1, 2)), ATTNROLL_E_DTYPE, "UInt16")
            @test argerror(() -> push!(s, nothing), "layer")
            @test layers_pushed(s) == 0
        end
        err = try
            Stream(2^20, 2^14)            # two [2^20, 2^14, 2^14] matrices: 2 PB
            nothing
        catch e
            e
        end
        @test err isa AttnRollError && err.status == ATTNROLL_E_MEMORY && err.name == "ATTNROLL_E_MEMORY"
    end
end

@testset "threads: concurrent calls, per-call messages" begin
    rng = rng_for("threads")
    function make_case()
        ls = [peaky(rng, 24, 24, 3, 2) for _ in 1:5]
        return (ls, ref_spatial(ls), ref_spatial(ls; query_rows = [1, 6]))
    end
    cases = [make_case() for _ in 1:2]
    tasks = map(1:4) do k
        Threads.@spawn begin
            ls, full, rows = cases[mod1(k, 2)]
            ok = true
            for i in 1:10
                out = isodd(i) ? Float64 : Float32
                ok &= close_enough(spatial(ls; out_type = out, threads = i % 3), full, out)
                ok &= close_enough(spatial(ls; query_rows = [1, 6], out_type = out), rows, out)
                ok &= throws(() -> spatial(ls; query_rows = [1, 6], threads = -k), ATTNROLL_E_ARGUMENT, "-$k")
            end
            ok
        end
    end
    @test all(fetch.(tasks))
end

@testset "BLAS kernel and CPU" begin
    names = ["UNKNOWN", "SSE", "AVX", "AVX2", "AVX512"]
    best = Dict(4 => "SkylakeX", 3 => "Haswell", 2 => "Sandybridge")
    # The CPU's level from Linux's /proc/cpuinfo flags (cleared by the kernel
    # when it does not save the registers); nothing off x86-64 Linux.
    function cpuinfo_level()
        (Sys.ARCH === :x86_64 && isfile("/proc/cpuinfo")) || return nothing
        lines = filter(l -> startswith(l, "flags"), readlines("/proc/cpuinfo"))
        isempty(lines) && return nothing
        flags = split(split(lines[1], ":")[2])
        has(fs...) = all(f -> f in flags, fs)
        has("avx512f", "avx512bw", "avx512dq", "avx512vl") && return 4
        has("avx2", "fma") && return 3
        has("avx") && return 2
        return 1
    end
    function consistent(info, coretype_env)
        ok = Set(keys(info)) == Set([:blas, :kernel, :kernel_level, :kernel_level_name, :cpu_level,
                                     :cpu_level_name, :kernel_below_cpu, :best_kernel, :fix, :coretype_env])
        kl, cl = info.kernel_level, info.cpu_level
        ok &= 0 <= kl <= 4 && 0 <= cl <= 4
        ok &= info.kernel_level_name == names[kl + 1] && info.cpu_level_name == names[cl + 1]
        ok &= kl == blas_kernel_level(info.kernel)
        ok &= info.kernel_below_cpu == (kl != 0 && cl != 0 && kl < cl)
        ok &= info.best_kernel == get(best, cl, "")
        ok &= info.fix == (info.kernel_below_cpu ? "OPENBLAS_CORETYPE=" * info.best_kernel : "")
        ok &= info.coretype_env == first(coretype_env, 31)
        ok &= !isempty(info.blas)
        if startswith(info.blas, "OpenBLAS") && occursin("DYNAMIC_ARCH", info.blas)
            ok &= info.kernel in split(info.blas)    # a DYNAMIC_ARCH build names its core
        end
        return ok
    end

    info = blas_info()
    @test info isa NamedTuple
    @test consistent(info, get(ENV, "OPENBLAS_CORETYPE", ""))
    @test info == blas_info()
    level = cpuinfo_level()
    if level !== nothing
        @test info.cpu_level == level
    end

    for (name, want) in (("SkylakeX", 4), ("skylakex", 4), ("SapphireRapids", 4), ("Haswell", 3),
                         ("Zen", 3), ("Sandybridge", 2), ("Prescott", 1), ("Nehalem", 1),
                         ("Bogus", 0), ("", 0), ("Skylake\0X", 0))
        @test blas_kernel_level(name) == want
    end
    @test_throws MethodError blas_kernel_level(nothing)

    passed, max_rel_error = blas_selfcheck()
    @test passed === true
    @test 0 < max_rel_error <= 1e-4    # single precision sums are never exact

    # Loading the package with a kernel forced: one warning exactly when below.
    julia = Base.julia_cmd()
    project = Base.active_project()
    function load_with(core)
        code = "using AttnRoll; i = blas_info(); println(i.kernel, ' ', i.kernel_below_cpu, ' ', blas_selfcheck()[1])"
        cmd = addenv(`$julia --startup-file=no --project=$project -e $code`, "OPENBLAS_CORETYPE" => core)
        out, err = IOBuffer(), IOBuffer()
        ok = success(pipeline(cmd; stdout = out, stderr = err))
        return ok, String(take!(out)), String(take!(err))
    end
    if level !== nothing && level > 1
        ok, out, err = load_with("Prescott")
        @test ok && strip(out) == "Prescott true true"
        @test count("OpenBLAS uses its", err) == 1
        @test occursin("AttnRoll: OpenBLAS uses its Prescott kernel but this CPU supports $(names[level + 1]); " *
                       "start Julia with OPENBLAS_CORETYPE=$(best[level]) set in the environment instead of " *
                       "OPENBLAS_CORETYPE=Prescott", err)
        ok, out, err = load_with(best[level])
        @test ok && strip(out) == "$(best[level]) false true"
        @test !occursin("OpenBLAS uses its", err)
    end
end

@testset "loading the library" begin
    julia = Base.julia_cmd()
    project = Base.active_project()
    function load_with(path, code = "using AttnRoll")
        cmd = addenv(`$julia --startup-file=no --project=$project -e $code`, "ATTNROLL_LIBRARY" => path)
        out, err = IOBuffer(), IOBuffer()
        ok = success(pipeline(cmd; stdout = out, stderr = err))
        return ok, String(take!(out)), String(take!(err))
    end
    mktempdir() do dir
        missing_path = joinpath(dir, "nowhere", "libattnroll.so.1")
        ok, _, err = load_with(missing_path)
        @test !ok && occursin(missing_path, err) && occursin("ATTNROLL_LIBRARY", err)
        fake = joinpath(dir, "libattnroll.so.1")
        write(fake, "not an ELF file")
        ok, _, err = load_with(fake)
        @test !ok && occursin(fake, err)
    end
    path = AttnRoll.library_path()
    ok, out, err = load_with(path, "using AttnRoll; println(AttnRoll.library_path()); " *
                                   "println(spatial([ones(Float32, 2, 2, 1)])[:, 1])")
    @test ok
    if ok
        lines = split(out, "\n")
        @test samefile(lines[1], path)
        @test occursin("0.6666667", lines[2]) && occursin("0.33333334", lines[2])   # (ones + I) / 3
    else
        @warn err
    end
end

# The rollout methods (include/attnroll.h, "The pipeline"): the hand-worked cases
# of tests/test_methods.c.  cjl(flat, dims...) is the Julia array that IS the
# row-major C array of those dims, so a result's vec is its C flat order.
cjl(flat, dims...) = reshape(Float64.(flat), reverse(dims)...)

@testset "methods" begin
    two_heads = cjl([1.0, 0.0, 0.5, 0.5, 0.2, 0.8, 1.0, 0.0], 2, 2, 2)   # C [H=2, N=2, N=2]
    a = cjl([0.5, 0.5, 0.25, 0.75], 1, 2, 2)

    @testset "max, min, weights" begin
        R = spatial([two_heads]; head_fusion = :max, out_type = Float64)
        @test maxdiff(vec(R), [2 / 2.8, 0.8 / 2.8, 0.4, 0.6]) <= 1e-15
        R = spatial([two_heads]; head_fusion = "min", out_type = Float64)
        @test maxdiff(vec(R), [1.0, 0.0, 1 / 3, 2 / 3]) <= 1e-15
        R = spatial([two_heads]; head_fusion = :weights, head_weights = [2.0, -1.0], out_type = Float64)
        @test maxdiff(vec(R), [1.4, -0.4, 0.0, 1.0]) <= 1e-15
    end

    @testset "drop tokens, entropy, gradients" begin
        d = cjl([0.5, 0.25, 0.25, 0.2, 0.4, 0.4, 0.1, 0.3, 0.6], 1, 3, 3)
        R = spatial([d]; drop_tokens = 1, out_type = Float64)
        @test size(R) == (2, 2)
        @test maxdiff(vec(R), [0.75, 0.25, 1 / 6, 5 / 6]) <= 1e-15
        e = cjl([0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 1.0], 2, 2, 2)
        R = spatial([e]; head_fusion = :entropy, out_type = Float64)
        @test maxdiff(vec(R), [11 / 12, 1 / 12, 1 / 12, 11 / 12]) <= 1e-9
        g = cjl([1.0, -1.0, 2.0, 0.0], 1, 2, 2)
        want = [1.0, 0.0, 1 / 3, 2 / 3]
        @test maxdiff(vec(spatial([a]; grads = [g], out_type = Float64)), want) <= 1e-15
        @test maxdiff(vec(spatial([a]; grads = [Float32.(g)], head_fusion = :grad, out_type = Float64)), want) <= 1e-15
        s = Stream(1, 2; head_fusion = :grad, out_type = Float64)
        push!(s, a; grad = g)
        @test maxdiff(vec(result(s)), want) <= 1e-15
        close(s)
    end

    @testset "discard and protect (1-based)" begin
        R = spatial([a]; discard_ratio = 0.5, out_type = Float64)
        @test maxdiff(vec(R), [1.0, 0.0, 0.125, 0.875]) <= 1e-15
        @test spatial([a]; discard_ratio = 0.5, protect = [1], out_type = Float64) == R
        R = spatial([a]; discard_ratio = 0.5, protect = [2], out_type = Float64)
        @test maxdiff(vec(R), [0.75, 0.25, 0.0, 1.0]) <= 1e-15
        u = fill(1 / 3, 3, 3, 1)
        R = spatial([u]; discard_ratio = 0.5, protect = Int[], out_type = Float64)
        @test maxdiff(vec(R), [1.0, 0.0, 0.0, 0.0, 0.8, 0.2, 1 / 6, 1 / 6, 2 / 3]) <= 1e-15
    end

    @testset "Chefer rule, cumulative outputs" begin
        R = spatial([a, a]; rule = :chefer, out_type = Float64)
        @test maxdiff(vec(R), [2.375, 1.625, 0.8125, 3.1875]) <= 1e-15
        R = spatial([a, a]; cumulative = true, out_type = Float64)
        @test size(R) == (2, 2, 2)
        @test maxdiff(vec(R), [0.75, 0.25, 0.125, 0.875, 0.59375, 0.40625, 0.203125, 0.796875]) <= 1e-15
        R = spatial([a, a]; cumulative = true, query_rows = [2], out_type = Float64)
        @test size(R) == (2, 1, 2)
        @test maxdiff(vec(R), [0.125, 0.875, 0.203125, 0.796875]) <= 1e-15
        t = cjl([0.5, 0.5, 0.25, 0.75], 2, 2)
        R = temporal([t, t], 0; rule = :chefer, cumulative = true)
        @test size(R) == (2, 2, 2)
        @test maxdiff(vec(R), [1.5, 0.5, 0.25, 1.75, 2.375, 1.625, 0.8125, 3.1875]) <= 1e-15
        rng = rng_for("cumulative")
        layers = make_layers(rng; L = 5)
        C = spatial(layers; cumulative = true, out_type = Float64)
        @test size(C) == (9, 9, 2, 5)
        for l in 1:5
            @test close_enough(C[:, :, :, l], ref_spatial(layers[1:l]))
        end
        @test size(spatial(layers; cumulative = true, layer_range = 2:4, drop_tokens = 1)) == (8, 8, 2, 3)
        @test size(spatial(layers; cumulative = true, order = :math)) == (9, 9, 2, 5)
    end

    @testset "streaming equals batch" begin
        rng = rng_for("methods stream")
        layers = make_layers(rng; L = 4, N = 11)
        grads = [randn(rng, 11, 11, 3, 2) for _ in 1:4]
        cases = ((head_fusion = :entropy, drop_tokens = 1, discard_ratio = 0.3, protect = [1, 3]),
                 (head_fusion = :max, discard_ratio = 0.9, rule = :chefer, cumulative = true),
                 (head_fusion = :weights, head_weights = [0.5, 2.0, -0.25], cumulative = true),
                 (head_fusion = :min, drop_tokens = 2, residual = 0.5))
        for kw in cases
            batch = spatial(layers; query_rows = [3, 1], kw...)
            s = Stream(2, 11; query_rows = [3, 1], kw...)
            for layer in layers
                push!(s, layer)
            end
            @test result(s) == batch
            close(s)
        end
        batch = spatial(layers; grads = grads, rule = :chefer, cumulative = true)
        s = Stream(2, 11; head_fusion = :grad, rule = :chefer, cumulative = true)
        for (layer, g) in zip(layers, grads)
            push!(s, layer; grad = g)
        end
        @test result(s) == batch
        close(s)
    end

    @testset "edge cases" begin
        rng = rng_for("methods edges")
        layers = make_layers(rng; L = 3, N = 7)
        @test spatial(layers; drop_tokens = 6) == ones(Float32, 1, 1, 2)
        @test spatial(layers; discard_ratio = 0.0) == spatial(layers)
        one_head = [x[:, :, 1:1, :] for x in layers]
        for fusion in (:max, :min, :entropy)
            @test maxdiff(spatial(one_head; head_fusion = fusion, out_type = Float64),
                          spatial(one_head; out_type = Float64)) <= 1e-15
        end
        same = [cat(x[:, :, 1:1, :], x[:, :, 1:1, :], x[:, :, 2:2, :]; dims = 3) for x in layers]
        R = spatial(same; head_fusion = :weights, head_weights = [1.0, -1.0, 0.0], out_type = Float64)
        @test maxdiff(R, repeat(ref_eye(7), 1, 1, 2)) <= 1e-15   # the weights sum to zero
        bad = copy(layers[1])
        bad[3, 2, 2, 1] = NaN32
        R = spatial([bad, layers[2]]; head_fusion = :max, discard_ratio = 0.5)   # no error
        @test any(x -> x != x, R)
    end

    @testset "bad keyword values name the keyword" begin
        layers = make_layers(rng_for("methods errors"); L = 2, N = 6)
        @test throws(() -> spatial(layers; head_fusion = :median), ATTNROLL_E_ARGUMENT, "head_fusion", ":median")
        @test throws(() -> spatial(layers; rule = :gradcam), ATTNROLL_E_ARGUMENT, "rule", ":chefer")
        @test throws(() -> spatial(layers; discard_ratio = 1.0), ATTNROLL_E_ARGUMENT, "discard_ratio", "[0, 1)")
        @test throws(() -> spatial(layers; drop_tokens = -1), ATTNROLL_E_ARGUMENT, "drop_tokens", "-1")
        @test throws(() -> spatial(layers; drop_tokens = 6), ATTNROLL_E_ARGUMENT, "drop_tokens",
                     "ATTNROLL_OPT_DROP_TOKENS: 6")
        @test throws(() -> spatial(layers; protect = [0]), ATTNROLL_E_ARGUMENT, "protect[1]", "numbered from 1")
        @test throws(() -> spatial(layers; drop_tokens = 1, discard_ratio = 0.5, protect = [1, 6]),
                     ATTNROLL_E_ARGUMENT, "protect", "column 5")
        @test throws(() -> spatial(layers; head_weights = [1.0, 1.0, 1.0]), ATTNROLL_E_ARGUMENT,
                     "head_weights", ":weights")
        @test throws(() -> spatial(layers; head_fusion = :weights), ATTNROLL_E_ARGUMENT, "head_weights")
        @test throws(() -> spatial(layers; head_fusion = :weights, head_weights = [1.0, Inf, 1.0]),
                     ATTNROLL_E_ARGUMENT, "head_weights[2]", "not finite")
        @test throws(() -> spatial(layers; head_fusion = :weights, head_weights = [1.0, 2.0]),
                     ATTNROLL_E_SHAPE, "head_weights", "H = 3")
        @test throws(() -> spatial(layers; head_fusion = :grad), ATTNROLL_E_ARGUMENT, "grads")
        @test throws(() -> spatial(layers; grads = layers, head_fusion = :max), ATTNROLL_E_ARGUMENT,
                     "grads", ":max")
        @test throws(() -> spatial(layers; grads = layers[1:1]), ATTNROLL_E_ARGUMENT, "1 gradients for 2 layers")
        @test throws(() -> spatial(layers; grads = [layers[1], layers[2][:, :, 1:2, :]]), ATTNROLL_E_SHAPE,
                     "grads[1]")
        @test throws(() -> Stream(2, 6; discard_ratio = -0.5), ATTNROLL_E_ARGUMENT, "discard_ratio")
        @test throws(() -> Stream(2, 6; drop_tokens = 6), ATTNROLL_E_ARGUMENT, "drop_tokens")
        s = Stream(2, 6; head_fusion = :grad)
        @test throws(() -> push!(s, layers[1]), ATTNROLL_E_ARGUMENT, "ATTNROLL_FUSE_GRAD needs gradients")
        @test throws(() -> push!(s, layers[1]; grad = layers[1][:, :, 1:1, :]), ATTNROLL_E_SHAPE, "grad")
        push!(s, layers[1]; grad = layers[1])   # still usable
        @test layers_pushed(s) == 1
        close(s)
        s = Stream(2, 6)
        @test throws(() -> push!(s, layers[1]; grad = layers[1]), ATTNROLL_E_ARGUMENT, "gradients given")
        close(s)
    end
end


# Attention flow by Edmonds-Karp on the layered graph (include/attnroll.h,
# "Attention flow"), C order: factors[k] is Abar_{k-1} (row i = query i); node
# (level, i) is level * N + i, arcs (k, i) -> (k - 1, j) carry factors[k][i, j].
function ref_maxflow(factors, source, sink)
    N, L = size(factors[1], 1), length(factors)
    V = (L + 1) * N
    cap = zeros(V, V)
    for k in 1:L, i in 1:N, j in 1:N
        cap[k * N + i, (k - 1) * N + j] = factors[k][i, j]
    end
    s, t = L * N + source, sink
    total = 0.0
    while true
        parent = zeros(Int, V)
        parent[s] = s
        queue = [s]
        head = 1
        while head <= length(queue)
            u = queue[head]
            head += 1
            for w in 1:V
                if parent[w] == 0 && cap[u, w] > 1e-15
                    parent[w] = u
                    push!(queue, w)
                end
            end
        end
        parent[t] == 0 && return total
        amount = Inf
        w = t
        while w != s
            amount = min(amount, cap[parent[w], w])
            w = parent[w]
        end
        w = t
        while w != s
            cap[parent[w], w] -= amount
            cap[w, parent[w]] += amount
            w = parent[w]
        end
        total += amount
    end
end

# flow's result in the binding's order: layers (N, N, H, F) -> (N, k, F).
function ref_flow(layers; query_rows = nothing, residual = 1.0)
    cs = [cview(x) for x in layers]                 # C [F, H, N, N]
    F, N = size(cs[1], 1), size(cs[1], 3)
    rows = query_rows === nothing ? collect(1:N) : query_rows
    out = zeros(F, length(rows), N)
    for f in 1:F
        factors = [ref_fuse(c[f, :, :, :], residual) for c in cs]
        for (k, q) in enumerate(rows), j in 1:N
            out[f, k, j] = ref_maxflow(factors, q, j)
        end
    end
    return jview(out)
end

# exp(-sum p log p), p = s / sum(s), 0 log 0 = 0; 0 for s = 0.
function ref_erank(s)
    total = sum(s)
    total == 0 && return 0.0
    h = 0.0
    for x in s
        p = x / total
        if p > 0
            h -= p * log(p)
        end
    end
    return exp(h)
end

@testset "flow" begin
    rng = rng_for("flow")
    F, H, N = 2, 2, 6
    layers = make_layers(rng; L = 3, F = F, H = H, N = N)

    @testset "against Edmonds-Karp, every row and query rows" begin
        want = ref_flow(layers)
        for T in OUTS
            got = flow(layers; out_type = T)
            @test size(got) == (N, N, F)
            @test close_enough(got, want, T)
        end
        want = ref_flow(layers; query_rows = [1, 4, 1], residual = 0.5)
        got = flow(layers; query_rows = [1, 4, 1], residual = 0.5, out_type = Float64)
        @test size(got) == (N, 3, F)
        @test close_enough(got, want, Float64)
        swapped = [permutedims(x, (2, 1, 3, 4)) for x in layers]     # (query, key, H, F)
        @test flow(swapped; query_rows = [1, 4, 1], residual = 0.5, out_type = Float64, order = :math) ==
              mathorder(got)
    end

    @testset "one layer is Abar; layouts; element types" begin
        a = layers[1]
        got = flow([a]; out_type = Float64)
        for f in 1:F
            @test maxdiff(got[:, :, f], jview(ref_fuse(cview(a)[f, :, :, :], 1.0))) <= 1e-12
        end
        want = flow(layers; out_type = Float64)
        @test maxdiff(flow([rowmajor(x) for x in layers]; out_type = Float64), want) <= 1e-12
        @test maxdiff(flow(Any[Float64.(layers[1]), layers[2], Float16.(layers[3])]; out_type = Float64),
                      ref_flow(Any[Float64.(layers[1]), layers[2], Float16.(layers[3])])) <= 1e-12
        @test size(flow([x[:, :, :, 1] for x in layers])) == (N, N)
    end

    @testset "identity stack; a cut-off token" begin
        zero = zeros(Float32, N, N, H)
        @test flow([zero, zero, zero]; out_type = Float64) == ref_eye(N)
        cut = [copy(x[:, :, :, 1]) for x in layers]
        cut[1][3, :, :] .= 0                              # no query attends key 3 in layer 1
        got = flow(cut; residual = 0.0, out_type = Float64)
        @test all(got[3, :] .== 0)
        @test maxdiff(got, ref_flow(cut; residual = 0.0)) <= 1e-12
    end

    @testset "errors" begin
        bad = copy(layers[2])
        bad[2, 1, 1, 2] = NaN
        @test throws(() -> flow([layers[1], bad]), ATTNROLL_E_ARGUMENT, "layers[1]", "capacity")
        bad[2, 1, 1, 2] = Inf
        @test throws(() -> flow([layers[1], bad]), ATTNROLL_E_ARGUMENT, "capacity")
        @test throws(() -> flow(layers; query_rows = [N + 1]), ATTNROLL_E_ARGUMENT, "query_rows")
        @test throws(() -> flow([ones(Float32, N + 1, N, H, F)]), ATTNROLL_E_SHAPE, "layers[0]")
        @test throws(() -> flow(layers; head_fusion = :grad), ATTNROLL_E_ARGUMENT, "head_fusion")
        @test throws(() -> flow(layers; head_fusion = :weights, head_weights = [1.0, -3.0]),
                     ATTNROLL_E_ARGUMENT, "capacity")
        @test throws(() -> flow([]), ATTNROLL_E_ARGUMENT, "layers")
    end
end

@testset "spectra" begin
    rng = rng_for("spectra")
    M = 7

    @testset "hand cases, $T" for T in OUTS
        tol = T === Float32 ? 1e-5 : 1e-12
        @test maxdiff(singular_values(ref_eye(M); out_type = T), ones(M)) <= tol
        @test abs(effective_rank(ref_eye(M); out_type = T) - M) <= tol * M
        u, v = randn(rng, M), randn(rng, M)
        rank1 = u * transpose(v)
        s = singular_values(rank1; out_type = T)
        @test eltype(s) === T && size(s) == (M,)
        @test abs(s[1] - sqrt(sum(abs.(u) .^ 2) * sum(abs.(v) .^ 2))) <= tol * s[1]
        @test all(abs.(s[2:end]) .<= tol * s[1])
        @test abs(effective_rank(rank1; out_type = T) - 1) <= 1e-4
        @test singular_values(zeros(M, M, 2); out_type = T) == zeros(T, M, 2)
        @test effective_rank(zeros(Float32, M, M, 2); out_type = T) == zeros(T, 2)
    end

    @testset "batches, orientation, layouts" begin
        x = peaky(rng, M, M, 3, 2; T = Float64)             # C [2, 3, M, M]
        s = singular_values(x)
        @test size(s) == (M, 3, 2)
        r = effective_rank(x)
        @test size(r) == (3, 2)
        for b in 1:3, c in 1:2
            m = x[:, :, b, c]
            sm = singular_values(m)
            @test maxdiff(sm, s[:, b, c]) <= 1e-12
            @test all(sm[1:end-1] .>= sm[2:end])                      # descending
            @test abs(sum(sm .^ 2) - sum(m .^ 2)) <= 1e-12 * sum(m .^ 2)   # Frobenius norm
            @test maxdiff(singular_values(transpose(m)), sm) <= 1e-12
            @test abs(r[b, c] - ref_erank(sm)) <= 1e-12 * M
            @test effective_rank(m) isa Float64
        end
        @test maxdiff(singular_values(rowmajor(x)), s) <= 1e-12
        @test maxdiff(singular_values(view(x, :, :, 2:3, 1)), s[:, 2:3, 1]) <= 1e-12
        @test maxdiff(singular_values(x; out_type = Float32), s) <= 2e-6 * maximum(s)
        @test maxdiff(singular_values(Float16.(x)), singular_values(Float64.(Float16.(x)))) <= 1e-12
        d = [i == j ? Float64(i) : 0.0 for i in 1:3, j in 1:3]
        @test maxdiff(singular_values(d), [3.0, 2.0, 1.0]) <= 1e-13
        @test abs(effective_rank(d) - ref_erank([3.0, 2.0, 1.0])) <= 1e-13
    end

    @testset "errors" begin
        @test throws(() -> singular_values(ones(3, 4)), ATTNROLL_E_SHAPE)
        @test throws(() -> effective_rank(ones(3, 4, 2)), ATTNROLL_E_SHAPE)
        @test throws(() -> singular_values(ones(4)), ATTNROLL_E_SHAPE)
        for bad in (NaN, Inf, -Inf)
            x = ref_eye(4)
            x[2, 3] = bad
            @test throws(() -> singular_values(x), ATTNROLL_E_ARGUMENT)
            @test throws(() -> effective_rank(x), ATTNROLL_E_ARGUMENT)
        end
        @test throws(() -> singular_values(ref_eye(3); out_type = Float16), ATTNROLL_E_DTYPE)
    end
end

end # @testset "AttnRoll"
