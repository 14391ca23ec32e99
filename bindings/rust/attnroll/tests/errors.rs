//! Every error path: the status, and a message naming the argument; view
//! checks that fail before any library call; outputs untouched on failure.

mod common;

use std::ffi::CStr;

use attnroll::{
    column_mean, column_mean_into, minmax, minmax_into, minmax_rows, minmax_rows_into, select_instance,
    select_instance_into, spatial, spatial_into, temporal, temporal_into, Array, Config, Dtype, Error, Status, Stream,
    TensorView, TensorViewMut,
};

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T, Error>, status: Status, names: &[&str]) -> Error {
    let err = result.expect_err("the call should have failed");
    assert_eq!(err.status, status, "status of: {}", err);
    assert!(
        names.iter().any(|n| err.message.contains(n)),
        "the message does not name any of {:?}: {}",
        names,
        err.message
    );
    // Display = message [STATUS_NAME]
    assert_eq!(err.to_string(), format!("{} [{}]", err.message, status.name()));
    err
}

fn last_error() -> String {
    // SAFETY: never NULL; read on this thread.
    unsafe { CStr::from_ptr(attnroll::sys::attnroll_last_error()) }
        .to_string_lossy()
        .into_owned()
}

const A: [f32; 4] = [0.5, 0.5, 0.25, 0.75];

fn layer() -> TensorView<'static, f32> {
    TensorView::new(&A, &[1, 2, 2]).unwrap()
}

// ---- view checks: made before any call ------------------------------------------

