#include "io/file_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "cli_error.hpp"

namespace cli {

std::string errno_text(int err) { return std::strerror(err); }

int open_and_stat(const std::string &path, struct stat &st) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + errno_text(errno));
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + errno_text(err));
    }
    return fd;
}

std::vector<unsigned char> read_whole_file(const std::string &path) {
    struct stat st {};
    const int fd = open_and_stat(path, st);
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": is a directory");
    }
    std::vector<unsigned char> buf;
    try {
        buf.resize(st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0);
    } catch (const std::bad_alloc &) {
        ::close(fd);
        throw Error(path + ": out of memory reading " + std::to_string(st.st_size) + " bytes");
    }
    size_t got = 0;
    while (true) {
        if (got == buf.size()) buf.resize(buf.size() + 65536);  // file grew, or size unknown
        const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            throw Error(path + ": read error: " + errno_text(err));
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    buf.resize(got);
    return buf;
}

// error naming it.
void read_range(const std::string &path, uint64_t offset, void *dest, size_t size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + errno_text(errno));
    auto *p = static_cast<unsigned char *>(dest);
    for (size_t got = 0; got < size;) {
        const ssize_t n = ::pread(fd, p + got, size - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            if (n == 0)
                throw Error(path + ": truncated: " + std::to_string(size) + " bytes expected at offset " +
                            std::to_string(offset) + ", the file ends after " + std::to_string(got));
            throw Error(path + ": read error: " + errno_text(err));
        }
        got += static_cast<size_t>(n);
    }
    ::close(fd);
}

std::vector<unsigned char> file_head(const std::string &path, uint64_t file_size) {
    std::vector<unsigned char> head(static_cast<size_t>(std::min<uint64_t>(file_size, 65536)));
    read_range(path, 0, head.data(), head.size());
    return head;
}

}  // namespace cli
