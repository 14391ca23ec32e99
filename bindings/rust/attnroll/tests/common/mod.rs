//! Helpers shared by the integration tests.
#![allow(dead_code)]

use attnroll::{Array, Real};

/// f64 -> IEEE half bits; the value must be exactly representable (the hand
/// cases use 0, ±1, 0.5, 0.25, ...).
pub fn f16_bits(x: f64) -> u16 {
    if x == 0.0 {
        return if x.is_sign_negative() { 0x8000 } else { 0 };
    }
    let sign = if x < 0.0 { 0x8000u16 } else { 0 };
    let a = x.abs();
    let e = a.log2().floor() as i32;
    assert!((-14..=15).contains(&e), "{} is not a normal half", x);
    let m = (a / 2f64.powi(e) - 1.0) * 1024.0;
    assert_eq!(m, m.round(), "{} is not exact in half precision", x);
    sign | (((e + 15) as u16) << 10) | m as u16
}

/// f64 -> bfloat16 bits; the value must be exactly representable.
pub fn bf16_bits(x: f64) -> u16 {
    let f = x as f32;
    assert_eq!(f as f64, x);
    let bits = f.to_bits();
    assert_eq!(bits & 0xFFFF, 0, "{} is not exact in bfloat16", x);
    (bits >> 16) as u16
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn to_f16(v: &[f64]) -> Vec<u16> {
    v.iter().map(|&x| f16_bits(x)).collect()
}

pub fn to_bf16(v: &[f64]) -> Vec<u16> {
    v.iter().map(|&x| bf16_bits(x)).collect()
}

#[track_caller]
pub fn assert_close<T: Real>(got: &[T], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64();
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {}: got {}, want {} (tol {})\n got  {:?}\n want {:?}",
            i,
            g,
            w,
            tol,
            got,
            want
        );
    }
}

#[track_caller]
pub fn assert_array<T: Real>(a: &Array<T>, shape: &[usize], want: &[f64], tol: f64) {
    assert_eq!(a.shape, shape);
    assert_close(&a.data, want, tol);
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// uniform in [0, 1)
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `count` values in rows of `n`, each row a softmax (rows sum to 1).
    pub fn attention(&mut self, count: usize, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..count).map(|_| (4.0 * self.uniform()).exp()).collect();
        for row in v.chunks_mut(n) {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= s);
        }
        v
    }
}

/// normalize_rows(mean_h(A) + r I) of frame `f` of a C-ordered [F,H,N,N] layer.
pub fn factor(layer: &[f64], f: usize, h: usize, n: usize, r: f64) -> Vec<f64> {
    let mut abar = vec![0.0; n * n];
    for hh in 0..h {
        let base = (f * h + hh) * n * n;
        for k in 0..n * n {
            abar[k] += layer[base + k] / h as f64;
        }
    }
    for i in 0..n {
        abar[i * n + i] += r;
        let s: f64 = abar[i * n..(i + 1) * n].iter().sum();
        let s = if s == 0.0 { 1.0 } else { s };
        abar[i * n..(i + 1) * n].iter_mut().for_each(|x| *x /= s);
    }
    abar
}

/// The spec in plain f64, for C-ordered [F,H,N,N] layers: per frame
/// R = Abar_{e-1} @ ... @ Abar_b, Abar = normalize_rows(mean_h(A) + r I).
pub fn reference_spatial(
    layers: &[Vec<f64>],
    f: usize,
    h: usize,
    n: usize,
    begin: usize,
    end: usize,
    r: f64,
) -> Vec<f64> {
    let mut out = vec![0.0; f * n * n];
    for fr in 0..f {
        let mut acc: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
        for layer in &layers[begin..end] {
            let abar = factor(layer, fr, h, n, r);
            // acc = abar @ acc
            let mut next = vec![0.0; n * n];
            for i in 0..n {
                for k in 0..n {
                    let a = abar[i * n + k];
                    for j in 0..n {
                        next[i * n + j] += a * acc[k * n + j];
                    }
                }
            }
            acc = next;
        }
        out[fr * n * n..(fr + 1) * n * n].copy_from_slice(&acc);
    }
    out
}
