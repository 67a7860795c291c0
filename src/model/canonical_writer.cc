#include "canonical_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <variant>

namespace stemedb::canonical {
namespace {

// Words are assembled as integers and bytes copied in as they lie in memory: both are Cap'n
// Proto's little-endian layout only on a little-endian machine.
static_assert(std::endian::native == std::endian::little, "the canonical writer assumes a little-endian host");

// Cap'n Proto list element sizes (encoding spec, "Lists").
constexpr std::uint64_t kByteElements = 2;
constexpr std::uint64_t kCompositeElements = 7;
// A list holds at most 2^29 - 1 elements; an offset spans at most 2^29 - 1 words.
constexpr std::size_t kMaxListElements = (std::size_t{1} << 29) - 1;
constexpr std::size_t kMaxWords = (std::size_t{1} << 29) - 1;

// ObjectValue's union discriminants, in schema order.
enum class Kind : std::uint16_t { kEntity, kText, kInteger, kNumber, kBoolean, kTimestamp, kTyped, kBlob };

// Layouts (data words, pointers) as capnpc assigns them for schema/stemedb.capnp.
//   Claim (2, 5): confidence f32 @ bits 0-31 of word 0, hasVisualHash @ bit 32, visualHash word 1;
//                 subject, predicate, object, sourceHash, parentHash.
//   ObjectValue (2, 1): discriminant u16 @ bits 0-15 of word 0; integer / number / timestamp in
//                 word 1, boolean @ bit 0 of word 1; entity / text / typed / blob share pointer 0.
//   LangText (0, 2), TypedLiteral (0, 2): two texts.
//   Signature (1, 2): signedAt word 0; agent, signature.
//   SignedClaim (0, 2): claim, signatures.  CoSignatures (0, 2): assertionId, signatures.

// Canonical form truncates a data section after its last non-zero word.
std::uint16_t DataWords(std::uint64_t w0, std::uint64_t w1) noexcept { return w1 != 0 ? 2 : (w0 != 0 ? 1 : 0); }

// The one segment, appended in pre-order: an object is written when the pointer to it is, right
// after everything written before, so every offset is forward.
class Writer {
 public:
  // Zeroes `expected_words` once: growing the vector per object filled each one separately.
  explicit Writer(std::size_t expected_words) : words_(expected_words, 0) {}

  // Appends `n` zero words and returns the index of the first.
  std::size_t Allocate(std::size_t n) {
    const std::size_t at = used_;
    if (n > kMaxWords - at) {
      overflow_ = true;
      return at;
    }
    if (at + n > words_.size()) Grow(at + n);
    used_ = at + n;
    return at;
  }

  void Set(std::size_t at, std::uint64_t value) noexcept {
    if (at < used_) words_[at] = value;
  }

  // A struct pointer at `at` to a body of `data` words then `pointers` pointers, allocated now.
  // Returns the body's first word.
  std::size_t Struct(std::size_t at, std::uint16_t data, std::uint16_t pointers) {
    const std::size_t body = Allocate(std::size_t{data} + pointers);
    Set(at, StructPointer(body - at - 1, data, pointers));
    return body;
  }

  // A byte list (Text with its NUL when `text`, else Data) at `at`.
  void Bytes(std::size_t at, std::string_view bytes, bool text) {
    const std::size_t count = bytes.size() + (text ? 1 : 0);
    if (count > kMaxListElements) {
      overflow_ = true;
      return;
    }
    const std::size_t body = Allocate((count + 7) / 8);
    if (overflow_) return;
    if (!bytes.empty()) std::memcpy(&words_[body], bytes.data(), bytes.size());
    Set(at, ListPointer(body - at - 1, kByteElements, count));
  }
  void Bytes(std::size_t at, std::span<const std::uint8_t> bytes) {
    Bytes(at, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), false);
  }

