// Scanning a segment's bytes for valid records: shared by recovery, repair and tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "stemedb/wal/format.h"

namespace stemedb::wal::internal {

struct SegmentScan {
  LogPosition last_position = 0;  // last valid record (first_position - 1 when none)
  std::uint64_t valid_end = 0;    // offset just past it
  // Bytes after valid_end that are all zero, to the end of the file: written ahead of the records
  // (WalOptions::preallocate_bytes), so the clean end of the segment, not a problem.
  std::uint64_t zero_tail_bytes = 0;
  // Set when the bytes after valid_end are not all valid records:
  std::optional<std::string> problem;  // why the record at valid_end is not valid
  // A later valid record whose synced_through covers the damaged position: proof that the
  // damaged record had been durable, i.e. this is corruption, not a torn tail.
  std::optional<LogPosition> later_synced_through;
  std::uint64_t later_offset = 0;
};

// Scans `segment` (the whole file; 8-byte aligned) whose header says `first_position`.
SegmentScan ScanSegment(std::span<const std::uint8_t> segment, LogPosition first_position,
                        std::uint32_t max_record_bytes);

// Checks the record at `offset` (header, length, position, checksum, zero padding). Returns the
// header when valid, otherwise the reason.
struct RecordCheck {
  std::optional<RecordHeader> header;
  std::string problem;
};
RecordCheck CheckRecordAt(std::span<const std::uint8_t> segment, std::uint64_t offset,
                          std::optional<LogPosition> expected_position, std::uint32_t max_record_bytes);

// The same check of a record whose payload length the caller already knows (an index said where the
// record is and how long), `record` being the bytes from its header on, exactly its footprint. The
// checksum over that length comes first, and it covers the header's own check, which is therefore not
// computed again: one BLAKE3 pass instead of two. Any mismatch falls back to CheckRecordAt, so a
// problem is reported with the same reason either way; a header naming another length is reported
// as CheckRecordAt finds it (the caller compares the lengths).
RecordCheck CheckRecordOfLength(std::span<const std::uint8_t> record, LogPosition expected_position,
                                std::uint32_t payload_length, std::uint32_t max_record_bytes);

}  // namespace stemedb::wal::internal
