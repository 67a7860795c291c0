#include "stemedb/model/object_value.h"

#include <fmt/format.h>

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

}  // namespace stemedb
