// .npy arrays (NumPy format versions 1.0, 2.0 and 3.0), read strictly and
// written in C order, and .npz archives (zip, stored or deflated, zip64)
// through libzip.  Every failure throws cli::Error naming the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attnroll.h"

namespace cli {

// An array read from a .npy (possibly inside a .npz), owning its bytes.
struct Array {
    std::vector<unsigned char> storage;  // the whole .npy image (header + data)
    size_t data_offset = 0;              // where the elements start in storage
    int32_t dtype = 0;                   // ATTNROLL_F16, ATTNROLL_F32 or ATTNROLL_F64 (little-endian only)
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;        // elements; C order, or reversed for fortran_order
    bool fortran_order = false;

    const void *data() const { return storage.data() + data_offset; }
    int64_t count() const;               // product of shape
    // A view for the library; valid while this Array lives and is not moved.
    attnroll_tensor tensor() const;
};

// Parses a complete .npy image.  `where` names it in messages
// ("dir/a.npz:attention_weights.npy").  Refuses: bad magic, unknown version,
// malformed header dict, unsupported descr (only '<f2', '<f4', '<f8', and
// '|'/'=' forms equivalent on little-endian), object arrays, a data size that
// does not match the shape.  Big-endian data ('>f4') is byte-swapped into
// native order, so `dtype` always describes native elements.
Array parse_npy(std::vector<unsigned char> image, const std::string &where);
Array read_npy(const std::string &path);

// Serialises a C-order F32 or F64 (or F16) array as a .npy (version 1.0) image.
std::vector<unsigned char> npy_image(const void *data, int32_t dtype, const std::vector<int64_t> &shape);
// The same image with its elements zero, for writing them in place: they
// start at *data_offset, a multiple of 64 bytes into the image.
std::vector<unsigned char> npy_image_for(int32_t dtype, const std::vector<int64_t> &shape, size_t *data_offset);

// Names of the members of a .npz without their ".npy" suffix.
std::vector<std::string> npz_keys(const std::string &path);
// The ".npy" members of a .npz: key (without ".npy"), whether the member is
// compressed (deflated) or stored, and its sizes in bytes.
struct NpzMember {
    std::string key;
    bool deflated = false;
    uint64_t size = 0;             // uncompressed
    uint64_t compressed_size = 0;
};
std::vector<NpzMember> npz_members(const std::string &path);
// The member `key` (".npy" appended) of a .npz, decompressed in one buffer;
// `reuse` (e.g. the storage of the previous layer's Array) is reused for it.
Array read_npz(const std::string &path, const std::string &key,
               std::vector<unsigned char> reuse = {});

// Where an array's elements lie in its file, for reading them by byte range
// (a part at a time) instead of whole.
struct ArrayInFile {
    std::string path;
    uint64_t offset = 0;  // of the first element, in the file
    int32_t dtype = 0;
    std::vector<int64_t> shape;
    bool fortran_order = false;
};
// For a .npy, or the member `key` (".npy" appended) of a .npz when it is
// stored (np.savez) rather than deflated: fills `out` and returns true when
// the array's elements are native byte order and the header checks as in
// read_npy/read_npz (except the member's CRC, which would mean reading every
// byte once more).  Returns false when the array must be read whole instead
// (deflated, foreign byte order, a member libzip or our checks disagree on);
// throws on errors in the parts it read.
bool locate_npy(const std::string &path, ArrayInFile &out);
bool locate_npz_member(const std::string &path, const std::string &key, ArrayInFile &out);

// Reads exactly `size` bytes at `offset` of the file into `dest`; a file that
// ends sooner is an error ("truncated") naming it.
void read_range(const std::string &path, uint64_t offset, void *dest, size_t size);

struct NpzEntry {
    std::string key;                    // member name without ".npy"
    std::vector<unsigned char> image;   // from npy_image
    bool deflate = false;               // compress (like np.savez_compressed) instead of store
};
// Writes a .npz (stored like np.savez, or deflated per entry) atomically: to a temporary name in
// the same directory, renamed over `path` only when complete.  Refuses to
// replace an existing file unless `force`.
void write_npz(const std::string &path, const std::vector<NpzEntry> &entries, bool force);

// Writes bytes atomically with the same rules (used for .csv and .png too).
void write_file_atomic(const std::string &path, const void *data, size_t size, bool force);

}  // namespace cli
