//! The numbers: the hand-worked cases of tests/test_spatial.c,
//! test_temporal.c and test_post.c, every input dtype and both output
//! precisions; strided views against contiguous ones; query rows against rows
//! of the full rollout; streaming against batch; a plain-Rust reference.

mod common;

use attnroll::{
    column_mean, minmax, minmax_rows, select_instance, select_shape, spatial, spatial_into, temporal, temporal_into,
    AnyView, Array, Config, Dtype, Stream, TensorView, TensorViewMut,
};
use common::*;

/// Runs a spatial hand case (layers stored back to back in `vals`, each of
/// `shape`) for F64, F32, F16 and BF16 inputs and both output precisions.
fn check_spatial_hand(
    vals: &[f64],
    num_layers: usize,
    shape: &[usize],
    config: Option<&Config>,
    out_shape: &[usize],
    want: &[f64],
) {
    let per: usize = shape.iter().product();
    assert_eq!(vals.len(), per * num_layers);
    let v64 = vals.to_vec();
    let v32 = to_f32(vals);
    let v16 = to_f16(vals);
    let vbf = to_bf16(vals);
    let l64: Vec<_> = v64.chunks(per).map(|c| TensorView::new(c, shape).unwrap()).collect();
    let l32: Vec<_> = v32.chunks(per).map(|c| TensorView::new(c, shape).unwrap()).collect();
    let l16: Vec<_> = v16
        .chunks(per)
        .map(|c| TensorView::from_bits(c, shape, Dtype::F16).unwrap())
        .collect();
    let lbf: Vec<_> = vbf
        .chunks(per)
        .map(|c| TensorView::from_bits(c, shape, Dtype::BF16).unwrap())
        .collect();
    let inputs: Vec<Vec<AnyView>> = vec![
        l64.iter().map(|&v| v.into()).collect(),
        l32.iter().map(|&v| v.into()).collect(),
        l16.iter().map(|&v| v.into()).collect(),
        lbf.iter().map(|&v| v.into()).collect(),
    ];
    for layers in &inputs {
        let r: Array<f64> = spatial(layers, config).unwrap();
        assert_array(&r, out_shape, want, 1e-15);
        let r: Array<f32> = spatial(layers, config).unwrap();
        assert_array(&r, out_shape, want, 1e-7);
    }
    // the typed (non-AnyView) path too
    let r: Array<f64> = spatial(&l32, config).unwrap();
    assert_array(&r, out_shape, want, 1e-15);
}

#[test]
fn spatial_one_layer() {
    // A = [[0.5,0.5],[0.25,0.75]], A + I = [[1.5,0.5],[0.25,1.75]] -> rows / 2
    let a = [0.5, 0.5, 0.25, 0.75];
    let want = [0.75, 0.25, 0.125, 0.875];
    check_spatial_hand(&a, 1, &[1, 2, 2], None, &[2, 2], &want);
    check_spatial_hand(&a, 1, &[1, 1, 2, 2], None, &[1, 2, 2], &want);
}

#[test]
fn spatial_two_layers_order_matters() {
    // Abar1 = all 0.5, R = Abar1 @ Abar0: every row [0.4375, 0.5625]
    let a = [0.5, 0.5, 0.25, 0.75, 0.0, 1.0, 1.0, 0.0];
    check_spatial_hand(&a, 2, &[1, 2, 2], None, &[2, 2], &[0.4375, 0.5625, 0.4375, 0.5625]);
}

#[test]
fn spatial_two_heads_averaged() {
    let a = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let want = [0.75, 0.25, 0.25, 0.75];
    check_spatial_hand(&a, 1, &[2, 2, 2], None, &[2, 2], &want);
    check_spatial_hand(&a, 1, &[1, 2, 2, 2], None, &[1, 2, 2], &want);
}

#[test]
fn spatial_two_frames_independent() {
    let a = [
        0.5, 0.5, 0.25, 0.75, 0.5, 0.5, 0.25, 0.75, // layer 0, frame 0
        1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, // layer 0, frame 1
        1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, // layer 1 = I
    ];
    let want = [0.75, 0.25, 0.125, 0.875, 0.75, 0.25, 0.25, 0.75];
    check_spatial_hand(&a, 2, &[2, 2, 2, 2], None, &[2, 2, 2], &want);
}

