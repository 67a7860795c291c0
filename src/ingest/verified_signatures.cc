#include "stemedb/ingest/verified_signatures.h"

namespace stemedb::ingest {

Hash VerifiedSignatures::Digest(const AssertionId& id, const SignatureEntry& entry) noexcept {
  const auto t = static_cast<std::uint64_t>(entry.signed_at.micros());
  std::array<std::uint8_t, 8> when{};
  for (std::size_t i = 0; i < 8; ++i) when[i] = static_cast<std::uint8_t>(t >> (8 * i));
  return Blake3Hasher()
      .Update(std::string_view("stemedb/verified/v1"))
      .Update(id.bytes())
      .Update(entry.agent.bytes())
      .Update(entry.signature)
      .Update(when)
      .Finalize();
}

bool VerifiedSignatures::Add(const AssertionId& id, const SignatureEntry& entry) {
  const Hash digest = Digest(id, entry);
  std::scoped_lock lock(mu_);
  if (verified_.size() >= capacity_) return false;
  verified_.insert(digest);
  return true;
}

bool VerifiedSignatures::Take(const AssertionId& id, const SignatureEntry& entry) {
  const Hash digest = Digest(id, entry);
  std::scoped_lock lock(mu_);
  return verified_.erase(digest) != 0;
}

std::size_t VerifiedSignatures::size() const {
  std::scoped_lock lock(mu_);
  return verified_.size();
}

}  // namespace stemedb::ingest
