#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "generators.h"
#include "stemedb/model/object_value.h"

namespace stemedb {
namespace {

using testing::GenObject;

RC_GTEST_PROP(ValueKey, DecodesToTheValueItWasMadeFrom, ()) {
  const ObjectValue value = *GenObject();
  auto back = ValueFromKey(ValueKey(value));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == value);
}

RC_GTEST_PROP(ValueKey, EqualKeysExactlyForEqualValues, ()) {
  const ObjectValue a = *GenObject();
  const ObjectValue b = *rc::gen::oneOf(rc::gen::just(a), GenObject());
  RC_ASSERT((ValueKey(a) == ValueKey(b)) == (a == b));
}

RC_GTEST_PROP(ValueKey, OrdersNumbersIntegersAndTimesByValue, ()) {
  const double x = *testing::GenFiniteDouble();
  const double y = *testing::GenFiniteDouble();
  RC_ASSERT((x < y) == (ValueKey(ObjectValue::Number(x)) < ValueKey(ObjectValue::Number(y))));
  const auto i = *rc::gen::arbitrary<std::int64_t>();
  const auto j = *rc::gen::arbitrary<std::int64_t>();
  RC_ASSERT((i < j) == (ValueKey(ObjectValue::Integer(i)) < ValueKey(ObjectValue::Integer(j))));
  const Timestamp s = *testing::GenTimestamp();
  const Timestamp t = *testing::GenTimestamp();
  RC_ASSERT((s < t) == (ValueKey(ObjectValue::Time(s)) < ValueKey(ObjectValue::Time(t))));
}

TEST(ValueKey, TextAndTypedSplitWhereTheirSecondPartCannotHoldNul) {
  // A text may hold NUL; a language tag and a datatype never do.
  const ObjectValue text = ObjectValue::Text(std::string("a\0b", 3), "en");
  EXPECT_EQ(*ValueFromKey(ValueKey(text)), text);
  const ObjectValue typed = ObjectValue::Typed(std::string("x\0y", 3), "http://example.org/t");
  EXPECT_EQ(*ValueFromKey(ValueKey(typed)), typed);
  EXPECT_EQ(*ValueFromKey(ValueKey(ObjectValue::Number(-0.0))), ObjectValue::Number(0.0));
}

TEST(ValueKey, MalformedKeysAreCorruption) {
  const std::string cases[] = {
      std::string(),                                    // no kind
      std::string(1, '\x09'),                           // unknown kind
      std::string(1, '\x02') + std::string(7, 'x'),     // integer of 7 bytes
      std::string(1, '\x03') + std::string(9, 'x'),     // number of 9 bytes
      std::string(1, '\x04') + std::string(1, '\x02'),  // bool that is neither 0 nor 1
      std::string(1, '\x07') + std::string(31, 'x'),    // blob of 31 bytes
      std::string(1, '\x01') + "no separator",          // text without its NUL
      std::string(1, '\x06') + "no separator",          // typed without its NUL
  };
  for (const std::string& key : cases) {
    const auto value = ValueFromKey(key);
    ASSERT_FALSE(value.ok()) << "key of " << key.size() << " bytes";
    EXPECT_EQ(value.status().code(), StatusCode::kCorruption);
    EXPECT_NE(value.status().message().find("value key"), std::string::npos) << value.status().message();
  }
}

}  // namespace
}  // namespace stemedb
