#include "stemedb/model/codec.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "generators.h"
#include "stemedb.capnp.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "support/keys.h"

namespace stemedb {
namespace {

Assertion TeslaRevenue() {
  Assertion a;
  a.subject = EntityId("Tesla_Inc");
  a.predicate = RelationId("revenue_usd_billions");
  a.object = ObjectValue::Number(96.7);
  a.confidence = 0.9F;
  a.source_hash = Blake3("10-K filing 2023");
  return a;
}

using stemedb::testing::TestKey;

TEST(Codec, IdIsAFixedFunctionOfTheClaim) {
  // Locks the format: if this changes, every stored ID changes. Only a deliberate, versioned
  // format change (a new domain tag) may update it.
  auto id = ComputeAssertionId(TeslaRevenue());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->ToHex(), "0eac562ab1af7f88dbe9417a53cbbf43ef004c1a61d3fafd079d72f7a37d2e91");

  // The same ID from the independent b3sum over domain tag ‖ canonical bytes.
  const auto bytes = *EncodeClaim(TeslaRevenue());
  const auto path = std::filesystem::temp_directory_path() / ("stemedb-golden-" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(kAssertionIdDomain.data(), static_cast<std::streamsize>(kAssertionIdDomain.size()));
    out.write(reinterpret_cast<const char*>(bytes.bytes().data()), static_cast<std::streamsize>(bytes.size()));
  }
  FILE* pipe = ::popen(("b3sum --no-names " + path.string()).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::array<char, 65> hex{};
  ASSERT_EQ(std::fread(hex.data(), 1, 64, pipe), 64U);
  EXPECT_EQ(::pclose(pipe), 0);
  std::filesystem::remove(path);
  EXPECT_EQ(std::string(hex.data(), 64), id->ToHex());
}

TEST(Codec, IdDoesNotDependOnHowTheMessageWasBuilt) {
  const Assertion a = TeslaRevenue();
  // Build the same claim by hand: fields in another order, a discarded object left in the arena,
  // a text field written twice (the first copy stays behind as garbage), a small first segment so
  // the message spans several segments. canonicalize() must erase all of it.
  capnp::MallocMessageBuilder message(8, capnp::AllocationStrategy::FIXED_SIZE);
  auto claim = message.initRoot<schema::Claim>();
  auto garbage = message.getOrphanage().newOrphan<schema::LangText>();
  garbage.get().setValue("left in the segment");
  claim.setConfidence(a.confidence);
  claim.setSubject("a first subject, overwritten below");
  claim.initObject().setNumber(96.7);
  claim.setSourceHash(capnp::Data::Reader(a.source_hash.bytes().data(), 32));
  claim.setPredicate(a.predicate.str());
  claim.setSubject(a.subject.str());
  const auto canonical = capnp::canonicalize(claim.asReader());
  const auto bytes = canonical.asBytes();
  EXPECT_EQ(AssertionIdOfCanonicalClaim({bytes.begin(), bytes.size()}), *ComputeAssertionId(a));
}

TEST(Codec, RejectsBitsOutsideTheFieldsValues) {
  // Cap'n Proto's union setter for a data member leaves the previous member's pointer in place.
  // Such a message is canonical in layout but carries bytes no field accounts for: rejected.
  capnp::MallocMessageBuilder message;
  auto claim = message.initRoot<schema::Claim>();
  claim.setSubject("s");
  claim.setPredicate("p");
  claim.initObject().setEntity("hidden payload");
  claim.getObject().setInteger(0);
  claim.setSourceHash(capnp::Data::Reader(kNoEvidence.bytes().data(), 32));
  const auto canonical = capnp::canonicalize(claim.asReader());
  const auto bytes = canonical.asBytes();
  auto decoded = DecodeClaim(AlignedBytes::CopyOf({bytes.begin(), bytes.size()}).bytes());
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("bits outside its fields"), std::string::npos);
}

TEST(Codec, AlignedCopiesKeepTheExactSize) {
  const std::string text = "seventeen bytes!!";
  const auto copy = AlignedBytes::CopyOf({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  EXPECT_EQ(copy.size(), 17U);
  EXPECT_EQ(copy.bytes().size(), 17U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(copy.bytes().data()) % 8, 0U);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(copy.bytes().data()), copy.size()), text);
}

TEST(Codec, CoSignaturesRoundTripAndRejectDamage) {
  const KeyPair k1 = TestKey(1), k2 = TestKey(2);
  const AssertionId id = *ComputeAssertionId(TeslaRevenue());
  const CoSignatures cosign{id, {k1.Sign(id, Timestamp(1)), k2.Sign(id, Timestamp(2))}};
  const auto bytes = *EncodeCoSignatures(cosign);
  auto back = DecodeCoSignatures(bytes.bytes());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cosign);
  std::vector<std::uint64_t> longer(bytes.words().begin(), bytes.words().end());
  longer.push_back(0);
  EXPECT_EQ(DecodeCoSignatures(AlignedBytes(longer).bytes()).status().code(), StatusCode::kCorruption);
}