const HAND3: [f64; 27] = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.0, // A0
    0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, // A1
    0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, // A2
];
const ABAR0: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.25, 0.25, 0.5];
const ABAR1: [f64; 9] = [0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.5];
const ABAR2: [f64; 9] = [0.5, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5];
const R01: [f64; 9] = [0.5, 0.25, 0.25, 0.125, 0.375, 0.5, 0.625, 0.125, 0.25];
const R012: [f64; 9] = [0.5625, 0.1875, 0.25, 0.3125, 0.3125, 0.375, 0.375, 0.25, 0.375];
const R12: [f64; 9] = [0.5, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.25, 0.5];

#[test]
fn spatial_3x3_layer_ranges() {
    check_spatial_hand(&HAND3, 3, &[1, 3, 3], None, &[3, 3], &R012);
    let cases: Vec<(Config, &[f64])> = vec![
        (Config::new().unwrap().layer_range(0..3).unwrap(), &R012),
        (Config::new().unwrap().layer_range(..).unwrap(), &R012),
        (Config::new().unwrap().layer_range(1..).unwrap(), &R12),
        (Config::new().unwrap().layer_range(1..3).unwrap(), &R12),
        (Config::new().unwrap().layer_range(0..2).unwrap(), &R01),
        (Config::new().unwrap().layer_range(..=1).unwrap(), &R01),
        (Config::new().unwrap().layer_range(0..1).unwrap(), &ABAR0),
        (Config::new().unwrap().layer_range(1..2).unwrap(), &ABAR1),
        (Config::new().unwrap().layer_range(2..3).unwrap(), &ABAR2),
        (Config::new().unwrap().layer_range(2..).unwrap(), &ABAR2),
    ];
    for (config, want) in &cases {
        check_spatial_hand(&HAND3, 3, &[1, 3, 3], Some(config), &[3, 3], want);
    }
}

#[test]
fn spatial_residual_weights() {
    let r0 = Config::new().unwrap().residual(0.0).unwrap();
    check_spatial_hand(
        &[2.0, 2.0, 1.0, 3.0],
        1,
        &[1, 2, 2],
        Some(&r0),
        &[2, 2],
        &[0.5, 0.5, 0.25, 0.75],
    );
    // a zero row sum divides by 1
    check_spatial_hand(
        &[0.0, 0.0, 0.5, 0.5],
        1,
        &[1, 2, 2],
        Some(&r0),
        &[2, 2],
        &[0.0, 0.0, 0.5, 0.5],
    );
    check_spatial_hand(
        &[0.0, 0.0, 0.25, 0.75, 0.0, 1.0, 0.5, 0.5],
        2,
        &[1, 2, 2],
        Some(&r0),
        &[2, 2],
        &[0.25, 0.75, 0.125, 0.375],
    );
    let r3 = Config::new().unwrap().residual(3.0).unwrap();
    check_spatial_hand(
        &[0.0, 1.0, 1.0, 0.0],
        1,
        &[1, 2, 2],
        Some(&r3),
        &[2, 2],
        &[0.75, 0.25, 0.25, 0.75],
    );
    check_spatial_hand(
        &[-1.0, 0.0, 0.0, 0.0],
        1,
        &[1, 2, 2],
        None,
        &[2, 2],
        &[0.0, 0.0, 0.0, 1.0],
    );
}

#[test]
fn spatial_one_token() {
    check_spatial_hand(&[0.25, 0.75, 0.5, 1.5], 2, &[2, 1, 1, 1], None, &[2, 1, 1], &[1.0, 1.0]);
}

#[test]
fn spatial_matches_a_plain_rust_reference() {
    let (f, h, n, l) = (2, 3, 9, 5);
    let mut rng = Rng::new(7);
    let layers: Vec<Vec<f64>> = (0..l).map(|_| rng.attention(f * h * n * n, n)).collect();
    let views: Vec<_> = layers
        .iter()
        .map(|v| TensorView::new(v, &[f, h, n, n]).unwrap())
        .collect();
    for &(b, e, r) in &[(0, l, 1.0), (1, l, 1.0), (2, 4, 0.5), (0, l, 0.0)] {
        let config = Config::new().unwrap().layer_range(b..e).unwrap().residual(r).unwrap();
        let want = reference_spatial(&layers, f, h, n, b, e, r);
        let got: Array<f64> = spatial(&views, Some(&config)).unwrap();
        assert_array(&got, &[f, n, n], &want, 1e-12);
        let got: Array<f32> = spatial(&views, Some(&config)).unwrap();
        assert_array(&got, &[f, n, n], &want, 2e-6);
    }
}

