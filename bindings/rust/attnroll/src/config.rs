//! `Config`: an owned `attnroll_config`.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::ptr::NonNull;

use attnroll_sys as ffi;

use crate::error::{check, Error, Status};

/// How the heads of a layer are fused into one map (pipeline step 2,
/// `ATTNROLL_OPT_HEAD_FUSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeadFusion {
    /// Mean over heads (Abnar & Zuidema 2020; the spec).  The default.
    Mean,
    /// Element-wise max over heads (vit-explain).
    Max,
    /// Element-wise min over heads (vit-explain).
    Min,
    /// `sum_h w_h A_h` with `w = softmax_h(-entropy_h)`, `entropy_h` the mean
    /// row entropy of head h: the users' newest spatial script.
    Entropy,
    /// `sum_h w_h A_h` with the weights of [`Config::head_weights`], as given.
    Weights,
    /// `mean_h max(G_h * A_h, 0)`, G the gradient of the explained score with
    /// respect to the map (Chefer et al. 2021).  Needs gradients:
    /// [`spatial_grad`](crate::spatial_grad) or [`Stream::push_grad`](crate::Stream::push_grad).
    Grad,
}

impl HeadFusion {
    /// The `ATTNROLL_FUSE_*` value.
    pub fn code(self) -> i32 {
        match self {
            HeadFusion::Mean => ffi::ATTNROLL_FUSE_MEAN,
            HeadFusion::Max => ffi::ATTNROLL_FUSE_MAX,
            HeadFusion::Min => ffi::ATTNROLL_FUSE_MIN,
            HeadFusion::Entropy => ffi::ATTNROLL_FUSE_ENTROPY,
            HeadFusion::Weights => ffi::ATTNROLL_FUSE_WEIGHTS,
            HeadFusion::Grad => ffi::ATTNROLL_FUSE_GRAD,
        }
    }

    /// The fusion for an `ATTNROLL_FUSE_*` value, `None` for another number.
    pub fn from_code(code: i32) -> Option<HeadFusion> {
        [
            HeadFusion::Mean,
            HeadFusion::Max,
            HeadFusion::Min,
            HeadFusion::Entropy,
            HeadFusion::Weights,
            HeadFusion::Grad,
        ]
        .iter()
        .copied()
        .find(|f| f.code() == code)
    }
}

/// How a fused map `Abar` becomes the layer's factor M (pipeline step 4,
/// `ATTNROLL_OPT_RULE`); r is [`Config::residual`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `M = normalize_rows(Abar + r*I)` (Abnar & Zuidema 2020).  The default.
    Rollout,
    /// `M = Abar + r*I`, not normalised, so that `R <- R + Abar @ R` when
    /// r = 1 (Chefer et al. 2021).
    Chefer,
}

impl Rule {
    /// The `ATTNROLL_RULE_*` value.
    pub fn code(self) -> i32 {
        match self {
            Rule::Rollout => ffi::ATTNROLL_RULE_ROLLOUT,
            Rule::Chefer => ffi::ATTNROLL_RULE_CHEFER,
        }
    }

    /// The rule for an `ATTNROLL_RULE_*` value, `None` for another number.
    pub fn from_code(code: i32) -> Option<Rule> {
        [Rule::Rollout, Rule::Chefer].iter().copied().find(|r| r.code() == code)
    }
}

