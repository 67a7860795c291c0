// The JSON form of assertions and signed envelopes: StemeDB's external format, used by the CLI
// and the HTTP API, and specified in docs/format.md.
//
// Parsing is strict: unknown keys, wrong types and malformed hex or times are InvalidArgument
// errors whose field() names the key at fault. Parsing does not validate limits or verify
// signatures; pass the result to ValidateSignedAssertion for that. All functions are pure and
// safe to call concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"

namespace stemedb {

// Parses JSON text. Errors: InvalidArgument with the parser's position and reason, or when arrays
// and objects nest deeper than 32 levels (no StemeDB format needs more than four).
Result<nlohmann::json> ParseJson(std::string_view text);

// {"entity": "Tesla_Inc"}, {"text": "hi", "lang": "en"}, {"integer": 5}, {"number": 96.7},
// {"bool": true}, {"timestamp": "2024-05-01T00:00:00Z"},
// {"typed": {"value": "1", "datatype": "http://..."}}, {"blob": "<64 hex>"}.
Result<ObjectValue> ObjectFromJson(const nlohmann::json& json);
nlohmann::json ObjectToJson(const ObjectValue& object);

// An assertion as submitted: the claim, and the evidence text when it came along.
struct ParsedAssertion {
  Assertion assertion;
  std::optional<std::string> evidence;
};

// {"subject", "predicate", "object", "confidence" (default 1.0), "source_hash" (64 hex; default:
// BLAKE3 of "evidence" when given, else all zeroes = no evidence), "visual_hash" (16 hex),
// "parent" (64 hex), "evidence" (text)}. When both "evidence" and "source_hash" are given the
// hash must match. Errors: InvalidArgument naming the field.
Result<ParsedAssertion> AssertionFromJson(const nlohmann::json& json);
nlohmann::json AssertionToJson(const Assertion& assertion);

// A signed envelope and the evidence text it may carry.
struct Envelope {
  SignedAssertion signed_assertion;
  std::optional<std::string> evidence;
};

// {"assertion": {...}, "id": "<64 hex>" (optional, checked), "signatures": [{"agent": "<64 hex>",
// "signature": "<128 hex>", "signed_at": "<RFC 3339>"}], "evidence": "..." (optional)}.
// The ID is computed from the assertion; a given "id" that differs is an error.
Result<Envelope> EnvelopeFromJson(const nlohmann::json& json);
nlohmann::json EnvelopeToJson(const SignedAssertion& signed_assertion,
                              const std::optional<std::string>& evidence = std::nullopt);

}  // namespace stemedb
