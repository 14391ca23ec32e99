// CRC-32 (the zip/gzip polynomial, as zlib's crc32) fast enough to check
// every byte of a stored layer as it is read: carry-less multiplication
// (PCLMULQDQ) folds 64 bytes a step where the CPU has it, zlib does the rest.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cli {

// The CRC of `size` more bytes after a CRC `crc` (0 to start), as zlib's
// crc32(crc, data, size).
uint32_t crc32_update(uint32_t crc, const void *data, size_t size);

// The CRC of A followed by B, from crc(A), crc(B) and B's length (zlib's
// crc32_combine).
uint32_t crc32_join(uint32_t crc_a, uint32_t crc_b, uint64_t size_b);

}  // namespace cli
