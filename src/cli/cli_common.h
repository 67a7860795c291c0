// Shared by the stemedb command's parts: how failures are reported.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "stemedb/base/status.h"
#include "stemedb/db/database.h"
#include "stemedb/lens/lens.h"

namespace stemedb::cli {

// Exit codes: 0 success, 1 the operation failed, 2 bad usage, 3 nothing found.
inline constexpr int kFailure = 1;
inline constexpr int kNotFound = 3;

// Prints "stemedb: <status>" on stderr and returns the exit code for it.
inline int Fail(const Status& status) {
  std::fprintf(stderr, "stemedb: %s\n", status.ToString().c_str());
  return status.code() == StatusCode::kNotFound ? kNotFound : kFailure;
}

// Reads an authority table (`--authority FILE`, the JSON form of lens::AuthorityTable::FromJson).
// Errors: NotFound when the file cannot be read; InvalidArgument, naming the file, when it is not
// such a table.
Result<lens::AuthorityTable> ReadAuthorityFile(const std::string& path);

// Prints on stderr how far a catch-up is: "stemedb: catching up with the log: A of E records
// applied (P%), R records/s, about S s left".
void PrintCatchUpProgress(wal::LogPosition applied, wal::LogPosition end, double per_second);

// Waits until `database` has applied everything its log held when called, so that a command sees
// every write acknowledged before it started. A rebuild or the catch-up after a crash can take
// minutes on a large log: the wait lasts as long as the ingestor keeps applying, and says on stderr
// every 5 seconds how far it is. Errors: Database::CatchUp's.
Status WaitUntilQueryable(db::Database& database);

// Opens the database in `dir`. Errors: InvalidArgument when `dir` is empty; Database::Open's.
Result<std::unique_ptr<db::Database>> OpenDatabase(const std::string& dir);
// Opens it and waits as WaitUntilQueryable does: for commands that read, and for those that write
// (against indexes still being rebuilt, a claim already stored would look new and be appended again).
Result<std::unique_ptr<db::Database>> OpenCaughtUp(const std::string& dir);

}  // namespace stemedb::cli
