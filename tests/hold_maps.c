/*
 * For the tool's fault tests (tests/tool/test_faults.py), loaded with
 * LD_PRELOAD: the first mmap(2) of a file whose path contains
 * ATTNROLL_TEST_HOLD_MAP is made, then the caller waits while the file named
 * by ATTNROLL_TEST_HOLD_MARKER exists (this shim creates it; the test removes
 * it to let the run go on, 60 s at most).  A test can so truncate, rewrite or
 * replace a layer file at the moment the tool is reading it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int held = 0;

static int wanted(int fd)
{
    const char *pattern = getenv("ATTNROLL_TEST_HOLD_MAP");
    char link[64], path[PATH_MAX];
    ssize_t n;
    if (!pattern || !*pattern || fd < 0 || held) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    return strstr(path, pattern) != NULL;
}

static void hold(void)
{
    const char *marker = getenv("ATTNROLL_TEST_HOLD_MARKER");
    struct timespec tick = {0, 10 * 1000 * 1000};
    int fd, i;
    held = 1;
    if (!marker) return;
    fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    for (i = 0; i < 6000 && access(marker, F_OK) == 0; ++i) nanosleep(&tick, NULL);
}

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    static void *(*real)(void *, size_t, int, int, int, off_t) = NULL;
    void *p;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "mmap");
    p = real(addr, length, prot, flags, fd, offset);
    if (p != MAP_FAILED && wanted(fd)) hold();
    return p;
}

void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    return mmap(addr, length, prot, flags, fd, offset);
}