TEST(Codec, NegativeZeroIsOneValueWithPositiveZero) {
  Assertion a = TeslaRevenue();
  a.object = ObjectValue::Number(0.0);
  Assertion b = a;
  b.object = ObjectValue::Number(-0.0);
  EXPECT_EQ(*ComputeAssertionId(a), *ComputeAssertionId(b));
}

TEST(Codec, RejectsHostileBytesWithoutCrashing) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint64_t> words(1 + rng() % 64);
    for (auto& w : words) w = rng();
    const AlignedBytes bytes{std::move(words)};
    // Random bytes are almost never a canonical record; whatever happens, it is a status.
    auto claim = DecodeClaim(bytes.bytes());
    auto record = DecodeRecord(bytes.bytes());
    EXPECT_TRUE(claim.ok() || claim.status().code() == StatusCode::kCorruption) << claim.status().ToString();
    EXPECT_TRUE(record.ok() || record.status().code() == StatusCode::kCorruption) << record.status().ToString();
  }
}

TEST(Codec, RejectsBadShapes) {
  EXPECT_EQ(DecodeClaim({}).status().code(), StatusCode::kCorruption);
  const auto good = *EncodeClaim(TeslaRevenue());
  EXPECT_EQ(DecodeClaim(good.bytes().first(good.size() - 3)).status().code(), StatusCode::kCorruption);
  // A record larger than the limit is refused before it is read.
  EXPECT_EQ(DecodeClaim(good.bytes(), DecodeLimits{.traversal_limit_words = 2}).status().code(),
            StatusCode::kCorruption);
  // Trailing words make a message non-canonical.
  std::vector<std::uint64_t> longer(good.words().begin(), good.words().end());
  longer.push_back(0);
  EXPECT_EQ(DecodeClaim(AlignedBytes(longer).bytes()).status().code(), StatusCode::kCorruption);
}

