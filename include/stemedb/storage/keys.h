// The key schema of StemeDB's indexes (docs/storage.md draws the same table).
//
// Every key starts with a one-letter family and ':'. Subjects, predicates and entity objects
// contain no control characters (validation), so 0x00 separates them unambiguously and a prefix
// scan of "C:Tes\0" never matches "C:Tesla\0...". IDs, hashes and agents are raw bytes.
//
//   H:{id}                             -> {subject}\0{predicate}: where the claim's entries are
//   C:{subject}\0{predicate}\0{id}\0   -> claim summary: what lenses read, the record's signers
//                                        included, and where the record (canonical SignedClaim,
//                                        as first received) is in the WAL, its only copy
//                                        (EncodeCandidateValue)
//   C:{subject}\0{predicate}\0{id}\1{agent} -> signature (64) ‖ signed_at (int64 LE) ‖ WAL position
//                                        (u64 LE) of a co-signer: a signer that joined after the
//                                        record, right after it; a claim with all its signers,
//                                        and all the candidates of a (subject, predicate), are
//                                        each one prefix scan
//   R:{object entity}\0{id}            -> "" : claims whose object is this entity (reverse edges)
//   K:{parent id}{child id}            -> "" : supersession links
//   A:{agent}{range, 8 bytes big-endian} -> what an agent signed, logged at positions from that
//                                        range's first to the next range's: a sorted set of
//                                        entries position (8 BE) ‖ id ‖ signed_at (8 BE), added
//                                        to as batches arrive (WriteBatch::AddToSet)
//   V:{phash, 8 bytes big-endian}{id}  -> "" : claims backed by an image
//   E:{hash}                           -> evidence blob bytes
//   X:{position, 8 bytes big-endian}   -> why the WAL record there was rejected
//   M:applied                          -> last applied WAL position (8 bytes big-endian)
//   M:format                           -> index format version (8 bytes big-endian)
//
// A co-signature adds a C:...\1 key and an A: entry; the record and its summary are never rewritten.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stemedb/model/assertion.h"
#include "stemedb/storage/kv_store.h"

namespace stemedb::storage::keys {

// 2: signature values carry their WAL position. 3: the record and its signatures are stored once,
// under C:; H: says where. 4: the C: record value starts with the claim's summary. 5: the summary
// holds the record's signers; C:...\1 entries are for co-signers only. 6: the agent index holds
// one key per agent and range of log positions (AgentRange), not one per signature. 7: records
// stay in the WAL only; the summary says where (record offset and length).
inline constexpr std::uint64_t kFormatVersion = 7;
inline constexpr std::string_view kApplied = "M:applied";
inline constexpr std::string_view kFormat = "M:format";
inline constexpr char kCandidateRecord = '\0';
inline constexpr char kCandidateSignature = '\1';

std::string Location(const AssertionId& id);
std::string SubjectPrefix(const EntityId& subject);
std::string CandidatePrefix(const EntityId& subject, const RelationId& predicate);
std::string CandidateRecord(const EntityId& subject, const RelationId& predicate, const AssertionId& id);
// The record of `id` and its signatures, and nothing else.
std::string CandidateEntries(const EntityId& subject, const RelationId& predicate, const AssertionId& id);
std::string CandidateSignature(const EntityId& subject, const RelationId& predicate, const AssertionId& id,
                               const AgentId& agent);
std::string ReversePrefix(const EntityId& object);
std::string Reverse(const EntityId& object, const AssertionId& id);
std::string ChildPrefix(const AssertionId& parent);
std::string Child(const AssertionId& parent, const AssertionId& child);
std::string AgentPrefix(const AgentId& agent);
// The agent index's key for the signatures of `agent` in records logged in the range of
// kAgentRangePositions positions that holds `position` (ranges start at multiples of it). A range
// bounds a key's value at kAgentRangePositions entries (48 KiB): an agent signs a record once.
inline constexpr std::uint64_t kAgentRangePositions = 1024;
// The first position of the range that holds `position`.
constexpr std::uint64_t AgentRangeFirst(std::uint64_t position) noexcept {
  return position - position % kAgentRangePositions;
}
std::string AgentRange(const AgentId& agent, std::uint64_t position);
// One signature in the agent index: an entry of the set under AgentRange(agent, position).
struct AgentEntry {
  std::uint64_t position = 0;  // of the record that brought the signature
  AssertionId id;
  Timestamp signed_at;
  bool operator==(const AgentEntry&) const = default;
};
// position (u64 BE) ‖ id (32) ‖ signed_at (int64 BE, as u64): kSetEntryBytes, and byte order is
// log order. Append writes it at the end of `out` (the ingestor builds a batch's additions so).
void AppendAgentEntry(const AgentEntry& entry, std::string& out);
inline std::string EncodeAgentEntry(const AgentEntry& entry) {
  std::string out;
  AppendAgentEntry(entry, out);
  return out;
}
// The entries of an A: value, checked whole once (Of) and decoded one at a time, so that a page
// of a long index decodes only what it lists. A view: `value` must outlive it.
class AgentEntries {
 public:
  // Errors: Corruption when `value` is not whole entries with strictly ascending positions (an
  // agent signs a record once).
  static Result<AgentEntries> Of(std::string_view value);
  std::size_t size() const noexcept { return value_.size() / kSetEntryBytes; }
  // REQUIRES: i < size().
  std::uint64_t position(std::size_t i) const;
  AgentEntry operator[](std::size_t i) const;
  // The index of the first entry positioned after `position`; size() when there is none.
  std::size_t FirstAfter(std::uint64_t position) const;

