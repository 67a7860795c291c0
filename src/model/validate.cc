#include "stemedb/model/validate.h"

#include <fmt/format.h>

#include <cmath>

#include "stemedb/base/utf8.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"

namespace stemedb {
namespace {

Status Invalid(std::string field, std::string message) {
  return Status::InvalidArgument(fmt::format("{}: {}", field, message)).with_field(std::move(field));
}

Status CheckUtf8(std::string_view field, std::string_view text) {
  if (auto bad = FindInvalidUtf8(text))
    return Invalid(std::string(field), fmt::format("invalid UTF-8 at byte {}", *bad));
  return Status::Ok();
}

}  // namespace

Status ValidateIdentifier(std::string_view field, std::string_view id, const ValidationLimits& limits) {
  if (id.empty()) return Invalid(std::string(field), "must not be empty");
  if (id.size() > limits.max_identifier_bytes) {
    return Invalid(std::string(field),
                   fmt::format("is {} bytes, the limit is {}", id.size(), limits.max_identifier_bytes));
  }
  STEMEDB_RETURN_IF_ERROR(CheckUtf8(field, id));
  for (std::size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7F) {
      return Invalid(std::string(field), fmt::format("control character 0x{:02x} at byte {}", c, i));
    }
  }
  return Status::Ok();
}

namespace {

Status CheckText(std::string_view field, std::string_view text, const ValidationLimits& limits) {
  if (text.size() > limits.max_text_bytes) {
    return Invalid(std::string(field), fmt::format("is {} bytes, the limit is {}", text.size(), limits.max_text_bytes));
  }
  return CheckUtf8(field, text);
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status CheckLang(std::string_view lang, const ValidationLimits& limits) {
  if (lang.empty()) return Status::Ok();
  if (lang.size() > limits.max_lang_bytes) {
    return Invalid("object.lang", fmt::format("is {} bytes, the limit is {}", lang.size(), limits.max_lang_bytes));
  }
  std::size_t start = 0;
  bool first = true;
  while (start <= lang.size()) {
    std::size_t end = lang.find('-', start);
    if (end == std::string_view::npos) end = lang.size();
    const std::string_view subtag = lang.substr(start, end - start);
    bool ok = !subtag.empty() && subtag.size() <= 8;
    for (char c : subtag) ok = ok && (IsAlpha(c) || (!first && IsDigit(c)));
    if (!ok) return Invalid("object.lang", fmt::format("'{}' is not a BCP 47 language tag", lang));
    first = false;
    start = end + 1;
  }
  return Status::Ok();
}

Status CheckObject(const ObjectValue& object, const ValidationLimits& limits) {
  return std::visit(
      [&](const auto& v) -> Status {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          return ValidateIdentifier("object.entity", v.view(), limits);
        } else if constexpr (std::is_same_v<T, LangText>) {
          STEMEDB_RETURN_IF_ERROR(CheckText("object.text", v.value, limits));
          return CheckLang(v.lang, limits);
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) return Invalid("object.number", "must be finite (no NaN or infinity)");
          return Status::Ok();
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          if (!v.InRange()) return Invalid("object.timestamp", "outside the years 0001..9999");
          return Status::Ok();
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          STEMEDB_RETURN_IF_ERROR(CheckText("object.value", v.lexical, limits));
          return ValidateIdentifier("object.datatype", v.datatype, limits);
        } else {
          return Status::Ok();  // integers, booleans and blob hashes have no invalid values
        }
      },
      object.variant());
}

}  // namespace

Status ValidateAssertion(const Assertion& a, const ValidationLimits& limits) {
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("subject", a.subject.view(), limits));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("predicate", a.predicate.view(), limits));
  STEMEDB_RETURN_IF_ERROR(CheckObject(a.object, limits));
  if (!std::isfinite(a.confidence) || a.confidence < 0.0F || a.confidence > 1.0F) {
    return Invalid("confidence", fmt::format("must be in [0, 1], got {}", a.confidence));
  }
  return Status::Ok();
}

Status ValidateSignedAssertionExceptSignatures(const SignedAssertion& s, const ValidationLimits& limits) {
  // Fields are named as in the envelope (docs/format.md), where the claim is "assertion".
  if (Status claim = ValidateAssertion(s.assertion, limits); !claim.ok()) {
    const std::string field = "assertion." + claim.field();
    return std::move(claim).with_field(field);
  }
  STEMEDB_ASSIGN_OR_RETURN(AssertionId id, ComputeAssertionId(s.assertion));
  if (id != s.id) {
    return Invalid("id", fmt::format("is {} but the claim hashes to {}", s.id.ToHex(), id.ToHex()));
  }
  if (s.signatures.empty()) return Invalid("signatures", "at least one signature is required");
  if (s.signatures.size() > limits.max_signatures) {
    return Invalid("signatures",
                   fmt::format("{} signatures, the limit is {}", s.signatures.size(), limits.max_signatures));
  }
  // A quadratic check without allocation: this runs for every submission, nearly always with one
  // to three signers, and max_signatures bounds the worst case. Field names are built only on error.
  for (std::size_t i = 0; i < s.signatures.size(); ++i) {
    const SignatureEntry& entry = s.signatures[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (s.signatures[j].agent == entry.agent) {
        return Invalid(fmt::format("signatures[{}]", i),
                       fmt::format("agent {} signs more than once", entry.agent.ToHex()));
      }
    }
    if (!entry.signed_at.InRange()) {
      return Invalid(fmt::format("signatures[{}].signed_at", i), "outside the years 0001..9999");
    }
  }
  return Status::Ok();
}

Status VerifySignatureAt(const SignedAssertion& s, std::size_t i) {
  Status verified = VerifySignature(s.id, s.signatures[i]);
  if (!verified.ok()) return Invalid(fmt::format("signatures[{}].signature", i), verified.message());
  return Status::Ok();
}

Status ValidateSignedAssertion(const SignedAssertion& s, const ValidationLimits& limits) {
  STEMEDB_RETURN_IF_ERROR(ValidateSignedAssertionExceptSignatures(s, limits));
  for (std::size_t i = 0; i < s.signatures.size(); ++i) STEMEDB_RETURN_IF_ERROR(VerifySignatureAt(s, i));
  return Status::Ok();
}

}  // namespace stemedb
