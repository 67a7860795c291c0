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

SignatureEntry Signer(std::uint8_t first_byte, std::int64_t signed_at) {
  std::array<std::uint8_t, AgentId::kSize> agent{};
  agent.fill(0x5A);
  agent[0] = first_byte;
  SignatureEntry e;
  e.agent = AgentId(agent);
  e.signed_at = Timestamp(signed_at);
  return e;
}

TEST(CandidateValue, CarriesTheSummaryAndWhereTheRecordIs) {
  // Given out of agent order: the summary lists them in agent order.
  const std::vector<SignatureEntry> signers = {Signer(9, 1700000000000002), Signer(3, 1700000000000001),
                                               Signer(200, -5)};
  for (const auto& parent : {std::optional<AssertionId>(), std::optional<AssertionId>(AssertionId(Blake3("p")))}) {
    const Assertion a = Claim(parent);
    const std::string value = EncodeCandidateValue(a, signers, 4242, 0x1'0000'0038ULL, 312);
    CandidateValue decoded;
    // Decoding into a value that held a parent clears it when the claim has none.
    decoded.parent = AssertionId(Blake3("stale"));
    const Status s = DecodeCandidateValue(Bytes(value), decoded);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(decoded.confidence, a.confidence);
    EXPECT_EQ(decoded.source_hash, a.source_hash);
    EXPECT_EQ(decoded.parent, a.parent);
    EXPECT_EQ(decoded.value_key, ValueKey(a.object));
    EXPECT_EQ(decoded.position, 4242U);
    EXPECT_EQ(decoded.record_offset, 0x1'0000'0038ULL);
    EXPECT_EQ(decoded.record_length, 312U);
    ASSERT_EQ(decoded.signer_count, 3U);
    for (std::size_t i = 0; i < 3; ++i) {
      const SignatureEntry& want = signers[std::array<std::size_t, 3>{1, 0, 2}[i]];
      EXPECT_EQ(SummarySignerAgent(decoded, i), want.agent) << i;
      EXPECT_EQ(SummarySignerTime(decoded, i), want.signed_at) << i;
    }
  }
}

TEST(CandidateValue, SignersOutOfOrderOrOverlongAreCorruption) {
  const std::vector<SignatureEntry> signers = {Signer(1, 1), Signer(2, 2)};
  const std::string value = EncodeCandidateValue(Claim(std::nullopt), signers, 7, 80, 6);
  constexpr std::size_t kSignersAt = 1 + 4 + 4 + 4 + 8 + 8 + 4 + 32;
  CandidateValue decoded;
  ASSERT_TRUE(DecodeCandidateValue(Bytes(value), decoded).ok());
  std::string swapped = value;  // the two agents exchanged
  std::swap_ranges(swapped.begin() + kSignersAt, swapped.begin() + kSignersAt + 40, swapped.begin() + kSignersAt + 40);
  EXPECT_EQ(DecodeCandidateValue(Bytes(swapped), decoded).code(), StatusCode::kCorruption);
  std::string repeated = value;  // one agent twice
  std::copy_n(value.begin() + kSignersAt, 32, repeated.begin() + kSignersAt + 40);
  EXPECT_EQ(DecodeCandidateValue(Bytes(repeated), decoded).code(), StatusCode::kCorruption);
  std::string overlong = value;  // a count the value cannot hold
  overlong[9] = '\xFF';
  overlong[10] = '\xFF';
  overlong[11] = '\xFF';
  overlong[12] = '\xFF';
  EXPECT_EQ(DecodeCandidateValue(Bytes(overlong), decoded).code(), StatusCode::kCorruption);
}

