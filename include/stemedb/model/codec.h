// Canonical encoding of claims and stored records (Cap'n Proto canonical form; see docs/format.md).
//
// - A claim's canonical bytes are the Cap'n Proto canonical form of its `Claim` message
//   (schema/stemedb.capnp): a single segment, no segment table, no padding garbage, so equal
//   content gives equal bytes however the message was built.
// - AssertionId = BLAKE3("stemedb/assertion/v1" ‖ 0x00 ‖ canonical claim bytes).
// - A stored record is the canonical form of a `SignedClaim` (claim + signatures), 8-byte aligned,
//   read in place by SignedClaimView through a bounded reader.
//
// Decoding never trusts its input: hostile bytes produce a Corruption status, never a crash, and
// a record that is not in canonical form is rejected (so no bit of a record is "don't care").
// All functions are safe to call concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"

namespace stemedb {

// The domain tag hashed in front of a claim's canonical bytes.
inline constexpr std::string_view kAssertionIdDomain{"stemedb/assertion/v1\0", 21};

// Bytes held in 64-bit words, so that they start 8-byte aligned as Cap'n Proto requires. The
// size is exact; the storage is padded with zeroes to a whole word.
class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(std::vector<std::uint64_t> words) : words_(std::move(words)), size_(words_.size() * 8) {}
  // Copies `bytes` into aligned storage.
  static AlignedBytes CopyOf(std::span<const std::uint8_t> bytes);

  std::span<const std::uint8_t> bytes() const noexcept {
    return {reinterpret_cast<const std::uint8_t*>(words_.data()), size_};
  }
  std::span<const std::uint64_t> words() const noexcept { return words_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::vector<std::uint64_t> words_;
  std::size_t size_ = 0;
};

// Limits applied when reading untrusted records: a size bound (1 MiB by default; a canonical
// message cannot alias, so its size bounds the work of reading it) and a nesting depth far above
// what the schema needs.
struct DecodeLimits {
  std::uint64_t traversal_limit_words = 128ULL * 1024;
  int nesting_limit = 16;
  // SignedClaimView::Open checks that the bytes are exactly the canonical encoding of what they
  // hold (one record, one encoding). Records the ingestor indexed after that check, read back from
  // the log by Wal::ReadRecord (which checks their checksum), may skip the re-check: it costs a
  // re-encoding per read. Bytes from anywhere else must not.
  bool require_exact_encoding = true;
  // Skips Cap'n Proto's walk of the whole layout (isCanonical); requires require_exact_encoding =
  // false. Only for bytes whose layout was checked before and that cannot have changed since:
  // bytes this process encoded itself and never let out of memory (the ingestor's records that
  // carry their submission's note), or records the ingestor indexed, read back through the log's
  // checksum. Every field is still read once at Open, bounds-checked by the reader, so hostile
  // bytes still give a status, never a crash.
  bool trusted_layout = false;
};

// The canonical bytes of `assertion`'s claim.
// Errors: InvalidArgument when a field is too large for Cap'n Proto to hold (validated input never is).
Result<AlignedBytes> EncodeClaim(const Assertion& assertion);

// BLAKE3 over kAssertionIdDomain and the canonical claim bytes.
Result<AssertionId> ComputeAssertionId(const Assertion& assertion);
// The same, over claim bytes already in canonical form.
AssertionId AssertionIdOfCanonicalClaim(std::span<const std::uint8_t> canonical_claim) noexcept;

// Decodes canonical claim bytes. Errors: Corruption (not a message, out of bounds, not canonical,
// or bits outside the fields' values).
Result<Assertion> DecodeClaim(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

// The stored record of `signed_assertion`: canonical `SignedClaim` bytes (the ID is not stored;
// a reader recomputes it).
Result<AlignedBytes> EncodeRecord(const SignedAssertion& signed_assertion);

// A read-only view of a stored record, reading fields in place from the bytes it was opened on.
// The bytes must outlive the view. Opening checks structure and canonical form; it does not
// verify signatures (see ValidateSignedAssertion). Movable, not copyable; not thread-safe to share.
class SignedClaimView {
 public:
  // Opens `bytes` in place. REQUIRES: bytes.data() is 8-byte aligned (otherwise InvalidArgument;
  // use AlignedBytes::CopyOf). Errors: Corruption.
  static Result<SignedClaimView> Open(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

  SignedClaimView(SignedClaimView&&) noexcept;
  SignedClaimView& operator=(SignedClaimView&&) noexcept;
  ~SignedClaimView();

  std::string_view subject() const;
  std::string_view predicate() const;
  float confidence() const;
  std::size_t signature_count() const;
  // REQUIRES: i < signature_count().
  SignatureEntry signature(std::size_t i) const;
  // The ID, recomputed from the claim's bytes (one canonicalization and one BLAKE3).
  AssertionId ComputeId() const;
  // The claim alone, owned, without recomputing the ID: for records verified when they were
  // stored, read back under an ID the caller already has (an index key).
  Assertion ToOwnedAssertion() const;
  // An owned copy with its ID computed, after checking that the record's bytes are exactly the
  // encoding of the value they decode to, claim and signatures (a layout check alone leaves stray
  // bits unnoticed; this closes the gap, at the cost of one re-encode). Errors: Corruption.
  Result<SignedAssertion> Verify() const;

 private:
  struct Impl;
  explicit SignedClaimView(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// Decodes a stored record into an owned SignedAssertion, recomputing its ID and checking that
// it is exact (SignedClaimView::Verify). Unaligned input is copied first. Errors: Corruption.
Result<SignedAssertion> DecodeRecord(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

// Extra signatures for an assertion already stored (a co-signing record in the WAL).
struct CoSignatures {
  AssertionId id;
  std::vector<SignatureEntry> signatures;
  friend bool operator==(const CoSignatures&, const CoSignatures&) = default;
};

// Canonical bytes of a CoSignatures record. Errors: InvalidArgument when too large.
Result<AlignedBytes> EncodeCoSignatures(const CoSignatures& cosignatures);
// Errors: Corruption (structure, sizes, not canonical, or not exactly the encoding of what it
// decodes to: a stray bit is damage). Unaligned input is copied first.
Result<CoSignatures> DecodeCoSignatures(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

}  // namespace stemedb