TEST(Codec, UnalignedRecordIsCopiedNotRejected) {
  const KeyPair key = TestKey(1);
  const KeyPair* keys[] = {&key};
  const auto signed_assertion = *SignAssertion(TeslaRevenue(), keys, Timestamp(1700000000000000));
  const auto record = *EncodeRecord(signed_assertion);
  std::vector<std::uint8_t> shifted(record.size() + 1);
  std::copy(record.bytes().begin(), record.bytes().end(), shifted.begin() + 1);
  auto decoded = DecodeRecord(std::span<const std::uint8_t>(shifted).subspan(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, signed_assertion);
  // The in-place view insists on alignment instead of copying behind the caller's back.
  EXPECT_EQ(SignedClaimView::Open(std::span<const std::uint8_t>(shifted).subspan(1)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Codec, ViewReadsFieldsInPlace) {
  const KeyPair k1 = TestKey(1), k2 = TestKey(2);
  const KeyPair* keys[] = {&k1, &k2};
  const auto signed_assertion = *SignAssertion(TeslaRevenue(), keys, Timestamp(1700000000000000));
  const auto record = *EncodeRecord(signed_assertion);
  auto view = SignedClaimView::Open(record.bytes());
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->subject(), "Tesla_Inc");
  EXPECT_EQ(view->predicate(), "revenue_usd_billions");
  // The string view points into the record, not into a copy.
  EXPECT_GE(view->subject().data(), reinterpret_cast<const char*>(record.bytes().data()));
  EXPECT_LT(view->subject().data(), reinterpret_cast<const char*>(record.bytes().data() + record.size()));
  EXPECT_EQ(view->signature_count(), 2U);
  EXPECT_EQ(view->signature(1), signed_assertion.signatures[1]);
  EXPECT_EQ(view->ComputeId(), signed_assertion.id);
}

TEST(Codec, TrustedLayoutReadsTheSameFieldsAndStillRejectsHostileBytes) {
  const KeyPair k1 = TestKey(1), k2 = TestKey(2);
  const KeyPair* keys[] = {&k1, &k2};
  const auto signed_assertion = *SignAssertion(TeslaRevenue(), keys, Timestamp(1700000000000000));
  const auto record = *EncodeRecord(signed_assertion);
  DecodeLimits trusted;
  trusted.require_exact_encoding = false;
  trusted.trusted_layout = true;
  auto view = SignedClaimView::Open(record.bytes(), trusted);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->ToOwnedAssertion(), signed_assertion.assertion);
  ASSERT_EQ(view->signature_count(), 2U);
  EXPECT_EQ(view->signature(0), signed_assertion.signatures[0]);
  EXPECT_EQ(view->signature(1), signed_assertion.signatures[1]);
  EXPECT_EQ(view->ComputeId(), signed_assertion.id);

  // The layout walk may be skipped only where the exactness check is off too.
  DecodeLimits contradictory;
  contradictory.trusted_layout = true;
  EXPECT_EQ(SignedClaimView::Open(record.bytes(), contradictory).status().code(), StatusCode::kInvalidArgument);

  // Not a licence to crash: bytes that are not a record still give a status, and a view that does
  // open reads without throwing.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint64_t> words(1 + rng() % 64);
    for (auto& w : words) w = rng();
    const AlignedBytes bytes{std::move(words)};
    auto hostile = SignedClaimView::Open(bytes.bytes(), trusted);
    if (!hostile.ok()) {
      EXPECT_EQ(hostile.status().code(), StatusCode::kCorruption) << hostile.status().ToString();
      continue;
    }
    (void)hostile->ToOwnedAssertion();
    for (std::size_t s = 0; s < hostile->signature_count(); ++s) (void)hostile->signature(s);
  }
}

// The oracle for the canonical writer: Cap'n Proto's own builders and canonicalize(), the way
// the codec encoded before it wrote the canonical form directly.
void BuildClaim(schema::Claim::Builder claim, const Assertion& a) {
  claim.setSubject(a.subject.str());
  claim.setPredicate(a.predicate.str());
  auto object = claim.initObject();
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          object.setEntity(v.str());
        } else if constexpr (std::is_same_v<T, LangText>) {
          auto text = object.initText();
          text.setValue(v.value);
          text.setLang(v.lang);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          object.setInteger(v);
        } else if constexpr (std::is_same_v<T, double>) {
          object.setNumber(v == 0.0 ? 0.0 : v);
        } else if constexpr (std::is_same_v<T, bool>) {
          object.setBoolean(v);
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          object.setTimestamp(v.micros());
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          auto typed = object.initTyped();
          typed.setLexical(v.lexical);
          typed.setDatatype(v.datatype);
        } else {
          object.setBlob(capnp::Data::Reader(v.bytes().data(), v.bytes().size()));
        }
      },
      a.object.variant());
  claim.setConfidence(a.confidence == 0.0F ? 0.0F : a.confidence);
  claim.setSourceHash(capnp::Data::Reader(a.source_hash.bytes().data(), 32));
  if (a.visual_hash) {
    claim.setHasVisualHash(true);
    claim.setVisualHash(a.visual_hash->value());
  }
  if (a.parent) claim.setParentHash(capnp::Data::Reader(a.parent->hash().bytes().data(), 32));
}