// ---- strided views ------------------------------------------------------------

/// Layers stored in several layouts, viewed with strides, give the numbers of
/// the contiguous layers.
#[test]
fn strided_layers_equal_contiguous() {
    let (f, h, n, l) = (2, 2, 7, 3);
    let mut rng = Rng::new(11);
    let layers: Vec<Vec<f64>> = (0..l).map(|_| rng.attention(f * h * n * n, n)).collect();
    let contiguous: Vec<_> = layers
        .iter()
        .map(|v| TensorView::new(v, &[f, h, n, n]).unwrap())
        .collect();
    let want: Array<f64> = spatial(&contiguous, None).unwrap();
    let idx = |a: usize, b: usize, i: usize, j: usize| ((a * h + b) * n + i) * n + j;

    // transposed storage: store[f,h,j,i] = A[f,h,i,j]
    let transposed: Vec<Vec<f64>> = layers
        .iter()
        .map(|v| {
            let mut t = vec![0.0; v.len()];
            for a in 0..f {
                for b in 0..h {
                    for i in 0..n {
                        for j in 0..n {
                            t[idx(a, b, j, i)] = v[idx(a, b, i, j)];
                        }
                    }
                }
            }
            t
        })
        .collect();
    let tviews: Vec<_> = transposed
        .iter()
        .map(|t| {
            TensorView::with_strides(t, &[f, h, n, n], &[(h * n * n) as i64, (n * n) as i64, 1, n as i64], 0).unwrap()
        })
        .collect();
    // the same through permuted()
    let pviews: Vec<_> = transposed
        .iter()
        .map(|t| {
            TensorView::new(t, &[f, h, n, n])
                .unwrap()
                .permuted(&[0, 1, 3, 2])
                .unwrap()
        })
        .collect();

    // fully reversed storage: every stride negative, element [0,0,0,0] last
    let reversed: Vec<Vec<f64>> = layers.iter().map(|v| v.iter().rev().copied().collect()).collect();
    let total = f * h * n * n;
    let rviews: Vec<_> = reversed
        .iter()
        .map(|r| {
            TensorView::with_strides(
                r,
                &[f, h, n, n],
                &[-((h * n * n) as i64), -((n * n) as i64), -(n as i64), -1],
                total - 1,
            )
            .unwrap()
        })
        .collect();

    // every other element of a 2x larger buffer (sliced), and column-major
    let sliced: Vec<Vec<f64>> = layers
        .iter()
        .map(|v| {
            let mut s = vec![f64::NAN; 2 * v.len()];
            for (k, x) in v.iter().enumerate() {
                s[2 * k] = *x;
            }
            s
        })
        .collect();
    let sviews: Vec<_> = sliced
        .iter()
        .map(|s| {
            TensorView::with_strides(
                s,
                &[f, h, n, n],
                &[2 * (h * n * n) as i64, 2 * (n * n) as i64, 2 * n as i64, 2],
                0,
            )
            .unwrap()
        })
        .collect();
    let fortran: Vec<Vec<f64>> = layers
        .iter()
        .map(|v| {
            let mut t = vec![0.0; v.len()];
            for a in 0..f {
                for b in 0..h {
                    for i in 0..n {
                        for j in 0..n {
                            t[a + f * (b + h * (i + n * j))] = v[idx(a, b, i, j)];
                        }
                    }
                }
            }
            t
        })
        .collect();
    let fviews: Vec<_> = fortran
        .iter()
        .map(|t| {
            TensorView::with_strides(t, &[f, h, n, n], &[1, f as i64, (f * h) as i64, (f * h * n) as i64], 0).unwrap()
        })
        .collect();

    for (name, views) in [
        ("transposed", &tviews),
        ("permuted", &pviews),
        ("reversed", &rviews),
        ("sliced", &sviews),
        ("column-major", &fviews),
    ] {
        let got: Array<f64> = spatial(views, None).unwrap();
        assert_eq!(got.shape, want.shape, "{}", name);
        assert_close(&got.data, &want.data, 1e-13);
    }
}

