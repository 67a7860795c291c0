#include "stemedb/model/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <kj/exception.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>

#include "canonical_writer.h"
#include "stemedb.capnp.h"

namespace stemedb {
namespace {

// `bytes` itself when 8-byte aligned; otherwise a copy in `storage`.
std::span<const std::uint8_t> AlignedOrCopy(std::span<const std::uint8_t> bytes, AlignedBytes& storage) {
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) return bytes;
  storage = AlignedBytes::CopyOf(bytes);
  return storage.bytes();
}

Status CorruptionFromException(std::string_view what, const kj::Exception& e) {
  return Status::Corruption(fmt::format("{}: {}", what, e.getDescription().cStr()));
}

std::string_view ToView(capnp::Text::Reader text) { return {text.cStr(), text.size()}; }

Status CheckHashSize(capnp::Data::Reader data, std::string_view field) {
  if (data.size() != Hash::kSize) {
    return Status::Corruption(fmt::format("{} is {} bytes, expected {}", field, data.size(), Hash::kSize));
  }
  return Status::Ok();
}

Hash ReadHash(capnp::Data::Reader data) { return Hash::FromBytes({data.begin(), data.size()}); }

// Checks what Cap'n Proto's structure check cannot: fixed sizes and StemeDB's own canonical rules.
// Allocates nothing, so a view can be opened without copying the record.
// Reading a Text makes Cap'n Proto check that it ends in NUL (it throws otherwise), which
// isCanonical() does not: every Text is read here, inside the caller's try, so that the view's
// accessors cannot throw later. (Found by fuzz_record_decode: a predicate whose NUL was a space.)
Status CheckClaim(schema::Claim::Reader claim) {
  (void)claim.getSubject();
  (void)claim.getPredicate();
  auto object = claim.getObject();
  switch (object.which()) {
    case schema::ObjectValue::ENTITY: (void)object.getEntity(); break;
    case schema::ObjectValue::TEXT:
      (void)object.getText().getValue();
      (void)object.getText().getLang();
      break;
    case schema::ObjectValue::TYPED:
      (void)object.getTyped().getLexical();
      (void)object.getTyped().getDatatype();
      break;
    case schema::ObjectValue::INTEGER:
    case schema::ObjectValue::BOOLEAN:
    case schema::ObjectValue::TIMESTAMP: break;
    case schema::ObjectValue::NUMBER: {
      const double v = object.getNumber();
      if (v == 0.0 && std::signbit(v)) return Status::Corruption("object.number is -0.0, which is never encoded");
      break;
    }
    case schema::ObjectValue::BLOB: STEMEDB_RETURN_IF_ERROR(CheckHashSize(object.getBlob(), "object.blob")); break;
    default: return Status::Corruption(fmt::format("unknown object kind {}", static_cast<int>(object.which())));
  }
  const float confidence = claim.getConfidence();
  if (confidence == 0.0F && std::signbit(confidence)) {
    return Status::Corruption("confidence is -0.0, which is never encoded");
  }
  STEMEDB_RETURN_IF_ERROR(CheckHashSize(claim.getSourceHash(), "source_hash"));
  if (!claim.getHasVisualHash() && claim.getVisualHash() != 0) {
    return Status::Corruption("visual_hash is set but has_visual_hash is false");
  }
  if (claim.hasParentHash()) STEMEDB_RETURN_IF_ERROR(CheckHashSize(claim.getParentHash(), "parent_hash"));
  return Status::Ok();
}

// REQUIRES: CheckClaim(claim) is OK.
Assertion ReadClaim(schema::Claim::Reader claim) {
  Assertion a;
  a.subject = EntityId(ToView(claim.getSubject()));
  a.predicate = RelationId(ToView(claim.getPredicate()));
  auto object = claim.getObject();
  switch (object.which()) {
    case schema::ObjectValue::ENTITY: a.object = ObjectValue::Entity(EntityId(ToView(object.getEntity()))); break;
    case schema::ObjectValue::TEXT: {
      auto text = object.getText();
      a.object = ObjectValue::Text(std::string(ToView(text.getValue())), std::string(ToView(text.getLang())));
      break;
    }
    case schema::ObjectValue::INTEGER: a.object = ObjectValue::Integer(object.getInteger()); break;
    case schema::ObjectValue::NUMBER: a.object = ObjectValue::Number(object.getNumber()); break;
    case schema::ObjectValue::BOOLEAN: a.object = ObjectValue::Boolean(object.getBoolean()); break;
    case schema::ObjectValue::TIMESTAMP: a.object = ObjectValue::Time(Timestamp(object.getTimestamp())); break;
    case schema::ObjectValue::TYPED: {
      auto typed = object.getTyped();
      a.object = ObjectValue::Typed(std::string(ToView(typed.getLexical())), std::string(ToView(typed.getDatatype())));
      break;
    }
    case schema::ObjectValue::BLOB: a.object = ObjectValue::Blob(ReadHash(object.getBlob())); break;
  }
  a.confidence = claim.getConfidence();
  a.source_hash = ReadHash(claim.getSourceHash());
  if (claim.getHasVisualHash()) a.visual_hash = PHash(claim.getVisualHash());
  if (claim.hasParentHash()) a.parent = AssertionId(ReadHash(claim.getParentHash()));
  return a;
}

Status CheckSignatures(capnp::List<schema::Signature>::Reader signatures) {
  for (auto sig : signatures) {
    if (sig.getAgent().size() != AgentId::kSize) return Status::Corruption("signature agent is not 32 bytes");
    if (sig.getSignature().size() != SignatureBytes().size()) return Status::Corruption("signature is not 64 bytes");
  }
  return Status::Ok();
}

SignatureEntry ReadSignature(schema::Signature::Reader sig) {
  SignatureEntry entry;
  std::array<std::uint8_t, AgentId::kSize> agent{};
  std::copy_n(sig.getAgent().begin(), agent.size(), agent.begin());
  entry.agent = AgentId(agent);
  std::copy_n(sig.getSignature().begin(), entry.signature.size(), entry.signature.begin());
  entry.signed_at = Timestamp(sig.getSignedAt());
  return entry;
}

// Cap'n Proto's canonical check is about layout, not meaning: a stale pointer behind an unselected
// union member, or stray bits beside a Bool, still pass it. A claim is accepted only when its
// bytes are exactly the encoding of the value they decode to, so no bit is "don't care" and one
// claim cannot travel under two IDs.
Status CheckExact(const Assertion& decoded, std::span<const std::uint8_t> canonical_claim) {
  auto reencoded = EncodeClaim(decoded);
  if (!reencoded.ok()) return Status::Corruption("claim cannot be re-encoded: " + reencoded.status().message());
  const auto bytes = reencoded->bytes();
  if (!std::equal(bytes.begin(), bytes.end(), canonical_claim.begin(), canonical_claim.end())) {
    return Status::Corruption("claim holds bits outside its fields (not the encoding of the value it decodes to)");
  }
  return Status::Ok();
}

// A single-segment message over canonical bytes (canonical form has no segment table).
struct CanonicalReader {
  kj::ArrayPtr<const capnp::word> segment;
  kj::ArrayPtr<const capnp::word> segments[1];
  capnp::SegmentArrayMessageReader reader;

