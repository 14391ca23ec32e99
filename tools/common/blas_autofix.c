/* See blas_autofix.h.  POSIX (setenv, execv); Linux's /proc/self/exe names
 * the running program whatever argv[0] says. */
#define _POSIX_C_SOURCE 200809L

#include "blas_autofix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "attnroll.h"

#define REEXEC_VAR "ATTNROLL_BLAS_REEXEC"
#define ORIG_VAR "ATTNROLL_BLAS_ORIG_CORETYPE"
#define FALLBACK_PREFIX "fallback:"

static char summary[512] = "unknown (blas_autofix not run)";

static const char *level_name(int level)
{
    static const char *const names[] = {"unknown", "SSE", "AVX", "AVX2", "AVX512"};
    return level >= 0 && level <= ATTNROLL_SIMD_AVX512 ? names[level] : "unknown";
}

/* Re-executes the program; returns only if exec failed.  By its real path,
 * so that the process keeps its name (ps would show "exe" otherwise). */
static void reexec(char *const argv[])
{
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    fflush(NULL);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
}

/* After a re-execution: check the forced kernel; on failure go back to the
 * user's environment and OpenBLAS's own choice. */
static void check_forced_kernel(const attnroll_blas_info *info, const char *picked,
                                char *const argv[])
{
    int32_t passed = 0;
    double err = 0;
    if (attnroll_blas_selfcheck(&passed, &err) != ATTNROLL_OK) passed = 0;
    if (passed) {
        snprintf(summary, sizeof summary,
                 "%s (chosen by attnroll: OpenBLAS picked %s, the CPU supports %s; self-check passed)",
                 info->kernel, picked, level_name(info->cpu_level));
        return;
    }
    const char *orig = getenv(ORIG_VAR);
    if (orig)
        setenv("OPENBLAS_CORETYPE", orig, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    unsetenv(ORIG_VAR);
    char marker[128];
    snprintf(marker, sizeof marker, FALLBACK_PREFIX "%s", info->kernel);
    setenv(REEXEC_VAR, marker, 1);
    fprintf(stderr,
            "attnroll: OpenBLAS's %s kernel failed a self-check on this CPU (relative error %.3g); "
            "falling back to OpenBLAS's own choice, %s\n",
            info->kernel, err, picked);
    reexec(argv);
    /* exec failed: going on with wrong products is not an option */
    fprintf(stderr, "attnroll: cannot re-execute /proc/self/exe; stopping\n");
    exit(1);
}

int blas_autofix(const char *mode, char *const argv[], char *err, size_t err_size)
{
    if (!mode) mode = "auto";
    attnroll_blas_info info;
    if (attnroll_blas_report(&info) != ATTNROLL_OK) {
        snprintf(summary, sizeof summary, "unknown (%s)", attnroll_last_error());
        return 0;
    }

    const char *marker = getenv(REEXEC_VAR);
    if (marker) {
        /* The second run: never re-execute again, and leave nothing behind
         * for the programs this one starts. */
        char picked[128];
        snprintf(picked, sizeof picked, "%s", marker);
        unsetenv(REEXEC_VAR);
        if (strncmp(picked, FALLBACK_PREFIX, strlen(FALLBACK_PREFIX)) == 0) {
            snprintf(summary, sizeof summary,
                     "%s (OpenBLAS's choice: the %s kernel failed attnroll's self-check on this CPU)",
                     info.kernel, picked + strlen(FALLBACK_PREFIX));
            return 0;
        }
        check_forced_kernel(&info, picked, argv);
        unsetenv(ORIG_VAR);
        return 0;
    }

    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *target = NULL;
    if (strcmp(mode, "keep") == 0) {
        snprintf(summary, sizeof summary, "%s (kept: --blas-core keep; the CPU supports %s%s%s)",
                 info.kernel, level_name(info.cpu_level), info.kernel_below_cpu ? "; faster: " : "",
                 info.fix);
        return 0;
    } else if (strcmp(mode, "auto") == 0) {
        if (env && env[0]) {
            snprintf(summary, sizeof summary, "%s (from OPENBLAS_CORETYPE=%s; the CPU supports %s)",
                     info.kernel, env, level_name(info.cpu_level));
            return 0;
        }
        if (!info.kernel_below_cpu) {
            snprintf(summary, sizeof summary, "%s (OpenBLAS's choice; the CPU supports %s)", info.kernel,
                     level_name(info.cpu_level));
            return 0;
        }
        target = info.best_kernel;
    } else {
        const int level = attnroll_blas_kernel_level(mode);
        if (level == ATTNROLL_SIMD_UNKNOWN) {
            snprintf(err, err_size,
                     "--blas-core: '%s' is not auto, keep or a known OpenBLAS x86-64 core name "
                     "(e.g. Prescott, Sandybridge, Haswell, Zen, SkylakeX)",
                     mode);
            return -1;
        }
        if (level > info.cpu_level) {
            snprintf(err, err_size, "--blas-core: the %s kernel needs %s, but this CPU supports %s", mode,
                     level_name(level), level_name(info.cpu_level));
            return -1;
        }
        if (strcasecmp(mode, info.kernel) == 0) {
            snprintf(summary, sizeof summary, "%s (--blas-core %s; the CPU supports %s)", info.kernel, mode,
                     level_name(info.cpu_level));
            return 0;
        }
        target = mode;
        if (env) setenv(ORIG_VAR, env, 1);
    }

    setenv(REEXEC_VAR, info.kernel, 1);
    setenv("OPENBLAS_CORETYPE", target, 1);
    reexec(argv);
    /* exec failed (no /proc?): go on with the kernel in use, and say so. */
    unsetenv(REEXEC_VAR);
    unsetenv(ORIG_VAR);
    if (env)
        setenv("OPENBLAS_CORETYPE", env, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    fprintf(stderr, "attnroll: could not re-execute with OPENBLAS_CORETYPE=%s; staying on %s (slower)\n",
            target, info.kernel);
    snprintf(summary, sizeof summary, "%s (re-execution with OPENBLAS_CORETYPE=%s failed)", info.kernel, target);
    return 0;
}

const char *blas_autofix_summary(void) { return summary; }

const char *blas_autofix_mode_from_args(int argc, char *const argv[])
{
    static const char flag[] = "--blas-core";
    const size_t len = sizeof flag - 1;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], flag) == 0) return i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(argv[i], flag, len) == 0 && argv[i][len] == '=') return argv[i] + len + 1;
    }
    return NULL;
}
