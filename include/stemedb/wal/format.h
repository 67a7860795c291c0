// The WAL's on-disk format. docs/wal_format.md tells the same story at more length.
//
// A WAL is a directory of segment files named by the position of their first record,
// "00000000000000000001.wal", plus a LOCK file. Positions are dense: 1, 2, 3, ... A position is
// where a record sits in the log, never the identity of what it holds.
//
// Segment file:
//   +--------------------+--------+--------+-----+--------+
//   | segment header 32B | record | record | ... | record |
//   +--------------------+--------+--------+-----+--------+
//
// Segment header (little-endian):
//   0  u64  magic "STMDBSEG"
//   8  u32  format version (1)
//  12  u32  reserved, zero
//  16  u64  first position
//  24  u64  first 8 bytes of BLAKE3(bytes 0..24)
//
// Record (header 48 bytes, so that payloads start 8-byte aligned and are read in place):
//   0  u32  magic "SREC"
//   4  u8   type (0 is reserved and never valid, so a zeroed region never parses as a record)
//   5  u8[3] reserved, zero
//   8  u64  position
//  16  u32  payload length
//  20  u32  header check: first 4 bytes of BLAKE3(bytes 0..20); a damaged length cannot pass
//           as a torn tail
//  24  u64  synced_through: every position <= this was durable (fsynced) when this record was
//           written. Recovery uses it to tell a torn, unacknowledged batch (cut) from damage to
//           acknowledged records (refuse to open).
//  32  u8[16] checksum: first 16 bytes of BLAKE3(bytes 0..32 ‖ payload)
//  48  payload, then zero padding to a multiple of 8
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "stemedb/base/status.h"

namespace stemedb::wal {

// A record's place in the log. Dense: the first record is 1; 0 means "before the first".
using LogPosition = std::uint64_t;

inline constexpr std::string_view kSegmentMagic = "STMDBSEG";
inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::size_t kSegmentHeaderSize = 32;
inline constexpr std::string_view kRecordMagic = "SREC";
inline constexpr std::size_t kRecordHeaderSize = 48;
inline constexpr std::size_t kChecksumSize = 16;

// Record types. 0 is reserved (invalid); the ingestor interprets the others.
enum class RecordType : std::uint8_t {
  kInvalid = 0,
  kAssertion = 1,    // a canonical SignedClaim record (model/codec.h)
  kCoSignature = 2,  // extra signatures for an assertion already in the log
  kEvidence = 3,     // an evidence blob
  kTest = 255,       // opaque bytes, used by tests and benchmarks
};

struct RecordHeader {
  RecordType type = RecordType::kInvalid;
  LogPosition position = 0;
  std::uint32_t payload_length = 0;
  LogPosition synced_through = 0;
};

// Bytes a record occupies on disk: header + payload + padding.
constexpr std::uint64_t RecordFootprint(std::uint64_t payload_length) noexcept {
  return kRecordHeaderSize + ((payload_length + 7) & ~std::uint64_t{7});
}

// The file name of the segment whose first record is `first_position`.
std::string SegmentFileName(LogPosition first_position);
// The first position named by a segment file name, or nullopt when `name` is not a segment.
std::optional<LogPosition> ParseSegmentFileName(std::string_view name);

std::array<std::uint8_t, kSegmentHeaderSize> EncodeSegmentHeader(LogPosition first_position) noexcept;
// Errors: Corruption when the magic, version or check is wrong.
Result<LogPosition> DecodeSegmentHeader(std::span<const std::uint8_t> bytes);

// Writes a record header for `payload` into `out` (kRecordHeaderSize bytes).
void EncodeRecordHeader(const RecordHeader& header, std::span<const std::uint8_t> payload,
                        std::span<std::uint8_t, kRecordHeaderSize> out) noexcept;

// Parses a header without its payload. Errors: Corruption (bad magic, type, reserved bytes or
// header check), with the reason.
Result<RecordHeader> DecodeRecordHeader(std::span<const std::uint8_t, kRecordHeaderSize> bytes);
// Parses a header whose record checksum has already been found to match (RecordChecksumMatches):
// the checksum covers the header's first 32 bytes, its own check among them, so that check is not
// recomputed. For readers that know a record's length before reading it; recovery, which must trust
// a length before it can checksum anything, uses DecodeRecordHeader. Errors: Corruption (bad magic,
// type or reserved bytes), with the reason.
Result<RecordHeader> DecodeChecksummedRecordHeader(std::span<const std::uint8_t, kRecordHeaderSize> bytes);
// Checks the record checksum over the header bytes and payload.
bool RecordChecksumMatches(std::span<const std::uint8_t, kRecordHeaderSize> header,
                           std::span<const std::uint8_t> payload) noexcept;

}  // namespace stemedb::wal
