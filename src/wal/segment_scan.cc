#include "segment_scan.h"

#include <fmt/format.h>

#include <algorithm>

namespace stemedb::wal::internal {
namespace {

bool AllZero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

RecordCheck CheckRecordAt(std::span<const std::uint8_t> segment, std::uint64_t offset,
                          std::optional<LogPosition> expected_position, std::uint32_t max_record_bytes) {
  RecordCheck out;
  if (offset + kRecordHeaderSize > segment.size()) {
    out.problem = fmt::format("{} bytes left, too few for a record header", segment.size() - offset);
    return out;
  }
  const auto header_bytes = segment.subspan(offset).first<kRecordHeaderSize>();
  auto header = DecodeRecordHeader(header_bytes);
  if (!header.ok()) {
    out.problem = header.status().message();
    return out;
  }
  if (expected_position && header->position != *expected_position) {
    out.problem = fmt::format("record has position {}, expected {}", header->position, *expected_position);
    return out;
  }
  if (header->payload_length > max_record_bytes) {
    out.problem = fmt::format("record length {} exceeds the limit {}", header->payload_length, max_record_bytes);
    return out;
  }
  const std::uint64_t footprint = RecordFootprint(header->payload_length);
  if (offset + footprint > segment.size()) {
    out.problem = fmt::format("record of {} bytes extends past the end of the segment", footprint);
    return out;
  }
  const auto payload = segment.subspan(offset + kRecordHeaderSize, header->payload_length);
  if (!RecordChecksumMatches(header_bytes, payload)) {
    out.problem = "record checksum mismatch";
    return out;
  }
  const auto padding = segment.subspan(offset + kRecordHeaderSize + header->payload_length,
                                       footprint - kRecordHeaderSize - header->payload_length);
  if (!AllZero(padding)) {
    out.problem = "record padding is not zero";
    return out;
  }
  out.header = *header;
  return out;
}

RecordCheck CheckRecordOfLength(std::span<const std::uint8_t> record, LogPosition expected_position,
                                std::uint32_t payload_length, std::uint32_t max_record_bytes) {
  if (payload_length <= max_record_bytes && record.size() == RecordFootprint(payload_length)) {
    const auto header_bytes = record.first<kRecordHeaderSize>();
    if (RecordChecksumMatches(header_bytes, record.subspan(kRecordHeaderSize, payload_length))) {
      auto header = DecodeChecksummedRecordHeader(header_bytes);
      if (header.ok() && header->position == expected_position && header->payload_length == payload_length &&
          AllZero(record.subspan(kRecordHeaderSize + payload_length))) {
        RecordCheck out;
        out.header = *header;
        return out;
      }
    }
  }
  return CheckRecordAt(record, 0, expected_position, max_record_bytes);
}

SegmentScan ScanSegment(std::span<const std::uint8_t> segment, LogPosition first_position,
                        std::uint32_t max_record_bytes) {
  SegmentScan scan;
  scan.last_position = first_position - 1;
  std::uint64_t offset = kSegmentHeaderSize;
  while (offset < segment.size()) {
    RecordCheck check = CheckRecordAt(segment, offset, scan.last_position + 1, max_record_bytes);
    if (!check.header) {
      scan.problem = std::move(check.problem);
      break;
    }
    scan.last_position = check.header->position;
    offset += RecordFootprint(check.header->payload_length);
  }
  scan.valid_end = std::min<std::uint64_t>(offset, segment.size());
  if (!scan.problem) return scan;
  // No record starts with a zero byte (the magic), so zeros to the end of the file are the zeros
  // the writer put there ahead of its records: the log ends cleanly here.
  if (const auto rest = segment.subspan(scan.valid_end); AllZero(rest)) {
    scan.problem.reset();
    scan.zero_tail_bytes = rest.size();
    return scan;
  }

  // Look past the damage for a record that proves the damaged position had been durable. Records
  // start 8-byte aligned, so probing every 8 bytes finds any that survived.
  const LogPosition damaged = scan.last_position + 1;
  for (std::uint64_t probe = scan.valid_end + 8; probe + kRecordHeaderSize <= segment.size(); probe += 8) {
    RecordCheck later = CheckRecordAt(segment, probe, std::nullopt, max_record_bytes);
    if (later.header && later.header->position > damaged && later.header->synced_through >= damaged) {
      scan.later_synced_through = later.header->synced_through;
      scan.later_offset = probe;
      break;
    }
  }
  return scan;
}

}  // namespace stemedb::wal::internal