void BuildSignatures(capnp::List<schema::Signature>::Builder out, const std::vector<SignatureEntry>& signatures) {
  for (unsigned i = 0; i < out.size(); ++i) {
    out[i].setAgent(capnp::Data::Reader(signatures[i].agent.bytes().data(), AgentId::kSize));
    out[i].setSignature(capnp::Data::Reader(signatures[i].signature.data(), signatures[i].signature.size()));
    out[i].setSignedAt(signatures[i].signed_at.micros());
  }
}

std::vector<std::uint8_t> BytesOf(const kj::Array<capnp::word>& words) {
  const auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

std::vector<std::uint8_t> CapnpClaim(const Assertion& a) {
  capnp::MallocMessageBuilder message;
  auto claim = message.initRoot<schema::Claim>();
  BuildClaim(claim, a);
  return BytesOf(capnp::canonicalize(claim.asReader()));
}

std::vector<std::uint8_t> CapnpRecord(const Assertion& a, const std::vector<SignatureEntry>& signatures) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::SignedClaim>();
  BuildClaim(record.initClaim(), a);
  BuildSignatures(record.initSignatures(static_cast<unsigned>(signatures.size())), signatures);
  return BytesOf(capnp::canonicalize(record.asReader()));
}

std::vector<std::uint8_t> CapnpCoSignatures(const CoSignatures& c) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::CoSignatures>();
  root.setAssertionId(capnp::Data::Reader(c.id.hash().bytes().data(), 32));
  BuildSignatures(root.initSignatures(static_cast<unsigned>(c.signatures.size())), c.signatures);
  return BytesOf(capnp::canonicalize(root.asReader()));
}

std::vector<std::uint8_t> BytesOf(const AlignedBytes& bytes) { return {bytes.bytes().begin(), bytes.bytes().end()}; }

// Claims leaning on the values canonical form treats specially: zeroes (truncated data
// sections), empty texts, absent parents (truncated pointer sections).
rc::Gen<Assertion> GenEdgyAssertion() {
  return rc::gen::apply(
      [](Assertion a, int confidence, rc::Maybe<std::uint64_t> phash, bool zero_phash, ObjectValue zero_object,
         bool use_zero_object) {
        if (confidence == 0) a.confidence = 0.0F;
        if (confidence == 1) a.confidence = -0.0F;
        if (confidence == 2) a.confidence = 1.0F;
        a.visual_hash.reset();
        if (phash) a.visual_hash = PHash(zero_phash ? 0 : *phash);
        if (use_zero_object) a.object = std::move(zero_object);
        return a;
      },
      testing::GenAssertion(), rc::gen::inRange(0, 4), rc::gen::maybe(rc::gen::arbitrary<std::uint64_t>()),
      rc::gen::arbitrary<bool>(),
      rc::gen::element(ObjectValue::Integer(0), ObjectValue::Number(0.0), ObjectValue::Number(-0.0),
                       ObjectValue::Boolean(false), ObjectValue::Boolean(true), ObjectValue::Time(Timestamp(0)),
                       ObjectValue::Text("", ""), ObjectValue::Typed("", "x"), ObjectValue::Entity(EntityId("e"))),
      rc::gen::arbitrary<bool>());
}

rc::Gen<std::vector<SignatureEntry>> GenSignatures() {
  return rc::gen::container<std::vector<SignatureEntry>>(rc::gen::apply(
      [](std::array<std::uint8_t, AgentId::kSize> agent, SignatureBytes signature, bool zero_time, Timestamp at) {
        return SignatureEntry{AgentId(agent), signature, zero_time ? Timestamp(0) : at};
      },
      rc::gen::arbitrary<std::array<std::uint8_t, AgentId::kSize>>(), rc::gen::arbitrary<SignatureBytes>(),
      rc::gen::arbitrary<bool>(), testing::GenTimestamp()));
}

