// BLAKE3 hashing (the official C implementation, SIMD-dispatched at run time).
//
// Hash is a 32-byte digest value. Blake3Hasher is an incremental hasher in the three modes
// BLAKE3 defines: plain, keyed (a 32-byte key) and key derivation (a context string).
//
// Thread-safety: a Blake3Hasher must not be shared between threads without external locking;
// the free functions are safe to call concurrently.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <blake3.h>

#include "stemedb/base/status.h"

namespace stemedb {

namespace detail {
// Equality of two 32-byte strings as four word compares: hashes and keys are compared for
// equality in every grouping and dedup loop, where a call to memcmp costs more than the compare.
constexpr bool Equal32(const std::array<std::uint8_t, 32>& a, const std::array<std::uint8_t, 32>& b) noexcept {
  if (std::is_constant_evaluated()) return std::equal(a.begin(), a.end(), b.begin());
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < 32; i += 8) {
    std::uint64_t x = 0, y = 0;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  return diff == 0;
}

// Bytewise (lexicographic) order of two 32-byte strings as at most four big-endian word
// compares: sorts and binary searches of IDs and agents compare them, and memcmp is a call.
constexpr std::strong_ordering Compare32(const std::array<std::uint8_t, 32>& a,
                                         const std::array<std::uint8_t, 32>& b) noexcept {
  if (std::is_constant_evaluated()) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }
  for (std::size_t i = 0; i < 32; i += 8) {
    std::uint64_t x = 0, y = 0;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x == y) continue;
    if constexpr (std::endian::native == std::endian::little) {
      x = __builtin_bswap64(x);
      y = __builtin_bswap64(y);
    }
    return x <=> y;
  }
  return std::strong_ordering::equal;
}
}  // namespace detail

// A 32-byte content hash (BLAKE3 output). Ordered bytewise; the zero hash is a valid value, not
// an "absent" marker: optional hashes are std::optional<Hash>.
class Hash {
 public:
  static constexpr std::size_t kSize = 32;

  constexpr Hash() noexcept = default;
  explicit constexpr Hash(const std::array<std::uint8_t, kSize>& bytes) noexcept : bytes_(bytes) {}
  // REQUIRES: bytes.size() == kSize.
  // Inline: index scans build one per entry.
  static Hash FromBytes(std::span<const std::uint8_t> bytes) noexcept {
    Hash out;
    if (!bytes.empty()) std::memcpy(out.bytes_.data(), bytes.data(), std::min(bytes.size(), kSize));
    return out;
  }
  // Parses 64 hex characters. Errors: InvalidArgument.
  static Result<Hash> FromHex(std::string_view hex);

  const std::array<std::uint8_t, kSize>& bytes() const noexcept { return bytes_; }
  std::span<const std::uint8_t, kSize> span() const noexcept { return bytes_; }
  std::string ToHex() const;

  friend constexpr std::strong_ordering operator<=>(const Hash& a, const Hash& b) noexcept {
    return detail::Compare32(a.bytes_, b.bytes_);
  }
  friend constexpr bool operator==(const Hash& a, const Hash& b) noexcept {
    return detail::Equal32(a.bytes_, b.bytes_);
  }

 private:
  std::array<std::uint8_t, kSize> bytes_{};
};

class Blake3Hasher {
 public:
  Blake3Hasher() noexcept { blake3_hasher_init(&state_); }
  static Blake3Hasher Keyed(std::span<const std::uint8_t, BLAKE3_KEY_LEN> key) noexcept;
  static Blake3Hasher DeriveKey(std::string_view context) noexcept;

  Blake3Hasher& Update(std::span<const std::uint8_t> bytes) noexcept {
    blake3_hasher_update(&state_, bytes.data(), bytes.size());
    return *this;
  }
  Blake3Hasher& Update(std::string_view text) noexcept {
    blake3_hasher_update(&state_, text.data(), text.size());
    return *this;
  }
  Hash Finalize() const noexcept;
  // Extended output (XOF): fills `out` with the first out.size() bytes of output.
  void FinalizeXof(std::span<std::uint8_t> out) const noexcept;

 private:
  blake3_hasher state_;
};

// BLAKE3 of `bytes` (plain mode).
Hash Blake3(std::span<const std::uint8_t> bytes) noexcept;
Hash Blake3(std::string_view text) noexcept;

}  // namespace stemedb

template <>
struct std::hash<stemedb::Hash> {
  std::size_t operator()(const stemedb::Hash& h) const noexcept {
    // The bytes are already uniformly distributed; the first word is a fine hash.
    std::size_t out = 0;
    for (std::size_t i = 0; i < sizeof(out); ++i) out = (out << 8) | h.bytes()[i];
    return out;
  }
};
