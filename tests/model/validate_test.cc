#include "stemedb/model/validate.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <limits>

#include "generators.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "support/keys.h"

namespace stemedb {
namespace {

using stemedb::testing::TestKey;

Assertion Valid() {
  Assertion a;
  a.subject = EntityId("Tesla_Inc");
  a.predicate = RelationId("ceo");
  a.object = ObjectValue::Entity(EntityId("Elon_Musk"));
  a.confidence = 0.8F;
  return a;
}

SignedAssertion Signed(const Assertion& a, std::initializer_list<std::uint8_t> seeds = {1}) {
  std::vector<KeyPair> keys;
  for (auto s : seeds) keys.push_back(TestKey(s));
  std::vector<const KeyPair*> ptrs;
  for (auto& k : keys) ptrs.push_back(&k);
  return std::move(SignAssertion(a, ptrs, Timestamp(1700000000000000))).value();
}

// Expects an InvalidArgument on `field` whose message contains `text`.
void ExpectRejected(const Status& s, std::string_view field, std::string_view text) {
  ASSERT_FALSE(s.ok()) << "expected rejection of " << field;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), field) << s.ToString();
  EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
}

TEST(Validate, AcceptsAValidClaim) {
  EXPECT_TRUE(ValidateAssertion(Valid()).ok());
  EXPECT_TRUE(ValidateSignedAssertion(Signed(Valid(), {1, 2, 3})).ok());
}

TEST(Validate, Identifiers) {
  Assertion a = Valid();
  a.subject = EntityId("");
  ExpectRejected(ValidateAssertion(a), "subject", "must not be empty");
  a.subject = EntityId(std::string(4097, 'x'));
  ExpectRejected(ValidateAssertion(a), "subject", "4097 bytes, the limit is 4096");
  a.subject = EntityId("bad\xC3");
  ExpectRejected(ValidateAssertion(a), "subject", "invalid UTF-8 at byte 3");
  a.subject = EntityId("line\nbreak");
  ExpectRejected(ValidateAssertion(a), "subject", "control character 0x0a at byte 4");
  a = Valid();
  a.predicate = RelationId("");
  ExpectRejected(ValidateAssertion(a), "predicate", "must not be empty");
  a = Valid();
  a.object = ObjectValue::Entity(EntityId(std::string("nul\0", 4)));
  ExpectRejected(ValidateAssertion(a), "object.entity", "control character 0x00");
}

TEST(Validate, Objects) {
  Assertion a = Valid();
  a.object = ObjectValue::Text(std::string(64 * 1024 + 1, 'x'));
  ExpectRejected(ValidateAssertion(a), "object.text", "the limit is 65536");
  a.object = ObjectValue::Text("ok", "en_US");
  ExpectRejected(ValidateAssertion(a), "object.lang", "not a BCP 47 language tag");
  a.object = ObjectValue::Text("ok", "1en");
  ExpectRejected(ValidateAssertion(a), "object.lang", "not a BCP 47 language tag");
  a.object = ObjectValue::Text("ok", "en-");
  ExpectRejected(ValidateAssertion(a), "object.lang", "not a BCP 47 language tag");
  a.object = ObjectValue::Text("ok", "zh-Hant-TW");
  EXPECT_TRUE(ValidateAssertion(a).ok());
  a.object = ObjectValue::Number(std::numeric_limits<double>::quiet_NaN());
  ExpectRejected(ValidateAssertion(a), "object.number", "finite");
  a.object = ObjectValue::Number(-std::numeric_limits<double>::infinity());
  ExpectRejected(ValidateAssertion(a), "object.number", "finite");
  a.object = ObjectValue::Time(Timestamp(Timestamp::kMaxMicros + 1));
  ExpectRejected(ValidateAssertion(a), "object.timestamp", "0001..9999");
  a.object = ObjectValue::Typed("1", "");
  ExpectRejected(ValidateAssertion(a), "object.datatype", "must not be empty");
  a.object = ObjectValue::Typed("\xFF", "http://www.w3.org/2001/XMLSchema#int");
  ExpectRejected(ValidateAssertion(a), "object.value", "invalid UTF-8");
}

TEST(Validate, Confidence) {
  Assertion a = Valid();
  for (float bad : {-0.01F, 1.01F, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    a.confidence = bad;
    ExpectRejected(ValidateAssertion(a), "confidence", "must be in [0, 1]");
  }
  for (float good : {0.0F, 1.0F, 0.5F}) {
    a.confidence = good;
    EXPECT_TRUE(ValidateAssertion(a).ok());
  }
}

TEST(Validate, Signatures) {
  SignedAssertion s = Signed(Valid());
  s.signatures.clear();
  ExpectRejected(ValidateSignedAssertion(s), "signatures", "at least one signature");

  s = Signed(Valid(), {1, 1});
  ExpectRejected(ValidateSignedAssertion(s), "signatures[1]", "signs more than once");

  s = Signed(Valid(), {1, 2});
  s.signatures[1].signature[10] ^= 1;
  ExpectRejected(ValidateSignedAssertion(s), "signatures[1].signature", "does not verify");

  s = Signed(Valid());
  s.signatures[0].agent = TestKey(9).agent();  // a signature by one key presented under another
  ExpectRejected(ValidateSignedAssertion(s), "signatures[0].signature", "does not verify");

  s = Signed(Valid());
  s.signatures[0].signed_at = Timestamp(Timestamp::kMinMicros - 1);
  ExpectRejected(ValidateSignedAssertion(s), "signatures[0].signed_at", "0001..9999");

  ValidationLimits two;
  two.max_signatures = 2;
  ExpectRejected(ValidateSignedAssertion(Signed(Valid(), {1, 2, 3}), two), "signatures", "the limit is 2");
}

TEST(Validate, IdMustMatchTheClaim) {
  SignedAssertion s = Signed(Valid());
  s.assertion.confidence = 0.7F;  // claim changed after signing: the ID no longer matches
  ExpectRejected(ValidateSignedAssertion(s), "id", "but the claim hashes to");
  // Re-deriving the ID does not help a stale signature.
  s.id = *ComputeAssertionId(s.assertion);
  ExpectRejected(ValidateSignedAssertion(s), "signatures[0].signature", "does not verify");
}

RC_GTEST_PROP(Validate, GeneratedClaimsSignedAreValid, (const Assertion& a)) {
  RC_ASSERT(ValidateSignedAssertion(Signed(a, {1, 2})).ok());
}

}  // namespace
}  // namespace stemedb
