#include "stemedb/storage/keys.h"

#include <fmt/format.h>

#include <cstring>

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
  for (char c : bytes.substr(0, 8)) v = (v << 8) | static_cast<unsigned char>(c);
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
std::string Agent(const AgentId& agent, const AssertionId& id) {
  std::string key = AgentPrefix(agent);
  Append(key, id.bytes());
  return key;
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
  StoredSignature out;
  out.entry.agent = agent;
  std::memcpy(out.entry.signature.data(), value.data(), 64);
  auto read_u64 = [&](std::size_t at) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(value[at + static_cast<std::size_t>(i)]);
    return v;
  };
  out.entry.signed_at = Timestamp(static_cast<std::int64_t>(read_u64(64)));
  out.position = read_u64(72);
  return out;
}

AssertionId IdAt(std::string_view key, std::size_t offset) {
  return AssertionId(Hash::FromBytes({reinterpret_cast<const std::uint8_t*>(key.data()) + offset, 32}));
}

}  // namespace stemedb::storage::keys
