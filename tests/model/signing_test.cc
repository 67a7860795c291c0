#include "stemedb/model/signing.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>

#include "generators.h"
#include "stemedb/model/codec.h"
#include "support/keys.h"

namespace stemedb {
namespace {

using stemedb::testing::TestKey;

TEST(Signing, GeneratedKeysDiffer) {
  auto a = KeyPair::Generate();
  auto b = KeyPair::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->agent(), b->agent());
}

// Agents order bytewise (signer lists are kept in this order): a property over random keys.
RC_GTEST_PROP(AgentId, OrderIsBytewise,
              (std::array<std::uint8_t, AgentId::kSize> a, std::array<std::uint8_t, AgentId::kSize> b)) {
  RC_ASSERT((AgentId(a) < AgentId(b)) == std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()));
  RC_ASSERT((AgentId(a) == AgentId(b)) == (a == b));
  b = a;
  const std::size_t at = *rc::gen::inRange<std::size_t>(0, AgentId::kSize);
  b[at] = static_cast<std::uint8_t>(a[at] ^ *rc::gen::inRange<int>(1, 256));
  RC_ASSERT((AgentId(a) < AgentId(b)) == (a[at] < b[at]));
}

TEST(Signing, SeedDeterminesTheKey) {
  EXPECT_EQ(TestKey(3).agent(), TestKey(3).agent());
  EXPECT_NE(TestKey(3).agent(), TestKey(4).agent());
}

TEST(Signing, MessageLayout) {
  const AssertionId id(Blake3("x"));
  const auto msg = SigningMessage(id, Timestamp(0x0102030405060708));
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(msg.data()), 20), "stemedb/signature/v1");
  EXPECT_EQ(msg[20], 0);
  EXPECT_TRUE(std::equal(id.bytes().begin(), id.bytes().end(), msg.begin() + 21));
  EXPECT_EQ(msg[53], 0x08);  // little-endian signed_at
  EXPECT_EQ(msg[60], 0x01);
}

RC_GTEST_PROP(Signing, SignatureVerifies, (const Assertion& a)) {
  const KeyPair key = TestKey(*rc::gen::arbitrary<std::uint8_t>());
  const AssertionId id = *ComputeAssertionId(a);
  const SignatureEntry entry = key.Sign(id, *testing::GenTimestamp());
  RC_ASSERT(VerifySignature(id, entry).ok());
}

RC_GTEST_PROP(Signing, SignatureFailsAfterAnyChange, (const Assertion& a, const Assertion& other)) {
  RC_PRE(!(a == other));
  const KeyPair key = TestKey(1);
  const KeyPair stranger = TestKey(2);
  const AssertionId id = *ComputeAssertionId(a);
  const Timestamp when = *testing::GenTimestamp();
  const SignatureEntry entry = key.Sign(id, when);

  // Another claim.
  RC_ASSERT(!VerifySignature(*ComputeAssertionId(other), entry).ok());
  // Another signer presented for the same signature.
  SignatureEntry wrong_agent = entry;
  wrong_agent.agent = stranger.agent();
  RC_ASSERT(!VerifySignature(id, wrong_agent).ok());
  // Re-dated.
  SignatureEntry redated = entry;
  redated.signed_at = Timestamp(when.micros() ^ (std::int64_t{1} << *rc::gen::inRange(0, 62)));
  RC_ASSERT(!VerifySignature(id, redated).ok());
  // Any bit of the signature itself.
  SignatureEntry flipped = entry;
  const std::size_t bit = *rc::gen::inRange<std::size_t>(0, 512);
  flipped.signature[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
  RC_ASSERT(!VerifySignature(id, flipped).ok());
}

}  // namespace
}  // namespace stemedb
