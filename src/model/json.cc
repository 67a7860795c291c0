#include "stemedb/model/json.h"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <limits>

#include "stemedb/base/hex.h"
#include "stemedb/model/codec.h"

namespace stemedb {
namespace {

using nlohmann::json;

Status Invalid(std::string field, std::string message) {
  return Status::InvalidArgument(fmt::format("{}: {}", field, message)).with_field(std::move(field));
}

std::string Join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

Status RequireObject(const json& j, std::string_view field) {
  if (!j.is_object()) return Invalid(std::string(field.empty() ? "(root)" : field), "must be a JSON object");
  return Status::Ok();
}

// Rejects keys outside `allowed`: a misspelt optional key must not be silently ignored.
Status OnlyKeys(const json& j, std::string_view prefix, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) return Invalid(Join(prefix, key), "unknown key");
  }
  return Status::Ok();
}

Result<std::string> GetString(const json& j, std::string_view prefix, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Invalid(Join(prefix, key), "is required");
  if (!it->is_string()) return Invalid(Join(prefix, key), "must be a string");
  return it->get<std::string>();
}

template <typename T>
Result<T> GetHex(const json& j, std::string_view prefix, const char* key) {
  STEMEDB_ASSIGN_OR_RETURN(std::string text, GetString(j, prefix, key));
  auto parsed = T::FromHex(text);
  if (!parsed.ok()) return Invalid(Join(prefix, key), parsed.status().message());
  return std::move(parsed).value();
}

Result<Timestamp> GetTime(const json& j, std::string_view prefix, const char* key) {
  STEMEDB_ASSIGN_OR_RETURN(std::string text, GetString(j, prefix, key));
  auto parsed = Timestamp::FromRfc3339(text);
  if (!parsed.ok()) return Invalid(Join(prefix, key), parsed.status().message());
  return *parsed;
}

// Shortest decimal that reads back as the same float, as a JSON number (0.9, not 0.899999976).
json FloatToJson(float f) { return std::stod(fmt::format("{}", f)); }

Result<float> ConfidenceFromJson(const json& j) {
  if (!j.is_number()) return Invalid("confidence", "must be a number");
  const double d = j.get<double>();
  if (!std::isfinite(d) || d < 0.0 || d > 1.0)
    return Invalid("confidence", fmt::format("must be in [0, 1], got {}", d));
  return static_cast<float>(d);
}

}  // namespace

