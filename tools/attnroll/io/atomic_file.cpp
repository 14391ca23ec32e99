#include "io/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <string_view>

#include "cli_error.hpp"
#include "io/file_read.hpp"
#include "io/interrupt.hpp"
#include "name_tail.hpp"
#include "parse_long.h"

namespace cli {

namespace {

std::string dir_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool path_exists(const std::string &path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void write_all(int fd, const unsigned char *p, size_t size, const std::string &path) {
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(path + ": write error: " + errno_text(errno));
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
}

}  // namespace

void refuse_existing(const std::string &path, bool force) {
    if (!force && path_exists(path)) throw Error(path + ": already exists (use --force to replace it)");
}

// A temporary name beside `path`, unique within this process and (with the
// pid) across processes writing to the same directory.
// Registered for removal if the run is interrupted until it is renamed.
std::string temp_name(const std::string &path) {
    static std::atomic<unsigned long> counter{0};
    const std::string dir = dir_of(path);
    std::string tmp = (dir == "/" ? std::string("/") : dir + "/") + "." + base_of(path) + ".tmp-" +
                      std::to_string(static_cast<long>(::getpid())) + "-" + std::to_string(counter++);
    remove_on_interrupt(tmp);
    return tmp;
}

// The pid in one of our temporary names, ".NAME.tmp-PID-N", or libzip's own
// ".NAME.tmp-PID-N.XXXXXX" beside it (the pattern
// ^\..+\.tmp-([0-9]{1,9})-[0-9]+(\.[A-Za-z0-9]{6})?$); -1 for any other name.
long temp_owner(std::string_view name) {
    NameTail tail(name);
    if (name.size() >= 7 && name[name.size() - 7] == '.') {
        bool suffix = true;  // libzip's 6 letters or digits
        for (char ch : name.substr(name.size() - 6))
            suffix = suffix && ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || NameTail::is_digit(ch));
        if (suffix) tail = NameTail(name.substr(0, name.size() - 7));
    }
    std::string_view counter, pid;
    if (!tail.take_digits(counter) || !tail.take("-") || !tail.take_digits(pid, 9) || !tail.take(".tmp-"))
        return -1;
    const std::string_view front = tail.rest();  // ".NAME"
    if (front.size() < 2 || front[0] != '.' || !NameTail::is_text(front.substr(1))) return -1;
    long value = -1;
    return parse_long_in(std::string(pid).c_str(), 0, LONG_MAX, &value) ? value : -1;
}

size_t remove_stale_temps(const std::string &dir) {
    size_t removed = 0;
    DIR *d = ::opendir(dir.c_str());
    if (!d) return 0;
    while (const dirent *e = ::readdir(d)) {
        const long owner = temp_owner(e->d_name);
        if (owner < 0) continue;
        const auto pid = static_cast<pid_t>(owner);
        // A live process may still be writing it (another run in this folder).
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
        if (::unlink((dir + "/" + e->d_name).c_str()) == 0) ++removed;
    }
    ::closedir(d);
    return removed;
}

// Moves the complete temporary file onto `path`.  Without force an existing
// target is never replaced, even if it appeared after refuse_existing.
void commit_temp(const std::string &tmp, const std::string &path, bool force) {
    if (!force) {
#ifdef RENAME_NOREPLACE
        if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
            keep_on_interrupt(tmp);
            return;
        }
        const int err = errno;
        if (err == EEXIST) {
            ::unlink(tmp.c_str());
            throw Error(path + ": already exists (use --force to replace it)");
        }
        if (err != EINVAL && err != ENOSYS && err != ENOTSUP) {
            ::unlink(tmp.c_str());
            throw Error(path + ": cannot rename " + tmp + " to it: " + errno_text(err));
        }
        // The file system cannot do RENAME_NOREPLACE: check, then rename.
#endif
        if (path_exists(path)) {
            ::unlink(tmp.c_str());
            throw Error(path + ": already exists (use --force to replace it)");
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path + ": cannot rename " + tmp + " to it: " + errno_text(err));
    }
    keep_on_interrupt(tmp);
}

void fsync_path(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
}

void write_file_atomic(const std::string &path, const void *data, size_t size, bool force) {
    refuse_existing(path, force);
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = temp_name(path);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) throw Error(path + ": cannot create " + tmp + ": " + errno_text(errno));
    }
    if (fd < 0) throw Error(path + ": cannot find a free temporary name beside it");
    try {
        write_all(fd, static_cast<const unsigned char *>(data), size, path);
        if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            throw Error(path + ": fsync failed: " + errno_text(errno));
        const int rc = ::close(fd);
        fd = -1;
        if (rc != 0) throw Error(path + ": write error: " + errno_text(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    commit_temp(tmp, path, force);
}

// Reads exactly `size` bytes at `offset`; a file shorter than that is an

}  // namespace cli
