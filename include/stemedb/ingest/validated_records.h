// ValidatedRecords: WAL records this process has already validated completely, so that the
// ingestor does not validate them a second time (once in Database::SubmitBatch, once when applying
// the record).
//
// An entry is the BLAKE3 digest of a record's type and payload, with the assertion ID the record
// was validated under: only these exact bytes can match, so a record changed by a single bit —
// or one that reached the WAL any other way — is validated in full (decoded, ID recomputed,
// every signature verified). The cache lives in memory only: after a restart or a rebuild,
// nothing matches. An entry is added before its record is appended and taken when the ingestor
// applies it, so the cache holds at most the ingestor's lag; it is bounded (Add refuses when
// full, and the ingestor simply validates), ~100 bytes per entry.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include "stemedb/base/blake3.h"
#include "stemedb/model/types.h"
#include "stemedb/wal/format.h"

namespace stemedb::ingest {

class ValidatedRecords {
 public:
  explicit ValidatedRecords(std::size_t capacity = 1U << 18) : capacity_(capacity) {}

  // Remembers that the record (`type`, `payload`) passed validation as assertion `id` (for a
  // co-signature record: the ID it co-signs, every signature verified). False when full.
  bool Add(wal::RecordType type, std::span<const std::uint8_t> payload, const AssertionId& id);
  // The ID these exact bytes were validated under, forgetting them; nullopt when they were not.
  std::optional<AssertionId> Take(wal::RecordType type, std::span<const std::uint8_t> payload);
  std::size_t size() const;

 private:
  static Hash Digest(wal::RecordType type, std::span<const std::uint8_t> payload) noexcept;
  mutable std::mutex mu_;
  std::unordered_map<Hash, AssertionId> validated_;
  std::size_t capacity_;
};

}  // namespace stemedb::ingest