/// A zero stride broadcasts: H heads that are all the same stored matrix give
/// the numbers of that one head; F frames broadcast from one.
#[test]
fn zero_stride_broadcast_equals_contiguous() {
    let (h, n, l) = (4, 6, 3);
    let mut rng = Rng::new(5);
    let single: Vec<Vec<f64>> = (0..l).map(|_| rng.attention(n * n, n)).collect();
    let one_head: Vec<_> = single
        .iter()
        .map(|v| TensorView::new(v, &[1, 1, n, n]).unwrap())
        .collect();
    let want: Array<f64> = spatial(&one_head, None).unwrap();
    // [F=3, H=4, N, N] with stride 0 on F and H
    let broadcast: Vec<_> = single
        .iter()
        .map(|v| TensorView::with_strides(v, &[3, h, n, n], &[0, 0, n as i64, 1], 0).unwrap())
        .collect();
    let got: Array<f64> = spatial(&broadcast, None).unwrap();
    assert_eq!(got.shape, [3, n, n]);
    for frame in got.data.chunks(n * n) {
        assert_close(frame, &want.data, 1e-14);
    }
}

/// An output written through strides (transposed, reversed) holds the same
/// numbers as a contiguous one.
#[test]
fn strided_outputs() {
    let a = [0.5f32, 0.5, 0.25, 0.75, 0.0, 1.0, 1.0, 0.0];
    let layers = [
        TensorView::new(&a[..4], &[1, 2, 2]).unwrap(),
        TensorView::new(&a[4..], &[1, 2, 2]).unwrap(),
    ];
    let b = [0.5f32, 0.5, 0.25, 0.75];
    let one = [TensorView::new(&b, &[1, 2, 2]).unwrap()];
    // transposed output of the one-layer case
    let mut buf = [0f64; 4];
    {
        let mut out = TensorViewMut::with_strides(&mut buf, &[2, 2], &[1, 2], 0).unwrap();
        spatial_into(&one, None, &mut out).unwrap();
        assert_eq!(out.get(&[1, 0]), Some(0.125));
    }
    assert_eq!(buf, [0.75, 0.125, 0.25, 0.875]);
    // reversed rows and columns, inside a larger buffer with sentinels
    let mut big = [-7f32; 10];
    {
        let mut out = TensorViewMut::with_strides(&mut big, &[2, 2], &[-2, -1], 6).unwrap();
        spatial_into(&layers, None, &mut out).unwrap();
        assert_eq!(out.as_view().get(&[0, 1]), Some(0.5625));
    }
    assert_eq!(
        big,
        [-7.0, -7.0, -7.0, 0.5625, 0.4375, 0.5625, 0.4375, -7.0, -7.0, -7.0]
    );
}

// ---- query rows -----------------------------------------------------------------

#[test]
fn query_rows_are_rows_of_the_full_rollout() {
    let (f, h, n, l) = (2, 3, 11, 6);
    let mut rng = Rng::new(3);
    let layers: Vec<Vec<f32>> = (0..l)
        .map(|_| rng.attention(f * h * n * n, n).iter().map(|&x| x as f32).collect())
        .collect();
    let views: Vec<_> = layers
        .iter()
        .map(|v| TensorView::new(v, &[f, h, n, n]).unwrap())
        .collect();
    let rows = [4usize, 0, 10, 4];
    for range in [(0usize, None), (1, None), (2, Some(5))] {
        let base = Config::new().unwrap();
        let base = match range.1 {
            None => base.layer_range(range.0..).unwrap(),
            Some(e) => base.layer_range(range.0..e).unwrap(),
        };
        let full: Array<f64> = spatial(&views, Some(&base)).unwrap();
        let config = base.query_rows(&rows).unwrap();
        assert_eq!(config.get_query_rows(), rows);
        let some: Array<f64> = spatial(&views, Some(&config)).unwrap();
        assert_eq!(some.shape, [f, rows.len(), n]);
        for fr in 0..f {
            for (k, &row) in rows.iter().enumerate() {
                let want: Vec<f64> = (0..n).map(|j| full.get(&[fr, row, j]).unwrap()).collect();
                let got: Vec<f64> = (0..n).map(|j| some.get(&[fr, k, j]).unwrap()).collect();
                assert_close(&got, &want, 1e-12);
            }
        }
    }
    // [H,N,N] layers give [k,N]
    let one: Vec<_> = layers
        .iter()
        .map(|v| TensorView::with_strides(v, &[h, n, n], &[(n * n) as i64, n as i64, 1], 0).unwrap())
        .collect();
    let cls: Array<f32> = spatial(&one, Some(&Config::new().unwrap().query_rows(&[0]).unwrap())).unwrap();
    assert_eq!(cls.shape, [1, n]);
    let full: Array<f32> = spatial(&one, None).unwrap();
    assert_close(
        &cls.data,
        &full.data[..n].iter().map(|&x| x as f64).collect::<Vec<_>>(),
        2e-6,
    );
}

