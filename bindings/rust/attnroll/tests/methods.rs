//! The rollout methods (the header's "The pipeline") through `Config`'s
//! builder methods, `spatial_grad` and `Stream::push_grad`: hand-worked cases,
//! every fusion, discard, the Chefer rule and cumulative outputs against a
//! plain f64 Rust transcription of the pipeline, streaming equal to batch,
//! and the refusals.

mod common;

use attnroll::{
    spatial, spatial_grad, spatial_grad_into, temporal, AnyView, Array, Config, Dtype, HeadFusion, Rule, Status,
    Stream, TensorView,
};
use common::{assert_close, Rng};

fn one(a: &[f64], shape: &[usize], config: &Config) -> Array<f64> {
    spatial(&[TensorView::new(a, shape).unwrap()], Some(config)).unwrap()
}

// ---- hand-worked cases (the same numbers as tests/test_methods.c) ----------------

const TWO_HEADS: [f64; 8] = [1.0, 0.0, 0.5, 0.5, 0.2, 0.8, 1.0, 0.0];

#[test]
fn max_min_weights_by_hand() {
    let c = Config::new().unwrap().head_fusion(HeadFusion::Max).unwrap();
    assert_close(
        &one(&TWO_HEADS, &[2, 2, 2], &c).data,
        &[2.0 / 2.8, 0.8 / 2.8, 0.4, 0.6],
        1e-15,
    );
    let c = Config::new().unwrap().head_fusion(HeadFusion::Min).unwrap();
    assert_close(
        &one(&TWO_HEADS, &[2, 2, 2], &c).data,
        &[1.0, 0.0, 1.0 / 3.0, 2.0 / 3.0],
        1e-15,
    );
    let c = Config::new()
        .unwrap()
        .head_fusion(HeadFusion::Weights)
        .unwrap()
        .head_weights(&[2.0, -1.0])
        .unwrap();
    assert_eq!(c.get_head_weights(), [2.0, -1.0]);
    assert_close(&one(&TWO_HEADS, &[2, 2, 2], &c).data, &[1.4, -0.4, 0.0, 1.0], 1e-15);
}

#[test]
fn drop_entropy_grad_by_hand() {
    let a = [0.5, 0.25, 0.25, 0.2, 0.4, 0.4, 0.1, 0.3, 0.6];
    let c = Config::new().unwrap().drop_tokens(1).unwrap();
    let r = one(&a, &[1, 3, 3], &c);
    assert_eq!(r.shape, [2, 2]);
    assert_close(&r.data, &[0.75, 0.25, 1.0 / 6.0, 5.0 / 6.0], 1e-15);
    // uniform head (entropy ln 2) and identity head (~0): w = [1/3, 2/3]
    let e = [0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 1.0];
    let c = Config::new().unwrap().head_fusion(HeadFusion::Entropy).unwrap();
    assert_close(
        &one(&e, &[2, 2, 2], &c).data,
        &[11.0 / 12.0, 1.0 / 12.0, 1.0 / 12.0, 11.0 / 12.0],
        1e-9,
    );
    let a = [0.5, 0.5, 0.25, 0.75];
    let g = [1.0, -1.0, 2.0, 0.0];
    let c = Config::new().unwrap().head_fusion(HeadFusion::Grad).unwrap();
    let r: Array<f64> = spatial_grad(
        &[TensorView::new(&a, &[1, 2, 2]).unwrap()],
        &[TensorView::new(&g, &[1, 2, 2]).unwrap()],
        Some(&c),
    )
    .unwrap();
    assert_close(&r.data, &[1.0, 0.0, 1.0 / 3.0, 2.0 / 3.0], 1e-15);
}