  CanonicalReader(std::span<const std::uint8_t> bytes, const DecodeLimits& limits)
      : segment(reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / sizeof(capnp::word)),
        segments{segment},
        // The traversal limit guards against messages whose pointers alias (amplification). A
        // canonical message cannot alias, so CheckShape bounds its size instead and the reader's
        // own counter is not allowed to make repeated reads of a valid record fail.
        reader(kj::arrayPtr(segments, 1),
               capnp::ReaderOptions{std::numeric_limits<std::uint64_t>::max() / 2, limits.nesting_limit}) {}
};

Status CheckShape(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  if (bytes.size() < sizeof(capnp::word) || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::Corruption(fmt::format("record length {} is not a positive multiple of 8", bytes.size()));
  }
  if (bytes.size() / sizeof(capnp::word) > limits.traversal_limit_words) {
    return Status::Corruption(
        fmt::format("record of {} bytes exceeds the limit of {} words", bytes.size(), limits.traversal_limit_words));
  }
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) != 0) {
    return Status::InvalidArgument("record bytes are not 8-byte aligned");
  }
  return Status::Ok();
}

}  // namespace

AlignedBytes AlignedBytes::CopyOf(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint64_t> words((bytes.size() + 7) / 8, 0);
  if (!bytes.empty()) std::memcpy(words.data(), bytes.data(), bytes.size());
  AlignedBytes out(std::move(words));
  out.size_ = bytes.size();
  return out;
}

