// Internal to the model module: writes the canonical Cap'n Proto encoding of StemeDB's records
// (schema/stemedb.capnp) directly, without building a message.
//
// The output is byte for byte what capnp::canonicalize() returns for the same content built with
// the generated builders (one segment starting with the root pointer; objects in pre-order; data
// sections without trailing zero words; pointer sections without trailing null pointers; a struct
// list's elements all sized by its largest one). tests/model/codec_test.cc checks that equality
// against Cap'n Proto itself on generated claims, records and co-signatures.
//
// Why not the builder: encoding is on every submission's path, twice (the claim for its ID, the
// record for the log), and the builder's way took a zeroed first segment, the fill, a walk by
// canonicalize() and two copies: ~2 us per encode, against a few hundred nanoseconds here.
//
// The layout constants below are those capnpc generates for the schema; a schema change must
// change them too (the equality tests fail otherwise).
#pragma once

#include <span>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"
#include "stemedb/model/codec.h"

namespace stemedb::canonical {

// The canonical `Claim`. Errors: InvalidArgument when a text is too long for a Cap'n Proto list
// (2^29 bytes) or the message would pass 2^29 words.
Result<AlignedBytes> EncodeClaim(const Assertion& assertion);

// The canonical `SignedClaim`: the claim and its signatures in the order given.
Result<AlignedBytes> EncodeSignedClaim(const Assertion& assertion, std::span<const SignatureEntry> signatures);

// The canonical `CoSignatures`.
Result<AlignedBytes> EncodeCoSignatures(const AssertionId& id, std::span<const SignatureEntry> signatures);

}  // namespace stemedb::canonical
