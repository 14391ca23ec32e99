// Reading input files: whole, or a byte range of them (a frame's slice of a
// stored layer), with errors that name the file.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cli {

// strerror(err) as a string.
std::string errno_text(int err);

// Opens the file read-only and fills `st`; errors name the file.  The caller
// closes the returned descriptor.
int open_and_stat(const std::string &path, struct stat &st);

// The whole file.  A directory, or a file that cannot be opened or read, is an
// error naming it.
std::vector<unsigned char> read_whole_file(const std::string &path);

// Reads exactly `size` bytes at `offset` of the file into `dest`; a file that
// ends sooner is an error ("truncated") naming it.
void read_range(const std::string &path, uint64_t offset, void *dest, size_t size);

// The file's first bytes (up to 64 KiB of its `file_size`), where np.savez
// puts its first members' headers and a .npy file has its header.
std::vector<unsigned char> file_head(const std::string &path, uint64_t file_size);

}  // namespace cli