Result<AlignedBytes> EncodeClaim(const Assertion& assertion) { return canonical::EncodeClaim(assertion); }

AssertionId AssertionIdOfCanonicalClaim(std::span<const std::uint8_t> canonical_claim) noexcept {
  return AssertionId(Blake3Hasher().Update(kAssertionIdDomain).Update(canonical_claim).Finalize());
}

Result<AssertionId> ComputeAssertionId(const Assertion& assertion) {
  STEMEDB_ASSIGN_OR_RETURN(AlignedBytes bytes, EncodeClaim(assertion));
  return AssertionIdOfCanonicalClaim(bytes.bytes());
}

Result<Assertion> DecodeClaim(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  STEMEDB_RETURN_IF_ERROR(CheckShape(bytes, limits));
  try {
    CanonicalReader message(bytes, limits);
    if (!message.reader.isCanonical()) return Status::Corruption("claim is not in canonical form");
    auto claim = message.reader.getRoot<schema::Claim>();
    STEMEDB_RETURN_IF_ERROR(CheckClaim(claim));
    Assertion assertion = ReadClaim(claim);
    STEMEDB_RETURN_IF_ERROR(CheckExact(assertion, bytes));
    return assertion;
  } catch (const kj::Exception& e) {
    return CorruptionFromException("claim cannot be decoded", e);
  }
}

Result<AlignedBytes> EncodeRecord(const SignedAssertion& signed_assertion) {
  return canonical::EncodeSignedClaim(signed_assertion.assertion, signed_assertion.signatures);
}

struct SignedClaimView::Impl {
  std::span<const std::uint8_t> bytes;
  CanonicalReader message;
  schema::SignedClaim::Reader root;

  Impl(std::span<const std::uint8_t> record, const DecodeLimits& limits) : bytes(record), message(record, limits) {}
};

namespace {

// REQUIRES: CheckClaim and CheckSignatures passed on `root`.
// Reads the record into `out` and checks that `bytes` are exactly its canonical encoding.
// isCanonical() checks layout, not every bit: a stray bit in the signature list's tag word (found
// by fuzz_record_decode) or beside a Bool would decode to the same record, which must have one
// encoding. Re-encoding (a few hundred nanoseconds) replaces comparing with canonicalize()'s copy
// (~1.5 us), and covers the claim's own exactness with it.
Status ReadExactRecord(schema::SignedClaim::Reader root, std::span<const std::uint8_t> bytes, SignedAssertion& out) {
  out.assertion = ReadClaim(root.getClaim());
  out.signatures.clear();
  out.signatures.reserve(root.getSignatures().size());
  for (auto sig : root.getSignatures()) out.signatures.push_back(ReadSignature(sig));
  auto again = canonical::EncodeSignedClaim(out.assertion, out.signatures);
  if (!again.ok()) return Status::Corruption("record cannot be re-encoded: " + again.status().message());
  if (!std::ranges::equal(again->bytes(), bytes)) {
    return Status::Corruption("record is not exactly the canonical encoding of its content");
  }
  return Status::Ok();
}

}  // namespace

