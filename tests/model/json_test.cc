#include "stemedb/model/json.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "support/keys.h"

namespace stemedb {
namespace {

using nlohmann::json;

using stemedb::testing::TestKey;

Result<ParsedAssertion> Parse(std::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok()) return j.status();
  return AssertionFromJson(*j);
}

void ExpectField(const Status& s, std::string_view field, std::string_view text = "") {
  ASSERT_FALSE(s.ok()) << "expected an error on " << field;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), field) << s.ToString();
  EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
}

TEST(Json, ParsesTheDocumentedExample) {
  auto p = Parse(R"({"subject": "Tesla_Inc", "predicate": "revenue", "object": {"number": 96.7},
                     "confidence": 0.9, "source_hash": ")" +
                 std::string(64, 'a') + R"(",
                     "visual_hash": "00000000deadbeef", "parent": ")" +
                 std::string(64, 'b') + R"("})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->assertion.subject.str(), "Tesla_Inc");
  EXPECT_EQ(p->assertion.object, ObjectValue::Number(96.7));
  EXPECT_FLOAT_EQ(p->assertion.confidence, 0.9F);
  EXPECT_EQ(p->assertion.visual_hash->value(), 0xdeadbeefU);
  EXPECT_EQ(p->assertion.parent->ToHex(), std::string(64, 'b'));
  EXPECT_FALSE(p->evidence.has_value());
}

TEST(Json, EvidenceDefaultsTheSourceHash) {
  auto p = Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "evidence": "annual report"})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->assertion.source_hash, Blake3("annual report"));
  EXPECT_EQ(p->evidence, "annual report");
  EXPECT_FLOAT_EQ(p->assertion.confidence, 1.0F);  // documented default

  auto none = Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}})");
  EXPECT_EQ(none->assertion.source_hash, kNoEvidence);

  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "evidence": "x",
                        "source_hash": ")" +
                    std::string(64, '0') + R"("})")
                  .status(),
              "evidence", "BLAKE3 of the evidence");
}

TEST(Json, AllObjectKinds) {
  const std::pair<const char*, ObjectValue> cases[] = {
      {R"({"entity": "Elon_Musk"})", ObjectValue::Entity(EntityId("Elon_Musk"))},
      {R"({"text": "hallo", "lang": "de"})", ObjectValue::Text("hallo", "de")},
      {R"({"text": "plain"})", ObjectValue::Text("plain")},
      {R"({"integer": -9223372036854775808})", ObjectValue::Integer(INT64_MIN)},
      {R"({"number": 5})", ObjectValue::Number(5.0)},
      {R"({"bool": false})", ObjectValue::Boolean(false)},
      {R"({"timestamp": "2024-05-01T12:00:00+02:00"})",
       ObjectValue::Time(*Timestamp::FromRfc3339("2024-05-01T10:00:00Z"))},
      {R"({"typed": {"value": "1.0", "datatype": "http://www.w3.org/2001/XMLSchema#decimal"}})",
       ObjectValue::Typed("1.0", "http://www.w3.org/2001/XMLSchema#decimal")},
      {R"({"blob": ")"
       "cd"
       "00000000000000000000000000000000000000000000000000000000000000"
       R"("})",
       ObjectValue::Blob(*Hash::FromHex("cd00000000000000000000000000000000000000000000000000000000000000"))},
  };
  for (const auto& [text, want] : cases) {
    auto got = ObjectFromJson(json::parse(text));
    ASSERT_TRUE(got.ok()) << text << ": " << got.status().ToString();
    EXPECT_EQ(*got, want) << text;
    EXPECT_EQ(*ObjectFromJson(ObjectToJson(want)), want) << text;
  }
}

TEST(Json, ErrorsNameTheField) {
  ExpectField(ParseJson("{").status(), "", "malformed JSON");
  ExpectField(Parse(R"([])").status(), "(root)", "must be a JSON object");
  ExpectField(Parse(R"({"predicate": "p", "object": {"bool": true}})").status(), "subject", "is required");
  ExpectField(Parse(R"({"subject": 5, "predicate": "p", "object": {"bool": true}})").status(), "subject",
              "must be a string");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p"})").status(), "object", "is required");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "confidance": 1})").status(),
              "confidance", "unknown key");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "confidence": 2})").status(),
              "confidence", "must be in [0, 1]");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "confidence": "high"})").status(),
              "confidence", "must be a number");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"integer": 1.5}})").status(), "object.integer",
              "must be an integer");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"integer": 9223372036854775808}})").status(),
              "object.integer", "does not fit");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"colour": "red"}})").status(), "object.colour",
              "unknown object kind");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true, "integer": 1}})").status(), "object",
              "exactly one");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"timestamp": "yesterday"}})").status(),
              "object.timestamp", "RFC 3339");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "parent": "abc"})").status(),
              "parent", "hex");
  ExpectField(Parse(R"({"subject": "s", "predicate": "p", "object": {"bool": true}, "visual_hash": "zz"})").status(),
              "visual_hash", "hex");
}

TEST(Json, EnvelopeChecksTheIdAndParsesSignatures) {
  const KeyPair key = TestKey(1);
  const KeyPair* keys[] = {&key};
  Assertion a;
  a.subject = EntityId("s");
  a.predicate = RelationId("p");
  a.object = ObjectValue::Integer(3);
  const auto signed_assertion = *SignAssertion(a, keys, Timestamp(1700000000000000));
  json envelope = EnvelopeToJson(signed_assertion, std::string("evidence text is not part of the ID"));

  // The evidence in an envelope must match source_hash.
  ExpectField(EnvelopeFromJson(envelope).status(), "evidence", "BLAKE3 of the evidence");
  envelope.erase("evidence");
  auto back = EnvelopeFromJson(envelope);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->signed_assertion, signed_assertion);

  json wrong_id = envelope;
  wrong_id["id"] = std::string(64, 'f');
  ExpectField(EnvelopeFromJson(wrong_id).status(), "id", "but the assertion hashes to");

  json bad_sig = envelope;
  bad_sig["signatures"][0]["signature"] = "00";
  ExpectField(EnvelopeFromJson(bad_sig).status(), "signatures[0].signature", "hex");

  json bad_inner = envelope;
  bad_inner["assertion"]["confidence"] = -1;
  ExpectField(EnvelopeFromJson(bad_inner).status(), "assertion.confidence", "must be in [0, 1]");

  json no_sigs = envelope;
  no_sigs.erase("signatures");
  ExpectField(EnvelopeFromJson(no_sigs).status(), "signatures", "is required");
}

RC_GTEST_PROP(Json, AssertionRoundTrips, (const Assertion& a)) {
  const std::string text = AssertionToJson(a).dump();
  auto back = Parse(text);
  RC_ASSERT(back.ok());
  RC_ASSERT(back->assertion == a);
}

RC_GTEST_PROP(Json, EnvelopeRoundTripsAndStaysValid, (const Assertion& a)) {
  const KeyPair k1 = TestKey(1), k2 = TestKey(2);
  const KeyPair* keys[] = {&k1, &k2};
  const auto signed_assertion = *SignAssertion(a, keys, *testing::GenTimestamp());
  auto back = EnvelopeFromJson(json::parse(EnvelopeToJson(signed_assertion).dump()));
  RC_ASSERT(back.ok());
  RC_ASSERT(back->signed_assertion == signed_assertion);
  RC_ASSERT(ValidateSignedAssertion(back->signed_assertion).ok());
}

}  // namespace
}  // namespace stemedb