#[test]
fn view_construction_errors() {
    let d = [0f32; 12];
    expect_err(TensorView::new(&d, &[]), Status::Shape, &["shape: rank 0"]);
    expect_err(TensorView::new(&d, &[1; 17]), Status::Shape, &["shape: rank 17"]);
    expect_err(TensorView::new(&d, &[3, 0, 4]), Status::Shape, &["shape[1]: extent 0"]);
    expect_err(
        TensorView::new(&d, &[2, 2]),
        Status::Shape,
        &["holds 4 elements but the slice has 12"],
    );
    expect_err(
        TensorView::new(&d, &[13]),
        Status::Shape,
        &["holds 13 elements but the slice has 12"],
    );
    expect_err(
        TensorView::with_strides(&d, &[3, 4], &[4], 0),
        Status::Shape,
        &["strides: 1 strides for the rank-2"],
    );
    // past the end: which dim, and where it reaches
    let e = expect_err(
        TensorView::with_strides(&d, &[3, 4], &[5, 1], 0),
        Status::Shape,
        &["dim 1 (extent 4, stride 1)"],
    );
    assert!(
        e.message
            .contains("reaches element 13, past the end of the 12-element slice"),
        "{}",
        e.message
    );
    expect_err(
        TensorView::with_strides(&d, &[3, 4], &[4, 1], 1),
        Status::Shape,
        &["dim 1 (extent 4, stride 1) reaches element 12"],
    );
    expect_err(
        TensorView::with_strides(&d, &[4, 3], &[4, 1], 0),
        Status::Shape,
        &["dim 0 (extent 4, stride 4) reaches element 12"],
    );
    // before the start: negative strides from too small an offset
    expect_err(
        TensorView::with_strides(&d, &[3, 4], &[-4, 1], 4),
        Status::Shape,
        &["dim 0 (extent 3, stride -4) reaches element -4, before the start"],
    );
    expect_err(
        TensorView::with_strides(&d, &[3, 4], &[4, -1], 2),
        Status::Shape,
        &["dim 1 (extent 4, stride -1) reaches element -1"],
    );
    // the offset itself
    expect_err(
        TensorView::with_strides(&d, &[1], &[1], 12),
        Status::Shape,
        &["offset: element 12 is past the end of the 12-element slice"],
    );
    let empty: [f32; 0] = [];
    expect_err(
        TensorView::with_strides(&empty, &[1], &[0], 0),
        Status::Shape,
        &["offset: element 0 is past the end of the 0-element slice"],
    );
    // huge strides do not overflow the check
    expect_err(
        TensorView::with_strides(&d, &[2, 2], &[i64::MAX, i64::MAX], 0),
        Status::Shape,
        &["dim 0"],
    );
    expect_err(
        TensorView::with_strides(&d, &[2, 2], &[i64::MIN, 1], 0),
        Status::Shape,
        &["dim 0"],
    );
    // zero strides reach only the offset
    assert!(TensorView::with_strides(&d, &[1000, 1000], &[0, 0], 11).is_ok());
    // permutations
    let v = TensorView::new(&d, &[3, 4]).unwrap();
    expect_err(v.permuted(&[0]), Status::Shape, &["axes: 1 axes for a rank-2 view"]);
    expect_err(
        v.permuted(&[1, 1]),
        Status::Shape,
        &["axes: [1, 1] is not a permutation"],
    );
    expect_err(v.permuted(&[0, 2]), Status::Shape, &["is not a permutation"]);
    assert_eq!(v.get(&[3, 0]), None);
    assert_eq!(v.get(&[0]), None);
    // u16 bits need a 16-bit dtype
    let bits = [0u16; 4];
    expect_err(
        TensorView::from_bits(&bits, &[2, 2], Dtype::F32),
        Status::Dtype,
        &["dtype: F32"],
    );
    expect_err(
        TensorView::from_bits_with_strides(&bits, &[2, 2], &[2, 1], 0, Dtype::F64),
        Status::Dtype,
        &["dtype: F64"],
    );
    expect_err(
        TensorView::from_bits_with_strides(&bits, &[2, 2], &[2, 2], 0, Dtype::BF16),
        Status::Shape,
        &["dim 1"],
    );
    // outputs are checked the same way
    let mut o = [0f64; 6];
    expect_err(
        TensorViewMut::new(&mut o, &[2, 2]),
        Status::Shape,
        &["holds 4 elements but the slice has 6"],
    );
    expect_err(
        TensorViewMut::with_strides(&mut o, &[2, 3], &[1, 3], 1),
        Status::Shape,
        &["dim 1 (extent 3, stride 3) reaches element 8"],
    );
    expect_err(
        TensorViewMut::with_strides(&mut o, &[2, 3], &[-3, 1], 2),
        Status::Shape,
        &["dim 0 (extent 2, stride -3) reaches element -1"],
    );
    expect_err(
        TensorViewMut::with_strides(&mut o, &[0], &[1], 0),
        Status::Shape,
        &["shape[0]: extent 0"],
    );
}

/// A view that fails its check never reaches the library: the thread's
/// library message stays the one of the last library call.
#[test]
fn bounds_checks_happen_before_any_call() {
    let _ok: Array<f32> = spatial(&[layer()], None).unwrap();
    assert_eq!(last_error(), "");
    let d = [0f32; 8];
    assert!(TensorView::with_strides(&d, &[2, 2, 2], &[4, 2, 2], 0).is_err());
    assert_eq!(last_error(), "", "the library was called");
    let mut o = [0f32; 3];
    assert!(TensorViewMut::with_strides(&mut o, &[2, 2], &[2, 1], 0).is_err());
    assert_eq!(last_error(), "");
    // empty layer lists are caught here too
    let none: [TensorView<f32>; 0] = [];
    expect_err(spatial::<f32, _>(&none, None), Status::Argument, &["layers: is empty"]);
    expect_err(
        temporal::<f32, _>(&none, 0, None),
        Status::Argument,
        &["layers: is empty"],
    );
    assert_eq!(last_error(), "");
    // while a library failure sets it, and the Error keeps its own copy
    let bad = TensorView::new(&A, &[1, 1, 4]).unwrap();
    let err = expect_err(spatial::<f32, _>(&[bad], None), Status::Shape, &["layers[0]"]);
    assert_eq!(last_error(), err.message);
    let _ok: Array<f32> = spatial(&[layer()], None).unwrap();
    assert_eq!(last_error(), "");
    assert!(err.message.contains("layers[0]"));
}

