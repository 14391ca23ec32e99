// fuzz_npy: the tool's .npy reader on any bytes.
//   - parse_npy either throws cli::Error or returns an array whose elements
//     fit in the image (count * element size bytes from data_offset);
//   - read from a file, locate_npy + a ranged read of its elements give the
//     same bytes as parse_npy (when locate_npy says the array is native).
#include <cstdint>
#include <cstring>
#include <vector>

#include "attnroll.h"
#include "cli_error.hpp"
#include "formats/npy.hpp"
#include "fuzz_tool_common.hpp"
#include "io/file_read.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::vector<unsigned char> image(data, data + size);
    cli::Array a;
    bool parsed = false;
    try {
        a = cli::parse_npy(image, "fuzz.npy");
        parsed = true;
    } catch (const cli::Error &) {
    }
    if (parsed) {
        const int32_t es = attnroll_dtype_size(a.dtype);
        if (es <= 0) std::abort();
        if (a.data_offset > a.storage.size()) std::abort();
        const uint64_t bytes = static_cast<uint64_t>(a.count()) * static_cast<uint64_t>(es);
        if (bytes > a.storage.size() - a.data_offset) std::abort();
        if (a.shape.size() != a.strides.size()) std::abort();
        const attnroll_tensor t = a.tensor();
        if (t.ndim != static_cast<int32_t>(a.shape.size())) std::abort();
    }
    // The same bytes as a file: the located read must agree with the whole read.
    const std::string path = fz::scratch() + "/a.npy";
    fz::write_file(path, data, size);
    cli::ArrayInFile span;
    bool located = false;
    try {
        located = cli::locate_npy(path, span);
    } catch (const cli::Error &) {
        located = false;
    }
    if (located) {
        if (!parsed) std::abort();  // located what the whole read refuses
        const int32_t es = attnroll_dtype_size(span.dtype);
        uint64_t count = 1;
        for (int64_t e : span.shape) count *= static_cast<uint64_t>(e);
        const uint64_t bytes = count * static_cast<uint64_t>(es);
        if (span.dtype != a.dtype || span.shape != a.shape || span.fortran_order != a.fortran_order) std::abort();
        if (span.offset + bytes > size) std::abort();
        std::vector<unsigned char> got(bytes);
        try {
            cli::read_range(path, span.offset, got.data(), got.size());
        } catch (const cli::Error &) {
            std::abort();
        }
        if (bytes && std::memcmp(got.data(), a.data(), bytes) != 0) std::abort();
    }
    return 0;
}
