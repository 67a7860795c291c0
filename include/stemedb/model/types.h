// Domain identifiers of the data model. Each is a distinct type with explicit construction and no
// implicit conversions, so a subject cannot be passed where a predicate is expected.
// These are plain values: cheap to copy (or move), safe to share read-only between threads.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "stemedb/base/blake3.h"
#include "stemedb/base/status.h"

namespace stemedb {

// A UTF-8 identifier: an IRI or a plain name. Validity (non-empty, bounded, UTF-8) is checked by
// ValidateAssertion, not by construction, so invalid input can be represented and reported.
template <typename Tag>
class StringId {
 public:
  StringId() = default;
  explicit StringId(std::string value) : value_(std::move(value)) {}
  explicit StringId(std::string_view value) : value_(value) {}
  explicit StringId(const char* value) : value_(value) {}

  const std::string& str() const noexcept { return value_; }
  std::string_view view() const noexcept { return value_; }

  friend auto operator<=>(const StringId&, const StringId&) = default;

 private:
  std::string value_;
};

struct EntityTag;
struct RelationTag;
// The subject of a claim, or an entity-valued object ("Tesla_Inc", "http://...").
using EntityId = StringId<EntityTag>;
// The predicate of a claim ("revenue_usd", an IRI).
using RelationId = StringId<RelationTag>;

// The identity of an assertion: BLAKE3 of a domain tag and the claim's canonical encoding.
class AssertionId {
 public:
  constexpr AssertionId() noexcept = default;
  explicit constexpr AssertionId(const Hash& hash) noexcept : hash_(hash) {}
  static Result<AssertionId> FromHex(std::string_view hex);

  const Hash& hash() const noexcept { return hash_; }
  std::span<const std::uint8_t, Hash::kSize> bytes() const noexcept { return hash_.span(); }
  std::string ToHex() const { return hash_.ToHex(); }

  friend constexpr auto operator<=>(const AssertionId&, const AssertionId&) noexcept = default;

 private:
  Hash hash_;
};

// An agent is its Ed25519 public key (32 bytes).
class AgentId {
 public:
  static constexpr std::size_t kSize = 32;
  constexpr AgentId() noexcept = default;
  explicit constexpr AgentId(const std::array<std::uint8_t, kSize>& key) noexcept : key_(key) {}
  static Result<AgentId> FromHex(std::string_view hex);

  const std::array<std::uint8_t, kSize>& bytes() const noexcept { return key_; }
  std::string ToHex() const;

  friend constexpr std::strong_ordering operator<=>(const AgentId& a, const AgentId& b) noexcept {
    return detail::Compare32(a.key_, b.key_);
  }
  friend constexpr bool operator==(const AgentId& a, const AgentId& b) noexcept {
    return detail::Equal32(a.key_, b.key_);
  }

 private:
  std::array<std::uint8_t, kSize> key_{};
};

// A 64-bit perceptual hash of an image that backs a claim. Written as 16 hex digits.
class PHash {
 public:
  constexpr PHash() noexcept = default;
  explicit constexpr PHash(std::uint64_t value) noexcept : value_(value) {}
  static Result<PHash> FromHex(std::string_view hex);

  constexpr std::uint64_t value() const noexcept { return value_; }
  std::string ToHex() const;

  friend constexpr auto operator<=>(const PHash&, const PHash&) noexcept = default;

 private:
  std::uint64_t value_ = 0;
};

// A point in time: microseconds since 1970-01-01T00:00:00Z (UTC, no leap seconds).
// Valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, what RFC 3339 can write.
class Timestamp {
 public:
  static constexpr std::int64_t kMinMicros = -62135596800LL * 1000000;           // 0001-01-01T00:00:00Z
  static constexpr std::int64_t kMaxMicros = 253402300799LL * 1000000 + 999999;  // 9999-12-31T23:59:59.999999Z

  constexpr Timestamp() noexcept = default;
  explicit constexpr Timestamp(std::int64_t micros) noexcept : micros_(micros) {}
  // The current wall-clock time, truncated to microseconds.
  static Timestamp Now() noexcept;
  // Parses RFC 3339 ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.25+02:00"). Fractions beyond
  // microseconds are rejected rather than rounded, so parsing never changes a value silently.
  // Errors: InvalidArgument naming what is wrong.
  static Result<Timestamp> FromRfc3339(std::string_view text);

  constexpr std::int64_t micros() const noexcept { return micros_; }
  constexpr bool InRange() const noexcept { return micros_ >= kMinMicros && micros_ <= kMaxMicros; }
  // RFC 3339 in UTC with the shortest exact fraction ("2024-05-01T12:00:00.25Z").
  // REQUIRES: InRange().
  std::string ToRfc3339() const;

  friend constexpr auto operator<=>(const Timestamp&, const Timestamp&) noexcept = default;

 private:
  std::int64_t micros_ = 0;
};

// An Ed25519 signature.
using SignatureBytes = std::array<std::uint8_t, 64>;

}  // namespace stemedb

template <>
struct std::hash<stemedb::AssertionId> {
  std::size_t operator()(const stemedb::AssertionId& id) const noexcept {
    return std::hash<stemedb::Hash>()(id.hash());
  }
};