  // A list of Signature structs at `at`: tag word, the elements, then each element's two byte
  // lists, element by element.
  void Signatures(std::size_t at, std::span<const SignatureEntry> signatures) {
    const std::size_t n = signatures.size();
    std::uint16_t data = 0;
    for (const SignatureEntry& s : signatures) {
      if (s.signed_at.micros() != 0) data = 1;
    }
    // Every element has both byte lists; an empty list's elements have no size at all.
    const std::uint16_t pointers = n == 0 ? 0 : 2;
    const std::size_t stride = std::size_t{data} + pointers;
    if (n != 0 && n > kMaxListElements / stride) {
      overflow_ = true;
      return;
    }
    const std::size_t tag = Allocate(1 + n * stride);
    if (overflow_) return;
    Set(at, ListPointer(tag - at - 1, kCompositeElements, n * stride));
    // The tag is a struct pointer whose offset field counts the elements.
    Set(tag, StructPointer(n, data, pointers));
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t element = tag + 1 + i * stride;
      if (data != 0) Set(element, static_cast<std::uint64_t>(signatures[i].signed_at.micros()));
      Bytes(element + data, signatures[i].agent.bytes());
      Bytes(element + data + 1, signatures[i].signature);
      if (overflow_) return;
    }
  }

  void Claim(std::size_t at, const Assertion& a) {
    std::uint64_t w0 = std::bit_cast<std::uint32_t>(a.confidence == 0.0F ? 0.0F : a.confidence);
    std::uint64_t w1 = 0;
    if (a.visual_hash) {
      w0 |= std::uint64_t{1} << 32;
      w1 = a.visual_hash->value();
    }
    const std::uint16_t data = DataWords(w0, w1);
    const std::uint16_t pointers = a.parent ? 5 : 4;
    const std::size_t body = Struct(at, data, pointers);
    if (overflow_) return;
    if (data >= 1) Set(body, w0);
    if (data >= 2) Set(body + 1, w1);
    const std::size_t ptr = body + data;
    Bytes(ptr, a.subject.str(), true);
    Bytes(ptr + 1, a.predicate.str(), true);
    Object(ptr + 2, a.object);
    Bytes(ptr + 3, a.source_hash.bytes());
    if (a.parent) Bytes(ptr + 4, a.parent->hash().bytes());
  }

  Result<AlignedBytes> Finish(std::string_view what) {
    if (overflow_) {
      return Status::InvalidArgument(
          fmt::format("{} cannot be encoded: a field is too large for a Cap'n Proto message", what));
    }
    words_.resize(used_);
    return AlignedBytes(std::move(words_));
  }

 private:
  static std::uint64_t StructPointer(std::size_t offset, std::uint16_t data, std::uint16_t pointers) noexcept {
    return (static_cast<std::uint64_t>(offset) << 2 & 0xFFFFFFFFU) | std::uint64_t{data} << 32 |
           std::uint64_t{pointers} << 48;
  }
  static std::uint64_t ListPointer(std::size_t offset, std::uint64_t element_size, std::size_t count) noexcept {
    return (static_cast<std::uint64_t>(offset) << 2 & 0xFFFFFFFFU) | 1U | element_size << 32 |
           static_cast<std::uint64_t>(count) << 35;
  }

  // Two texts in a (0, 2) struct: LangText, TypedLiteral.
  void TextPair(std::size_t at, std::string_view first, std::string_view second) {
    const std::size_t body = Struct(at, 0, 2);
    if (overflow_) return;
    Bytes(body, first, true);
    Bytes(body + 1, second, true);
  }