namespace {

// StemeDB's formats nest four levels at most. Refusing deep nesting before parsing bounds the
// parser's memory and the recursion of code that walks the result, whatever a client sends.
constexpr int kMaxJsonDepth = 32;

bool NestsTooDeep(std::string_view text) noexcept {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

Result<json> ParseJson(std::string_view text) {
  if (NestsTooDeep(text)) {
    return Status::InvalidArgument(fmt::format("malformed JSON: nested deeper than {} levels", kMaxJsonDepth));
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(fmt::format("malformed JSON: {}", e.what()));
  }
}

Result<ObjectValue> ObjectFromJson(const json& j) {
  constexpr std::string_view kField = "object";
  STEMEDB_RETURN_IF_ERROR(RequireObject(j, kField));
  if (j.contains("text")) {
    STEMEDB_RETURN_IF_ERROR(OnlyKeys(j, kField, {"text", "lang"}));
    STEMEDB_ASSIGN_OR_RETURN(std::string text, GetString(j, kField, "text"));
    std::string lang;
    if (j.contains("lang")) {
      STEMEDB_ASSIGN_OR_RETURN(lang, GetString(j, kField, "lang"));
    }
    return ObjectValue::Text(std::move(text), std::move(lang));
  }
  if (j.size() != 1) {
    return Invalid(std::string(kField),
                   "must have exactly one of entity, text, integer, number, bool, timestamp, typed, blob");
  }
  // The only member. (Not `*j.items().begin()`: that yields a reference into a temporary.)
  const auto member = j.begin();
  const std::string& key = member.key();
  const json& value = member.value();
  const std::string field = Join(kField, key);
  if (key == "entity") {
    if (!value.is_string()) return Invalid(field, "must be a string");
    return ObjectValue::Entity(EntityId(value.get<std::string>()));
  }
  if (key == "integer") {
    if (!value.is_number_integer()) return Invalid(field, "must be an integer");
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max()) {
      return Invalid(field, "does not fit in a signed 64-bit integer");
    }
    return ObjectValue::Integer(value.get<std::int64_t>());
  }
  if (key == "number") {
    if (!value.is_number()) return Invalid(field, "must be a number");
    const double d = value.get<double>();
    if (!std::isfinite(d)) return Invalid(field, "must be finite");
    return ObjectValue::Number(d);
  }
  if (key == "bool") {
    if (!value.is_boolean()) return Invalid(field, "must be true or false");
    return ObjectValue::Boolean(value.get<bool>());
  }
  if (key == "timestamp") {
    STEMEDB_ASSIGN_OR_RETURN(Timestamp t, GetTime(j, kField, "timestamp"));
    return ObjectValue::Time(t);
  }
  if (key == "typed") {
    STEMEDB_RETURN_IF_ERROR(RequireObject(value, field));
    STEMEDB_RETURN_IF_ERROR(OnlyKeys(value, field, {"value", "datatype"}));
    STEMEDB_ASSIGN_OR_RETURN(std::string lexical, GetString(value, field, "value"));
    STEMEDB_ASSIGN_OR_RETURN(std::string datatype, GetString(value, field, "datatype"));
    return ObjectValue::Typed(std::move(lexical), std::move(datatype));
  }
  if (key == "blob") {
    STEMEDB_ASSIGN_OR_RETURN(Hash hash, GetHex<Hash>(j, kField, "blob"));
    return ObjectValue::Blob(hash);
  }
  return Invalid(field, "unknown object kind (expected entity, text, integer, number, bool, timestamp, typed or blob)");
}

json ObjectToJson(const ObjectValue& object) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          return {{"entity", v.str()}};
        } else if constexpr (std::is_same_v<T, LangText>) {
          json out = {{"text", v.value}};
          if (!v.lang.empty()) out["lang"] = v.lang;
          return out;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return {{"integer", v}};
        } else if constexpr (std::is_same_v<T, double>) {
          return {{"number", v}};
        } else if constexpr (std::is_same_v<T, bool>) {
          return {{"bool", v}};
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          return {{"timestamp", v.ToRfc3339()}};
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          return {{"typed", {{"value", v.lexical}, {"datatype", v.datatype}}}};
        } else {
          return {{"blob", v.ToHex()}};
        }
      },
      object.variant());
}

Result<ParsedAssertion> AssertionFromJson(const json& j) {
  STEMEDB_RETURN_IF_ERROR(RequireObject(j, ""));
  STEMEDB_RETURN_IF_ERROR(OnlyKeys(
      j, "", {"subject", "predicate", "object", "confidence", "source_hash", "visual_hash", "parent", "evidence"}));
  ParsedAssertion out;
  Assertion& a = out.assertion;
  STEMEDB_ASSIGN_OR_RETURN(std::string subject, GetString(j, "", "subject"));
  STEMEDB_ASSIGN_OR_RETURN(std::string predicate, GetString(j, "", "predicate"));
  a.subject = EntityId(std::move(subject));
  a.predicate = RelationId(std::move(predicate));
  if (!j.contains("object")) return Invalid("object", "is required");
  STEMEDB_ASSIGN_OR_RETURN(a.object, ObjectFromJson(j.at("object")));
  if (j.contains("confidence")) {
    STEMEDB_ASSIGN_OR_RETURN(a.confidence, ConfidenceFromJson(j.at("confidence")));
  }
  if (j.contains("evidence")) {
    STEMEDB_ASSIGN_OR_RETURN(out.evidence, GetString(j, "", "evidence"));
  }
  if (j.contains("source_hash")) {
    STEMEDB_ASSIGN_OR_RETURN(a.source_hash, GetHex<Hash>(j, "", "source_hash"));
    if (out.evidence && Blake3(*out.evidence) != a.source_hash) {
      return Invalid("evidence", fmt::format("BLAKE3 of the evidence is {} but source_hash is {}",
                                             Blake3(*out.evidence).ToHex(), a.source_hash.ToHex()));
    }
  } else if (out.evidence) {
    a.source_hash = Blake3(*out.evidence);
  }
  if (j.contains("visual_hash")) {
    STEMEDB_ASSIGN_OR_RETURN(PHash phash, GetHex<PHash>(j, "", "visual_hash"));
    a.visual_hash = phash;
  }
  if (j.contains("parent")) {
    STEMEDB_ASSIGN_OR_RETURN(AssertionId parent, GetHex<AssertionId>(j, "", "parent"));
    a.parent = parent;
  }
  return out;
}