/// Options for the rollouts and streams, built with consuming setters:
///
/// ```
/// use attnroll::Config;
/// let config = Config::new()?
///     .query_rows(&[0])?      // the CLS row only: outputs [F, 1, N]
///     .layer_range(1..)?      // without layer 0
///     .threads(2)?
///     .residual(1.0)?;
/// assert_eq!(config.get_layer_range(), (1, None));
/// let err = Config::new()?.threads(5000).unwrap_err();
/// assert_eq!(err.status, attnroll::Status::Argument);
/// # Ok::<(), attnroll::Error>(())
/// ```
///
/// The rollout method (the header's "The pipeline": drop tokens, fuse the
/// heads, discard, the rule, the product, cumulative outputs):
///
/// ```
/// use attnroll::{Config, HeadFusion, Rule};
/// // The users' newest spatial script: drop CLS, entropy head weights.
/// let newest = Config::new()?.drop_tokens(1)?.head_fusion(HeadFusion::Entropy)?;
/// // vit-explain's max fusion discarding 90% (rows normalised, CLS column kept).
/// let vit = Config::new()?.head_fusion(HeadFusion::Max)?.discard_ratio(0.9)?;
/// // Chefer et al.: gradient fusion and R <- R + Abar @ R (use spatial_grad).
/// let chefer = Config::new()?.head_fusion(HeadFusion::Grad)?.rule(Rule::Chefer)?;
/// assert_eq!((newest.get_drop_tokens(), vit.get_discard_ratio()), (1, 0.9));
/// assert_eq!(chefer.get_rule(), Rule::Chefer);
/// let err = Config::new()?.discard_ratio(1.0).unwrap_err();
/// assert!(err.message.starts_with("discard_ratio: "), "{}", err);
/// # Ok::<(), attnroll::Error>(())
/// ```
///
/// A config is read, not kept, by the calls it is passed to.  It is `Send`
/// but not `Sync`.
pub struct Config {
    handle: NonNull<ffi::attnroll_config>,
    rows: Option<usize>,
}

// SAFETY: the library allows a config to be used from any thread, one at a time.
unsafe impl Send for Config {}

/// Puts the setter's name in front of the library's message ("value: 5000 is
/// outside the bounds of ATTNROLL_OPT_THREADS [0, 1024]" names the C argument).
fn named(result: Result<(), Error>, name: &str) -> Result<(), Error> {
    result.map_err(|e| Error::new(e.status, format!("{}: {}", name, e.message)))
}

fn to_i64(value: usize, name: &str) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| Error::new(Status::Argument, format!("{}: {} does not fit in an i64", name, value)))
}

