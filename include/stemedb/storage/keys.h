// The key schema of StemeDB's indexes (docs/storage.md draws the same table).
//
// Every key starts with a one-letter family and ':'. Subjects, predicates and entity objects
// contain no control characters (validation), so 0x00 separates them unambiguously and a prefix
// scan of "C:Tes\0" never matches "C:Tesla\0...". IDs, hashes and agents are raw bytes.
//
//   H:{id}                             -> the record (canonical SignedClaim, as first received)
//   S:{id}{agent}                      -> signature (64) ‖ signed_at (int64 LE) ‖ WAL position (u64 LE)
//   C:{subject}\0{predicate}\0{id}\0   -> the record again: lens candidates in one prefix scan
//   C:{subject}\0{predicate}\0{id}\1{agent} -> the same signature value, right after its record
//   R:{object entity}\0{id}            -> "" : claims whose object is this entity (reverse edges)
//   K:{parent id}{child id}            -> "" : supersession links
//   A:{agent}{id}                      -> signed_at : what an agent signed
//   V:{phash, 8 bytes big-endian}{id}  -> "" : claims backed by an image
//   E:{hash}                           -> evidence blob bytes
//   X:{position, 8 bytes big-endian}   -> why the WAL record there was rejected
//   M:applied                          -> last applied WAL position (8 bytes big-endian)
//   M:format                           -> index format version (8 bytes big-endian)
//
// A co-signature adds S:, C:...\1 and A: keys; the H: record is never rewritten.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "stemedb/model/assertion.h"

namespace stemedb::storage::keys {

inline constexpr std::uint64_t kFormatVersion = 2;  // 2: signature values carry their WAL position
inline constexpr std::string_view kApplied = "M:applied";
inline constexpr std::string_view kFormat = "M:format";
inline constexpr char kCandidateRecord = '\0';
inline constexpr char kCandidateSignature = '\1';

std::string Record(const AssertionId& id);
std::string SignaturePrefix(const AssertionId& id);
std::string Signature(const AssertionId& id, const AgentId& agent);
std::string SubjectPrefix(const EntityId& subject);
std::string CandidatePrefix(const EntityId& subject, const RelationId& predicate);
std::string CandidateRecord(const EntityId& subject, const RelationId& predicate, const AssertionId& id);
std::string CandidateSignature(const EntityId& subject, const RelationId& predicate, const AssertionId& id,
                               const AgentId& agent);
std::string ReversePrefix(const EntityId& object);
std::string Reverse(const EntityId& object, const AssertionId& id);
std::string ChildPrefix(const AssertionId& parent);
std::string Child(const AssertionId& parent, const AssertionId& child);
std::string AgentPrefix(const AgentId& agent);
std::string Agent(const AgentId& agent, const AssertionId& id);
std::string Visual(PHash phash, const AssertionId& id);
std::string VisualPrefix(PHash phash);
std::string Evidence(const Hash& hash);
std::string Rejected(std::uint64_t position);

std::string EncodeU64(std::uint64_t v);           // 8 bytes big-endian, so keys sort numerically
std::uint64_t DecodeU64(std::string_view bytes);  // REQUIRES: bytes.size() == 8

// A signature as stored: the entry and the WAL position of the record that brought it.
struct StoredSignature {
  SignatureEntry entry;
  std::uint64_t position = 0;
};
// signature (64 bytes) ‖ signed_at (int64 little-endian) ‖ position (uint64 little-endian).
std::string EncodeSignatureValue(const SignatureEntry& entry, std::uint64_t position);
// Errors: Corruption when the value is not 80 bytes.
Result<StoredSignature> DecodeSignatureValue(const AgentId& agent, std::string_view value);

// The assertion ID at the end of a key of `prefix_length` + 32 bytes (+ suffix).
AssertionId IdAt(std::string_view key, std::size_t offset);

}  // namespace stemedb::storage::keys
