// ObjectValue: the object of a claim, one of a closed set of kinds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "stemedb/base/blake3.h"
#include "stemedb/base/status.h"
#include "stemedb/model/types.h"

namespace stemedb {

// The order is part of the canonical encoding's tie-break and of JSON names; never reorder.
enum class ObjectKind : std::uint8_t {
  kEntity = 0,
  kText = 1,
  kInteger = 2,
  kNumber = 3,
  kBoolean = 4,
  kTimestamp = 5,
  kTyped = 6,
  kBlob = 7,
};

// The JSON name of a kind: "entity", "text", "integer", "number", "bool", "timestamp", "typed", "blob".
std::string_view ObjectKindName(ObjectKind kind) noexcept;

// Text with an optional BCP 47 language tag (empty when absent).
struct LangText {
  std::string value;
  std::string lang;
  friend bool operator==(const LangText&, const LangText&) = default;
};

// An RDF typed literal: its lexical form and datatype IRI, kept as written so RDF round-trips.
struct TypedLiteral {
  std::string lexical;
  std::string datatype;
  friend bool operator==(const TypedLiteral&, const TypedLiteral&) = default;
};

// A value. Numbers compare by value (so -0.0 == +0.0, which the encoding also merges); a NaN or
// infinite number can be held but fails validation.
class ObjectValue {
 public:
  // Alternative order matches ObjectKind.
  using Variant = std::variant<EntityId, LangText, std::int64_t, double, bool, Timestamp, TypedLiteral, Hash>;

  ObjectValue() : v_(EntityId()) {}
  static ObjectValue Entity(EntityId id) { return ObjectValue(Variant(std::in_place_index<0>, std::move(id))); }
  static ObjectValue Text(std::string value, std::string lang = {}) {
    return ObjectValue(Variant(std::in_place_index<1>, LangText{std::move(value), std::move(lang)}));
  }
  static ObjectValue Integer(std::int64_t v) { return ObjectValue(Variant(std::in_place_index<2>, v)); }
  static ObjectValue Number(double v) { return ObjectValue(Variant(std::in_place_index<3>, v)); }
  static ObjectValue Boolean(bool v) { return ObjectValue(Variant(std::in_place_index<4>, v)); }
  static ObjectValue Time(Timestamp t) { return ObjectValue(Variant(std::in_place_index<5>, t)); }
  static ObjectValue Typed(std::string lexical, std::string datatype) {
    return ObjectValue(Variant(std::in_place_index<6>, TypedLiteral{std::move(lexical), std::move(datatype)}));
  }
  static ObjectValue Blob(Hash hash) { return ObjectValue(Variant(std::in_place_index<7>, hash)); }

  ObjectKind kind() const noexcept { return static_cast<ObjectKind>(v_.index()); }
  const Variant& variant() const noexcept { return v_; }

  // Short human-readable form for logs and CLI output: `entity:Tesla_Inc`, `number:96.7`,
  // `text:"hello"@en`.
  std::string DebugString() const;

  friend bool operator==(const ObjectValue&, const ObjectValue&) = default;

 private:
  explicit ObjectValue(Variant v) : v_(std::move(v)) {}
  Variant v_;
};

// The value key: bytes that order values canonically (kind, then value) and identify them (equal
// keys mean equal values). Lenses group and break ties by it, and the index stores it beside each
// record (docs/storage.md) so that a lens can read values without decoding records.
//   kind (1 byte) then: entity its name; text value \0 lang; typed datatype \0 lexical; integer
//   and timestamp 8 bytes big-endian with the sign bit flipped; number 8 bytes big-endian in IEEE
//   order (negatives all bits flipped, others the sign bit; -0.0 is +0.0); bool one byte; blob 32.
// Lang tags and datatypes hold no NUL (validation), so a text splits at its last NUL and a typed
// literal at its first: the key is reversible.
std::string ValueKey(const ObjectValue& value);

// Whether `key` is the shape of a value key: CheckValueKey without the message, for hot paths.
bool IsValueKey(std::string_view key) noexcept;

// Checks that `key` is the shape of a value key (a known kind, the exact size of fixed-size
// kinds, the separator of text and typed). Errors: Corruption.
Status CheckValueKey(std::string_view key);

// The value `key` was made from. Errors: Corruption when CheckValueKey fails.
Result<ObjectValue> ValueFromKey(std::string_view key);

}  // namespace stemedb
