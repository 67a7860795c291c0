#include "stemedb/ingest/validated_records.h"

namespace stemedb::ingest {

Hash ValidatedRecords::Digest(wal::RecordType type, std::span<const std::uint8_t> payload) noexcept {
  const std::array<std::uint8_t, 1> tag{static_cast<std::uint8_t>(type)};
  return Blake3Hasher().Update(std::string_view("stemedb/validated/v1")).Update(tag).Update(payload).Finalize();
}

bool ValidatedRecords::Add(wal::RecordType type, std::span<const std::uint8_t> payload, const AssertionId& id) {
  const Hash digest = Digest(type, payload);
  std::scoped_lock lock(mu_);
  if (validated_.size() >= capacity_) return false;
  validated_.insert_or_assign(digest, id);
  return true;
}

std::optional<AssertionId> ValidatedRecords::Take(wal::RecordType type, std::span<const std::uint8_t> payload) {
  const Hash digest = Digest(type, payload);
  std::scoped_lock lock(mu_);
  auto it = validated_.find(digest);
  if (it == validated_.end()) return std::nullopt;
  AssertionId id = it->second;
  validated_.erase(it);
  return id;
}

std::size_t ValidatedRecords::size() const {
  std::scoped_lock lock(mu_);
  return validated_.size();
}

}  // namespace stemedb::ingest
