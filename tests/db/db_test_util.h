#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stemedb/db/database.h"
#include "stemedb/model/signing.h"
#include "support/keys.h"

namespace stemedb::db::testing {

inline KeyPair Key(std::uint8_t n) { return stemedb::testing::TestKey(n); }

// A claim determined by `key`: one of a few subjects and predicates, so candidates pile up.
inline Assertion ClaimFor(std::uint64_t key) {
  Assertion a;
  a.subject = EntityId(fmt::format("entity_{}", key % 17));
  a.predicate = RelationId(fmt::format("predicate_{}", key % 5));
  a.object = key % 3 == 0 ? ObjectValue::Entity(EntityId(fmt::format("entity_{}", key % 11)))
                          : ObjectValue::Integer(static_cast<std::int64_t>(key));
  a.confidence = static_cast<float>(key % 100) / 100.0F;
  a.source_hash = Blake3(fmt::format("evidence {}", key));
  return a;
}

// Key(n), derived once per process: tests sign tens of thousands of claims with a few keys, and
// deriving a key costs as much as a signature.
inline const KeyPair& CachedKey(std::uint8_t n) {
  static std::array<std::once_flag, 256> once;
  static std::array<std::optional<KeyPair>, 256> keys;
  std::call_once(once[n], [n] { keys[n] = Key(n); });
  return *keys[n];
}

inline SignedAssertion SignedFor(std::uint64_t key, std::initializer_list<std::uint8_t> signers = {1}) {
  std::vector<const KeyPair*> ptrs;
  for (auto s : signers) ptrs.push_back(&CachedKey(s));
  return std::move(SignAssertion(ClaimFor(key), ptrs, Timestamp(1700000000000000 + static_cast<std::int64_t>(key))))
      .value();
}

// Envelopes (no evidence) of the claims SignedFor(first) ... SignedFor(first + count - 1).
inline std::vector<Envelope> Envelopes(std::uint64_t first, std::uint64_t count) {
  std::vector<Envelope> out;
  for (std::uint64_t k = first; k < first + count; ++k) out.push_back({SignedFor(k), std::nullopt});
  return out;
}

inline std::vector<SignatureEntry> Sorted(std::vector<SignatureEntry> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.agent < b.agent; });
  return v;
}

// Every key and value in the store.
inline std::map<std::string, std::string> Dump(storage::KVStore& store) {
  std::map<std::string, std::string> out;
  auto it = store.ScanPrefix("");
  for (; it->Valid(); it->Next()) {
    out.emplace(std::string(it->key()),
                std::string(reinterpret_cast<const char*>(it->value().data()), it->value().size()));
  }
  return out;
}

}  // namespace stemedb::db::testing
