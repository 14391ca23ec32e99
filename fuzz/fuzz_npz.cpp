// fuzz_npz: the tool's .npz reader on any bytes (seeded with np.savez and
// np.savez_compressed archives).
//   - every reader either throws cli::Error or succeeds;
//   - for every member, locate_npz_member + a ranged read give the same bytes
//     as read_npz (the whole-read path), and a member located is one read_npz
//     accepts;
//   - no member is allocated beyond what the file can hold.
#include <cstdint>
#include <cstring>
#include <vector>

#include "attnroll.h"
#include "cli_error.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "fuzz_tool_common.hpp"
#include "io/file_read.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string path = fz::scratch() + "/a.npz";
    fz::write_file(path, data, size);
    std::vector<cli::NpzMember> members;
    try {
        members = cli::npz_members(path);
    } catch (const cli::Error &) {
        return 0;
    }
    if (members.size() > 4) members.resize(4);
    for (const cli::NpzMember &m : members) {
        cli::Array whole;
        bool read = false;
        try {
            whole = cli::read_npz(path, m.key);
            read = true;
        } catch (const cli::Error &) {
        }
        if (read) {
            const int32_t es = attnroll_dtype_size(whole.dtype);
            if (es <= 0 || whole.data_offset > whole.storage.size()) std::abort();
            if (static_cast<uint64_t>(whole.count()) * static_cast<uint64_t>(es) > whole.storage.size() - whole.data_offset)
                std::abort();
        }
        cli::ArrayInFile span;
        bool located = false;
        try {
            located = cli::locate_npz_member(path, m.key, span);
        } catch (const cli::Error &) {
            located = false;
        }
        if (!located) continue;
        uint64_t count = 1;
        for (int64_t e : span.shape) count *= static_cast<uint64_t>(e);
        const uint64_t bytes = count * static_cast<uint64_t>(attnroll_dtype_size(span.dtype));
        if (span.offset > size || bytes > size - span.offset) std::abort();  // beyond the file
        // The CRC is not checked by the located path (stored members are read
        // in place); otherwise it must agree with read_npz.
        if (!read) continue;
        if (span.dtype != whole.dtype || span.shape != whole.shape || span.fortran_order != whole.fortran_order)
            std::abort();
        std::vector<unsigned char> got(bytes);
        try {
            cli::read_range(path, span.offset, got.data(), got.size());
        } catch (const cli::Error &) {
            std::abort();
        }
        if (bytes && std::memcmp(got.data(), whole.data(), bytes) != 0) std::abort();
    }
    return 0;
}
