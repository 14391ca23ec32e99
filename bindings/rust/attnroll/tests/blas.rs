//! blas_info, blas_kernel_level and blas_selfcheck against the header's
//! semantics, the CPU's flags in /proc/cpuinfo, and forced kernels (this test
//! program run again with OPENBLAS_CORETYPE set, which OpenBLAS reads when
//! it is loaded).

use std::process::Command;

use attnroll::{blas_info, blas_kernel_level, blas_selfcheck, BlasInfo, SimdLevel};

/// The CPU's level from Linux's /proc/cpuinfo flags (which the kernel clears
/// when it does not save the registers), or None off x86-64 Linux.
fn cpuinfo_level() -> Option<i32> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("flags"))?;
    let flags: Vec<&str> = line.split_once(':')?.1.split_whitespace().collect();
    let has = |names: &[&str]| names.iter().all(|n| flags.contains(n));
    Some(if has(&["avx512f", "avx512bw", "avx512dq", "avx512vl"]) {
        4
    } else if has(&["avx2", "fma"]) {
        3
    } else if has(&["avx"]) {
        2
    } else {
        1
    })
}

/// The OpenBLAS core for a CPU level, as the header documents it.
fn best_for(level: i32) -> &'static str {
    match level {
        4 => "SkylakeX",
        3 => "Haswell",
        2 => "Sandybridge",
        _ => "",
    }
}

fn check_consistent(info: &BlasInfo, coretype_env: &str) {
    let (kl, cl) = (info.kernel_level.code(), info.cpu_level.code());
    assert!((0..=4).contains(&kl) && (0..=4).contains(&cl), "{:?}", info);
    assert_eq!(info.kernel_level, blas_kernel_level(&info.kernel), "{:?}", info);
    assert_eq!(info.kernel_below_cpu, kl != 0 && cl != 0 && kl < cl, "{:?}", info);
    assert_eq!(info.best_kernel, best_for(cl), "{:?}", info);
    if info.kernel_below_cpu {
        assert_eq!(info.fix, format!("OPENBLAS_CORETYPE={}", info.best_kernel));
        let advice = info.advice().expect("advice when below");
        assert_eq!(
            advice,
            format!(
                "OpenBLAS uses its {} kernel but this CPU supports {}; set OPENBLAS_CORETYPE={} in the \
                 environment before the program starts",
                info.kernel,
                ["UNKNOWN", "SSE", "AVX", "AVX2", "AVX512"][cl as usize],
                best_for(cl)
            )
        );
    } else {
        assert_eq!(info.fix, "");
        assert_eq!(info.advice(), None);
    }
    let want_env: String = coretype_env.chars().take(31).collect();
    assert_eq!(info.coretype_env, want_env);
    assert!(!info.blas.is_empty());
    if info.blas.starts_with("OpenBLAS") && info.blas.contains("DYNAMIC_ARCH") {
        // A DYNAMIC_ARCH build names the core it chose in its description.
        assert!(info.blas.split_whitespace().any(|w| w == info.kernel), "{:?}", info);
    }
}

#[test]
fn blas_info_is_consistent() {
    let info = blas_info();
    check_consistent(&info, &std::env::var("OPENBLAS_CORETYPE").unwrap_or_default());
    assert_eq!(info, blas_info());
}

#[test]
fn cpu_level_matches_proc_cpuinfo() {
    if let Some(level) = cpuinfo_level() {
        assert_eq!(blas_info().cpu_level.code(), level);
    }
}

#[test]
fn kernel_levels_by_name() {
    let cases: [(&str, i32); 14] = [
        ("SkylakeX", 4),
        ("skylakex", 4),
        ("SKYLAKEX", 4),
        ("Cooperlake", 4),
        ("SapphireRapids", 4),
        ("Haswell", 3),
        ("Zen", 3),
        ("Sandybridge", 2),
        ("Prescott", 1),
        ("Nehalem", 1),
        ("Core2", 1),
        ("Bogus", 0),
        ("", 0),
        ("Skylake\0X", 0),
    ];
    for (name, level) in cases {
        assert_eq!(blas_kernel_level(name).code(), level, "{:?}", name);
    }
}

