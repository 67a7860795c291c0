// Validation of claims and signed assertions before anything is written.
//
// Every rejection is an InvalidArgument status whose field() names the input field at fault
// ("subject", "object.lang", "confidence", "signatures[2]") and whose message says what is wrong
// and what was expected. Nothing here does I/O; all functions are safe to call concurrently.
#pragma once

#include <cstddef>
#include <string_view>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"

namespace stemedb {

struct ValidationLimits {
  std::size_t max_identifier_bytes = 4096;              // subject, predicate, entity objects, datatype IRIs
  std::size_t max_text_bytes = std::size_t{64} * 1024;  // text values and typed-literal lexical forms
  std::size_t max_lang_bytes = 64;                      // BCP 47 language tags
  std::size_t max_signatures = 256;                     // signatures carried by one submission
};

// Checks one identifier (a subject, predicate, entity or datatype): non-empty, at most
// max_identifier_bytes, valid UTF-8, no control characters. Readers use it too: a name that
// cannot be stored cannot be asked for. Errors: InvalidArgument with field() = `field`.
Status ValidateIdentifier(std::string_view field, std::string_view id, const ValidationLimits& limits = {});

// Checks a claim's fields:
// - subject, predicate, entity objects and datatypes: non-empty, at most max_identifier_bytes,
//   valid UTF-8, no control characters;
// - text and lexical forms: at most max_text_bytes, valid UTF-8;
// - language tags: empty or letters/digits in hyphen-separated subtags of 1-8 characters,
//   beginning with a letter subtag;
// - numbers finite; timestamps within Timestamp's range; confidence finite and in [0, 1].
Status ValidateAssertion(const Assertion& assertion, const ValidationLimits& limits = {});

// Checks everything ValidateAssertion does, then that `id` is the claim's ID, that there is at
// least one and at most max_signatures signatures, that no agent signs twice, that every
// signed_at is in range, and that every signature verifies. Fields are named as in the envelope:
// "assertion.subject", "id", "signatures[1].signature".
Status ValidateSignedAssertion(const SignedAssertion& signed_assertion, const ValidationLimits& limits = {});

// Everything ValidateSignedAssertion checks except the Ed25519 verification itself, for callers
// that verify the signatures another way (in parallel, or once per process). Pair it with
// VerifySignatureAt for each signature.
Status ValidateSignedAssertionExceptSignatures(const SignedAssertion& signed_assertion,
                                               const ValidationLimits& limits = {});
// Verifies signature `i` of `signed_assertion`, with the error ValidateSignedAssertion reports.
Status VerifySignatureAt(const SignedAssertion& signed_assertion, std::size_t i);

}  // namespace stemedb
