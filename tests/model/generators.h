// RapidCheck generators for the data model. Strings are valid UTF-8 (including multi-byte code
// points) so that the same values can go through the JSON form.
#pragma once

#include <rapidcheck.h>

#include <string>

#include "stemedb/model/assertion.h"

namespace stemedb::testing {

inline void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Printable code points from several planes (no controls, no surrogates).
inline rc::Gen<char32_t> GenCodePoint() {
  return rc::gen::oneOf(rc::gen::inRange<char32_t>(0x20, 0x7F), rc::gen::inRange<char32_t>(0xA0, 0x800),
                        rc::gen::inRange<char32_t>(0x4E00, 0x9FFF), rc::gen::inRange<char32_t>(0x1F600, 0x1F650));
}

inline rc::Gen<std::string> GenUtf8(std::size_t min_code_points) {
  return rc::gen::map(rc::gen::suchThat(rc::gen::container<std::vector<char32_t>>(GenCodePoint()),
                                        [=](const std::vector<char32_t>& v) { return v.size() >= min_code_points; }),
                      [](const std::vector<char32_t>& cps) {
                        std::string s;
                        for (char32_t cp : cps) AppendUtf8(s, cp);
                        return s;
                      });
}

inline rc::Gen<Hash> GenHash() {
  return rc::gen::map(rc::gen::arbitrary<std::array<std::uint8_t, 32>>(),
                      [](const std::array<std::uint8_t, 32>& b) { return Hash(b); });
}

inline rc::Gen<Timestamp> GenTimestamp() {
  return rc::gen::map(rc::gen::inRange<std::int64_t>(Timestamp::kMinMicros, Timestamp::kMaxMicros + 1),
                      [](std::int64_t us) { return Timestamp(us); });
}

inline rc::Gen<double> GenFiniteDouble() {
  return rc::gen::suchThat(rc::gen::arbitrary<double>(), [](double d) { return std::isfinite(d); });
}

inline rc::Gen<ObjectValue> GenObject() {
  return rc::gen::oneOf(
      rc::gen::map(GenUtf8(1), [](std::string s) { return ObjectValue::Entity(EntityId(std::move(s))); }),
      rc::gen::apply([](std::string v, std::string lang) { return ObjectValue::Text(std::move(v), std::move(lang)); },
                     GenUtf8(0), rc::gen::element<std::string>("", "en", "en-US", "zh-Hant-TW", "de-CH-1901")),
      rc::gen::map(rc::gen::arbitrary<std::int64_t>(), [](std::int64_t v) { return ObjectValue::Integer(v); }),
      rc::gen::map(GenFiniteDouble(), [](double v) { return ObjectValue::Number(v); }),
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool v) { return ObjectValue::Boolean(v); }),
      rc::gen::map(GenTimestamp(), [](Timestamp t) { return ObjectValue::Time(t); }),
      rc::gen::apply([](std::string v, std::string dt) { return ObjectValue::Typed(std::move(v), std::move(dt)); },
                     GenUtf8(0), GenUtf8(1)),
      rc::gen::map(GenHash(), [](Hash h) { return ObjectValue::Blob(h); }));
}

inline rc::Gen<float> GenConfidence() {
  return rc::gen::map(rc::gen::inRange<int>(0, 1000001), [](int v) { return static_cast<float>(v) / 1e6F; });
}

inline rc::Gen<Assertion> GenAssertion() {
  return rc::gen::apply(
      [](std::string subject, std::string predicate, ObjectValue object, float confidence, Hash source,
         rc::Maybe<std::uint64_t> phash, rc::Maybe<Hash> parent) {
        Assertion a;
        a.subject = EntityId(std::move(subject));
        a.predicate = RelationId(std::move(predicate));
        a.object = std::move(object);
        a.confidence = confidence;
        a.source_hash = source;
        if (phash) a.visual_hash = PHash(*phash);
        if (parent) a.parent = AssertionId(*parent);
        return a;
      },
      GenUtf8(1), GenUtf8(1), GenObject(), GenConfidence(), GenHash(),
      rc::gen::maybe(rc::gen::arbitrary<std::uint64_t>()), rc::gen::maybe(GenHash()));
}

}  // namespace stemedb::testing

namespace rc {
template <>
struct Arbitrary<stemedb::Assertion> {
  static Gen<stemedb::Assertion> arbitrary() { return stemedb::testing::GenAssertion(); }
};
}  // namespace rc

namespace stemedb {
// Readable counterexamples.
inline void showValue(const Assertion& a, std::ostream& os) {
  os << "Assertion{" << a.subject.str() << ", " << a.predicate.str() << ", " << a.object.DebugString()
     << ", confidence=" << a.confidence << "}";
}
}  // namespace stemedb
