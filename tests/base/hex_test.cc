#include "stemedb/base/hex.h"

#include <gtest/gtest.h>

#include <array>

namespace stemedb {
namespace {

TEST(Hex, RoundTrip) {
  const std::array<std::uint8_t, 4> bytes{0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(ToHex(bytes), "007fabff");
  std::array<std::uint8_t, 4> back{};
  ASSERT_TRUE(FromHex("007FabFF", back).ok());
  EXPECT_EQ(back, bytes);
}

TEST(Hex, RejectsWrongLengthAndDigits) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_EQ(FromHex("abc", out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FromHex("abcdef", out).code(), StatusCode::kInvalidArgument);
  Status s = FromHex("zz00", out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("position 0"), std::string::npos);
}

}  // namespace
}  // namespace stemedb
