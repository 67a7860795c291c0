// Assertion (the immutable claim), SignatureEntry and SignedAssertion.
#pragma once

#include <optional>
#include <vector>

#include "stemedb/base/blake3.h"
#include "stemedb/model/object_value.h"
#include "stemedb/model/types.h"

namespace stemedb {

// A claim about an entity. Its identity (AssertionId) is derived from exactly these fields by
// ComputeAssertionId (codec.h); signatures are not part of it.
struct Assertion {
  EntityId subject;
  RelationId predicate;
  ObjectValue object;
  float confidence = 1.0F;  // in [0, 1]
  // BLAKE3 of the evidence bytes. All zeroes means "no evidence given" (kNoEvidence): it is no
  // BLAKE3 output anyone can produce, so it never collides with real evidence.
  Hash source_hash;
  std::optional<PHash> visual_hash;
  std::optional<AssertionId> parent;  // the assertion this one supersedes

  friend bool operator==(const Assertion&, const Assertion&) = default;
};

inline constexpr Hash kNoEvidence{};

// One agent's signature over an assertion ID. Several entries may exist for one assertion
// (co-signing); each is its own appended record.
struct SignatureEntry {
  AgentId agent;
  SignatureBytes signature{};
  Timestamp signed_at;

  friend bool operator==(const SignatureEntry&, const SignatureEntry&) = default;
};

// An assertion, its ID and the signatures that came with it (at least one to be valid).
struct SignedAssertion {
  Assertion assertion;
  AssertionId id;
  std::vector<SignatureEntry> signatures;

  friend bool operator==(const SignedAssertion&, const SignedAssertion&) = default;
};

}  // namespace stemedb
