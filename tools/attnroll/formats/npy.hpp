// .npy arrays (NumPy format versions 1.0, 2.0 and 3.0), read strictly and
// written in C order.  Every failure throws cli::Error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnroll.h"

namespace cli {

// An array read from a .npy (possibly inside a .npz), owning its bytes.
struct Array {
    std::vector<unsigned char> storage;  // the whole .npy image (header + data)
    size_t data_offset = 0;              // where the elements start in storage
    int32_t dtype = 0;                   // ATTNROLL_F16, ATTNROLL_F32 or ATTNROLL_F64 (native order)
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

// Where an array's elements lie in its file, for reading them by byte range
// (a part at a time) instead of whole.
struct ArrayInFile {
    std::string path;
    uint64_t offset = 0;  // of the first element, in the file
    int32_t dtype = 0;
    std::vector<int64_t> shape;
    bool fortran_order = false;
    // For an npz member: where its bytes (the .npy header, then the elements)
    // are in the file, and the CRC-32 the archive records for them.
    bool has_crc = false;
    uint32_t crc = 0;
    uint64_t member_offset = 0, member_size = 0;
};

// For a .npy file: fills `out` and returns true when its elements are in
// native byte order (the header checked as read_npy does); returns false
// when it must be read whole instead (foreign byte order, not a regular file).
bool locate_npy(const std::string &path, ArrayInFile &out);

// What a .npy header says, checked against the size of the whole .npy.
struct NpyLayout {
    int32_t dtype = 0;
    bool swap = false;
    bool fortran_order = false;
    std::vector<int64_t> shape;
    size_t data_offset = 0;
    uint64_t count = 0, bytes = 0;
};

// The header of the .npy that starts `at` bytes into the file and is `total`
// bytes long, parsed from `head` (the file's first bytes, see file_head) when
// it lies within it, else read from the file.  `where` names it in messages.
NpyLayout npy_layout_in_file(const std::string &path, const std::vector<unsigned char> &head, uint64_t at,
                             uint64_t total, const std::string &where);
// The span of the elements of that .npy.
ArrayInFile npy_span(const std::string &path, uint64_t at, const NpyLayout &layout);
// True when `bytes` (at least 6) start with the .npy magic.
bool is_npy_magic(const unsigned char *bytes);

}  // namespace cli
