/*
 * For the tool's fault tests (tests/tool/test_faults.py), loaded with
 * LD_PRELOAD: every rename(2) and renameat2(2) first waits
 * ATTNROLL_TEST_HOLD_RENAMES seconds.  A run of the tool then pauses with its
 * first outputs written to temporary files and none in place yet: the moment
 * the tests interrupt, kill or race it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void hold(void)
{
    const char *s = getenv("ATTNROLL_TEST_HOLD_RENAMES");
    double seconds = s ? atof(s) : 0.0;
    struct timespec t;
    if (seconds <= 0) return;
    t.tv_sec = (time_t)seconds;
    t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
    while (nanosleep(&t, &t) != 0) {
    }
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *) = NULL;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
    hold();
    return real(from, to);
}

int renameat2(int from_dir, const char *from, int to_dir, const char *to, unsigned int flags)
{
    static int (*real)(int, const char *, int, const char *, unsigned int) = NULL;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "renameat2");
    hold();
    return real(from_dir, from, to_dir, to, flags);
}