RC_GTEST_PROP(Codec, ClaimEncodingIsCapnpCanonicalForm, ()) {
  const Assertion a = *GenEdgyAssertion();
  RC_ASSERT(BytesOf(*EncodeClaim(a)) == CapnpClaim(a));
}

RC_GTEST_PROP(Codec, RecordEncodingIsCapnpCanonicalForm, ()) {
  const Assertion a = *GenEdgyAssertion();
  const SignedAssertion s{a, AssertionId(), *GenSignatures()};
  RC_ASSERT(BytesOf(*EncodeRecord(s)) == CapnpRecord(a, s.signatures));
}

RC_GTEST_PROP(Codec, CoSignaturesEncodingIsCapnpCanonicalForm, ()) {
  const CoSignatures c{AssertionId(*testing::GenHash()), *GenSignatures()};
  RC_ASSERT(BytesOf(*EncodeCoSignatures(c)) == CapnpCoSignatures(c));
}

TEST(Codec, EncodingIsCapnpCanonicalFormAtTheEdges) {
  // The cases the properties reach only by chance, each on its own.
  std::vector<Assertion> claims;
  for (ObjectValue object : {ObjectValue::Integer(0), ObjectValue::Integer(-1), ObjectValue::Number(-0.0),
                             ObjectValue::Boolean(false), ObjectValue::Boolean(true), ObjectValue::Time(Timestamp(0)),
                             ObjectValue::Text("", ""), ObjectValue::Text("x", ""), ObjectValue::Typed("", ""),
                             ObjectValue::Entity(EntityId("")), ObjectValue::Blob(Hash())}) {
    Assertion a = TeslaRevenue();
    a.object = object;
    claims.push_back(a);
    a.confidence = 0.0F;
    claims.push_back(a);
    a.visual_hash = PHash(0);
    claims.push_back(a);
    a.parent = AssertionId(Blake3("parent"));
    claims.push_back(a);
    a.visual_hash = PHash(42);
    a.subject = EntityId("");
    a.predicate = RelationId("exactly8");
    claims.push_back(a);
  }
  const SignatureEntry zero_time{AgentId(std::array<std::uint8_t, 32>{1}), SignatureBytes{2}, Timestamp(0)};
  const SignatureEntry some_time{AgentId(std::array<std::uint8_t, 32>{3}), SignatureBytes{4}, Timestamp(-5)};
  const std::vector<std::vector<SignatureEntry>> signature_lists = {
      {}, {zero_time}, {zero_time, zero_time}, {zero_time, some_time}, {some_time}};
  for (const Assertion& a : claims) {
    SCOPED_TRACE(a.object.DebugString());
    EXPECT_EQ(BytesOf(*EncodeClaim(a)), CapnpClaim(a));
    for (const auto& signatures : signature_lists) {
      EXPECT_EQ(BytesOf(*EncodeRecord(SignedAssertion{a, AssertionId(), signatures})), CapnpRecord(a, signatures));
      const CoSignatures c{AssertionId(Blake3("id")), signatures};
      EXPECT_EQ(BytesOf(*EncodeCoSignatures(c)), CapnpCoSignatures(c));
    }
  }
}

RC_GTEST_PROP(Codec, ClaimRoundTrips, (const Assertion& a)) {
  auto bytes = EncodeClaim(a);
  RC_ASSERT(bytes.ok());
  auto back = DecodeClaim(bytes->bytes());
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == a);
}

