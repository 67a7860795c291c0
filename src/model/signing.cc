#include "stemedb/model/signing.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "stemedb/model/codec.h"

namespace stemedb {
namespace {

constexpr std::string_view kSignatureDomain{"stemedb/signature/v1\0", 21};
static_assert(kSignatureDomain.size() + 32 + 8 == kSigningMessageSize);

Status EnsureSodium() {
  // sodium_init is idempotent and thread-safe; it returns 1 when already initialized.
  static const int rc = sodium_init();
  if (rc < 0) return Status::Internal("libsodium failed to initialize");
  return Status::Ok();
}

}  // namespace

std::array<std::uint8_t, kSigningMessageSize> SigningMessage(const AssertionId& id, Timestamp signed_at) noexcept {
  std::array<std::uint8_t, kSigningMessageSize> msg{};
  std::memcpy(msg.data(), kSignatureDomain.data(), kSignatureDomain.size());
  std::memcpy(msg.data() + kSignatureDomain.size(), id.bytes().data(), 32);
  auto t = static_cast<std::uint64_t>(signed_at.micros());
  for (std::size_t i = 0; i < 8; ++i) msg[kSignatureDomain.size() + 32 + i] = static_cast<std::uint8_t>(t >> (8 * i));
  return msg;
}

Result<KeyPair> KeyPair::Generate() {
  STEMEDB_RETURN_IF_ERROR(EnsureSodium());
  std::array<std::uint8_t, kSeedSize> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Result<KeyPair> KeyPair::FromSeed(std::span<const std::uint8_t, kSeedSize> seed) {
  STEMEDB_RETURN_IF_ERROR(EnsureSodium());
  KeyPair key;
  std::array<std::uint8_t, AgentId::kSize> pk{};
  if (crypto_sign_seed_keypair(pk.data(), key.secret_.data(), seed.data()) != 0) {
    return Status::Internal("crypto_sign_seed_keypair failed");
  }
  key.agent_ = AgentId(pk);
  return key;
}

KeyPair::KeyPair(KeyPair&& other) noexcept : agent_(other.agent_), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

KeyPair& KeyPair::operator=(KeyPair&& other) noexcept {
  if (this != &other) {
    agent_ = other.agent_;
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

KeyPair::~KeyPair() { sodium_memzero(secret_.data(), secret_.size()); }

SignatureEntry KeyPair::Sign(const AssertionId& id, Timestamp signed_at) const noexcept {
  SignatureEntry entry;
  entry.agent = agent_;
  entry.signed_at = signed_at;
  const auto msg = SigningMessage(id, signed_at);
  crypto_sign_detached(entry.signature.data(), nullptr, msg.data(), msg.size(), secret_.data());
  return entry;
}

Status VerifySignature(const AssertionId& id, const SignatureEntry& entry) {
  STEMEDB_RETURN_IF_ERROR(EnsureSodium());
  const auto msg = SigningMessage(id, entry.signed_at);
  if (crypto_sign_verify_detached(entry.signature.data(), msg.data(), msg.size(), entry.agent.bytes().data()) != 0) {
    return Status::InvalidArgument(
        fmt::format("signature by agent {} does not verify for assertion {}", entry.agent.ToHex(), id.ToHex()));
  }
  return Status::Ok();
}

Result<SignedAssertion> SignAssertion(Assertion assertion, std::span<const KeyPair* const> keys, Timestamp signed_at) {
  STEMEDB_ASSIGN_OR_RETURN(AssertionId id, ComputeAssertionId(assertion));
  SignedAssertion out{std::move(assertion), id, {}};
  out.signatures.reserve(keys.size());
  for (const KeyPair* key : keys) out.signatures.push_back(key->Sign(id, signed_at));
  return out;
}

}  // namespace stemedb