 private:
  explicit AgentEntries(std::string_view value) noexcept : value_(value) {}
  std::string_view value_;
};
// Every entry of an A: value, in log order. Errors: those of AgentEntries::Of.
Result<std::vector<AgentEntry>> DecodeAgentEntries(std::string_view value);
std::string Visual(PHash phash, const AssertionId& id);
std::string VisualPrefix(PHash phash);
std::string Evidence(const Hash& hash);
std::string Rejected(std::uint64_t position);

std::string EncodeU64(std::uint64_t v);           // 8 bytes big-endian, so keys sort numerically
std::uint64_t DecodeU64(std::string_view bytes);  // REQUIRES: bytes.size() == 8

// The value of H:{id}: the subject and predicate that lead to the claim's C: entries.
std::string EncodeLocation(const EntityId& subject, const RelationId& predicate);
// Errors: Corruption when the value is not {subject}\0{predicate}.
Result<std::pair<EntityId, RelationId>> DecodeLocation(std::string_view value);

// A signature as stored: the entry and the WAL position of the record that brought it.
struct StoredSignature {
  SignatureEntry entry;
  std::uint64_t position = 0;
};
// signature (64 bytes) ‖ signed_at (int64 little-endian) ‖ position (uint64 little-endian).
std::string EncodeSignatureValue(const SignatureEntry& entry, std::uint64_t position);
// Errors: Corruption when the value is not 80 bytes.
Result<StoredSignature> DecodeSignatureValue(const AgentId& agent, std::string_view value);
// When a signature was made and logged, without copying its bytes: what a lens reads.
struct SignatureTimes {
  Timestamp signed_at;
  std::uint64_t position = 0;
};
// Errors: Corruption when the value is not 80 bytes.
Result<SignatureTimes> DecodeSignatureTimes(std::span<const std::uint8_t> value);

// A C: key taken apart; the views point into the key. Parsed from the front: subjects and
// predicates hold no NUL, IDs and agents may.
struct CandidateKeyParts {
  std::string_view subject;
  std::string_view predicate;
  AssertionId id;
  std::optional<AgentId> signer;  // set for a signature entry, unset for the record
};
// Errors: Corruption when `key` is neither a C: record key nor a C: signature key.
Result<CandidateKeyParts> ParseCandidateKey(std::string_view key);

// What a lens reads of a claim, and where its record is, under C:{subject}\0{predicate}\0{id}\0:
//   flags (1 byte; bit 0: has a parent) ‖ confidence (float32 bits, uint32 little-endian) ‖
//   value key size (uint32 LE) ‖ signer count (uint32 LE) ‖ WAL position of the record (uint64 LE) ‖
//   the record's offset in its WAL segment (uint64 LE) ‖ its length (uint32 LE) ‖
//   source hash (32) ‖ parent ID (32, when flagged) ‖
//   the record's signers, ascending by agent: agent (32) ‖ signed_at (int64 LE), each ‖
//   value key (ValueKey of the object)
// The record's signers are logged at the record's position. The views point into the bytes it
// was decoded from.
struct CandidateValue {
  float confidence = 0;
  Hash source_hash;
  std::optional<AssertionId> parent;
  std::uint64_t position = 0;       // of the record in the WAL
  std::uint64_t record_offset = 0;  // of its header in its WAL segment (wal::RecordLocation)
  std::uint32_t record_length = 0;  // of its payload
  std::size_t signer_count = 0;
  std::span<const std::uint8_t> signers;  // signer_count entries of kSummarySignerSize bytes
  std::string_view value_key;
};
inline constexpr std::size_t kSummarySignerSize = AgentId::kSize + 8;
// Signer i of a decoded summary. REQUIRES: i < value.signer_count.
AgentId SummarySignerAgent(const CandidateValue& value, std::size_t i);
Timestamp SummarySignerTime(const CandidateValue& value, std::size_t i);

// The summary of `assertion`, signed by `signers`, whose record (its canonical SignedClaim) the
// WAL holds at `position`: `record_length` bytes at `record_offset` of the segment.
std::string EncodeCandidateValue(const Assertion& assertion, std::span<const SignatureEntry> signers,
                                 std::uint64_t position, std::uint64_t record_offset, std::uint32_t record_length);
// Decodes into `out` (an out-parameter because index scans decode one per entry, and handing ~100
// bytes back through a Result costs more than the decoding). Errors: Corruption when the value is
// not exactly as long as its sizes say, has unknown flags, signers out of order or a malformed
// value key; `out` is then unspecified.
Status DecodeCandidateValue(std::span<const std::uint8_t> value, CandidateValue& out);

// The assertion ID at the end of a key of `prefix_length` + 32 bytes (+ suffix).
AssertionId IdAt(std::string_view key, std::size_t offset);

}  // namespace stemedb::storage::keys