// ---- spatial --------------------------------------------------------------------

#[test]
fn spatial_errors() {
    let l = layer();
    let other = [0.5f32; 8];
    let wide = TensorView::new(&other, &[2, 2, 2]).unwrap(); // 2 heads: shape differs
    expect_err(spatial::<f32, _>(&[l, wide], None), Status::Shape, &["layers[1]"]);
    let nonsquare = TensorView::new(&other, &[1, 2, 4]).unwrap();
    expect_err(spatial::<f64, _>(&[nonsquare], None), Status::Shape, &["layers[0]"]);
    let flat = TensorView::new(&other, &[8]).unwrap();
    expect_err(spatial::<f64, _>(&[flat], None), Status::Shape, &["layers[0]"]);
    let rank5 = TensorView::new(&other, &[1, 1, 2, 2, 2]).unwrap();
    expect_err(spatial::<f64, _>(&[rank5], None), Status::Shape, &["layers[0]"]);
    // options checked by the call
    let cfg = Config::new().unwrap().query_rows(&[0, 2]).unwrap();
    expect_err(spatial::<f32, _>(&[l], Some(&cfg)), Status::Argument, &["row", "query"]);
    let cfg = Config::new().unwrap().layer_range(1..).unwrap();
    expect_err(
        spatial::<f32, _>(&[l], Some(&cfg)),
        Status::Argument,
        &["begin", "end", "range", "LAYER_"],
    );
    let cfg = Config::new().unwrap().layer_range(0..3).unwrap();
    expect_err(
        spatial::<f32, _>(&[l, l], Some(&cfg)),
        Status::Argument,
        &["begin", "end", "range", "LAYER_"],
    );
    // outputs: wrong shape, self-overlapping, and nothing written on failure
    let mut buf = [-1f32; 9];
    let mut out = TensorViewMut::new(&mut buf, &[3, 3]).unwrap();
    expect_err(spatial_into(&[l], None, &mut out), Status::Shape, &["out"]);
    let mut out = TensorViewMut::with_strides(&mut buf, &[2, 2], &[0, 1], 0).unwrap();
    expect_err(spatial_into(&[l], None, &mut out), Status::Overlap, &["out"]);
    let mut out = TensorViewMut::new(&mut buf[..4], &[1, 2, 2]).unwrap();
    expect_err(spatial_into(&[l], None, &mut out), Status::Shape, &["out"]);
    assert_eq!(buf, [-1.0; 9]);
}

// ---- temporal, selection ----------------------------------------------------------

#[test]
fn temporal_and_select_errors() {
    let two = [0.5f64, 0.5, 0.25, 0.75];
    let three = [1.0f64 / 3.0; 9];
    let t2 = TensorView::new(&two, &[2, 2]).unwrap();
    let t3 = TensorView::new(&three, &[3, 3]).unwrap();
    expect_err(temporal::<f64, _>(&[t2, t3], 0, None), Status::Shape, &["layers[1]"]);
    let odd = [0f64; 12];
    let nonsquare = TensorView::new(&odd, &[3, 4]).unwrap();
    expect_err(temporal::<f64, _>(&[nonsquare], 0, None), Status::Shape, &["layers[0]"]);
    let vector = TensorView::new(&two, &[4]).unwrap();
    expect_err(
        temporal::<f64, _>(&[t2, vector], 0, None),
        Status::Shape,
        &["layers[1]"],
    );
    expect_err(
        temporal::<f64, _>(&[t2], usize::MAX, None),
        Status::Argument,
        &["instance"],
    );
    let cfg = Config::new().unwrap().query_rows(&[2]).unwrap();
    expect_err(
        temporal::<f64, _>(&[t2], 0, Some(&cfg)),
        Status::Argument,
        &["row", "query"],
    );
    let mut buf = [7f64; 6];
    let mut out = TensorViewMut::new(&mut buf, &[2, 3]).unwrap();
    expect_err(temporal_into(&[t2], 0, None, &mut out), Status::Shape, &["out"]);
    assert_eq!(buf, [7.0; 6]);

    expect_err(select_instance::<f64, _>(&vector, 0), Status::Shape, &["attn"]);
    expect_err(
        select_instance::<f64, _>(&t2, usize::MAX),
        Status::Argument,
        &["instance"],
    );
    let mut out = TensorViewMut::new(&mut buf, &[3, 2]).unwrap();
    expect_err(select_instance_into(&t2, 0, &mut out), Status::Shape, &["out"]);
    let mut out = TensorViewMut::with_strides(&mut buf, &[2, 2], &[1, 1], 0).unwrap();
    expect_err(select_instance_into(&t2, 0, &mut out), Status::Overlap, &["out"]);
}

