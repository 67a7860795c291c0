#include "stemedb/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace stemedb {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Status::InvalidArgument("not positive");
  return v;
}

Result<int> Doubled(int v) {
  STEMEDB_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

Status Check(int v) {
  STEMEDB_RETURN_IF_ERROR(ParsePositive(v).status());
  return Status::Ok();
}

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, ContextChainReadsOutermostFirst) {
  Status s = Status::Corruption("checksum mismatch").with_context("offset 96").with_context("segment 000042");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "checksum mismatch");
  EXPECT_EQ(s.ToString(), "corruption: segment 000042: offset 96: checksum mismatch");
}

TEST(Status, ContextOnOkIsANoOp) {
  Status s = Status::Ok().with_context("ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(s.context().empty());
}

TEST(Status, FromErrnoMapsCodes) {
  EXPECT_EQ(Status::FromErrno("write", ENOSPC).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::FromErrno("open", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromErrno("open", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Status::FromErrno("fsync", EIO).code(), StatusCode::kIoError);
  EXPECT_NE(Status::FromErrno("fsync", EIO).message().find("fsync: "), std::string::npos);
}

TEST(Status, CopiesKeepTheDetailsAndMovesLeaveOk) {
  Status error = Status::NotFound("segment 7").with_field("wal").with_context("open WAL");
  const Status copy = error;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the point
  EXPECT_EQ(copy.ToString(), error.ToString());
  EXPECT_EQ(copy.field(), "wal");
  Status assigned;
  assigned = copy;
  EXPECT_EQ(assigned.code(), StatusCode::kNotFound);
  const Status moved = std::move(error);
  EXPECT_EQ(moved.ToString(), "not_found: open WAL: segment 7");
  EXPECT_TRUE(error.ok());  // NOLINT(bugprone-use-after-move): a moved-from status is OK, documented
  EXPECT_TRUE(error.message().empty());
  EXPECT_TRUE(error.context().empty());
  // A code of kOk makes an OK status whatever the message.
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());
  EXPECT_EQ(Status(StatusCode::kOk, "ignored").ToString(), "ok");
}

TEST(Result, PropagatesValuesAndErrors) {
  auto good = Doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  auto bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check(3).ok());
  EXPECT_EQ(Check(0).code(), StatusCode::kInvalidArgument);
}

TEST(Result, FieldIsKept) {
  Status s = Status::InvalidArgument("bad").with_field("confidence");
  EXPECT_EQ(s.field(), "confidence");
}

}  // namespace
}  // namespace stemedb
