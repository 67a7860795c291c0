#include "stemedb/ingest/validated_records.h"

#include <gtest/gtest.h>

#include <vector>

namespace stemedb::ingest {
namespace {

AssertionId IdOf(std::uint8_t b) {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(b);
  return AssertionId(Hash(bytes));
}

TEST(ValidatedRecords, OnlyTheExactBytesOfTheSameTypeMatchAndOnlyOnce) {
  ValidatedRecords cache;
  std::vector<std::uint8_t> payload(300, 0x5A);
  ASSERT_TRUE(cache.Add(wal::RecordType::kAssertion, payload, IdOf(7)));
  EXPECT_EQ(cache.size(), 1U);

  EXPECT_FALSE(cache.Take(wal::RecordType::kCoSignature, payload)) << "another record type";
  std::vector<std::uint8_t> flipped = payload;
  for (std::size_t bit = 0; bit < 8 * flipped.size(); bit += 97) {
    flipped = payload;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    EXPECT_FALSE(cache.Take(wal::RecordType::kAssertion, flipped)) << "bit " << bit;
  }
  std::vector<std::uint8_t> shorter(payload.begin(), payload.end() - 1);
  EXPECT_FALSE(cache.Take(wal::RecordType::kAssertion, shorter));

  const auto id = cache.Take(wal::RecordType::kAssertion, payload);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, IdOf(7));
  EXPECT_FALSE(cache.Take(wal::RecordType::kAssertion, payload)) << "taken once, then forgotten";
  EXPECT_EQ(cache.size(), 0U);
}

TEST(ValidatedRecords, RefusesWhenFullAndAcceptsAgainOnceTaken) {
  ValidatedRecords cache(2);
  const std::vector<std::uint8_t> a{1}, b{2}, c{3};
  EXPECT_TRUE(cache.Add(wal::RecordType::kAssertion, a, IdOf(1)));
  EXPECT_TRUE(cache.Add(wal::RecordType::kAssertion, b, IdOf(2)));
  EXPECT_FALSE(cache.Add(wal::RecordType::kAssertion, c, IdOf(3)));
  EXPECT_FALSE(cache.Take(wal::RecordType::kAssertion, c)) << "a refused entry is not remembered";
  EXPECT_TRUE(cache.Take(wal::RecordType::kAssertion, a));
  EXPECT_TRUE(cache.Add(wal::RecordType::kAssertion, c, IdOf(3)));
  EXPECT_EQ(cache.Take(wal::RecordType::kAssertion, c), IdOf(3));
}

}  // namespace
}  // namespace stemedb::ingest
