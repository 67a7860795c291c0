#include "stemedb/storage/keys.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stemedb::storage::keys {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Assertion Claim(std::optional<AssertionId> parent) {
  Assertion a;
  a.subject = EntityId("Tesla_Inc");
  a.predicate = RelationId("revenue_usd_billions");
  a.object = ObjectValue::Text(std::string("ninety\0six", 10), "en");
  a.confidence = 0.75F;
  a.source_hash = Blake3("10-K");
  a.parent = parent;
  return a;
}

TEST(CandidateValue, CarriesTheSummaryThenTheRecord) {
  const std::string record = "the record bytes";
  for (const auto& parent : {std::optional<AssertionId>(), std::optional<AssertionId>(AssertionId(Blake3("p")))}) {
    const Assertion a = Claim(parent);
    const std::string value = EncodeCandidateValue(a, Bytes(record));
    CandidateValue decoded;
    // Decoding into a value that held a parent clears it when the claim has none.
    decoded.parent = AssertionId(Blake3("stale"));
    const Status s = DecodeCandidateValue(Bytes(value), decoded);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(decoded.confidence, a.confidence);
    EXPECT_EQ(decoded.source_hash, a.source_hash);
    EXPECT_EQ(decoded.parent, a.parent);
    EXPECT_EQ(decoded.value_key, ValueKey(a.object));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(decoded.record.data()), decoded.record.size()), record);
  }
}

TEST(CandidateValue, EveryTruncationAndUnknownFlagIsCorruption) {
  const std::string value = EncodeCandidateValue(Claim(AssertionId(Blake3("p"))), {});
  // Without a record, every strict prefix lacks part of the summary.
  CandidateValue decoded;
  for (std::size_t size = 0; size < value.size(); ++size) {
    const Status s = DecodeCandidateValue(Bytes(value.substr(0, size)), decoded);
    ASSERT_FALSE(s.ok()) << size;
    EXPECT_EQ(s.code(), StatusCode::kCorruption);
  }
  std::string flagged = value;
  flagged[0] = '\x03';
  EXPECT_EQ(DecodeCandidateValue(Bytes(flagged), decoded).code(), StatusCode::kCorruption);
  std::string bad_kind = value;
  bad_kind[1 + 4 + 4 + 32 + 32] = '\x0F';  // the value key's kind
  const Status s = DecodeCandidateValue(Bytes(bad_kind), decoded);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("value key"), std::string::npos) << s.message();
}

TEST(CandidateKey, RecordAndSignatureKeysComeApart) {
  const EntityId subject("Tesla_Inc");
  const RelationId predicate("revenue");
  std::array<std::uint8_t, 32> raw{};
  raw[5] = 0;  // IDs and agents may hold NUL bytes
  raw[9] = 7;
  const AssertionId id{Hash(raw)};
  const AgentId agent(raw);
  const std::string record_key = CandidateRecord(subject, predicate, id);  // the parts point into it
  auto record = ParseCandidateKey(record_key);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->subject, subject.view());
  EXPECT_EQ(record->predicate, predicate.view());
  EXPECT_EQ(record->id, id);
  EXPECT_FALSE(record->signer);
  const std::string signature_key = CandidateSignature(subject, predicate, id, agent);
  auto signature = ParseCandidateKey(signature_key);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->id, id);
  EXPECT_EQ(signature->signer, agent);
  for (const std::string& bad : {std::string("C:no separators"), std::string("H:") + std::string(40, '\0'),
                                 CandidateRecord(subject, predicate, id) + "x"}) {
    EXPECT_EQ(ParseCandidateKey(bad).status().code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace stemedb::storage::keys