// ---- streaming --------------------------------------------------------------------

#[test]
fn streaming_equals_batch() {
    let (f, n, l) = (2, 9, 5);
    let mut rng = Rng::new(9);
    // The head count may change from layer to layer in a stream (not in a
    // batch call), and so may the dtype: layers of 1..4 heads, odd ones pushed
    // as f32 (values rounded to f32 for both), against a batch rollout of
    // each layer's head mean as one head.
    let heads = [1usize, 3, 2, 4, 1];
    let layers: Vec<Vec<f64>> = heads
        .iter()
        .map(|&h| {
            rng.attention(f * h * n * n, n)
                .iter()
                .map(|&x| x as f32 as f64)
                .collect()
        })
        .collect();
    let l32: Vec<Vec<f32>> = layers.iter().map(|v| to_f32(v)).collect();
    let means: Vec<Vec<f64>> = layers
        .iter()
        .zip(&heads)
        .map(|(v, &h)| {
            let mut m = vec![0.0; f * n * n];
            for fr in 0..f {
                for hh in 0..h {
                    for k in 0..n * n {
                        m[fr * n * n + k] += v[(fr * h + hh) * n * n + k] / h as f64;
                    }
                }
            }
            m
        })
        .collect();
    let batch_views: Vec<_> = means
        .iter()
        .map(|m| TensorView::new(m, &[f, 1, n, n]).unwrap())
        .collect();
    let stream_views: Vec<AnyView> = (0..l)
        .map(|i| {
            if i % 2 == 0 {
                TensorView::new(&layers[i], &[f, heads[i], n, n]).unwrap().into()
            } else {
                TensorView::new(&l32[i], &[f, heads[i], n, n]).unwrap().into()
            }
        })
        .collect();
    let configs = vec![
        None,
        Some(Config::new().unwrap().layer_range(1..).unwrap()),
        Some(Config::new().unwrap().query_rows(&[0, 5]).unwrap()),
        Some(
            Config::new()
                .unwrap()
                .query_rows(&[3])
                .unwrap()
                .layer_range(1..4)
                .unwrap()
                .residual(0.5)
                .unwrap(),
        ),
    ];
    for config in &configs {
        let batch: Array<f64> = spatial(&batch_views, config.as_ref()).unwrap();
        for precision in [Dtype::F64, Dtype::F32] {
            let mut s = Stream::new(f, n, precision, config.as_ref()).unwrap();
            for (i, v) in stream_views.iter().enumerate() {
                s.push(v).unwrap();
                assert_eq!(s.layers_pushed(), i as u64 + 1);
            }
            assert!(s.bytes_held() > 0);
            let streamed: Array<f64> = s.result().unwrap();
            assert_eq!(streamed.shape, batch.shape);
            let tol = if precision == Dtype::F64 { 1e-12 } else { 2e-6 };
            assert_close(&streamed.data, &batch.data, tol);
            // asked again, in the other precision
            let again: Array<f32> = s.result().unwrap();
            assert_close(&again.data, &batch.data, 2e-6);
        }
    }
    // and batch == stream on the very same multi-head layers
    let same: Vec<_> = layers[1..2]
        .iter()
        .map(|v| TensorView::new(v, &[f, 3, n, n]).unwrap())
        .collect();
    let batch: Array<f64> = spatial(&[same[0], same[0], same[0]], None).unwrap();
    let mut s = Stream::new(f, n, Dtype::F64, None).unwrap();
    for _ in 0..3 {
        s.push(&same[0]).unwrap();
    }
    assert_close(&s.result::<f64>().unwrap().data, &batch.data, 1e-12);
}