SignedClaimView::SignedClaimView(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
SignedClaimView::SignedClaimView(SignedClaimView&&) noexcept = default;
SignedClaimView& SignedClaimView::operator=(SignedClaimView&&) noexcept = default;
SignedClaimView::~SignedClaimView() = default;

Result<SignedClaimView> SignedClaimView::Open(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  if (limits.trusted_layout && limits.require_exact_encoding) {
    return Status::InvalidArgument("trusted_layout requires require_exact_encoding = false");
  }
  STEMEDB_RETURN_IF_ERROR(CheckShape(bytes, limits));
  try {
    auto impl = std::make_unique<Impl>(bytes, limits);
    if (!limits.trusted_layout && !impl->message.reader.isCanonical()) {
      return Status::Corruption("record is not in canonical form");
    }
    impl->root = impl->message.reader.getRoot<schema::SignedClaim>();
    // Everything the accessors rely on is checked once here, so that they cannot fail.
    STEMEDB_RETURN_IF_ERROR(CheckClaim(impl->root.getClaim()));
    STEMEDB_RETURN_IF_ERROR(CheckSignatures(impl->root.getSignatures()));
    if (limits.require_exact_encoding) {
      SignedAssertion content;
      STEMEDB_RETURN_IF_ERROR(ReadExactRecord(impl->root, bytes, content));
    }
    return SignedClaimView(std::move(impl));
  } catch (const kj::Exception& e) {
    return CorruptionFromException("record cannot be decoded", e);
  }
}

std::string_view SignedClaimView::subject() const { return ToView(impl_->root.getClaim().getSubject()); }
std::string_view SignedClaimView::predicate() const { return ToView(impl_->root.getClaim().getPredicate()); }
float SignedClaimView::confidence() const { return impl_->root.getClaim().getConfidence(); }
std::size_t SignedClaimView::signature_count() const { return impl_->root.getSignatures().size(); }
SignatureEntry SignedClaimView::signature(std::size_t i) const {
  return ReadSignature(impl_->root.getSignatures()[static_cast<unsigned>(i)]);
}

AssertionId SignedClaimView::ComputeId() const {
  // The claim inside a canonical record is itself canonical, but has no root pointer of its own;
  // canonicalize() copies it out (a few hundred bytes) so that it can be hashed.
  const kj::Array<capnp::word> claim = capnp::canonicalize(impl_->root.getClaim());
  const auto bytes = claim.asBytes();
  return AssertionIdOfCanonicalClaim({bytes.begin(), bytes.size()});
}

Result<SignedAssertion> SignedClaimView::Verify() const {
  SignedAssertion out;
  STEMEDB_RETURN_IF_ERROR(ReadExactRecord(impl_->root, impl_->bytes, out));
  STEMEDB_ASSIGN_OR_RETURN(const AlignedBytes claim, EncodeClaim(out.assertion));
  out.id = AssertionIdOfCanonicalClaim(claim.bytes());
  return out;
}

Assertion SignedClaimView::ToOwnedAssertion() const { return ReadClaim(impl_->root.getClaim()); }

Result<SignedAssertion> DecodeRecord(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  AlignedBytes copy;
  bytes = AlignedOrCopy(bytes, copy);
  // Verify checks the whole record's exactness itself; Open need not do it first.
  DecodeLimits layout_only = limits;
  layout_only.require_exact_encoding = false;
  STEMEDB_ASSIGN_OR_RETURN(SignedClaimView view, SignedClaimView::Open(bytes, layout_only));
  try {
    return view.Verify();
  } catch (const kj::Exception& e) {
    return CorruptionFromException("record cannot be decoded", e);
  }
}

Result<AlignedBytes> EncodeCoSignatures(const CoSignatures& cosignatures) {
  return canonical::EncodeCoSignatures(cosignatures.id, cosignatures.signatures);
}

Result<CoSignatures> DecodeCoSignatures(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  AlignedBytes copy;
  bytes = AlignedOrCopy(bytes, copy);
  STEMEDB_RETURN_IF_ERROR(CheckShape(bytes, limits));
  try {
    CanonicalReader message(bytes, limits);
    if (!message.reader.isCanonical()) return Status::Corruption("co-signatures record is not in canonical form");
    auto root = message.reader.getRoot<schema::CoSignatures>();
    STEMEDB_RETURN_IF_ERROR(CheckHashSize(root.getAssertionId(), "assertion_id"));
    STEMEDB_RETURN_IF_ERROR(CheckSignatures(root.getSignatures()));
    CoSignatures out;
    out.id = AssertionId(ReadHash(root.getAssertionId()));
    for (auto sig : root.getSignatures()) out.signatures.push_back(ReadSignature(sig));
    // As for claims (ReadExactRecord): a layout check leaves stray bits, in the list's tag word
    // for one, that would decode to the same value. One value, one encoding.
    auto again = canonical::EncodeCoSignatures(out.id, out.signatures);
    if (!again.ok()) return Status::Corruption("co-signatures cannot be re-encoded: " + again.status().message());
    if (!std::ranges::equal(again->bytes(), bytes)) {
      return Status::Corruption("co-signatures record is not exactly the canonical encoding of its content");
    }
    return out;
  } catch (const kj::Exception& e) {
    return CorruptionFromException("co-signatures record cannot be decoded", e);
  }
}

}  // namespace stemedb
