// .npz archives (zip, stored or deflated, zip64) through libzip: their
// members read whole or located for ranged reading, and written atomically.
// Every failure throws cli::Error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/npy.hpp"

namespace cli {

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
Array read_npz(const std::string &path, const std::string &key, std::vector<unsigned char> reuse = {});

// For the member `key` of a .npz when it is stored (np.savez) rather than
// deflated: fills `out` and returns true when the array's elements are native
// byte order and the header checks as in read_npz (except the member's CRC,
// which would mean reading every byte once more).  Returns false when the
// array must be read whole instead (deflated, foreign byte order, a member
// libzip or our checks disagree on); throws on errors in the parts it read.
bool locate_npz_member(const std::string &path, const std::string &key, ArrayInFile &out);

struct NpzEntry {
    std::string key;                    // member name without ".npy"
    std::vector<unsigned char> image;   // from npy_image
    bool deflate = false;               // compress (like np.savez_compressed) instead of store
};
// Writes a .npz (stored like np.savez, or deflated per entry) atomically, by
// the rules of io/atomic_file.hpp.
void write_npz(const std::string &path, const std::vector<NpzEntry> &entries, bool force);

}  // namespace cli
