#include "stemedb/storage/keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace stemedb::storage::keys {
namespace {

void Append(std::string& out, std::span<const std::uint8_t> bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string WithId(std::string_view family, const AssertionId& id) {
  std::string key(family);
  Append(key, id.bytes());
  return key;
}

}  // namespace

std::string EncodeU64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return out;
}

std::uint64_t DecodeU64(std::string_view bytes) {
  std::uint64_t v = 0;
  if (bytes.size() >= sizeof v) {
    // One load and a byte swap: the agent index decodes a position per entry, 1,024 per set read.
    std::memcpy(&v, bytes.data(), sizeof v);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
  }
  for (const char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::string Location(const AssertionId& id) { return WithId("H:", id); }

std::string EncodeLocation(const EntityId& subject, const RelationId& predicate) {
  std::string value = subject.str();
  value += '\0';
  value += predicate.str();
  return value;
}

Result<std::pair<EntityId, RelationId>> DecodeLocation(std::string_view value) {
  const std::size_t end = value.find('\0');
  if (end == std::string_view::npos || end == 0 || end + 1 == value.size() ||
      value.find('\0', end + 1) != std::string_view::npos) {
    return Status::Corruption(fmt::format("claim location of {} bytes is not subject NUL predicate", value.size()));
  }
  return std::make_pair(EntityId(std::string(value.substr(0, end))), RelationId(std::string(value.substr(end + 1))));
}

std::string SubjectPrefix(const EntityId& subject) {
  std::string key = "C:";
  key += subject.str();
  key += '\0';
  return key;
}

std::string CandidatePrefix(const EntityId& subject, const RelationId& predicate) {
  std::string key = SubjectPrefix(subject);
  key += predicate.str();
  key += '\0';
  return key;
}

std::string CandidateRecord(const EntityId& subject, const RelationId& predicate, const AssertionId& id) {
  std::string key = CandidatePrefix(subject, predicate);
  Append(key, id.bytes());
  key += kCandidateRecord;
  return key;
}

std::string CandidateEntries(const EntityId& subject, const RelationId& predicate, const AssertionId& id) {
  std::string key = CandidatePrefix(subject, predicate);
  Append(key, id.bytes());
  return key;
}

std::string CandidateSignature(const EntityId& subject, const RelationId& predicate, const AssertionId& id,
                               const AgentId& agent) {
  std::string key = CandidatePrefix(subject, predicate);
  Append(key, id.bytes());
  key += kCandidateSignature;
  Append(key, agent.bytes());
  return key;
}

std::string ReversePrefix(const EntityId& object) {
  std::string key = "R:";
  key += object.str();
  key += '\0';
  return key;
}
std::string Reverse(const EntityId& object, const AssertionId& id) {
  std::string key = ReversePrefix(object);
  Append(key, id.bytes());
  return key;
}

std::string ChildPrefix(const AssertionId& parent) { return WithId("K:", parent); }
std::string Child(const AssertionId& parent, const AssertionId& child) {
  std::string key = ChildPrefix(parent);
  Append(key, child.bytes());
  return key;
}

std::string AgentPrefix(const AgentId& agent) {
  std::string key = "A:";
  Append(key, agent.bytes());
  return key;
}
std::string AgentRange(const AgentId& agent, std::uint64_t position) {
  return AgentPrefix(agent) + EncodeU64(AgentRangeFirst(position));
}

void AppendAgentEntry(const AgentEntry& entry, std::string& out) {
  out += EncodeU64(entry.position);
  Append(out, entry.id.bytes());
  out += EncodeU64(static_cast<std::uint64_t>(entry.signed_at.micros()));
}

Result<AgentEntries> AgentEntries::Of(std::string_view value) {
  static_assert(8 + Hash::kSize + 8 == kSetEntryBytes);
  if (value.size() % kSetEntryBytes != 0) {
    return Status::Corruption(
        fmt::format("agent index value of {} bytes is not whole {}-byte entries", value.size(), kSetEntryBytes));
  }
  const AgentEntries entries(value);
  // Byte order is position order, and an agent signs a record (a position) at most once, so
  // strictly growing positions are the set's whole invariant; comparing them is cheaper than
  // comparing the 48-byte entries.
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries.position(i - 1) >= entries.position(i)) {
      return Status::Corruption(
          fmt::format("agent index entries out of order or repeated at position {}", entries.position(i)));
    }
  }
  return entries;
}

std::uint64_t AgentEntries::position(std::size_t i) const { return DecodeU64(value_.substr(i * kSetEntryBytes, 8)); }

