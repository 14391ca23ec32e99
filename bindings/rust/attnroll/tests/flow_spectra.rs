//! Attention flow against a plain Edmonds–Karp max flow on the layered graph,
//! the hand cases (one layer = Abar, identity stack, a cut-off token), and the
//! spectral diagnostics on hand cases (identity, rank one, zero, diagonal,
//! batched and strided), with the error paths.

mod common;

use attnroll::{
    effective_rank, effective_rank_into, flow, flow_into, singular_values, singular_values_into, Array, Config, Dtype,
    HeadFusion, Rule, Status, TensorView, TensorViewMut,
};
use common::{assert_close, factor, Rng};

/// Edmonds–Karp on the dense layered network: node (l, i) = l * n + i; arcs
/// (l+1, i) -> (l, j) with capacity factors[l][i, j].
fn max_flow(factors: &[Vec<f64>], n: usize, source: usize, sink: usize) -> f64 {
    let levels = factors.len() + 1;
    let v = levels * n;
    let mut cap = vec![0.0f64; v * v];
    for (l, m) in factors.iter().enumerate() {
        for i in 0..n {
            for j in 0..n {
                cap[((l + 1) * n + i) * v + l * n + j] = m[i * n + j];
            }
        }
    }
    let (s, t) = (factors.len() * n + source, sink);
    let mut total = 0.0;
    loop {
        let mut parent = vec![usize::MAX; v];
        parent[s] = s;
        let mut queue = std::collections::VecDeque::from(vec![s]);
        while let Some(u) = queue.pop_front() {
            for w in 0..v {
                if parent[w] == usize::MAX && cap[u * v + w] > 1e-15 {
                    parent[w] = u;
                    queue.push_back(w);
                }
            }
        }
        if parent[t] == usize::MAX {
            return total;
        }
        let mut push = f64::INFINITY;
        let mut w = t;
        while w != s {
            push = push.min(cap[parent[w] * v + w]);
            w = parent[w];
        }
        let mut w = t;
        while w != s {
            cap[parent[w] * v + w] -= push;
            cap[w * v + parent[w]] += push;
            w = parent[w];
        }
        total += push;
    }
}

#[test]
fn flow_matches_edmonds_karp() {
    let (l, f, h, n) = (4, 2, 3, 6);
    let mut rng = Rng::new(12);
    let layers: Vec<Vec<f64>> = (0..l).map(|_| rng.attention(f * h * n * n, n)).collect();
    let views: Vec<TensorView<f64>> = layers
        .iter()
        .map(|a| TensorView::new(a, &[f, h, n, n]).unwrap())
        .collect();
    let rows = [0usize, 4, 0];
    let config = Config::new().unwrap().query_rows(&rows).unwrap().residual(0.5).unwrap();
    let got64: Array<f64> = flow(&views, Some(&config)).unwrap();
    let got32: Array<f32> = flow(&views, Some(&config)).unwrap();
    assert_eq!(got64.shape, [f, rows.len(), n]);
    let mut want = Vec::new();
    for fr in 0..f {
        let factors: Vec<Vec<f64>> = layers.iter().map(|a| factor(a, fr, h, n, 0.5)).collect();
        for &q in &rows {
            for j in 0..n {
                want.push(max_flow(&factors, n, q, j));
            }
        }
    }
    assert_close(&got64.data, &want, 1e-12);
    assert_close(&got32.data, &want, 2e-6);

    // Every row, and a layer range, of frame-less [H,N,N] layers in f32.
    let small: Vec<Vec<f32>> = layers
        .iter()
        .map(|a| a[..h * n * n].iter().map(|&x| x as f32).collect())
        .collect();
    let views: Vec<TensorView<f32>> = small.iter().map(|a| TensorView::new(a, &[h, n, n]).unwrap()).collect();
    let config = Config::new().unwrap().layer_range(1..3).unwrap();
    let got: Array<f64> = flow(&views, Some(&config)).unwrap();
    assert_eq!(got.shape, [n, n]);
    let exact: Vec<Vec<f64>> = small.iter().map(|a| a.iter().map(|&x| x as f64).collect()).collect();
    let factors: Vec<Vec<f64>> = exact[1..3].iter().map(|a| factor(a, 0, h, n, 1.0)).collect();
    let want: Vec<f64> = (0..n * n).map(|k| max_flow(&factors, n, k / n, k % n)).collect();
    assert_close(&got.data, &want, 1e-12);
}