json AssertionToJson(const Assertion& a) {
  json out = {{"subject", a.subject.str()},
              {"predicate", a.predicate.str()},
              {"object", ObjectToJson(a.object)},
              {"confidence", FloatToJson(a.confidence)}};
  if (a.source_hash != kNoEvidence) out["source_hash"] = a.source_hash.ToHex();
  if (a.visual_hash) out["visual_hash"] = a.visual_hash->ToHex();
  if (a.parent) out["parent"] = a.parent->ToHex();
  return out;
}

Result<Envelope> EnvelopeFromJson(const json& j) {
  STEMEDB_RETURN_IF_ERROR(RequireObject(j, ""));
  STEMEDB_RETURN_IF_ERROR(OnlyKeys(j, "", {"assertion", "id", "signatures", "evidence"}));
  if (!j.contains("assertion")) return Invalid("assertion", "is required");
  auto parsed = AssertionFromJson(j.at("assertion"));
  if (!parsed.ok()) {
    Status s = std::move(parsed).status();
    const std::string field = Join("assertion", s.field());
    return std::move(s).with_field(field);
  }
  Envelope out;
  out.evidence = std::move(parsed->evidence);
  if (j.contains("evidence")) {
    STEMEDB_ASSIGN_OR_RETURN(std::string evidence, GetString(j, "", "evidence"));
    if (out.evidence && *out.evidence != evidence) return Invalid("evidence", "differs from assertion.evidence");
    if (Blake3(evidence) != parsed->assertion.source_hash) {
      return Invalid("evidence", fmt::format("BLAKE3 of the evidence is {} but source_hash is {}",
                                             Blake3(evidence).ToHex(), parsed->assertion.source_hash.ToHex()));
    }
    out.evidence = std::move(evidence);
  }
  SignedAssertion& s = out.signed_assertion;
  s.assertion = std::move(parsed->assertion);
  auto id = ComputeAssertionId(s.assertion);
  if (!id.ok()) return std::move(id).status().with_field("assertion");
  s.id = *id;
  if (j.contains("id")) {
    STEMEDB_ASSIGN_OR_RETURN(AssertionId given, GetHex<AssertionId>(j, "", "id"));
    if (given != s.id) {
      return Invalid("id", fmt::format("is {} but the assertion hashes to {}", given.ToHex(), s.id.ToHex()));
    }
  }
  auto sigs = j.find("signatures");
  if (sigs == j.end()) return Invalid("signatures", "is required");
  if (!sigs->is_array()) return Invalid("signatures", "must be an array");
  for (std::size_t i = 0; i < sigs->size(); ++i) {
    const json& sj = (*sigs)[i];
    const std::string prefix = fmt::format("signatures[{}]", i);
    STEMEDB_RETURN_IF_ERROR(RequireObject(sj, prefix));
    STEMEDB_RETURN_IF_ERROR(OnlyKeys(sj, prefix, {"agent", "signature", "signed_at"}));
    SignatureEntry entry;
    STEMEDB_ASSIGN_OR_RETURN(entry.agent, GetHex<AgentId>(sj, prefix, "agent"));
    STEMEDB_ASSIGN_OR_RETURN(std::string sig_hex, GetString(sj, prefix, "signature"));
    Status hex = FromHex(sig_hex, entry.signature);
    if (!hex.ok()) return Invalid(Join(prefix, "signature"), hex.message());
    STEMEDB_ASSIGN_OR_RETURN(entry.signed_at, GetTime(sj, prefix, "signed_at"));
    s.signatures.push_back(entry);
  }
  return out;
}

json EnvelopeToJson(const SignedAssertion& s, const std::optional<std::string>& evidence) {
  json sigs = json::array();
  for (const SignatureEntry& e : s.signatures) {
    sigs.push_back(
        {{"agent", e.agent.ToHex()}, {"signature", ToHex(e.signature)}, {"signed_at", e.signed_at.ToRfc3339()}});
  }
  json out = {{"assertion", AssertionToJson(s.assertion)}, {"id", s.id.ToHex()}, {"signatures", std::move(sigs)}};
  if (evidence) out["evidence"] = *evidence;
  return out;
}

}  // namespace stemedb
