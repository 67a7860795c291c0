#include "stemedb/model/object_value.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace stemedb {

std::string_view ObjectKindName(ObjectKind kind) noexcept {
  switch (kind) {
    case ObjectKind::kEntity: return "entity";
    case ObjectKind::kText: return "text";
    case ObjectKind::kInteger: return "integer";
    case ObjectKind::kNumber: return "number";
    case ObjectKind::kBoolean: return "bool";
    case ObjectKind::kTimestamp: return "timestamp";
    case ObjectKind::kTyped: return "typed";
    case ObjectKind::kBlob: return "blob";
  }
  return "unknown";
}

std::string ObjectValue::DebugString() const {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          return fmt::format("entity:{}", v.str());
        } else if constexpr (std::is_same_v<T, LangText>) {
          return v.lang.empty() ? fmt::format("text:\"{}\"", v.value) : fmt::format("text:\"{}\"@{}", v.value, v.lang);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return fmt::format("integer:{}", v);
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("number:{}", v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return fmt::format("bool:{}", v);
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          return v.InRange() ? fmt::format("timestamp:{}", v.ToRfc3339()) : fmt::format("timestamp:{}us", v.micros());
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          return fmt::format("typed:\"{}\"^^<{}>", v.lexical, v.datatype);
        } else {
          return fmt::format("blob:{}", v.ToHex());
        }
      },
      v_);
}

namespace {

constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;

void PutU64(std::string& key, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) key += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint64_t GetU64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return v;
}

// The size of a fixed-size kind's body, or 0 for the variable-size kinds.
std::size_t FixedBodySize(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kInteger:
    case ObjectKind::kNumber:
    case ObjectKind::kTimestamp: return 8;
    case ObjectKind::kBoolean: return 1;
    case ObjectKind::kBlob: return Hash::kSize;
    default: return 0;
  }
}

}  // namespace

std::string ValueKey(const ObjectValue& value) {
  std::string key(1, static_cast<char>(value.kind()));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          key += v.str();
        } else if constexpr (std::is_same_v<T, LangText>) {
          key.reserve(1 + v.value.size() + 1 + v.lang.size());
          key += v.value;
          key += '\0';
          key += v.lang;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          PutU64(key, static_cast<std::uint64_t>(v) ^ kSignBit);
        } else if constexpr (std::is_same_v<T, double>) {
          auto bits = std::bit_cast<std::uint64_t>(v == 0.0 ? 0.0 : v);
          PutU64(key, (bits & kSignBit) != 0 ? ~bits : bits ^ kSignBit);
        } else if constexpr (std::is_same_v<T, bool>) {
          key += v ? '\1' : '\0';
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          PutU64(key, static_cast<std::uint64_t>(v.micros()) ^ kSignBit);
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          key += v.datatype;
          key += '\0';
          key += v.lexical;
        } else {
          key.append(reinterpret_cast<const char*>(v.bytes().data()), v.bytes().size());
        }
      },
      value.variant());
  return key;
}

bool IsValueKey(std::string_view key) noexcept {
  if (key.empty()) return false;
  const auto kind = static_cast<ObjectKind>(static_cast<unsigned char>(key[0]));
  const std::string_view body = key.substr(1);
  switch (kind) {
    case ObjectKind::kEntity: return true;
    case ObjectKind::kText:
    case ObjectKind::kTyped: return body.find('\0') != std::string_view::npos;
    case ObjectKind::kBoolean: return body.size() == 1 && static_cast<unsigned char>(body[0]) <= 1;
    case ObjectKind::kInteger:
    case ObjectKind::kNumber:
    case ObjectKind::kTimestamp:
    case ObjectKind::kBlob: return body.size() == FixedBodySize(kind);
  }
  return false;
}

Status CheckValueKey(std::string_view key) {
  if (IsValueKey(key)) return Status::Ok();
  if (key.empty()) return Status::Corruption("value key is empty");
  const auto kind = static_cast<ObjectKind>(static_cast<unsigned char>(key[0]));
  const std::string_view body = key.substr(1);
  switch (kind) {
    case ObjectKind::kEntity: return Status::Ok();
    case ObjectKind::kText:
    case ObjectKind::kTyped:
      if (body.find('\0') == std::string_view::npos) {
        return Status::Corruption(fmt::format("value key of a {} without its separator", ObjectKindName(kind)));
      }
      return Status::Ok();
    case ObjectKind::kInteger:
    case ObjectKind::kNumber:
    case ObjectKind::kTimestamp:
    case ObjectKind::kBoolean:
    case ObjectKind::kBlob:
      if (body.size() != FixedBodySize(kind)) {
        return Status::Corruption(fmt::format("value key of a {} has {} bytes, expected {}", ObjectKindName(kind),
                                              body.size(), FixedBodySize(kind)));
      }
      if (kind == ObjectKind::kBoolean && static_cast<unsigned char>(body[0]) > 1) {
        return Status::Corruption("value key of a bool is neither 0 nor 1");
      }
      return Status::Ok();
  }
  return Status::Corruption(fmt::format("value key of unknown kind {}", static_cast<unsigned char>(key[0])));
}

Result<ObjectValue> ValueFromKey(std::string_view key) {
  STEMEDB_RETURN_IF_ERROR(CheckValueKey(key));
  const std::string_view body = key.substr(1);
  switch (static_cast<ObjectKind>(static_cast<unsigned char>(key[0]))) {
    case ObjectKind::kEntity: return ObjectValue::Entity(EntityId(body));
    case ObjectKind::kText: {
      const std::size_t nul = body.rfind('\0');
      return ObjectValue::Text(std::string(body.substr(0, nul)), std::string(body.substr(nul + 1)));
    }
    case ObjectKind::kTyped: {
      const std::size_t nul = body.find('\0');
      return ObjectValue::Typed(std::string(body.substr(nul + 1)), std::string(body.substr(0, nul)));
    }
    case ObjectKind::kInteger: return ObjectValue::Integer(static_cast<std::int64_t>(GetU64(body) ^ kSignBit));
    case ObjectKind::kNumber: {
      const std::uint64_t ordered = GetU64(body);
      return ObjectValue::Number(std::bit_cast<double>((ordered & kSignBit) != 0 ? ordered ^ kSignBit : ~ordered));
    }
    case ObjectKind::kBoolean: return ObjectValue::Boolean(body[0] == '\1');
    case ObjectKind::kTimestamp:
      return ObjectValue::Time(Timestamp(static_cast<std::int64_t>(GetU64(body) ^ kSignBit)));
    case ObjectKind::kBlob:
      return ObjectValue::Blob(Hash::FromBytes({reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}));
  }
  return Status::Corruption("value key of unknown kind");  // unreachable: CheckValueKey knows every kind
}

}  // namespace stemedb
