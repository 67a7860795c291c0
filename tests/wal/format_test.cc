#include "stemedb/wal/format.h"

#include <gtest/gtest.h>

#include <vector>

namespace stemedb::wal {
namespace {

TEST(WalFormat, SegmentNames) {
  EXPECT_EQ(SegmentFileName(1), "00000000000000000001.wal");
  EXPECT_EQ(ParseSegmentFileName("00000000000000000042.wal"), 42U);
  EXPECT_EQ(ParseSegmentFileName("00000000000000000042.wal.dropped"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("0000000000000000004x.wal"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("LOCK"), std::nullopt);
}

TEST(WalFormat, SegmentHeaderRoundTripsAndRejectsDamage) {
  auto header = EncodeSegmentHeader(77);
  EXPECT_EQ(*DecodeSegmentHeader(header), 77U);
  for (std::size_t byte = 0; byte < header.size(); ++byte) {
    auto damaged = header;
    damaged[byte] ^= 0x10;
    EXPECT_EQ(DecodeSegmentHeader(damaged).status().code(), StatusCode::kCorruption) << byte;
  }
}

TEST(WalFormat, RecordHeaderRoundTripsAndProtectsEveryField) {
  const std::vector<std::uint8_t> payload = {1, 2, 3, 4, 5};
  std::array<std::uint8_t, kRecordHeaderSize> bytes{};
  EncodeRecordHeader({RecordType::kAssertion, 9, 5, 8}, payload, bytes);
  auto h = DecodeRecordHeader(bytes);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->type, RecordType::kAssertion);
  EXPECT_EQ(h->position, 9U);
  EXPECT_EQ(h->payload_length, 5U);
  EXPECT_EQ(h->synced_through, 8U);
  EXPECT_TRUE(RecordChecksumMatches(bytes, payload));
  for (std::size_t byte = 0; byte < bytes.size(); ++byte) {
    auto damaged = bytes;
    damaged[byte] ^= 0x01;
    // Either the header itself fails, or the record checksum does.
    const bool header_ok = DecodeRecordHeader(damaged).ok();
    EXPECT_FALSE(header_ok && RecordChecksumMatches(damaged, payload)) << byte;
  }
  // An all-zero region is never a record.
  std::array<std::uint8_t, kRecordHeaderSize> zeros{};
  EXPECT_FALSE(DecodeRecordHeader(zeros).ok());
}

TEST(WalFormat, FootprintKeepsPayloadsAligned) {
  EXPECT_EQ(RecordFootprint(0), 48U);
  EXPECT_EQ(RecordFootprint(1), 56U);
  EXPECT_EQ(RecordFootprint(8), 56U);
  EXPECT_EQ(RecordFootprint(9), 64U);
}

}  // namespace
}  // namespace stemedb::wal
