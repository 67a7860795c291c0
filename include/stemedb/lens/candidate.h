// What a lens reads: candidate assertions already fetched by the database, with their signers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stemedb/model/assertion.h"

namespace stemedb::lens {

// One signature on a candidate, with the WAL position of the record that brought it (0 when
// unknown), so that "as of position P" can be answered.
struct Signer {
  SignatureEntry signature;
  std::uint64_t position = 0;
  friend bool operator==(const Signer&, const Signer&) = default;
};

// A candidate as an owned assertion: what Database::Candidates returns and tests build.
struct Candidate {
  AssertionId id;
  Assertion assertion;
  std::vector<Signer> signers;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

// One signer as a lens reads it: no signature bytes (the database verified them).
struct SignerFacts {
  // A constructor, not aggregate initialisation, so that CandidateSet can build one in place with
  // emplace_back: parenthesised aggregate initialisation is C++20 that clang 14 lacks.
  SignerFacts() = default;
  SignerFacts(const AgentId& agent_key, Timestamp signed_time, std::uint64_t log_position) noexcept
      : agent(agent_key), signed_at(signed_time), position(log_position) {}
  AgentId agent;
  Timestamp signed_at;
  std::uint64_t position = 0;
};

// The candidates of one (subject, predicate) as lenses read them: per claim its ID, confidence,
// source hash, parent and value key (ValueKey of its object), then its signers. Everything lives
// in three flat buffers, so the database fills a set straight from an index scan without
// decoding a record or allocating per candidate; Clear keeps the capacity for the next scan.
// Candidates may come in any order. Not thread-safe to fill; lenses only read it.
class CandidateSet {
 public:
  struct Facts {
    AssertionId id;
    Hash source_hash;
    std::optional<AssertionId> parent;
    float confidence = 0;
  };

  CandidateSet() = default;
  // The owned candidates' facts, each object turned into its value key (which always decodes).
  static CandidateSet Of(std::span<const Candidate> candidates);

  void Clear() noexcept;
  void Reserve(std::size_t candidates, std::size_t signers);
  // Starts a candidate; AddSigner adds to the one started last. Errors: Corruption when
  // `value_key` is not a value key (CheckValueKey); nothing is added. So every key a lens reads
  // decodes to a value.
  Status Add(const AssertionId& id, std::string_view value_key, float confidence, const Hash& source_hash,
             const std::optional<AssertionId>& parent);
  // REQUIRES: !empty().
  void AddSigner(const AgentId& agent, Timestamp signed_at, std::uint64_t position);
  // Puts the signers of the candidate started last in ascending agent order (the order a store
  // returns them in), e.g. after adding co-signers to the signers a record carries. REQUIRES: !empty().
  void OrderLastSigners();

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  // REQUIRES for all three: i < size().
  const Facts& facts(std::size_t i) const noexcept { return entries_[i].facts; }
  std::string_view value_key(std::size_t i) const noexcept {
    return std::string_view(keys_).substr(entries_[i].key_at, entries_[i].key_size);
  }
  std::span<const SignerFacts> signers(std::size_t i) const noexcept {
    return std::span<const SignerFacts>(signers_).subspan(entries_[i].first_signer, entries_[i].signer_count);
  }
  // Where candidate i's signers start among all signers (signers of all candidates, in order).
  std::size_t first_signer(std::size_t i) const noexcept { return entries_[i].first_signer; }
  std::size_t signer_total() const noexcept { return signers_.size(); }

 private:
  struct Entry {
    // Constructed in place by Add: built aside and copied in, or zeroed and then assigned, an
    // entry costs a measurable part of an index scan.
    Entry(const AssertionId& id, const Hash& source_hash, const std::optional<AssertionId>& parent, float confidence,
          std::size_t key_offset, std::size_t key_length, std::size_t signers_before)
        : facts{id, source_hash, parent, confidence},
          key_at(key_offset),
          key_size(key_length),
          first_signer(signers_before) {}
    Facts facts;
    std::size_t key_at = 0;
    std::size_t key_size = 0;
    std::size_t first_signer = 0;
    std::size_t signer_count = 0;
  };
  std::vector<Entry> entries_;
  std::vector<SignerFacts> signers_;
  std::string keys_;  // the value keys, back to back
};

}  // namespace stemedb::lens