#[test]
fn flow_hand_cases() {
    let n = 5;
    let mut rng = Rng::new(3);
    // One layer: the flow is Abar.
    let a = rng.attention(2 * n * n, n);
    let got: Array<f64> = flow(&[TensorView::new(&a, &[2, n, n]).unwrap()], None).unwrap();
    assert_close(&got.data, &factor(&a, 0, 2, n, 1.0), 1e-12);
    // Identity stack (zero attention, residual 1): 1 to itself, 0 elsewhere.
    let zero = vec![0.0f32; n * n];
    let layers = vec![TensorView::new(&zero, &[1, n, n]).unwrap(); 4];
    let got: Array<f64> = flow(&layers, None).unwrap();
    let eye: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
    assert_eq!(got.data, eye);
    // Token 2 attended by no one in layer 0, no residual: 0.
    let mut a0 = rng.attention(n * n, n);
    (0..n).for_each(|i| a0[i * n + 2] = 0.0);
    let a1 = rng.attention(n * n, n);
    let layers = [
        TensorView::new(&a0, &[1, n, n]).unwrap(),
        TensorView::new(&a1, &[1, n, n]).unwrap(),
    ];
    let config = Config::new().unwrap().residual(0.0).unwrap();
    let got: Array<f64> = flow(&layers, Some(&config)).unwrap();
    assert!((0..n).all(|q| got.data[q * n + 2] == 0.0));
}

#[test]
fn flow_errors_leave_the_output_untouched() {
    let n = 4;
    let mut rng = Rng::new(5);
    let a = rng.attention(2 * n * n, n);
    let view = TensorView::new(&a, &[2, n, n]).unwrap();
    let mut nan = a.clone();
    nan[n + 1] = f64::NAN;
    let nan_view = TensorView::new(&nan, &[2, n, n]).unwrap();
    let err = flow::<f64, _>(&[view, nan_view], None).unwrap_err();
    assert_eq!(err.status, Status::Argument);
    assert!(
        err.message.contains("layers[1]") && err.message.contains("capacity"),
        "{}",
        err
    );
    let mut inf = a.clone();
    inf[0] = f64::INFINITY;
    let err = flow::<f64, _>(&[TensorView::new(&inf, &[2, n, n]).unwrap()], None).unwrap_err();
    assert_eq!(err.status, Status::Argument);
    let rows = Config::new().unwrap().query_rows(&[n]).unwrap();
    assert_eq!(
        flow::<f64, _>(&[view], Some(&rows)).unwrap_err().status,
        Status::Argument
    );
    let chefer = Config::new().unwrap().rule(Rule::Chefer).unwrap();
    assert_eq!(
        flow::<f64, _>(&[view], Some(&chefer)).unwrap_err().status,
        Status::Argument
    );
    let cumulative = Config::new().unwrap().cumulative(true).unwrap();
    assert_eq!(
        flow::<f64, _>(&[view], Some(&cumulative)).unwrap_err().status,
        Status::Argument
    );
    let grad = Config::new().unwrap().head_fusion(HeadFusion::Grad).unwrap();
    assert_eq!(
        flow::<f64, _>(&[view], Some(&grad)).unwrap_err().status,
        Status::Argument
    );
    let wide = TensorView::new(&a[..2 * n * (n - 1)], &[2, n, n - 1]).unwrap();
    assert_eq!(flow::<f64, _>(&[wide], None).unwrap_err().status, Status::Shape);
    assert_eq!(
        flow::<f64, TensorView<f64>>(&[], None).unwrap_err().status,
        Status::Argument
    );
    // A wrong output shape, and a refused call: nothing written.
    let mut buf = vec![7.0f64; n * (n - 1)];
    let mut out = TensorViewMut::new(&mut buf, &[n, n - 1]).unwrap();
    assert_eq!(flow_into(&[view], None, &mut out).unwrap_err().status, Status::Shape);
    let mut buf2 = vec![7.0f64; n * n];
    let mut out = TensorViewMut::new(&mut buf2, &[n, n]).unwrap();
    assert_eq!(
        flow_into(&[nan_view], None, &mut out).unwrap_err().status,
        Status::Argument
    );
    assert!(buf.iter().chain(&buf2).all(|&x| x == 7.0));
    let mut out = TensorViewMut::new(&mut buf2, &[n, n]).unwrap();
    flow_into(&[view], None, &mut out).unwrap();
    assert_close(&buf2, &factor(&a, 0, 2, n, 1.0), 1e-12);
}