#[test]
fn discard_and_ties_by_hand() {
    let a = [0.5, 0.5, 0.25, 0.75];
    let c = Config::new().unwrap().discard_ratio(0.5).unwrap();
    assert_eq!(c.get_protect(), [0]);
    assert_close(&one(&a, &[1, 2, 2], &c).data, &[1.0, 0.0, 0.125, 0.875], 1e-15);
    let u = [1.0 / 3.0; 9];
    let c = Config::new().unwrap().discard_ratio(0.5).unwrap().protect(&[]).unwrap();
    assert!(c.get_protect().is_empty());
    let want = [1.0, 0.0, 0.0, 0.0, 0.8, 0.2, 1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0];
    assert_close(&one(&u, &[1, 3, 3], &c).data, &want, 1e-15);
}

#[test]
fn chefer_and_cumulative_by_hand() {
    let a = [0.5, 0.5, 0.25, 0.75];
    let l = TensorView::new(&a, &[1, 2, 2]).unwrap();
    let c = Config::new().unwrap().rule(Rule::Chefer).unwrap();
    let r: Array<f64> = spatial(&[l, l], Some(&c)).unwrap();
    assert_close(&r.data, &[2.375, 1.625, 0.8125, 3.1875], 1e-15);
    let c = Config::new().unwrap().cumulative(true).unwrap();
    let r: Array<f64> = spatial(&[l, l], Some(&c)).unwrap();
    assert_eq!(r.shape, [2, 2, 2]);
    assert_close(
        &r.data,
        &[0.75, 0.25, 0.125, 0.875, 0.59375, 0.40625, 0.203125, 0.796875],
        1e-15,
    );
    let c = c.query_rows(&[1]).unwrap();
    let r: Array<f64> = spatial(&[l, l], Some(&c)).unwrap();
    assert_eq!(r.shape, [2, 1, 2]);
    assert_close(&r.data, &[0.125, 0.875, 0.203125, 0.796875], 1e-15);
    // temporal: rule and cumulative too
    let t = TensorView::new(&a, &[2, 2]).unwrap();
    let c = Config::new()
        .unwrap()
        .rule(Rule::Chefer)
        .unwrap()
        .cumulative(true)
        .unwrap();
    let r: Array<f64> = temporal(&[t, t], 0, Some(&c)).unwrap();
    assert_eq!(r.shape, [2, 2, 2]);
    assert_close(&r.data, &[1.5, 0.5, 0.25, 1.75, 2.375, 1.625, 0.8125, 3.1875], 1e-15);
}

// ---- a plain f64 transcription of the pipeline ---------------------------------------

#[derive(Clone, Debug)]
struct Method {
    drop: usize,
    fusion: HeadFusion,
    weights: Vec<f64>,
    discard: f64,
    protect: Vec<usize>,
    rule: Rule,
    residual: f64,
}

impl Method {
    fn new(fusion: HeadFusion) -> Method {
        Method {
            drop: 0,
            fusion,
            weights: vec![],
            discard: 0.0,
            protect: vec![0],
            rule: Rule::Rollout,
            residual: 1.0,
        }
    }
    fn config(&self) -> Config {
        let mut c = Config::new()
            .unwrap()
            .drop_tokens(self.drop)
            .unwrap()
            .head_fusion(self.fusion)
            .unwrap()
            .discard_ratio(self.discard)
            .unwrap()
            .protect(&self.protect)
            .unwrap()
            .rule(self.rule)
            .unwrap()
            .residual(self.residual)
            .unwrap();
        if !self.weights.is_empty() {
            c = c.head_weights(&self.weights).unwrap();
        }
        c
    }
}

fn normalize_rows(m: &mut [f64], n: usize) {
    for row in m.chunks_mut(n) {
        let s: f64 = row.iter().sum();
        let s = if s == 0.0 { 1.0 } else { s };
        row.iter_mut().for_each(|x| *x /= s);
    }
}