impl Config {
    /// Every option at its default.
    pub fn new() -> Result<Config, Error> {
        let mut raw: *mut ffi::attnroll_config = std::ptr::null_mut();
        // SAFETY: raw is a valid out-pointer.
        check(unsafe { ffi::attnroll_config_create(&mut raw) })?;
        let handle = NonNull::new(raw).ok_or_else(|| {
            Error::new(
                Status::Internal,
                "attnroll_config_create returned NULL with ATTNROLL_OK",
            )
        })?;
        Ok(Config { handle, rows: None })
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::attnroll_config {
        self.handle.as_ptr()
    }

    fn set_int(&mut self, key: i32, value: i64, name: &str) -> Result<(), Error> {
        // SAFETY: the handle is live and owned by self.
        named(
            check(unsafe { ffi::attnroll_config_set_int(self.handle.as_ptr(), key, value) }),
            name,
        )
    }

    fn get_int(&self, key: i32) -> i64 {
        let mut value = 0i64;
        // SAFETY: live handle, valid out-pointer; the key is an INT key, so
        // the call cannot fail.
        let status = unsafe { ffi::attnroll_config_get_int(self.handle.as_ptr(), key, &mut value) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        value
    }

    /// Rows of the rollout to compute, in this order (repeats allowed), e.g.
    /// `&[0]` for the CLS row; the output's row axis then has `rows.len()`
    /// entries.  Each must be < N (checked by the computing call).  Empty is
    /// refused: leave the option unset for all rows.
    pub fn query_rows(mut self, rows: &[usize]) -> Result<Config, Error> {
        if rows.is_empty() {
            return Err(Error::new(
                Status::Argument,
                "query_rows: is empty; leave query_rows unset to compute all rows",
            ));
        }
        let mut values = Vec::with_capacity(rows.len());
        for (i, &r) in rows.iter().enumerate() {
            values.push(to_i64(r, &format!("query_rows[{}]", i))?);
        }
        let count = to_i64(values.len(), "query_rows")?;
        // SAFETY: values holds count elements; the library copies them.
        let status = unsafe {
            ffi::attnroll_config_set_ints(
                self.handle.as_ptr(),
                ffi::ATTNROLL_OPT_QUERY_ROWS,
                values.as_ptr(),
                count,
            )
        };
        named(check(status), "query_rows")?;
        self.rows = Some(rows.len());
        Ok(self)
    }

    /// The layers rolled out: `1..` (all but layer 0), `0..12`, `..`, ...
    /// The computing call checks that begin < end <= the number of layers.
    pub fn layer_range<R: RangeBounds<usize>>(mut self, range: R) -> Result<Config, Error> {
        let begin = match range.start_bound() {
            Bound::Included(&b) => to_i64(b, "layer_range.start")?,
            Bound::Excluded(&b) => to_i64(b, "layer_range.start")?
                .checked_add(1)
                .ok_or_else(|| Error::new(Status::Argument, "layer_range.start: overflows"))?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Excluded(&e) => to_i64(e, "layer_range.end")?,
            Bound::Included(&e) => to_i64(e, "layer_range.end")?
                .checked_add(1)
                .ok_or_else(|| Error::new(Status::Argument, "layer_range.end: overflows"))?,
            Bound::Unbounded => -1,
        };
        self.set_int(ffi::ATTNROLL_OPT_LAYER_BEGIN, begin, "layer_range.start")?;
        self.set_int(ffi::ATTNROLL_OPT_LAYER_END, end, "layer_range.end")?;
        Ok(self)
    }

    /// Worker threads a call may use; 0 (the default) lets the library choose.
    pub fn threads(mut self, threads: usize) -> Result<Config, Error> {
        let t = to_i64(threads, "threads")?;
        self.set_int(ffi::ATTNROLL_OPT_THREADS, t, "threads")?;
        Ok(self)
    }

    /// Weight `r` of the identity added to each layer before normalising the
    /// rows (1.0 by default; 0.0 gives plain attention products).
    pub fn residual(self, residual: f64) -> Result<Config, Error> {
        // SAFETY: live handle.
        let status =
            unsafe { ffi::attnroll_config_set_float(self.handle.as_ptr(), ffi::ATTNROLL_OPT_RESIDUAL, residual) };
        named(check(status), "residual")?;
        Ok(self)
    }

    /// Drops the first k tokens of every head's map and re-normalises each
    /// row (pipeline step 1): 1 drops CLS (the users' newest script), 5 CLS
    /// and 4 registers.  Outputs, query rows and protected columns then count
    /// the N - k remaining tokens.  k >= N is refused by the computing call.
    pub fn drop_tokens(mut self, k: usize) -> Result<Config, Error> {
        let k = to_i64(k, "drop_tokens")?;
        self.set_int(ffi::ATTNROLL_OPT_DROP_TOKENS, k, "drop_tokens")?;
        Ok(self)
    }

    /// How the heads are fused (pipeline step 2); [`HeadFusion::Mean`] by
    /// default.  [`HeadFusion::Weights`] needs [`head_weights`](Config::head_weights),
    /// [`HeadFusion::Grad`] needs gradients.
    pub fn head_fusion(mut self, fusion: HeadFusion) -> Result<Config, Error> {
        self.set_int(ffi::ATTNROLL_OPT_HEAD_FUSION, i64::from(fusion.code()), "head_fusion")?;
        Ok(self)
    }

    /// One weight per head for [`HeadFusion::Weights`], used as given (any
    /// sign and sum; finite).  The computing call checks the count against
    /// the layers' H ([`Status::Shape`]) and refuses weights with another
    /// fusion ([`Status::Argument`]).  Empty clears the list.
    pub fn head_weights(self, weights: &[f64]) -> Result<Config, Error> {
        let count = to_i64(weights.len(), "head_weights")?;
        // SAFETY: weights holds count elements; the library copies them.
        let status = unsafe {
            ffi::attnroll_config_set_floats(
                self.handle.as_ptr(),
                ffi::ATTNROLL_OPT_HEAD_WEIGHTS,
                weights.as_ptr(),
                count,
            )
        };
        named(check(status), "head_weights")?;
        Ok(self)
    }

    /// Discard ratio p in [0, 1) (pipeline step 3, vit-explain's): in each
    /// frame's fused map the floor(p*M) smallest of the M entries outside the
    /// protected columns become 0; equal values go lowest index first.
    pub fn discard_ratio(self, p: f64) -> Result<Config, Error> {
        // SAFETY: live handle.
        let status =
            unsafe { ffi::attnroll_config_set_float(self.handle.as_ptr(), ffi::ATTNROLL_OPT_DISCARD_RATIO, p) };
        named(check(status), "discard_ratio")?;
        Ok(self)
    }

    /// Columns the discard never zeroes; `[0]` (CLS) by default, may be empty.
    /// Each must be < N - k (checked by the computing call).
    pub fn protect(mut self, columns: &[usize]) -> Result<Config, Error> {
        let mut values = Vec::with_capacity(columns.len());
        for (i, &c) in columns.iter().enumerate() {
            values.push(to_i64(c, &format!("protect[{}]", i))?);
        }
        self.set_ints(ffi::ATTNROLL_OPT_PROTECT, &values, "protect")?;
        Ok(self)
    }

    /// The rule that turns a fused map into the layer's factor (pipeline
    /// step 4); [`Rule::Rollout`] by default.
    pub fn rule(mut self, rule: Rule) -> Result<Config, Error> {
        self.set_int(ffi::ATTNROLL_OPT_RULE, i64::from(rule.code()), "rule")?;
        Ok(self)
    }

    /// With `true` the output gains a leading axis of length L' (the layer
    /// range) holding every partial product `R_l = M_l @ ... @ M_begin` (or
    /// its query rows); the last is the ordinary result.
    pub fn cumulative(mut self, cumulative: bool) -> Result<Config, Error> {
        self.set_int(ffi::ATTNROLL_OPT_CUMULATIVE, i64::from(cumulative), "cumulative")?;
        Ok(self)
    }

    fn set_ints(&mut self, key: i32, values: &[i64], name: &str) -> Result<(), Error> {
        let count = to_i64(values.len(), name)?;
        // SAFETY: values holds count elements (the library reads none when 0).
        let status = unsafe { ffi::attnroll_config_set_ints(self.handle.as_ptr(), key, values.as_ptr(), count) };
        named(check(status), name)
    }

    fn get_ints(&self, key: i32) -> Vec<i64> {
        let mut count = 0i64;
        // SAFETY: capacity 0 with a NULL values pointer asks for the length.
        let status = unsafe { ffi::attnroll_config_get_ints(self.as_ptr(), key, std::ptr::null_mut(), 0, &mut count) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        let mut values = vec![0i64; count.max(0) as usize];
        // SAFETY: values has room for count elements.
        let status = unsafe {
            ffi::attnroll_config_get_ints(self.as_ptr(), key, values.as_mut_ptr(), values.len() as i64, &mut count)
        };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        values
    }

    fn get_float(&self, key: i32) -> f64 {
        let mut value = 0f64;
        // SAFETY: live handle, valid out-pointer, a FLOAT key.
        let status = unsafe { ffi::attnroll_config_get_float(self.as_ptr(), key, &mut value) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        value
    }

    /// The query rows set (empty when all rows are computed).
    pub fn get_query_rows(&self) -> Vec<usize> {
        self.get_ints(ffi::ATTNROLL_OPT_QUERY_ROWS)
            .into_iter()
            .map(|v| v as usize)
            .collect()
    }

    /// Tokens dropped from the front.
    pub fn get_drop_tokens(&self) -> usize {
        self.get_int(ffi::ATTNROLL_OPT_DROP_TOKENS) as usize
    }

    /// The head fusion.
    pub fn get_head_fusion(&self) -> HeadFusion {
        HeadFusion::from_code(self.get_int(ffi::ATTNROLL_OPT_HEAD_FUSION) as i32).unwrap_or(HeadFusion::Mean)
    }

    /// The per-head weights (empty unless set).
    pub fn get_head_weights(&self) -> Vec<f64> {
        let mut count = 0i64;
        // SAFETY: capacity 0 with a NULL values pointer asks for the length.
        let status = unsafe {
            ffi::attnroll_config_get_floats(
                self.as_ptr(),
                ffi::ATTNROLL_OPT_HEAD_WEIGHTS,
                std::ptr::null_mut(),
                0,
                &mut count,
            )
        };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        let mut values = vec![0f64; count.max(0) as usize];
        // SAFETY: values has room for count elements.
        let status = unsafe {
            ffi::attnroll_config_get_floats(
                self.as_ptr(),
                ffi::ATTNROLL_OPT_HEAD_WEIGHTS,
                values.as_mut_ptr(),
                values.len() as i64,
                &mut count,
            )
        };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        values
    }

    /// The discard ratio.
    pub fn get_discard_ratio(&self) -> f64 {
        self.get_float(ffi::ATTNROLL_OPT_DISCARD_RATIO)
    }

    /// The protected columns.
    pub fn get_protect(&self) -> Vec<usize> {
        self.get_ints(ffi::ATTNROLL_OPT_PROTECT)
            .into_iter()
            .map(|v| v as usize)
            .collect()
    }

    /// The rule.
    pub fn get_rule(&self) -> Rule {
        Rule::from_code(self.get_int(ffi::ATTNROLL_OPT_RULE) as i32).unwrap_or(Rule::Rollout)
    }

    /// Whether every partial product is written.
    pub fn get_cumulative(&self) -> bool {
        self.get_int(ffi::ATTNROLL_OPT_CUMULATIVE) != 0
    }

    /// The number of query rows, `None` when all rows are computed.
    pub fn num_query_rows(&self) -> Option<usize> {
        self.rows
    }

    /// `(begin, end)`, `end` `None` for "all layers".
    pub fn get_layer_range(&self) -> (usize, Option<usize>) {
        let begin = self.get_int(ffi::ATTNROLL_OPT_LAYER_BEGIN) as usize;
        let end = self.get_int(ffi::ATTNROLL_OPT_LAYER_END);
        (begin, if end < 0 { None } else { Some(end as usize) })
    }

    /// Worker threads (0 = the library's default).
    pub fn get_threads(&self) -> usize {
        self.get_int(ffi::ATTNROLL_OPT_THREADS) as usize
    }

    /// The residual weight.
    pub fn get_residual(&self) -> f64 {
        self.get_float(ffi::ATTNROLL_OPT_RESIDUAL)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and freed once.
        unsafe { ffi::attnroll_config_destroy(self.handle.as_ptr()) }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("query_rows", &self.get_query_rows())
            .field("layer_range", &self.get_layer_range())
            .field("threads", &self.get_threads())
            .field("residual", &self.get_residual())
            .field("drop_tokens", &self.get_drop_tokens())
            .field("head_fusion", &self.get_head_fusion())
            .field("head_weights", &self.get_head_weights())
            .field("discard_ratio", &self.get_discard_ratio())
            .field("protect", &self.get_protect())
            .field("rule", &self.get_rule())
            .field("cumulative", &self.get_cumulative())
            .finish()
    }
}

/// The number of output rows for a config and N tokens.
pub(crate) fn rows(config: Option<&Config>, n: usize) -> usize {
    config.and_then(|c| c.rows).unwrap_or(n)
}

/// N' = N - k for a config's drop_tokens k, or N when k >= N (the computing
/// call then refuses k).
pub(crate) fn tokens_kept(config: Option<&Config>, n: usize) -> usize {
    let k = config.map_or(0, |c| c.get_drop_tokens());
    if k < n {
        n - k
    } else {
        n
    }
}

/// `Some(L')` when the config asks for cumulative outputs: the layers of its
/// range among `num_layers`, or 1 when the range does not fit (the computing
/// call then refuses it).
pub(crate) fn cumulative_length(config: Option<&Config>, num_layers: usize) -> Option<usize> {
    let config = config.filter(|c| c.get_cumulative())?;
    let (begin, end) = config.get_layer_range();
    let end = end.unwrap_or(num_layers);
    Some(if begin < end && end <= num_layers {
        end - begin
    } else {
        1
    })
}