AgentEntry AgentEntries::operator[](std::size_t i) const {
  const std::size_t at = i * kSetEntryBytes;
  return {position(i), IdAt(value_, at + 8),
          Timestamp(static_cast<std::int64_t>(DecodeU64(value_.substr(at + 8 + Hash::kSize, 8))))};
}

std::size_t AgentEntries::FirstAfter(std::uint64_t position) const {
  // A binary search by hand: clang's std::ranges cannot use libstdc++ 12's (clang-tidy here).
  std::size_t low = 0, high = size();  // the answer is in [low, high]
  while (low < high) {
    const std::size_t mid = low + (high - low) / 2;
    if (this->position(mid) <= position) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

Result<std::vector<AgentEntry>> DecodeAgentEntries(std::string_view value) {
  STEMEDB_ASSIGN_OR_RETURN(const AgentEntries entries, AgentEntries::Of(value));
  std::vector<AgentEntry> out;
  out.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) out.push_back(entries[i]);
  return out;
}

std::string VisualPrefix(PHash phash) { return "V:" + EncodeU64(phash.value()); }
std::string Visual(PHash phash, const AssertionId& id) {
  std::string key = VisualPrefix(phash);
  Append(key, id.bytes());
  return key;
}

std::string Evidence(const Hash& hash) {
  std::string key = "E:";
  Append(key, hash.bytes());
  return key;
}

std::string Rejected(std::uint64_t position) { return "X:" + EncodeU64(position); }

std::string EncodeSignatureValue(const SignatureEntry& entry, std::uint64_t position) {
  std::string out(reinterpret_cast<const char*>(entry.signature.data()), entry.signature.size());
  const auto t = static_cast<std::uint64_t>(entry.signed_at.micros());
  for (int i = 0; i < 8; ++i) out += static_cast<char>((t >> (8 * i)) & 0xFF);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((position >> (8 * i)) & 0xFF);
  return out;
}

Result<StoredSignature> DecodeSignatureValue(const AgentId& agent, std::string_view value) {
  if (value.size() != 80) return Status::Corruption("signature value is not 80 bytes");
  STEMEDB_ASSIGN_OR_RETURN(SignatureTimes times,
                           DecodeSignatureTimes({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()}));
  StoredSignature out;
  out.entry.agent = agent;
  std::memcpy(out.entry.signature.data(), value.data(), 64);
  out.entry.signed_at = times.signed_at;
  out.position = times.position;
  return out;
}

namespace {

constexpr std::uint8_t kHasParent = 1;

std::uint64_t LoadLittleEndian64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  }
  return v;
}
constexpr std::size_t kCandidateFixedSize = 1 + 4 + 4 + 4 + 8 + 8 + 4 + Hash::kSize;

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint32_t GetU32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

Result<CandidateKeyParts> ParseCandidateKey(std::string_view key) {
  const std::size_t subject_end = key.starts_with("C:") ? key.find('\0', 2) : std::string_view::npos;
  const std::size_t predicate_end =
      subject_end == std::string_view::npos ? subject_end : key.find('\0', subject_end + 1);
  if (predicate_end == std::string_view::npos) {
    return Status::Corruption(fmt::format("candidate key of {} bytes without a subject and predicate", key.size()));
  }
  const std::size_t id_at = predicate_end + 1;
  const std::size_t marker_at = id_at + Hash::kSize;
  CandidateKeyParts parts;
  parts.subject = key.substr(2, subject_end - 2);
  parts.predicate = key.substr(subject_end + 1, predicate_end - subject_end - 1);
  if (key.size() == marker_at + 1 && key[marker_at] == kCandidateRecord) {
    parts.id = IdAt(key, id_at);
    return parts;
  }
  if (key.size() == marker_at + 1 + AgentId::kSize && key[marker_at] == kCandidateSignature) {
    parts.id = IdAt(key, id_at);
    std::array<std::uint8_t, AgentId::kSize> agent{};
    std::memcpy(agent.data(), key.data() + marker_at + 1, agent.size());
    parts.signer = AgentId(agent);
    return parts;
  }
  return Status::Corruption(fmt::format("unexpected candidate index key of {} bytes", key.size()));
}