/// One frame's layer [H,N,N] (and gradient) -> the factor M [N',N'].
fn factor(a: &[f64], g: Option<&[f64]>, h: usize, n: usize, m: &Method) -> Vec<f64> {
    let k = m.drop;
    let np = n - k;
    let mut maps = vec![0.0; h * np * np];
    for hh in 0..h {
        for i in 0..np {
            for j in 0..np {
                maps[(hh * np + i) * np + j] = a[(hh * n + i + k) * n + j + k];
            }
        }
        if k > 0 {
            normalize_rows(&mut maps[hh * np * np..(hh + 1) * np * np], np);
        }
    }
    let mut w = vec![1.0 / h as f64; h];
    if m.fusion == HeadFusion::Entropy {
        for (hh, wh) in w.iter_mut().enumerate() {
            let mut p = maps[hh * np * np..(hh + 1) * np * np].to_vec();
            normalize_rows(&mut p, np);
            let e: f64 = p.iter().map(|&x| -x * (x + 1e-10).ln()).sum::<f64>() / np as f64;
            *wh = -e;
        }
        let top = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        w.iter_mut().for_each(|x| *x = (*x - top).exp());
        let s: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= s);
    } else if m.fusion == HeadFusion::Weights {
        w = m.weights.clone();
    }
    let mut out = vec![0.0; np * np];
    for (e, o) in out.iter_mut().enumerate() {
        let vals = (0..h).map(|hh| maps[hh * np * np + e]);
        *o = match m.fusion {
            HeadFusion::Max => vals.fold(f64::NEG_INFINITY, f64::max),
            HeadFusion::Min => vals.fold(f64::INFINITY, f64::min),
            HeadFusion::Grad => {
                let (i, j) = (e / np, e % np);
                let g = g.unwrap();
                (0..h)
                    .map(|hh| (maps[hh * np * np + e] * g[(hh * n + i + k) * n + j + k]).max(0.0))
                    .sum::<f64>()
                    / h as f64
            }
            _ => vals.zip(&w).map(|(x, w)| x * w).sum(),
        };
    }
    if m.discard > 0.0 {
        let mut list: Vec<(f64, usize)> = (0..np * np)
            .filter(|e| !m.protect.contains(&(e % np)))
            .map(|e| (out[e], e))
            .collect();
        list.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        let drop = (m.discard * list.len() as f64).floor() as usize;
        for &(_, e) in &list[..drop] {
            out[e] = 0.0;
        }
    }
    for i in 0..np {
        out[i * np + i] += m.residual;
    }
    if m.rule == Rule::Rollout {
        normalize_rows(&mut out, np);
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for p in 0..n {
            let x = a[i * n + p];
            for j in 0..n {
                c[i * n + j] += x * b[p * n + j];
            }
        }
    }
    c
}

/// C-ordered [F,H,N,N] layers -> [L, F, N', N'] (every partial product).
fn reference(layers: &[Vec<f64>], grads: Option<&[Vec<f64>]>, f: usize, h: usize, n: usize, m: &Method) -> Vec<f64> {
    let np = n - m.drop;
    let mut out = vec![0.0; layers.len() * f * np * np];
    for fr in 0..f {
        let mut r: Vec<f64> = (0..np * np).map(|e| if e / np == e % np { 1.0 } else { 0.0 }).collect();
        for (l, layer) in layers.iter().enumerate() {
            let span = fr * h * n * n..(fr + 1) * h * n * n;
            let g = grads.map(|g| &g[l][span.clone()]);
            r = matmul(&factor(&layer[span], g, h, n, m), &r, np);
            let at = (l * f + fr) * np * np;
            out[at..at + np * np].copy_from_slice(&r);
        }
    }
    out
}

