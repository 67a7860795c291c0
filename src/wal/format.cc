#include "stemedb/wal/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "stemedb/base/blake3.h"

namespace stemedb::wal {
namespace {

void PutU32(std::uint8_t* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void PutU64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t GetU32(const std::uint8_t* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t GetU64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Hash HashOf(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b = {}) noexcept {
  return Blake3Hasher().Update(a).Update(b).Finalize();
}

constexpr std::size_t kSegmentNameDigits = 20;
constexpr std::string_view kSegmentSuffix = ".wal";

}  // namespace

std::string SegmentFileName(LogPosition first_position) {
  return fmt::format("{:0{}}{}", first_position, kSegmentNameDigits, kSegmentSuffix);
}

std::optional<LogPosition> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return std::nullopt;
  LogPosition v = 0;
  const char* end = name.data() + kSegmentNameDigits;
  auto [ptr, ec] = std::from_chars(name.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

std::array<std::uint8_t, kSegmentHeaderSize> EncodeSegmentHeader(LogPosition first_position) noexcept {
  std::array<std::uint8_t, kSegmentHeaderSize> out{};
  std::memcpy(out.data(), kSegmentMagic.data(), 8);
  PutU32(out.data() + 8, kFormatVersion);
  PutU64(out.data() + 16, first_position);
  const Hash check = HashOf(std::span<const std::uint8_t>(out).first(24));
  std::memcpy(out.data() + 24, check.bytes().data(), 8);
  return out;
}

Result<LogPosition> DecodeSegmentHeader(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kSegmentHeaderSize) return Status::Corruption("segment header is truncated");
  if (std::memcmp(bytes.data(), kSegmentMagic.data(), 8) != 0) return Status::Corruption("bad segment magic");
  const Hash check = HashOf(bytes.first(24));
  if (std::memcmp(bytes.data() + 24, check.bytes().data(), 8) != 0) {
    return Status::Corruption("segment header check mismatch");
  }
  const std::uint32_t version = GetU32(bytes.data() + 8);
  if (version != kFormatVersion) {
    return Status::Corruption(
        fmt::format("unsupported WAL format version {} (this build reads {})", version, kFormatVersion));
  }
  return GetU64(bytes.data() + 16);
}

void EncodeRecordHeader(const RecordHeader& header, std::span<const std::uint8_t> payload,
                        std::span<std::uint8_t, kRecordHeaderSize> out) noexcept {
  std::fill(out.begin(), out.end(), std::uint8_t{0});
  std::memcpy(out.data(), kRecordMagic.data(), 4);
  out[4] = static_cast<std::uint8_t>(header.type);
  PutU64(out.data() + 8, header.position);
  PutU32(out.data() + 16, header.payload_length);
  const Hash header_check = HashOf(out.first(20));
  std::memcpy(out.data() + 20, header_check.bytes().data(), 4);
  PutU64(out.data() + 24, header.synced_through);
  const Hash checksum = HashOf(out.first(32), payload);
  std::memcpy(out.data() + 32, checksum.bytes().data(), kChecksumSize);
}

Result<RecordHeader> DecodeRecordHeader(std::span<const std::uint8_t, kRecordHeaderSize> bytes) {
  if (std::memcmp(bytes.data(), kRecordMagic.data(), 4) != 0) return Status::Corruption("bad record magic");
  const Hash header_check = HashOf(bytes.first(20));
  if (std::memcmp(bytes.data() + 20, header_check.bytes().data(), 4) != 0) {
    return Status::Corruption("record header check mismatch");
  }
  return DecodeChecksummedRecordHeader(bytes);
}

Result<RecordHeader> DecodeChecksummedRecordHeader(std::span<const std::uint8_t, kRecordHeaderSize> bytes) {
  if (std::memcmp(bytes.data(), kRecordMagic.data(), 4) != 0) return Status::Corruption("bad record magic");
  if (bytes[5] != 0 || bytes[6] != 0 || bytes[7] != 0) return Status::Corruption("record header reserved bytes set");
  RecordHeader h;
  h.type = static_cast<RecordType>(bytes[4]);
  if (h.type == RecordType::kInvalid) return Status::Corruption("record type 0 is reserved");
  h.position = GetU64(bytes.data() + 8);
  h.payload_length = GetU32(bytes.data() + 16);
  h.synced_through = GetU64(bytes.data() + 24);
  return h;
}

bool RecordChecksumMatches(std::span<const std::uint8_t, kRecordHeaderSize> header,
                           std::span<const std::uint8_t> payload) noexcept {
  const Hash checksum = HashOf(header.first(32), payload);
  return std::memcmp(header.data() + 32, checksum.bytes().data(), kChecksumSize) == 0;
}

}  // namespace stemedb::wal
