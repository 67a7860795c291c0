// VerifiedSignatures: signatures this process has already verified, so that the ingestor does not
// verify the same signature twice (once in Database::Submit, once when applying the WAL record).
//
// The cache holds a BLAKE3 digest of (assertion ID, agent, signature, signed_at): only an entry
// verified bit for bit can match. It lives in memory only: after a restart, a rebuild, or for
// records that reached the WAL another way, nothing matches and the ingestor verifies everything.
// It is bounded: when full, Add refuses and the ingestor simply verifies.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_set>

#include "stemedb/base/blake3.h"
#include "stemedb/model/assertion.h"

namespace stemedb::ingest {

class VerifiedSignatures {
 public:
  explicit VerifiedSignatures(std::size_t capacity = 1U << 20) : capacity_(capacity) {}

  // Remembers that `entry` verified for `id`. Returns false when the cache is full.
  bool Add(const AssertionId& id, const SignatureEntry& entry);
  // True (and forgets it) when `entry` for `id` was verified by this process.
  bool Take(const AssertionId& id, const SignatureEntry& entry);
  std::size_t size() const;

 private:
  static Hash Digest(const AssertionId& id, const SignatureEntry& entry) noexcept;
  mutable std::mutex mu_;
  std::unordered_set<Hash> verified_;
  std::size_t capacity_;
};

}  // namespace stemedb::ingest