TEST(CandidateValue, EveryTruncationAndUnknownFlagIsCorruption) {
  const std::vector<SignatureEntry> signers = {Signer(1, 1)};
  const std::string value = EncodeCandidateValue(Claim(AssertionId(Blake3("p"))), signers, 3, 32, 400);
  // Every strict prefix lacks part of the summary, and a byte more is not a summary either.
  CandidateValue decoded;
  for (std::size_t size = 0; size < value.size(); ++size) {
    const Status s = DecodeCandidateValue(Bytes(value.substr(0, size)), decoded);
    ASSERT_FALSE(s.ok()) << size;
    EXPECT_EQ(s.code(), StatusCode::kCorruption);
  }
  EXPECT_EQ(DecodeCandidateValue(Bytes(value + '\0'), decoded).code(), StatusCode::kCorruption);
  std::string flagged = value;
  flagged[0] = '\x03';
  EXPECT_EQ(DecodeCandidateValue(Bytes(flagged), decoded).code(), StatusCode::kCorruption);
  std::string bad_kind = value;
  bad_kind[1 + 4 + 4 + 4 + 8 + 8 + 4 + 32 + 32 + 40] = '\x0F';  // the value key's kind
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

namespace stemedb::storage::keys {
namespace {

AssertionId IdOf(std::uint8_t b) {
  std::array<std::uint8_t, 32> raw{};
  raw.fill(b);
  return AssertionId(Hash(raw));
}

TEST(AgentIndex, RangesAreBlocksOfPositionsInKeyOrder) {
  std::array<std::uint8_t, 32> raw{};
  raw.fill(0xff);
  const AgentId agent(raw);
  EXPECT_EQ(AgentRange(agent, 0), AgentRange(agent, kAgentRangePositions - 1));
  EXPECT_NE(AgentRange(agent, kAgentRangePositions - 1), AgentRange(agent, kAgentRangePositions));
  EXPECT_EQ(AgentRange(agent, kAgentRangePositions), AgentPrefix(agent) + EncodeU64(kAgentRangePositions));
  EXPECT_LT(AgentRange(agent, 5 * kAgentRangePositions), AgentRange(agent, 300 * kAgentRangePositions));
  EXPECT_TRUE(AgentRange(agent, 77).starts_with(AgentPrefix(agent)));
}

TEST(AgentIndex, EntriesRoundTripAndSortInLogOrder) {
  const std::vector<AgentEntry> entries = {
      {1, IdOf(9), Timestamp(-5)}, {256, IdOf(0), Timestamp(1700000000000000)}, {257, IdOf(3), Timestamp(0)}};
  std::string value;
  for (const AgentEntry& e : entries) {
    const std::string encoded = EncodeAgentEntry(e);
    ASSERT_EQ(encoded.size(), kSetEntryBytes);
    EXPECT_TRUE(value.empty() || value.substr(value.size() - kSetEntryBytes) < encoded) << "byte order is log order";
    value += encoded;
  }
  auto decoded = DecodeAgentEntries(value);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, entries);
  EXPECT_TRUE(DecodeAgentEntries("")->empty());
}

// A page starts at the first entry past a position, found without decoding the entries before it.
TEST(AgentIndex, FirstAfterFindsWhereAPageStarts) {
  std::string value;
  for (const std::uint64_t p : {3, 5, 9})
    AppendAgentEntry({p, IdOf(static_cast<std::uint8_t>(p)), Timestamp(1)}, value);
  const auto entries = AgentEntries::Of(value);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 3U);
  EXPECT_EQ((*entries)[1], (AgentEntry{5, IdOf(5), Timestamp(1)}));
  const std::pair<std::uint64_t, std::size_t> cases[] = {{0, 0}, {2, 0}, {3, 1}, {4, 1},
                                                         {5, 2}, {8, 2}, {9, 3}, {100, 3}};
  for (const auto& [after, index] : cases) EXPECT_EQ(entries->FirstAfter(after), index) << "after " << after;
  EXPECT_EQ(AgentEntries::Of("")->FirstAfter(0), 0U);
}

TEST(AgentIndex, PartialOrUnorderedEntriesAreCorruption) {
  const std::string a = EncodeAgentEntry({1, IdOf(1), Timestamp(1)});
  const std::string b = EncodeAgentEntry({2, IdOf(1), Timestamp(1)});
  const std::string a_again = EncodeAgentEntry({1, IdOf(2), Timestamp(1)});  // a second claim at a's position
  ASSERT_LT(a, a_again);  // in byte order, yet a record cannot be signed twice by one agent
  for (const std::string& bad : {a.substr(1), a + b.substr(0, 47), b + a, a + a, a + a_again}) {
    auto decoded = DecodeAgentEntries(bad);
    ASSERT_FALSE(decoded.ok()) << bad.size();
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace stemedb::storage::keys
