#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"
#include "stemedb/model/types.h"

namespace stemedb {
namespace {

TEST(Timestamp, ParsesRfc3339Forms) {
  EXPECT_EQ(Timestamp::FromRfc3339("1970-01-01T00:00:00Z")->micros(), 0);
  EXPECT_EQ(Timestamp::FromRfc3339("1970-01-01T00:00:01.5Z")->micros(), 1500000);
  EXPECT_EQ(Timestamp::FromRfc3339("1970-01-01T02:00:00+02:00")->micros(), 0);
  EXPECT_EQ(Timestamp::FromRfc3339("1969-12-31T23:59:59.999999Z")->micros(), -1);
  EXPECT_EQ(Timestamp::FromRfc3339("2024-02-29t12:00:00z")->ToRfc3339(), "2024-02-29T12:00:00Z");
  EXPECT_EQ(Timestamp::FromRfc3339("0001-01-01T00:00:00Z")->micros(), Timestamp::kMinMicros);
  EXPECT_EQ(Timestamp::FromRfc3339("9999-12-31T23:59:59.999999Z")->micros(), Timestamp::kMaxMicros);
}

TEST(Timestamp, RejectsMalformedOrImpossibleTimes) {
  for (const char* bad :
       {"", "2024-01-01", "2024-01-01T00:00:00", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z",
        "2016-12-31T23:59:60Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00Zjunk",
        "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "2024-01-01T00:00:00+2:00"}) {
    auto t = Timestamp::FromRfc3339(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(Timestamp, FormatsShortestExactFraction) {
  EXPECT_EQ(Timestamp(0).ToRfc3339(), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Timestamp(250000).ToRfc3339(), "1970-01-01T00:00:00.25Z");
  EXPECT_EQ(Timestamp(1).ToRfc3339(), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(Timestamp(-1).ToRfc3339(), "1969-12-31T23:59:59.999999Z");
}

RC_GTEST_PROP(Timestamp, Rfc3339RoundTrips, ()) {
  const Timestamp t = *testing::GenTimestamp();
  auto back = Timestamp::FromRfc3339(t.ToRfc3339());
  RC_ASSERT(back.ok());
  RC_ASSERT(back->micros() == t.micros());
}

}  // namespace
}  // namespace stemedb
