// Shared by the targets over the attnroll tool's readers: a private scratch
// folder (in /dev/shm when there is one) for the files the readers open.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

inline void write_file(const std::string &path, const void *data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
}

}  // namespace fz
