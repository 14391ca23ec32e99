#include "io/output_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include "cli_error.hpp"
#include "io/file_read.hpp"

namespace cli {

namespace {

uint64_t fnv1a(const std::string &text) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    return h;
}

std::string lock_folder() {
    const char *tmp = std::getenv("TMPDIR");
    const std::string dir = std::string(tmp && tmp[0] ? tmp : "/tmp") + "/attnroll-locks-" + std::to_string(::getuid());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw Error(dir + ": cannot create the folder for output locks: " + errno_text(errno));
    return dir;
}

// Byte 0 stands for the whole folder (a run over every video takes every
// byte); a video takes one byte at an offset from its name's hash.
off_t video_byte(const std::string &video) {
    return static_cast<off_t>(1 + fnv1a(video) % (uint64_t{1} << 60));
}

}  // namespace

OutputLock::OutputLock(const std::string &folder, const std::string &command, const std::set<std::string> &videos) {
    std::error_code ec;
    const std::string canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(folder), ec).string();
    const std::string key = command + "\n" + (ec ? folder : canonical);
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.lock", static_cast<unsigned long long>(fnv1a(key)));
    const std::string path = lock_folder() + "/" + name;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw Error(path + ": cannot open the output lock: " + errno_text(errno));

    std::vector<std::pair<off_t, off_t>> ranges;  // start, length (0 = to the end of every file)
    if (videos.empty())
        ranges.push_back({0, 0});
    else
        for (const std::string &v : videos) ranges.push_back({video_byte(v), 1});
    for (const auto &r : ranges) {
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = r.first;
        fl.l_len = r.second;
        if (::fcntl(fd_, F_SETLK, &fl) == 0) continue;
        const int err = errno;
        struct flock who = fl;
        const bool known = (err == EAGAIN || err == EACCES) && ::fcntl(fd_, F_GETLK, &who) == 0 && who.l_type != F_UNLCK;
        ::close(fd_);
        fd_ = -1;
        if (!known) throw Error(folder + ": cannot lock the output folder: " + errno_text(err));
        throw Error(folder + ": another attnroll " + command + " run (pid " + std::to_string(who.l_pid) +
                    ") is writing " + (r.second == 0 ? std::string("here") : "this video here") +
                    "; wait for it to finish, or write elsewhere with -o");
    }
}

OutputLock::~OutputLock() {
    if (fd_ >= 0) ::close(fd_);  // releases every lock this process holds on it
}

}  // namespace cli
