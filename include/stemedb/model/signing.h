// Ed25519 signatures over assertion IDs (libsodium).
//
// The signed message is a domain tag, the assertion ID and signed_at:
//   "stemedb/signature/v1" ‖ 0x00 ‖ id (32 bytes) ‖ signed_at (int64 microseconds, little-endian)
// so a signature can neither be replayed onto another claim nor re-dated.
//
// Thread-safety: KeyPair is immutable after creation and may be shared for signing; the free
// functions are safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"

namespace stemedb {

inline constexpr std::size_t kSigningMessageSize = 21 + 32 + 8;

// The exact bytes a signature covers.
std::array<std::uint8_t, kSigningMessageSize> SigningMessage(const AssertionId& id, Timestamp signed_at) noexcept;

// An Ed25519 key pair. The secret half lives in memory that is wiped when the pair is destroyed.
// Move-only, so that secrets are not copied around by accident.
class KeyPair {
 public:
  static constexpr std::size_t kSeedSize = 32;

  // A fresh random key pair. Errors: Internal when libsodium cannot initialize.
  static Result<KeyPair> Generate();
  // The key pair determined by a 32-byte seed (key files store the seed).
  static Result<KeyPair> FromSeed(std::span<const std::uint8_t, kSeedSize> seed);

  KeyPair(KeyPair&& other) noexcept;
  KeyPair& operator=(KeyPair&& other) noexcept;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  ~KeyPair();

  const AgentId& agent() const noexcept { return agent_; }
  // The 32-byte seed: secret. Exposed only for writing key files.
  std::span<const std::uint8_t, kSeedSize> seed() const noexcept {
    return std::span<const std::uint8_t, kSeedSize>(secret_.data(), kSeedSize);
  }

  // Signs `id` as of `signed_at`.
  SignatureEntry Sign(const AssertionId& id, Timestamp signed_at) const noexcept;

 private:
  KeyPair() = default;
  AgentId agent_;
  std::array<std::uint8_t, 64> secret_{};  // libsodium's secret key: seed ‖ public key
};

// Checks `entry.signature` against `entry.agent` over SigningMessage(id, entry.signed_at).
// Errors: InvalidArgument ("signature by <agent> does not verify") when it does not.
Status VerifySignature(const AssertionId& id, const SignatureEntry& entry);

// Signs `assertion` with each key at `signed_at`, computing its ID.
// Errors: those of ComputeAssertionId.
Result<SignedAssertion> SignAssertion(Assertion assertion, std::span<const KeyPair* const> keys, Timestamp signed_at);

}  // namespace stemedb