#[test]
fn stream_memory_does_not_grow_with_layers() {
    let n = 8;
    let a = vec![1.0f32 / n as f32; 2 * n * n];
    let layer = TensorView::new(&a, &[1, 2, n, n]).unwrap();
    let mut s = Stream::new(1, n, Dtype::F32, Some(&Config::new().unwrap().threads(1).unwrap())).unwrap();
    s.push(&layer).unwrap();
    let held = s.bytes_held();
    for _ in 0..10 {
        s.push(&layer).unwrap();
    }
    assert_eq!(s.bytes_held(), held);
    let mut out = [0f32; 64];
    s.result_into(&mut TensorViewMut::new(&mut out, &[n, n]).unwrap())
        .unwrap(); // [N,N] since F = 1
                   // Abar = (J/n + I)/2 = P + (I - P)/2 with P = J/n a projection, so the
                   // product of 11 layers is P + (I - P)/2^11.
    let want: Vec<f64> = (0..n * n)
        .map(|k| {
            let eye = if k / n == k % n { 1.0 } else { 0.0 };
            1.0 / n as f64 + (eye - 1.0 / n as f64) / 2048.0
        })
        .collect();
    assert_close(&out, &want, 1e-6);
}

// ---- temporal -----------------------------------------------------------------------

#[test]
fn temporal_hand_2d() {
    let a0 = [0.5, 0.5, 0.25, 0.75];
    let a1 = [0.0, 1.0, 1.0, 0.0];
    for (layers, want) in [
        (vec![&a0[..]], [0.75, 0.25, 0.125, 0.875]),
        (vec![&a0[..], &a1[..]], [0.4375, 0.5625, 0.4375, 0.5625]),
    ] {
        let views: Vec<_> = layers.iter().map(|v| TensorView::new(v, &[2, 2]).unwrap()).collect();
        let t: Array<f64> = temporal(&views, 3, None).unwrap();
        assert_array(&t, &[2, 2], &want, 1e-15);
        let halves: Vec<Vec<u16>> = layers.iter().map(|v| to_f16(v)).collect();
        let hv: Vec<_> = halves
            .iter()
            .map(|v| TensorView::from_bits(v, &[2, 2], Dtype::F16).unwrap())
            .collect();
        let t: Array<f32> = temporal(&hv, 0, None).unwrap();
        assert_array(&t, &[2, 2], &want, 1e-7);
    }
    let views: Vec<_> = HAND3.chunks(9).map(|c| TensorView::new(c, &[3, 3]).unwrap()).collect();
    let t: Array<f64> = temporal(&views, 0, None).unwrap();
    assert_array(&t, &[3, 3], &R012, 1e-15);
    let t: Array<f64> = temporal(&views, 0, Some(&Config::new().unwrap().layer_range(1..).unwrap())).unwrap();
    assert_array(&t, &[3, 3], &R12, 1e-15);
    // query rows {2, 0}: rows 2 and 0 of the full rollout
    let t: Array<f64> = temporal(&views, 0, Some(&Config::new().unwrap().query_rows(&[2, 0]).unwrap())).unwrap();
    assert_array(&t, &[2, 3], &[0.375, 0.25, 0.375, 0.5625, 0.1875, 0.25], 1e-15);
    // residual 0 over layers 0..2: B1 @ B0 = rows of B0 permuted
    let cfg = Config::new().unwrap().layer_range(..2).unwrap().residual(0.0).unwrap();
    let t: Array<f64> = temporal(&views, 0, Some(&cfg)).unwrap();
    assert_array(&t, &[3, 3], &[0.0, 0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.0, 0.0], 1e-15);
    // written into a column-major output
    let mut buf = [0f32; 9];
    temporal_into(
        &views,
        0,
        None,
        &mut TensorViewMut::with_strides(&mut buf, &[3, 3], &[1, 3], 0).unwrap(),
    )
    .unwrap();
    let col_major: Vec<f64> = (0..9).map(|k| R012[(k % 3) * 3 + k / 3]).collect();
    assert_close(&buf, &col_major, 1e-7);
}