#[test]
fn spectra_hand_cases() {
    let m = 6;
    let eye: Vec<f64> = (0..m * m).map(|k| if k / m == k % m { 1.0 } else { 0.0 }).collect();
    let u: Vec<f64> = (0..m).map(|i| i as f64 - 2.5).collect();
    let v: Vec<f64> = (0..m).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let rank1: Vec<f64> = (0..m * m).map(|k| u[k / m] * v[k % m]).collect();
    let zero = vec![0.0f64; m * m];
    let batch = [&eye[..], &rank1[..], &zero[..]].concat();
    let x = TensorView::new(&batch, &[3, m, m]).unwrap();
    let norm = |w: &[f64]| w.iter().map(|a| a * a).sum::<f64>().sqrt();

    let s: Array<f64> = singular_values(&x).unwrap();
    assert_eq!(s.shape, [3, m]);
    assert_close(&s.data[..m], &vec![1.0; m], 1e-14);
    assert!((s.data[m] - norm(&u) * norm(&v)).abs() < 1e-13);
    assert!(s.data[m + 1..2 * m].iter().all(|&x| x.abs() < 1e-13));
    assert!(s.data[2 * m..].iter().all(|&x| x == 0.0));
    let r: Array<f64> = effective_rank(&x).unwrap();
    assert_eq!(r.shape, [3]);
    assert_close(&r.data, &[m as f64, 1.0, 0.0], 1e-10);

    let s32: Array<f32> = singular_values(&x).unwrap();
    assert_close(&s32.data, &s.data, 2e-6);
    let r32: Array<f32> = effective_rank(&x).unwrap();
    assert_close(&r32.data, &[m as f64, 1.0, 0.0], 1e-4);

    // diag(1, 2, 3) read transposed and reversed: the values 3, 2, 1 and the
    // rank exp(-sum p ln p) with p = (3, 2, 1) / 6.
    let d = [0.0f64, 0.0, 3.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0];
    let view = TensorView::with_strides(&d, &[3, 3], &[1, -3], 6).unwrap(); // x[i][j] = d[6 + i - 3j]
    let s: Array<f64> = singular_values(&view).unwrap();
    assert_close(&s.data, &[3.0, 2.0, 1.0], 1e-14);
    let r: Array<f64> = effective_rank(&view).unwrap();
    assert_eq!(r.shape, [1]);
    let h: f64 = [3.0f64, 2.0, 1.0].iter().map(|s| -(s / 6.0) * (s / 6.0).ln()).sum();
    assert_close(&r.data, &[h.exp()], 1e-13);

    // Half-precision bits go in as they are.
    let bits: Vec<u16> = [1.0f64, 0.0, 0.0, 0.5].iter().map(|&x| common::f16_bits(x)).collect();
    let half = TensorView::from_bits(&bits, &[2, 2], Dtype::F16).unwrap();
    let s: Array<f64> = singular_values(&half).unwrap();
    assert_eq!(s.data, [1.0, 0.5]);
}

#[test]
fn spectra_errors_leave_the_output_untouched() {
    let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    let wide = TensorView::new(&a, &[2, 3]).unwrap();
    assert_eq!(singular_values::<f64, _>(&wide).unwrap_err().status, Status::Shape);
    assert_eq!(effective_rank::<f64, _>(&wide).unwrap_err().status, Status::Shape);
    let flat = TensorView::new(&a[..4], &[4]).unwrap();
    assert_eq!(singular_values::<f64, _>(&flat).unwrap_err().status, Status::Shape);
    for bad in [f64::NAN, f64::INFINITY] {
        let x = [1.0, bad, 0.0, 1.0];
        let err = effective_rank::<f64, _>(&TensorView::new(&x, &[2, 2]).unwrap()).unwrap_err();
        assert_eq!(err.status, Status::Argument, "{}", err);
    }
    let x = TensorView::new(&a[..4], &[2, 2]).unwrap();
    let mut buf = [7.0f64; 3];
    let mut out = TensorViewMut::new(&mut buf, &[3]).unwrap();
    assert_eq!(singular_values_into(&x, &mut out).unwrap_err().status, Status::Shape);
    let mut out = TensorViewMut::new(&mut buf[..2], &[2]).unwrap();
    assert_eq!(effective_rank_into(&x, &mut out).unwrap_err().status, Status::Shape);
    assert_eq!(buf, [7.0; 3]);
    let mut out = TensorViewMut::new(&mut buf[..2], &[2]).unwrap();
    singular_values_into(&x, &mut out).unwrap();
    assert!(buf[0] > buf[1] && buf[2] == 7.0);
}