// ---- post-processing ---------------------------------------------------------------

#[test]
fn post_processing_errors() {
    let x = [1f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let cube = TensorView::new(&x, &[2, 2, 2]).unwrap();
    expect_err(minmax_rows::<f64, _>(&cube), Status::Shape, &["in"]);
    expect_err(column_mean::<f64, _>(&cube), Status::Shape, &["in"]);
    let m = TensorView::new(&x, &[2, 4]).unwrap();
    let mut buf = [0f32; 8];
    expect_err(
        minmax_rows_into(&m, &mut TensorViewMut::new(&mut buf, &[4, 2]).unwrap()),
        Status::Shape,
        &["out"],
    );
    expect_err(
        column_mean_into(&m, &mut TensorViewMut::new(&mut buf[..2], &[2]).unwrap()),
        Status::Shape,
        &["out"],
    );
    expect_err(
        minmax_into(&cube, &mut TensorViewMut::new(&mut buf, &[8]).unwrap()),
        Status::Shape,
        &["out"],
    );
    expect_err(
        minmax_into(
            &m,
            &mut TensorViewMut::with_strides(&mut buf, &[2, 4], &[0, 1], 0).unwrap(),
        ),
        Status::Overlap,
        &["out"],
    );
    assert_eq!(buf, [0.0; 8]);
    let ok: Array<f64> = minmax(&cube).unwrap();
    assert_eq!(ok.shape, [2, 2, 2]);
}

// ---- config ------------------------------------------------------------------------

#[test]
fn config_errors_and_getters() {
    let c = Config::new().unwrap();
    assert_eq!(c.get_query_rows(), Vec::<usize>::new());
    assert_eq!(c.num_query_rows(), None);
    assert_eq!(c.get_layer_range(), (0, None));
    assert_eq!(c.get_threads(), 0);
    assert_eq!(c.get_residual(), 1.0);
    expect_err(Config::new().unwrap().threads(5000), Status::Argument, &["threads"]);
    expect_err(
        Config::new().unwrap().threads(usize::MAX),
        Status::Argument,
        &["threads"],
    );
    expect_err(Config::new().unwrap().residual(-0.5), Status::Argument, &["residual"]);
    expect_err(
        Config::new().unwrap().residual(f64::NAN),
        Status::Argument,
        &["residual"],
    );
    expect_err(Config::new().unwrap().residual(2e6), Status::Argument, &["residual"]);
    expect_err(
        Config::new().unwrap().query_rows(&[]),
        Status::Argument,
        &["query_rows: is empty"],
    );
    expect_err(
        Config::new().unwrap().query_rows(&[0, usize::MAX]),
        Status::Argument,
        &["query_rows[1]"],
    );
    expect_err(
        Config::new().unwrap().layer_range(0..0),
        Status::Argument,
        &["layer_range"],
    );
    expect_err(
        Config::new().unwrap().layer_range(usize::MAX..),
        Status::Argument,
        &["layer_range.start"],
    );
    expect_err(
        Config::new().unwrap().layer_range((1usize << 40)..),
        Status::Argument,
        &["layer_range"],
    );
    let c = Config::new()
        .unwrap()
        .query_rows(&[3, 1, 3])
        .unwrap()
        .layer_range(2..=4)
        .unwrap()
        .threads(3)
        .unwrap()
        .residual(0.25)
        .unwrap();
    assert_eq!(c.get_query_rows(), [3, 1, 3]);
    assert_eq!(c.num_query_rows(), Some(3));
    assert_eq!(c.get_layer_range(), (2, Some(5)));
    assert_eq!(c.get_threads(), 3);
    assert_eq!(c.get_residual(), 0.25);
    let debug = format!("{:?}", c);
    assert!(debug.contains("query_rows: [3, 1, 3]"), "{}", debug);
}

// ---- stream ------------------------------------------------------------------------

#[test]
fn stream_errors() {
    expect_err(Stream::new(0, 2, Dtype::F32, None), Status::Argument, &["frames"]);
    expect_err(Stream::new(1, 0, Dtype::F32, None), Status::Argument, &["tokens"]);
    expect_err(
        Stream::new(usize::MAX, 2, Dtype::F32, None),
        Status::Argument,
        &["frames"],
    );
    expect_err(Stream::new(1, 2, Dtype::F16, None), Status::Dtype, &["dtype"]);
    let cfg = Config::new().unwrap().query_rows(&[2]).unwrap();
    expect_err(
        Stream::new(1, 2, Dtype::F64, Some(&cfg)),
        Status::Argument,
        &["row", "query", "tokens"],
    );

    let mut s = Stream::new(1, 2, Dtype::F64, None).unwrap();
    expect_err(s.result::<f64>(), Status::State, &["layer", "push", "stream"]);
    let big = [0.25f32; 9];
    expect_err(
        s.push(&TensorView::new(&big, &[1, 3, 3]).unwrap()),
        Status::Shape,
        &["layer"],
    );
    assert_eq!(s.layers_pushed(), 0); // refused: as if not pushed
    s.push(&layer()).unwrap();
    let mut buf = [0f64; 9];
    expect_err(
        s.result_into(&mut TensorViewMut::new(&mut buf, &[3, 3]).unwrap()),
        Status::Shape,
        &["out"],
    );
    let r: Array<f64> = s.result().unwrap();
    assert_eq!(r.data, [0.75, 0.25, 0.125, 0.875]);
    expect_err(s.push(&layer()), Status::State, &["stream", "result", "finished"]);
    assert_eq!(s.layers_pushed(), 1);

    let cfg = Config::new().unwrap().layer_range(0..3).unwrap();
    let mut s = Stream::new(1, 2, Dtype::F32, Some(&cfg)).unwrap();
    s.push(&layer()).unwrap();
    expect_err(s.result::<f32>(), Status::State, &["layer", "end", "LAYER_END"]);
}

// ---- Status, Error ----------------------------------------------------------------

#[test]
fn status_and_error_types() {
    let all = [
        Status::Argument,
        Status::Shape,
        Status::Dtype,
        Status::Overlap,
        Status::Memory,
        Status::State,
        Status::Internal,
    ];
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.code(), i as i32 + 1);
        assert_eq!(Status::from_code(s.code()), Some(*s));
        assert!(s.name().starts_with("ATTNROLL_E_"), "{}", s.name());
        assert_eq!(s.to_string(), s.name());
    }
    assert_eq!(Status::from_code(0), None);
    assert_eq!(Status::from_code(42), Some(Status::Unknown(42)));
    assert_eq!(Status::Unknown(42).name(), "unknown status");
    assert_eq!(Status::Overlap.name(), "ATTNROLL_E_OVERLAP");
    // usable as a boxed std error with `?`
    fn run() -> Result<Array<f32>, Box<dyn std::error::Error + Send + Sync>> {
        let bad = TensorView::new(&A, &[1, 1, 4])?;
        Ok(spatial(&[bad], None)?)
    }
    let e = run().unwrap_err();
    assert!(e.to_string().ends_with("[ATTNROLL_E_SHAPE]"), "{}", e);
    let e: &Error = e.downcast_ref().expect("an attnroll::Error");
    assert_eq!(e.status, Status::Shape);
}
