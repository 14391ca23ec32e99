// Shared by the targets over the attnroll tool's readers: a private scratch
// folder (in /dev/shm when there is one) for the files the readers open.
// Files are written with plain POSIX calls (an ofstream costs a buffer, a
// locale and several allocations per file), and the targets keep their
// folders between inputs, changing only the files, instead of removing and
// re-creating whole trees (under ASan each directory walk costs a 32 KiB
// buffer): per input, a folder holds exactly what that input alone puts there,
// created in the same order, so a failure reproduces from its input alone.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace fz {

inline const std::string &scratch() {
    // Never destroyed, so that the exit handler can still use it.
    static const std::string *dir = [] {
        const char *base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        auto *d = new std::string(std::string(base) + "/attnroll-fuzz-" + std::to_string(getpid()));
        std::filesystem::create_directories(*d);
        return d;
    }();
    static const bool cleanup = [] {
        std::atexit([] { std::error_code ec; std::filesystem::remove_all(*dir, ec); });
        return true;
    }();
    (void)cleanup;
    return *dir;
}

// A scratch file that cannot be written would make every later check
// meaningless: stop with a message rather than go on silently.
[[noreturn]] inline void scratch_failed(const char *what, const std::string &path) {
    std::fprintf(stderr, "fuzz: cannot %s scratch file %s: %s\n", what, path.c_str(), std::strerror(errno));
    std::abort();
}

// `path` created (or truncated) holding `size` bytes of `data`.
inline void write_file(const std::string &path, const void *data, size_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) scratch_failed("create", path);
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) scratch_failed("write", path);
        p += n;
        size -= static_cast<size_t>(n);
    }
    if (::close(fd) != 0) scratch_failed("close", path);
}

// `path` gone (it may not exist).
inline void remove_file(const std::string &path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) scratch_failed("remove", path);
}

}  // namespace fz
