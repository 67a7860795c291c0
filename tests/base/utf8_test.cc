#include "stemedb/base/utf8.h"

#include <gtest/gtest.h>

namespace stemedb {
namespace {

TEST(Utf8, AcceptsValidText) {
  EXPECT_EQ(FindInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("Tesla_Inc"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("Zürich 東京 \xF0\x9F\x98\x80"), std::nullopt);  // 2-, 3- and 4-byte forms
  EXPECT_EQ(FindInvalidUtf8("\xF4\x8F\xBF\xBF"), std::nullopt);              // U+10FFFF
}

TEST(Utf8, RejectsMalformedSequencesAtTheirOffset) {
  EXPECT_EQ(FindInvalidUtf8("ab\x80"), 2U);            // lone continuation byte
  EXPECT_EQ(FindInvalidUtf8("a\xC3"), 1U);             // truncated sequence
  EXPECT_EQ(FindInvalidUtf8("\xC0\xAF"), 0U);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("\xE0\x80\xAF"), 0U);      // overlong, 3 bytes
  EXPECT_EQ(FindInvalidUtf8("x\xED\xA0\x80"), 1U);     // UTF-16 surrogate U+D800
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0U);  // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xFF"), 0U);
  EXPECT_EQ(FindInvalidUtf8("\xC3\x28"), 0U);  // bad continuation
}

}  // namespace
}  // namespace stemedb