RC_GTEST_PROP(Codec, RecordRoundTrips, (const Assertion& a)) {
  const KeyPair k1 = TestKey(*rc::gen::inRange<std::uint8_t>(0, 255));
  const KeyPair k2 = TestKey(255);
  const KeyPair* keys[] = {&k1, &k2};
  const auto signed_assertion = *SignAssertion(a, keys, *testing::GenTimestamp());
  auto record = EncodeRecord(signed_assertion);
  RC_ASSERT(record.ok());
  auto back = DecodeRecord(record->bytes());
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == signed_assertion);
}

RC_GTEST_PROP(Codec, IdIsDeterministicAndContentSensitive, (const Assertion& a, const Assertion& b)) {
  const Assertion copy = a;
  RC_ASSERT(*ComputeAssertionId(a) == *ComputeAssertionId(copy));
  RC_ASSERT((*ComputeAssertionId(a) == *ComputeAssertionId(b)) == (a == b));
}

RC_GTEST_PROP(Codec, AnyBitFlipInAClaimIsRejectedOrChangesTheId, (const Assertion& a)) {
  const auto bytes = *EncodeClaim(a);
  const std::size_t bit = *rc::gen::inRange<std::size_t>(0, bytes.size() * 8);
  std::vector<std::uint64_t> words(bytes.words().begin(), bytes.words().end());
  words[bit / 64] ^= std::uint64_t{1} << (bit % 64);
  const AlignedBytes flipped{std::move(words)};
  auto decoded = DecodeClaim(flipped.bytes());
  if (decoded.ok()) {
    // Accepted bytes are exactly the encoding of what they decode to, so the ID moved with them.
    RC_ASSERT(*ComputeAssertionId(*decoded) == AssertionIdOfCanonicalClaim(flipped.bytes()));
    RC_ASSERT(AssertionIdOfCanonicalClaim(flipped.bytes()) != *ComputeAssertionId(a));
  }
}

RC_GTEST_PROP(Codec, AnyBitFlipInARecordIsCaught, (const Assertion& a)) {
  const KeyPair key = TestKey(7);
  const KeyPair* keys[] = {&key};
  const auto signed_assertion = *SignAssertion(a, keys, Timestamp(1700000000000000));
  RC_PRE(ValidateSignedAssertion(signed_assertion).ok());
  const auto bytes = *EncodeRecord(signed_assertion);
  const std::size_t bit = *rc::gen::inRange<std::size_t>(0, bytes.size() * 8);
  std::vector<std::uint64_t> words(bytes.words().begin(), bytes.words().end());
  words[bit / 64] ^= std::uint64_t{1} << (bit % 64);
  auto decoded = DecodeRecord(AlignedBytes(std::move(words)).bytes());
  // Rejected as corrupt, or decoded to a different ID, or its signature no longer verifies.
  if (decoded.ok()) {
    RC_ASSERT(decoded->id != signed_assertion.id || !ValidateSignedAssertion(*decoded).ok());
  }
}

RC_GTEST_PROP(Codec, AnyBitFlipInACoSignaturesRecordIsRejectedOrExact, ()) {
  const KeyPair k1 = TestKey(1), k2 = TestKey(2);
  const AssertionId id = *ComputeAssertionId(TeslaRevenue());
  const CoSignatures cosign{id, {k1.Sign(id, Timestamp(1)), k2.Sign(id, Timestamp(2))}};
  const auto bytes = *EncodeCoSignatures(cosign);
  const std::size_t bit = *rc::gen::inRange<std::size_t>(0, bytes.size() * 8);
  std::vector<std::uint64_t> words(bytes.words().begin(), bytes.words().end());
  words[bit / 64] ^= std::uint64_t{1} << (bit % 64);
  const AlignedBytes flipped{std::move(words)};
  auto decoded = DecodeCoSignatures(flipped.bytes());
  // What is accepted is exactly the encoding of what it decodes to: no bit goes unread.
  if (decoded.ok()) {
    RC_ASSERT(*decoded != cosign);
    const auto again = *EncodeCoSignatures(*decoded);
    RC_ASSERT(std::ranges::equal(again.bytes(), flipped.bytes()));
  }
}

}  // namespace
}  // namespace stemedb