  void Object(std::size_t at, const ObjectValue& object) {
    std::uint64_t w1 = 0;
    Kind kind = Kind::kEntity;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, EntityId>) {
            kind = Kind::kEntity;
          } else if constexpr (std::is_same_v<T, LangText>) {
            kind = Kind::kText;
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            kind = Kind::kInteger;
            w1 = static_cast<std::uint64_t>(v);
          } else if constexpr (std::is_same_v<T, double>) {
            kind = Kind::kNumber;
            w1 = std::bit_cast<std::uint64_t>(v == 0.0 ? 0.0 : v);  // -0.0 is +0.0
          } else if constexpr (std::is_same_v<T, bool>) {
            kind = Kind::kBoolean;
            w1 = v ? 1 : 0;
          } else if constexpr (std::is_same_v<T, Timestamp>) {
            kind = Kind::kTimestamp;
            w1 = static_cast<std::uint64_t>(v.micros());
          } else if constexpr (std::is_same_v<T, TypedLiteral>) {
            kind = Kind::kTyped;
          } else {
            static_assert(std::is_same_v<T, Hash>);
            kind = Kind::kBlob;
          }
        },
        object.variant());
    const std::uint64_t w0 = static_cast<std::uint16_t>(kind);
    const bool has_pointer =
        kind == Kind::kEntity || kind == Kind::kText || kind == Kind::kTyped || kind == Kind::kBlob;
    const std::uint16_t data = DataWords(w0, w1);
    const std::size_t body = Struct(at, data, has_pointer ? 1 : 0);
    if (overflow_) return;
    if (data >= 1) Set(body, w0);
    if (data >= 2) Set(body + 1, w1);
    if (!has_pointer) return;
    const std::size_t ptr = body + data;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, EntityId>) {
            Bytes(ptr, v.str(), true);
          } else if constexpr (std::is_same_v<T, LangText>) {
            TextPair(ptr, v.value, v.lang);
          } else if constexpr (std::is_same_v<T, TypedLiteral>) {
            TextPair(ptr, v.lexical, v.datatype);
          } else if constexpr (std::is_same_v<T, Hash>) {
            Bytes(ptr, v.bytes());
          }
        },
        object.variant());
  }

  // Only when the caller's estimate fell short (the estimates below are meant not to).
  void Grow(std::size_t needed) {
    std::vector<std::uint64_t> bigger(std::max(2 * words_.size(), needed), 0);
    std::copy_n(words_.begin(), used_, bigger.begin());
    words_.swap(bigger);
  }

  std::vector<std::uint64_t> words_;
  std::size_t used_ = 0;  // words_ beyond it are zeroed spare room
  bool overflow_ = false;
};

// Words a claim takes, give or take a few: the writer reserves them up front.
std::size_t ClaimWords(const Assertion& a) {
  std::size_t text_bytes = a.subject.str().size() + a.predicate.str().size();
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          text_bytes += v.str().size();
        } else if constexpr (std::is_same_v<T, LangText>) {
          text_bytes += v.value.size() + v.lang.size();
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          text_bytes += v.lexical.size() + v.datatype.size();
        }
      },
      a.object.variant());
  // Root, two structs of 2 + 5 and 2 + 1 words, a text pair, three hashes of 4, four texts' padding.
  constexpr std::size_t kFixedWords = 32;
  return kFixedWords + text_bytes / 8;
}

constexpr std::size_t kWordsPerSignature = 16;  // signedAt, 2 pointers, agent (4), signature (8)

}  // namespace

Result<AlignedBytes> EncodeClaim(const Assertion& assertion) {
  Writer out(ClaimWords(assertion));
  const std::size_t root = out.Allocate(1);
  out.Claim(root, assertion);
  return out.Finish("claim");
}

Result<AlignedBytes> EncodeSignedClaim(const Assertion& assertion, std::span<const SignatureEntry> signatures) {
  Writer out(3 + ClaimWords(assertion) + 1 + kWordsPerSignature * signatures.size());
  const std::size_t root = out.Allocate(1);
  const std::size_t body = out.Struct(root, 0, 2);
  out.Claim(body, assertion);
  out.Signatures(body + 1, signatures);
  return out.Finish("record");
}

Result<AlignedBytes> EncodeCoSignatures(const AssertionId& id, std::span<const SignatureEntry> signatures) {
  Writer out(3 + 4 + 1 + kWordsPerSignature * signatures.size());
  const std::size_t root = out.Allocate(1);
  const std::size_t body = out.Struct(root, 0, 2);
  out.Bytes(body, id.hash().bytes());
  out.Signatures(body + 1, signatures);
  return out.Finish("co-signatures");
}

}  // namespace stemedb::canonical
