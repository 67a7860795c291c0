// Fuzz target: WAL recovery and reading over arbitrary segment bytes. The bytes are scanned in
// memory (what recovery and repair use) and, as a segment file behind a valid header, opened
// with Wal::Open and read to the end. Properties: no crash, and recovery claims no more bytes
// than there are. And at every 8-byte offset that holds a record's magic, the check of a record of
// known length (what Wal::ReadRecord uses) agrees with the full check (what recovery uses): it
// accepts every record the full check accepts, and what it accepts has the position, length and
// checksum asked for.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <vector>

#include "fuzz_util.h"
#include "stemedb/wal/format.h"
#include "stemedb/wal/wal.h"
#include "wal/segment_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stemedb;
  constexpr std::uint32_t kMaxRecord = 1U << 20;
  std::vector<std::uint64_t> words((size + 7) / 8);
  if (size > 0) std::memcpy(words.data(), data, size);
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(words.data()), size);
  const auto scan = wal::internal::ScanSegment(bytes, 1, kMaxRecord);
  if (scan.valid_end > size) fuzz::Fail("the scan claims bytes past the end");

  for (std::size_t offset = 0; offset + wal::kRecordHeaderSize <= size; offset += 8) {
    // Neither check accepts a record without its magic; the offsets that have it are the ones
    // where the two could disagree.
    if (std::memcmp(bytes.data() + offset, wal::kRecordMagic.data(), wal::kRecordMagic.size()) != 0) continue;
    // The position and length a location would name: those the header's bytes say.
    std::uint64_t position = 0;
    std::uint32_t length = 0;
    std::memcpy(&position, bytes.data() + offset + 8, sizeof position);
    std::memcpy(&length, bytes.data() + offset + 16, sizeof length);
    const auto full = wal::internal::CheckRecordAt(bytes, offset, position, kMaxRecord);
    const std::size_t span = std::min<std::uint64_t>(wal::RecordFootprint(length), size - offset);
    const auto known = wal::internal::CheckRecordOfLength(bytes.subspan(offset, span), position, length, kMaxRecord);
    if (full.header && full.header->payload_length == length && !known.header) {
      fuzz::Fail("a record the full check accepts is refused when its length is known");
    }
    if (known.header) {
      // A header whose own check is wrong under a matching checksum is accepted by design (the
      // checksum covers that check); everything else must hold.
      const auto header = bytes.subspan(offset).first<wal::kRecordHeaderSize>();
      if (known.header->position != position || known.header->payload_length != length ||
          !wal::RecordChecksumMatches(header, bytes.subspan(offset + wal::kRecordHeaderSize, length))) {
        fuzz::Fail("the check of a known length accepted a record that is not the one asked for");
      }
    }
  }

  // The input as the body of segment 1 (inputs that start with a segment header are taken whole).
  const auto dir = fuzz::ScratchDir() / "wal";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / wal::SegmentFileName(1), std::ios::binary);
    const std::string_view magic = wal::kSegmentMagic;
    if (size < magic.size() || std::memcmp(data, magic.data(), magic.size()) != 0) {
      const auto header = wal::EncodeSegmentHeader(1);
      out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    }
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  wal::WalOptions options;
  options.max_record_bytes = kMaxRecord;
  auto opened = wal::Wal::Open(dir, options);
  if (!opened.ok()) {
    (void)wal::Wal::Repair(dir);  // what an operator would do next
    return 0;
  }
  auto reader = (*opened)->NewReader(1);
  if (!reader.ok()) fuzz::Fail("no reader on an open WAL");
  std::uint64_t records = 0;
  for (;;) {
    auto next = (*reader)->Next();
    if (!next.ok() || !next->has_value()) break;
    if ((*next)->payload.size() > kMaxRecord) fuzz::Fail("a record larger than the limit");
    if (++records > size) fuzz::Fail("more records than bytes");
  }
  (void)(*opened)->Close();
  return 0;
}