#[test]
fn temporal_layers_of_mixed_ranks() {
    // see test_temporal.c: instance 1 selects A[1] from 4-D and 3-D layers
    let l0 = [
        9., 9., 9., 9., 8., 8., 8., 8., 7., 7., 7., 7., 1., 0., 0., 1., 0., 1., 1., 0., 0.5, 0.5, 0.5, 0.5,
    ];
    let l1 = [0.5, 0.5, 0.25, 0.75];
    let l2 = [6., 6., 6., 6., 0., 1., 0.5, 0.5, 5., 5., 5., 5.];
    let l1_f32 = to_f32(&l1);
    let l2_bf = to_bf16(&l2);
    let layers = [
        AnyView::from(TensorView::new(&l0[..], &[2, 3, 2, 2]).unwrap()),
        AnyView::from(TensorView::new(&l1_f32[..], &[2, 2]).unwrap()),
        AnyView::from(TensorView::from_bits(&l2_bf, &[3, 2, 2], Dtype::BF16).unwrap()),
    ];
    let t: Array<f64> = temporal(&layers, 1, None).unwrap();
    assert_array(&t, &[2, 2], &[0.46875, 0.53125, 0.390625, 0.609375], 1e-15);
}

/// Value = digits of the index: A[1][2][3] = 123.
fn index_valued(shape: &[usize]) -> Vec<f64> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|mut i| {
            let (mut val, mut place) = (0.0, 1.0);
            for &e in shape.iter().rev() {
                val += (i % e) as f64 * place;
                i /= e;
                place *= 10.0;
            }
            val
        })
        .collect()
}

#[test]
fn select_instance_branches() {
    // (shape, instance, selected shape, selected values)
    type Case<'a> = (&'a [usize], usize, [usize; 2], &'a [f64]);
    let cases: &[Case] = &[
        (&[2, 2], 7, [2, 2], &[0., 1., 10., 11.]),          // 2-D: itself
        (&[3, 2, 2], 1, [2, 2], &[100., 101., 110., 111.]), // A[i]
        (&[2, 4, 4], 3, [2, 4], &[30., 31., 32., 33., 130., 131., 132., 133.]), // A[:, i, :]
        (&[2, 3, 3], 5, [3, 3], &[0., 1., 2., 10., 11., 12., 20., 21., 22.]), // A[0]
        (
            &[3, 3, 4],
            1,
            [3, 4],
            &[0., 1., 2., 3., 10., 11., 12., 13., 20., 21., 22., 23.],
        ), // not square: A[0]
        (&[3, 2, 2, 2], 1, [2, 2], &[1050., 1051., 1060., 1061.]), // axis 0, rest averaged
        (&[1, 4, 2, 2], 2, [2, 2], &[200., 201., 210., 211.]), // axis 1
        (&[2, 2, 2, 2], 7, [2, 2], &[0., 1., 10., 11.]),    // fallback
        (&[2, 3, 2, 2, 2], 2, [2, 2], &[7050., 7051., 7060., 7061.]), // 5-D
    ];
    for (shape, id, out_shape, want) in cases {
        let a = index_valued(shape);
        let v = TensorView::new(&a, shape).unwrap();
        assert_eq!(select_shape(&v, *id).unwrap(), (out_shape[0], out_shape[1]));
        let got: Array<f64> = select_instance(&v, *id).unwrap();
        assert_array(&got, out_shape, want, 0.0);
        // reversed storage reads the same
        let rev: Vec<f64> = a.iter().rev().copied().collect();
        let mut strides = vec![0i64; shape.len()];
        let mut step = 1i64;
        for d in (0..shape.len()).rev() {
            strides[d] = -step;
            step *= shape[d] as i64;
        }
        let rv = TensorView::with_strides(&rev, shape, &strides, a.len() - 1).unwrap();
        let got: Array<f32> = select_instance(&rv, *id).unwrap();
        assert_array(&got, out_shape, want, 0.0);
    }
}

// ---- post-processing --------------------------------------------------------------

