/*
 * blas_autofix -- run a program on the OpenBLAS kernel its CPU deserves.
 *
 * OpenBLAS picks its kernel when it is loaded, and releases older than the CPU
 * fall back to their slowest x86-64 kernels (see attnroll_blas_report in
 * attnroll.h).  The only fix is OPENBLAS_CORETYPE in the environment before
 * the process starts, so a program that wants the fix re-executes itself,
 * once, with the variable set.  Used by the attnroll tool and attnroll_bench.
 *
 * Modes (the --blas-core option):
 *   "auto"  re-execute with OPENBLAS_CORETYPE=<best kernel for the CPU> when
 *           the kernel in use is below the CPU's level and OPENBLAS_CORETYPE
 *           is unset (a user's setting is always respected);
 *   "keep"  never re-execute;
 *   NAME    an OpenBLAS core name (e.g. Haswell): re-execute with
 *           OPENBLAS_CORETYPE=NAME unless that kernel is already in use.
 *           A name the CPU cannot run, or one not known, is refused.
 * After a re-execution the new kernel's products are checked against plain
 * loops (attnroll_blas_selfcheck); if they are wrong the program re-executes
 * with the original environment and says so on stderr.
 *
 * Environment used between the two runs (removed again in the second):
 *   ATTNROLL_BLAS_REEXEC            "<kernel OpenBLAS chose>" after the first
 *                                   re-execution, "fallback:<kernel>" after a
 *                                   failed self-check; its presence forbids
 *                                   any further re-execution.
 *   ATTNROLL_BLAS_ORIG_CORETYPE     the user's OPENBLAS_CORETYPE, when a NAME
 *                                   mode replaced it.
 *
 * Not thread-safe (it changes the environment and may exec): call it first
 * thing in main, before any thread starts.
 */
#ifndef ATTNROLL_TOOLS_BLAS_AUTOFIX_H
#define ATTNROLL_TOOLS_BLAS_AUTOFIX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Applies mode (NULL means "auto").  argv is the program's own, passed to the
 * re-executed program unchanged.  Returns 0 to go on (possibly after printing
 * a warning on stderr), or -1 for a mode that cannot be used, with the reason
 * in err ("--blas-core: ...").  When it re-executes, it does not return.
 */
int blas_autofix(const char *mode, char *const argv[], char *err, size_t err_size);

/*
 * One line (no newline) telling the kernel in use and who chose it, e.g.
 * "SkylakeX (chosen by attnroll: OpenBLAS picked Prescott, the CPU supports
 * AVX512; self-check passed)".  Valid after blas_autofix; static storage.
 */
const char *blas_autofix_summary(void);

/* The --blas-mode argument found in argv ("--blas-core X" or
 * "--blas-core=X"), or NULL when absent or without a value. */
const char *blas_autofix_mode_from_args(int argc, char *const argv[]);

#ifdef __cplusplus
}
#endif

#endif
