//! A small tour of the attnroll binding on a synthetic ViT-like attention stack.
//!
//!     ATTNROLL_LIB_DIR=build/src LD_LIBRARY_PATH=build/src \
//!         cargo run --offline --example rollout
//!
//! 2 frames x 6 layers x 4 heads x (1 CLS + 6x6 patches) tokens, with attention
//! drawn to a blob that moves between the frames.  The example rolls the stack
//! out in full and for the CLS row only (in float16 storage too), checks that
//! they agree, does the same with a stream, prints where the CLS token looks,
//! and runs a temporal rollout.

use attnroll::{column_mean, minmax, spatial, temporal, Array, Config, Dtype, Error, Stream, TensorView};

const GRID: usize = 6;
const N: usize = 1 + GRID * GRID;
const F: usize = 2;
const H: usize = 4;
const L: usize = 6;

/// IEEE half bits of a value in [0, 1] (round to nearest).
fn f16_bits(x: f32) -> u16 {
    if x < 6.1e-5 {
        return (x / 5.960_464_5e-8).round() as u16; // subnormal
    }
    let bits = x.to_bits();
    let exp = ((bits >> 23) & 0xFF) as i32 - 127 + 15;
    let mant = bits & 0x7F_FFFF;
    let mut h = ((exp as u32) << 10) | (mant >> 13);
    if mant & 0x1FFF > 0x1000 || (mant & 0x1FFF == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    h as u16
}

/// One layer [F,H,N,N]: softmax rows that favour the blob's patch in each frame.
fn make_layer(layer: usize) -> Vec<f32> {
    let mut a = vec![0f32; F * H * N * N];
    for f in 0..F {
        let (br, bc) = (1 + 2 * f, 1 + 3 * f); // the blob moves
        for h in 0..H {
            for i in 0..N {
                let row = &mut a[((f * H + h) * N + i) * N..][..N];
                for (j, x) in row.iter_mut().enumerate() {
                    let score = if j == 0 {
                        1.0
                    } else {
                        let (r, c) = ((j - 1) / GRID, (j - 1) % GRID);
                        let d2 = (r as f32 - br as f32).powi(2) + (c as f32 - bc as f32).powi(2);
                        3.0 * (-d2 / 2.0).exp() + 0.1 * ((i * 7 + j * 3 + h + layer) % 5) as f32
                    };
                    *x = score.exp();
                }
                let s: f32 = row.iter().sum();
                row.iter_mut().for_each(|x| *x /= s);
            }
        }
    }
    a
}

fn main() -> Result<(), Error> {
    println!("attnroll {} (library {})", attnroll::VERSION, attnroll::version());
    let data: Vec<Vec<f32>> = (0..L).map(make_layer).collect();
    let layers = data
        .iter()
        .map(|d| TensorView::new(d, &[F, H, N, N]))
        .collect::<Result<Vec<_>, _>>()?;

    // Full rollout [F,N,N] and the CLS row only [F,1,N], without layer 0.
    let no_layer0 = Config::new()?.layer_range(1..)?;
    let full: Array<f32> = spatial(&layers, Some(&no_layer0))?;
    let cls_cfg = Config::new()?.layer_range(1..)?.query_rows(&[0])?;
    let cls: Array<f64> = spatial(&layers, Some(&cls_cfg))?;
    let mut max_diff = 0f64;
    for f in 0..F {
        for j in 0..N {
            let d = (full.get(&[f, 0, j]).unwrap() as f64 - cls.get(&[f, 0, j]).unwrap()).abs();
            max_diff = max_diff.max(d);
        }
    }
    println!(
        "full {:?} and CLS-only {:?} agree to {:.1e}",
        full.shape, cls.shape, max_diff
    );

    // The same from float16 storage, and from a stream, one layer at a time.
    let halves: Vec<Vec<u16>> = data.iter().map(|d| d.iter().map(|&x| f16_bits(x)).collect()).collect();
    let half_layers = halves
        .iter()
        .map(|h| TensorView::from_bits(h, &[F, H, N, N], Dtype::F16))
        .collect::<Result<Vec<_>, _>>()?;
    let from_half: Array<f64> = spatial(&half_layers, Some(&cls_cfg))?;
    let mut stream = Stream::new(F, N, Dtype::F32, Some(&cls_cfg))?;
    for layer in &layers {
        stream.push(layer)?;
    }
    let streamed: Array<f32> = stream.result()?;
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let streamed64: Vec<f64> = streamed.data.iter().map(|&x| x as f64).collect();
    println!(
        "float16 input differs by {:.1e}; the stream ({} layers, {} bytes held) by {:.1e}",
        diff(&from_half.data, &cls.data),
        stream.layers_pushed(),
        stream.bytes_held(),
        diff(&streamed64, &cls.data)
    );

    // Where the CLS token looks, per frame: its patch row scaled to [0,1].
    let shades = [' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];
    for f in 0..F {
        let patches = &cls.data[f * N + 1..(f + 1) * N];
        let scaled: Array<f64> = minmax(&TensorView::new(patches, &[GRID, GRID])?)?;
        println!("frame {}:", f);
        for r in 0..GRID {
            let line: String = (0..GRID)
                .map(|c| shades[(scaled.get(&[r, c]).unwrap() * 9.0).round() as usize])
                .flat_map(|ch| [ch, ch])
                .collect();
            println!("  |{}|", line);
        }
    }

    // Temporal rollout over 3 refiner layers [Q=2, T=4, T=4], instance 1.
    let t = 4;
    let refiner: Vec<Vec<f64>> = (0..3)
        .map(|l| (0..2 * t * t).map(|k| 1.0 + ((k * 5 + l * 3) % 7) as f64).collect())
        .collect();
    let views = refiner
        .iter()
        .map(|r| TensorView::new(r, &[2, t, t]))
        .collect::<Result<Vec<_>, _>>()?;
    let rollout: Array<f64> = temporal(&views, 1, None)?;
    let mean: Array<f64> = column_mean(&rollout.view()?)?;
    println!("temporal rollout {:?}; column means {:.3?}", rollout.shape, mean.data);

    // Errors name the argument.
    let bad = TensorView::new(&data[0][..N * N], &[1, N, N])?;
    if let Err(e) = spatial::<f32, _>(&[layers[0], layers[1]], Some(&Config::new()?.query_rows(&[N])?)) {
        println!("as expected: {}", e);
    }
    if let Err(e) = spatial::<f32, _>(&[bad, layers[0]], None) {
        println!("as expected: {}", e);
    }
    Ok(())
}