fn cases() -> Vec<(&'static str, Method)> {
    let mut v = vec![];
    for &(name, fusion) in &[
        ("mean", HeadFusion::Mean),
        ("max", HeadFusion::Max),
        ("min", HeadFusion::Min),
        ("entropy", HeadFusion::Entropy),
        ("grad", HeadFusion::Grad),
    ] {
        v.push((name, Method::new(fusion)));
    }
    let mut m = Method::new(HeadFusion::Weights);
    m.weights = vec![0.5, 2.0, -0.25];
    v.push(("weights", m));
    let mut m = Method::new(HeadFusion::Entropy);
    m.drop = 1;
    v.push(("newest script", m));
    let mut m = Method::new(HeadFusion::Max);
    m.discard = 0.9;
    v.push(("vit-explain max discard .9", m));
    let mut m = Method::new(HeadFusion::Min);
    m.drop = 2;
    m.discard = 0.4;
    m.protect = vec![0, 2];
    m.residual = 0.5;
    v.push(("min drop2 discard protect r=.5", m));
    let mut m = Method::new(HeadFusion::Grad);
    m.rule = Rule::Chefer;
    v.push(("chefer", m));
    let mut m = Method::new(HeadFusion::Mean);
    m.rule = Rule::Chefer;
    m.discard = 0.3;
    v.push(("chefer mean discard", m));
    v
}

const F: usize = 2;
const H: usize = 3;
const N: usize = 9;
const L: usize = 4;

fn data(seed: u64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut rng = Rng::new(seed);
    let layers = (0..L).map(|_| rng.attention(F * H * N * N, N)).collect();
    let grads = (0..L)
        .map(|_| (0..F * H * N * N).map(|_| 2.0 * rng.uniform() - 1.0).collect())
        .collect();
    (layers, grads)
}

fn bf16(v: &[f64]) -> (Vec<u16>, Vec<f64>) {
    let bits: Vec<u16> = v.iter().map(|&x| ((x as f32).to_bits() >> 16) as u16).collect();
    let exact = bits
        .iter()
        .map(|&b| f32::from_bits(u32::from(b) << 16) as f64)
        .collect();
    (bits, exact)
}

fn scale(want: &[f64]) -> f64 {
    want.iter().fold(1.0f64, |s, x| s.max(x.abs()))
}

#[test]
fn every_method_against_the_reference() {
    let (layers, grads) = data(11);
    for (name, m) in cases() {
        let grad = m.fusion == HeadFusion::Grad;
        let np = N - m.drop;
        let want_all = reference(&layers, if grad { Some(&grads) } else { None }, F, H, N, &m);
        let last = &want_all[(L - 1) * F * np * np..];
        let views: Vec<TensorView<f64>> = layers
            .iter()
            .map(|l| TensorView::new(l, &[F, H, N, N]).unwrap())
            .collect();
        let gviews: Vec<TensorView<f64>> = grads
            .iter()
            .map(|g| TensorView::new(g, &[F, H, N, N]).unwrap())
            .collect();
        let config = m.config();
        let run64 = |c: &Config| -> Array<f64> {
            if grad {
                spatial_grad(&views, &gviews, Some(c)).unwrap()
            } else {
                spatial(&views, Some(c)).unwrap()
            }
        };
        let r = run64(&config);
        assert_eq!(r.shape, [F, np, np], "{}", name);
        let tol = 1e-12 * scale(last);
        assert_close(&r.data, last, tol);
        let cum = run64(&m.config().cumulative(true).unwrap());
        assert_eq!(cum.shape, [L, F, np, np], "{}", name);
        assert_close(&cum.data, &want_all, 1e-12 * scale(&want_all));
        // float32 output, f32 inputs
        let l32: Vec<Vec<f32>> = layers.iter().map(|l| common::to_f32(l)).collect();
        let g32: Vec<Vec<f32>> = grads.iter().map(|g| common::to_f32(g)).collect();
        let l32e: Vec<Vec<f64>> = l32.iter().map(|l| l.iter().map(|&x| x as f64).collect()).collect();
        let g32e: Vec<Vec<f64>> = g32.iter().map(|l| l.iter().map(|&x| x as f64).collect()).collect();
        let want32 = reference(&l32e, if grad { Some(&g32e) } else { None }, F, H, N, &m);
        let v32: Vec<TensorView<f32>> = l32.iter().map(|l| TensorView::new(l, &[F, H, N, N]).unwrap()).collect();
        let gv32: Vec<TensorView<f32>> = g32.iter().map(|g| TensorView::new(g, &[F, H, N, N]).unwrap()).collect();
        let r32: Array<f32> = if grad {
            spatial_grad(&v32, &gv32, Some(&config)).unwrap()
        } else {
            spatial(&v32, Some(&config)).unwrap()
        };
        let last32 = &want32[(L - 1) * F * np * np..];
        assert_close(&r32.data, last32, 2e-6 * scale(last32));
    }
}