std::string EncodeCandidateValue(const Assertion& assertion, std::span<const SignatureEntry> signers,
                                 std::uint64_t position, std::uint64_t record_offset, std::uint32_t record_length) {
  const std::string value_key = ValueKey(assertion.object);
  std::vector<const SignatureEntry*> by_agent;
  by_agent.reserve(signers.size());
  for (const SignatureEntry& s : signers) by_agent.push_back(&s);
  std::sort(by_agent.begin(), by_agent.end(),
            [](const SignatureEntry* a, const SignatureEntry* b) { return a->agent < b->agent; });
  std::string out;
  out.reserve(kCandidateFixedSize + (assertion.parent ? Hash::kSize : 0) + signers.size() * kSummarySignerSize +
              value_key.size());
  out += static_cast<char>(assertion.parent ? kHasParent : 0);
  PutU32(out, std::bit_cast<std::uint32_t>(assertion.confidence));
  PutU32(out, static_cast<std::uint32_t>(value_key.size()));
  PutU32(out, static_cast<std::uint32_t>(signers.size()));
  PutU64(out, position);
  PutU64(out, record_offset);
  PutU32(out, record_length);
  Append(out, assertion.source_hash.bytes());
  if (assertion.parent) Append(out, assertion.parent->bytes());
  for (const SignatureEntry* s : by_agent) {
    Append(out, s->agent.bytes());
    PutU64(out, static_cast<std::uint64_t>(s->signed_at.micros()));
  }
  out += value_key;
  return out;
}

Status DecodeCandidateValue(std::span<const std::uint8_t> value, CandidateValue& out) {
  if (value.size() < kCandidateFixedSize) {
    return Status::Corruption(fmt::format("candidate value of {} bytes is shorter than its summary", value.size()));
  }
  const std::uint8_t flags = value[0];
  if ((flags & ~kHasParent) != 0) return Status::Corruption(fmt::format("candidate value has unknown flags {}", flags));
  out.confidence = std::bit_cast<float>(GetU32(value.data() + 1));
  const std::uint32_t key_size = GetU32(value.data() + 5);
  out.signer_count = GetU32(value.data() + 9);
  out.position = LoadLittleEndian64(value.data() + 13);
  out.record_offset = LoadLittleEndian64(value.data() + 21);
  out.record_length = GetU32(value.data() + 29);
  out.source_hash = Hash::FromBytes(value.subspan(33, Hash::kSize));
  std::size_t at = kCandidateFixedSize;
  const std::size_t parent_size = (flags & kHasParent) != 0 ? Hash::kSize : 0;
  // Sums of 32-bit sizes in 64 bits: no overflow.
  const std::uint64_t signers_size = std::uint64_t{out.signer_count} * kSummarySignerSize;
  if (value.size() - at != parent_size + signers_size + key_size) {
    return Status::Corruption(fmt::format("candidate value of {} bytes is not as long as its summary says ({})",
                                          value.size(), at + parent_size + signers_size + key_size));
  }
  if (parent_size != 0) {
    out.parent.emplace(Hash::FromBytes(value.subspan(at, Hash::kSize)));
  } else {
    out.parent.reset();
  }
  at += parent_size;
  out.signers = value.subspan(at, signers_size);
  for (std::size_t i = 1; i < out.signer_count; ++i) {
    if (std::memcmp(out.signers.data() + (i - 1) * kSummarySignerSize, out.signers.data() + i * kSummarySignerSize,
                    AgentId::kSize) >= 0) {
      return Status::Corruption("candidate value lists its signers out of order");
    }
  }
  at += signers_size;
  out.value_key = {reinterpret_cast<const char*>(value.data() + at), key_size};
  if (!IsValueKey(out.value_key)) return CheckValueKey(out.value_key).with_context("candidate value");
  return Status::Ok();
}

AgentId SummarySignerAgent(const CandidateValue& value, std::size_t i) {
  std::array<std::uint8_t, AgentId::kSize> agent{};
  std::memcpy(agent.data(), value.signers.data() + i * kSummarySignerSize, agent.size());
  return AgentId(agent);
}

Timestamp SummarySignerTime(const CandidateValue& value, std::size_t i) {
  return Timestamp(
      static_cast<std::int64_t>(LoadLittleEndian64(value.signers.data() + i * kSummarySignerSize + AgentId::kSize)));
}

Result<SignatureTimes> DecodeSignatureTimes(std::span<const std::uint8_t> value) {
  if (value.size() != 80) return Status::Corruption("signature value is not 80 bytes");
  return SignatureTimes{Timestamp(static_cast<std::int64_t>(LoadLittleEndian64(value.data() + 64))),
                        LoadLittleEndian64(value.data() + 72)};
}

AssertionId IdAt(std::string_view key, std::size_t offset) {
  return AssertionId(Hash::FromBytes({reinterpret_cast<const std::uint8_t*>(key.data()) + offset, 32}));
}

}  // namespace stemedb::storage::keys