#[test]
fn simd_levels_round_trip_and_order() {
    let all = [
        SimdLevel::Unknown,
        SimdLevel::Sse,
        SimdLevel::Avx,
        SimdLevel::Avx2,
        SimdLevel::Avx512,
    ];
    let names = ["UNKNOWN", "SSE", "AVX", "AVX2", "AVX512"];
    for (i, level) in all.iter().enumerate() {
        assert_eq!(level.code(), i as i32);
        assert_eq!(SimdLevel::from_code(i as i32), *level);
        assert_eq!(level.name(), names[i]);
        assert_eq!(level.to_string(), names[i]);
    }
    assert!(SimdLevel::Sse < SimdLevel::Avx512 && SimdLevel::Unknown < SimdLevel::Sse);
    assert_eq!(SimdLevel::from_code(5), SimdLevel::Unknown);
    assert_eq!(SimdLevel::from_code(-1), SimdLevel::Unknown);
}

#[test]
fn selfcheck_passes() {
    let (passed, error) = blas_selfcheck().unwrap();
    assert!(passed);
    // Single precision products of hundreds of terms are never exact, and
    // are within the header's 1e-4 relative tolerance.
    assert!(error > 0.0 && error <= 1e-4, "{}", error);
}

// ---------------------------------------------------------------- forced kernels

const CHILD: &str = "ATTNROLL_TEST_BLAS_CHILD";

/// Not a check by itself: run by `forced()` in a child process, it prints what
/// the library reports there.
#[test]
fn child_report() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let info = blas_info();
    let (passed, error) = blas_selfcheck().unwrap();
    println!(
        "REPORT {} {} {} {} {} {} {}",
        info.kernel,
        info.kernel_level.code(),
        info.cpu_level.code(),
        info.kernel_below_cpu,
        if info.fix.is_empty() { "-" } else { &info.fix },
        passed,
        error
    );
    check_consistent(&info, &std::env::var("OPENBLAS_CORETYPE").unwrap_or_default());
}

/// This test program run again, only `child_report`, with OPENBLAS_CORETYPE
/// set: the report's fields.
fn forced(core: &str) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "child_report", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("OPENBLAS_CORETYPE", core)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child with OPENBLAS_CORETYPE={} failed:\n{}\n{}",
        core,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness writes "test child_report ... " on the same line first.
    let line = stdout
        .lines()
        .find_map(|l| l.find("REPORT ").map(|p| &l[p..]))
        .unwrap_or_else(|| panic!("no report from the child:\n{}", stdout));
    line.split_whitespace().skip(1).map(String::from).collect()
}

#[test]
fn prescott_forced_is_below_the_cpu() {
    let level = match cpuinfo_level() {
        Some(l) if l > 1 => l,
        _ => return, // not a CPU above SSE
    };
    let r = forced("Prescott");
    let fix = format!("OPENBLAS_CORETYPE={}", best_for(level));
    assert_eq!(
        r[..5].join(" "),
        format!("Prescott 1 {} true {}", level, fix),
        "{:?}",
        r
    );
    assert_eq!(r[5], "true", "selfcheck with Prescott: {:?}", r);
    let error: f64 = r[6].parse().unwrap();
    assert!(error > 0.0 && error <= 1e-4, "{:?}", r);
}

#[test]
fn best_kernel_forced_is_not_below() {
    let level = match cpuinfo_level() {
        Some(l) if l > 1 => l,
        _ => return,
    };
    let best = best_for(level);
    let r = forced(best);
    assert_eq!(
        r[..6].join(" "),
        format!("{} {} {} false - true", best, level, level),
        "{:?}",
        r
    );
}