#[test]
fn bfloat16_and_mixed_dtype_inputs() {
    let (layers, grads) = data(12);
    let mut m = Method::new(HeadFusion::Grad);
    m.drop = 1;
    m.discard = 0.2;
    let lb: Vec<(Vec<u16>, Vec<f64>)> = layers.iter().map(|l| bf16(l)).collect();
    let gb: Vec<(Vec<u16>, Vec<f64>)> = grads.iter().map(|g| bf16(g)).collect();
    let exact_l: Vec<Vec<f64>> = lb.iter().map(|p| p.1.clone()).collect();
    let exact_g: Vec<Vec<f64>> = gb.iter().map(|p| p.1.clone()).collect();
    let want = reference(&exact_l, Some(&exact_g), F, H, N, &m);
    let np = N - 1;
    let views: Vec<AnyView> = lb
        .iter()
        .map(|p| AnyView::from(TensorView::from_bits(&p.0, &[F, H, N, N], Dtype::BF16).unwrap()))
        .collect();
    // gradients as f64 (their exact values), a different dtype from the layers
    let gviews: Vec<AnyView> = exact_g
        .iter()
        .map(|g| AnyView::from(TensorView::new(g, &[F, H, N, N]).unwrap()))
        .collect();
    let r: Array<f64> = spatial_grad(&views, &gviews, Some(&m.config())).unwrap();
    assert_close(&r.data, &want[(L - 1) * F * np * np..], 1e-12);
    let mut out = vec![0.0f64; F * np * np];
    let mut o = attnroll::TensorViewMut::new(&mut out, &[F, np, np]).unwrap();
    spatial_grad_into(&views, &gviews, Some(&m.config()), &mut o).unwrap();
    assert_eq!(out, r.data);
}

#[test]
fn stream_equals_batch_for_every_method() {
    let (layers, grads) = data(13);
    for (name, m) in cases() {
        let grad = m.fusion == HeadFusion::Grad;
        for variant in 0..4 {
            let mut config = m.config().cumulative(variant & 1 == 1).unwrap();
            if variant & 2 == 2 {
                config = config.query_rows(&[2, 0]).unwrap().layer_range(1..3).unwrap();
            }
            let views: Vec<TensorView<f64>> = layers
                .iter()
                .map(|l| TensorView::new(l, &[F, H, N, N]).unwrap())
                .collect();
            let gviews: Vec<TensorView<f64>> = grads
                .iter()
                .map(|g| TensorView::new(g, &[F, H, N, N]).unwrap())
                .collect();
            let batch: Array<f32> = if grad {
                spatial_grad(&views, &gviews, Some(&config)).unwrap()
            } else {
                spatial(&views, Some(&config)).unwrap()
            };
            let mut s = Stream::new(F, N, Dtype::F32, Some(&config)).unwrap();
            for (v, g) in views.iter().zip(&gviews) {
                if grad {
                    s.push_grad(v, g).unwrap();
                } else {
                    s.push(v).unwrap();
                }
            }
            let streamed: Array<f32> = s.result().unwrap();
            assert_eq!(streamed.shape, batch.shape, "{} variant {}", name, variant);
            assert_eq!(streamed.data, batch.data, "{} variant {}", name, variant);
        }
    }
}