#[test]
fn post_processing() {
    let x = [1.0f32, 3.0, 2.0, 5.0, 5.0, 5.0, -1.0, 0.0, 1.0];
    let v = TensorView::new(&x, &[3, 3]).unwrap();
    let rows: Array<f64> = minmax_rows(&v).unwrap();
    assert_array(&rows, &[3, 3], &[0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0], 0.0);
    let cols: Array<f64> = column_mean(&v).unwrap();
    assert_array(&cols, &[3], &[5.0 / 3.0, 8.0 / 3.0, 8.0 / 3.0], 1e-15);
    let all: Array<f32> = minmax(&v).unwrap();
    assert_array(
        &all,
        &[3, 3],
        &[1. / 3., 2. / 3., 0.5, 1., 1., 1., 0., 1. / 6., 1. / 3.],
        1e-7,
    );
    // of the transpose (no copy)
    let cols_t: Array<f64> = column_mean(&v.permuted(&[1, 0]).unwrap()).unwrap();
    assert_array(&cols_t, &[3], &[2.0, 5.0, 0.0], 1e-15);
    // any rank for minmax; NaN makes everything NaN
    let y = [0.0f64, 2.0, 4.0, 8.0];
    let r: Array<f64> = minmax(&TensorView::new(&y, &[2, 1, 2]).unwrap()).unwrap();
    assert_array(&r, &[2, 1, 2], &[0.0, 0.25, 0.5, 1.0], 0.0);
    let z = [0.0f64, f64::NAN, 1.0, 2.0];
    let r: Array<f64> = minmax_rows(&TensorView::new(&z, &[2, 2]).unwrap()).unwrap();
    assert!(r.data[0].is_nan() && r.data[1].is_nan());
    assert_eq!(&r.data[2..], &[0.0, 1.0]);
    // chained on a rollout's result
    let a = [0.5f32, 0.5, 0.25, 0.75];
    let rollout: Array<f32> = spatial(&[TensorView::new(&a, &[1, 2, 2]).unwrap()], None).unwrap();
    let scaled: Array<f64> = minmax_rows(&rollout.view().unwrap()).unwrap();
    assert_array(&scaled, &[2, 2], &[1.0, 0.0, 0.0, 1.0], 0.0);
}

// ---- threads, versions ----------------------------------------------------------------

#[test]
fn handles_move_between_threads_and_calls_run_concurrently() {
    let config = Config::new().unwrap().query_rows(&[1]).unwrap();
    let mut stream = Stream::new(1, 2, Dtype::F64, Some(&config)).unwrap();
    let handle = std::thread::spawn(move || {
        let a = [0.5f64, 0.5, 0.25, 0.75];
        let v = TensorView::new(&a, &[1, 2, 2]).unwrap();
        stream.push(&v).unwrap();
        let r: Array<f64> = spatial(&[v], Some(&config)).unwrap();
        (stream, r)
    });
    let (mut stream, r) = handle.join().unwrap();
    assert_eq!(r.data, [0.125, 0.875]);
    let s: Array<f64> = stream.result().unwrap();
    assert_eq!(s.data, [0.125, 0.875]);

    let workers: Vec<_> = (0..4u64)
        .map(|seed| {
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + seed);
                let (h, n) = (2, 16);
                let layers: Vec<Vec<f64>> = (0..4).map(|_| rng.attention(h * n * n, n)).collect();
                let views: Vec<_> = layers
                    .iter()
                    .map(|v| TensorView::new(v, &[1, h, n, n]).unwrap())
                    .collect();
                for _ in 0..5 {
                    let got: Array<f64> = spatial(&views, None).unwrap();
                    assert_close(&got.data, &reference_spatial(&layers, 1, h, n, 0, 4, 1.0), 1e-12);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn handle_and_view_traits() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Config>();
    send::<Stream>();
    send_sync::<TensorView<f32>>();
    send_sync::<AnyView>();
    send_sync::<attnroll::Error>();
    // (Stream is not Sync: a compile_fail doc-test in stream.rs checks that.)
}

#[test]
fn versions() {
    assert_eq!(attnroll::version(), attnroll::VERSION);
    assert_eq!(
        attnroll::version_number(),
        attnroll::sys::ATTNROLL_VERSION_NUMBER as u32
    );
    assert_eq!(attnroll::MAX_NDIM, 16);
    assert_eq!(Dtype::BF16.code(), attnroll::sys::ATTNROLL_BF16);
    assert_eq!(Dtype::F64.size(), 8);
}