// ---- edge cases ------------------------------------------------------------------

#[test]
fn edge_cases() {
    let (layers, _) = data(14);
    let views: Vec<TensorView<f64>> = layers
        .iter()
        .map(|l| TensorView::new(l, &[F, H, N, N]).unwrap())
        .collect();
    // k = N - 1: [[1]] per frame
    let c = Config::new().unwrap().drop_tokens(N - 1).unwrap();
    let r: Array<f32> = spatial(&views, Some(&c)).unwrap();
    assert_eq!(
        (r.shape.as_slice(), r.data.as_slice()),
        (&[F, 1, 1][..], &[1.0f32, 1.0][..])
    );
    // p = 0 equals the plain rollout; p near 1 against the reference
    let plain: Array<f64> = spatial(&views, None).unwrap();
    let c = Config::new().unwrap().discard_ratio(0.0).unwrap();
    assert_eq!(spatial::<f64, _>(&views, Some(&c)).unwrap().data, plain.data);
    let mut m = Method::new(HeadFusion::Mean);
    m.discard = 1.0 - f64::EPSILON / 2.0;
    let want = reference(&layers, None, F, H, N, &m);
    let r: Array<f64> = spatial(&views, Some(&m.config())).unwrap();
    assert_close(&r.data, &want[(L - 1) * F * N * N..], 1e-12);
    // weights summing to zero
    let mut m = Method::new(HeadFusion::Weights);
    m.weights = vec![1.0, -1.0, 0.0];
    let want = reference(&layers, None, F, H, N, &m);
    let r: Array<f64> = spatial(&views, Some(&m.config())).unwrap();
    assert_close(&r.data, &want[(L - 1) * F * N * N..], 1e-12);
    // NaN: no error, it reaches the output
    let mut bad = layers[0].clone();
    bad[N * N + 2 * N + 3] = f64::NAN;
    for fusion in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min, HeadFusion::Entropy] {
        let c = Config::new()
            .unwrap()
            .head_fusion(fusion)
            .unwrap()
            .discard_ratio(0.5)
            .unwrap();
        let r: Array<f32> = spatial(&[TensorView::new(&bad, &[F, H, N, N]).unwrap()], Some(&c)).unwrap();
        assert!(r.data.iter().any(|x| x.is_nan()), "{:?}", fusion);
    }
}

// ---- refusals ----------------------------------------------------------------------

#[test]
fn bad_options_name_the_setter_and_value() {
    let err = Config::new().unwrap().discard_ratio(1.0).unwrap_err();
    assert_eq!(err.status, Status::Argument);
    assert!(
        err.message.starts_with("discard_ratio: ") && err.message.contains('1'),
        "{}",
        err
    );
    let err = Config::new().unwrap().discard_ratio(f64::NAN).unwrap_err();
    assert!(err.message.starts_with("discard_ratio: "), "{}", err);
    let err = Config::new().unwrap().head_weights(&[1.0, f64::INFINITY]).unwrap_err();
    assert!(
        err.message.starts_with("head_weights: ") && err.message.contains("inf"),
        "{}",
        err
    );
    assert_eq!(HeadFusion::from_code(6), None);
    assert_eq!(Rule::from_code(2), None);
    assert_eq!(HeadFusion::from_code(3), Some(HeadFusion::Entropy));
    let c = Config::new().unwrap();
    assert_eq!(
        (
            c.get_head_fusion(),
            c.get_rule(),
            c.get_cumulative(),
            c.get_drop_tokens(),
            c.get_discard_ratio()
        ),
        (HeadFusion::Mean, Rule::Rollout, false, 0, 0.0)
    );
    let text = format!("{:?}", Config::new().unwrap().head_fusion(HeadFusion::Min).unwrap());
    assert!(
        text.contains("head_fusion: Min") && text.contains("protect: [0]"),
        "{}",
        text
    );
}

#[test]
fn bad_input_against_shapes() {
    let (layers, grads) = data(15);
    let views: Vec<TensorView<f64>> = layers
        .iter()
        .map(|l| TensorView::new(l, &[F, H, N, N]).unwrap())
        .collect();
    let gviews: Vec<TensorView<f64>> = grads
        .iter()
        .map(|g| TensorView::new(g, &[F, H, N, N]).unwrap())
        .collect();
    let fails = |c: &Config, status: Status, words: &[&str]| {
        let err = spatial::<f64, _>(&views, Some(c)).unwrap_err();
        assert_eq!(err.status, status, "{}", err);
        for w in words {
            assert!(err.message.contains(w), "{:?} not in {}", w, err);
        }
    };
    fails(
        &Config::new().unwrap().drop_tokens(N).unwrap(),
        Status::Argument,
        &["ATTNROLL_OPT_DROP_TOKENS: 9"],
    );
    fails(
        &Config::new().unwrap().drop_tokens(1).unwrap().protect(&[0, 8]).unwrap(),
        Status::Argument,
        &["ATTNROLL_OPT_PROTECT[1]: column 8"],
    );
    let w = Config::new()
        .unwrap()
        .head_fusion(HeadFusion::Weights)
        .unwrap()
        .head_weights(&[1.0, 1.0])
        .unwrap();
    fails(&w, Status::Shape, &["2 weights", "H = 3"]);
    let w = Config::new().unwrap().head_weights(&[1.0, 1.0, 1.0]).unwrap();
    fails(&w, Status::Argument, &["ATTNROLL_OPT_HEAD_WEIGHTS"]);
    let g = Config::new().unwrap().head_fusion(HeadFusion::Grad).unwrap();
    fails(&g, Status::Argument, &["ATTNROLL_FUSE_GRAD needs gradients"]);
    let err = spatial_grad::<f64, _, _>(&views, &gviews, None).unwrap_err();
    assert!(
        err.status == Status::Argument && err.message.contains("gradients given"),
        "{}",
        err
    );
    let err = spatial_grad::<f64, _, _>(&views, &gviews[..2], Some(&g)).unwrap_err();
    assert!(err.message.contains("2 gradients for 4 layers"), "{}", err);
    let short = TensorView::new(&grads[0][..H * N * N], &[1, H, N, N]).unwrap();
    let err = spatial_grad::<f64, _, _>(&views[..1], &[short], Some(&g)).unwrap_err();
    assert!(
        err.status == Status::Shape && err.message.contains("grads[0]"),
        "{}",
        err
    );
    // streams: GRAD pushed without a gradient, a gradient with MEAN, a bad shape
    let mut s = Stream::new(F, N, Dtype::F64, Some(&g)).unwrap();
    assert_eq!(s.push(&views[0]).unwrap_err().status, Status::Argument);
    assert_eq!(s.push_grad(&views[0], &short).unwrap_err().status, Status::Shape);
    s.push_grad(&views[0], &gviews[0]).unwrap();
    assert_eq!(s.layers_pushed(), 1);
    let mut s = Stream::new(F, N, Dtype::F64, None).unwrap();
    let err = s.push_grad(&views[0], &gviews[0]).unwrap_err();
    assert!(err.message.contains("gradients given"), "{}", err);
    let err = Stream::new(F, N, Dtype::F64, Some(&Config::new().unwrap().drop_tokens(N).unwrap())).unwrap_err();
    assert!(err.message.contains("ATTNROLL_OPT_DROP_TOKENS"), "{}", err);
    // temporal refuses the spatial-only options
    let t = TensorView::new(&layers[0][..N * N], &[N, N]).unwrap();
    let err = temporal::<f64, _>(&[t], 0, Some(&Config::new().unwrap().drop_tokens(1).unwrap())).unwrap_err();
    assert!(err.message.contains("spatial only"), "{}", err);
}
