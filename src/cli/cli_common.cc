#include "cli_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "stemedb/model/json.h"

namespace stemedb::cli {

Result<lens::AuthorityTable> ReadAuthorityFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("cannot read {}", path));
  std::stringstream text;
  text << in.rdbuf();
  auto table = [&]() -> Result<lens::AuthorityTable> {
    STEMEDB_ASSIGN_OR_RETURN(nlohmann::json json, ParseJson(text.str()));
    return lens::AuthorityTable::FromJson(json);
  }();
  if (!table.ok()) return std::move(table).status().with_context("--authority " + path);
  return table;
}

void PrintCatchUpProgress(wal::LogPosition applied, wal::LogPosition end, double per_second) {
  fmt::print(stderr, "stemedb: catching up with the log: {} of {} records applied ({:.0f}%), {:.0f} records/s", applied,
             end, 100.0 * static_cast<double>(applied) / static_cast<double>(std::max<wal::LogPosition>(end, 1)),
             per_second);
  if (per_second > 0) fmt::print(stderr, ", about {:.0f} s left", static_cast<double>(end - applied) / per_second);
  fmt::print(stderr, "\n");
}

Status WaitUntilQueryable(db::Database& database) {
  const auto start = std::chrono::steady_clock::now();
  bool reported = false;
  db::Database::CatchUpOptions options;
  options.progress_every = std::chrono::seconds(5);
  options.progress = [&reported](wal::LogPosition applied, wal::LogPosition end, double per_second) {
    PrintCatchUpProgress(applied, end, per_second);
    reported = true;
  };
  Status caught_up = database.CatchUp(database.stats().durable_position, options);
  if (caught_up.ok() && reported) {
    fmt::print(stderr, "stemedb: caught up after {:.0f} s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return caught_up;
}

Result<std::unique_ptr<db::Database>> OpenDatabase(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("--db is required");
  return db::Database::Open(dir);
}

Result<std::unique_ptr<db::Database>> OpenCaughtUp(const std::string& dir) {
  STEMEDB_ASSIGN_OR_RETURN(auto database, OpenDatabase(dir));
  STEMEDB_RETURN_IF_ERROR(WaitUntilQueryable(*database));
  return database;
}

}  // namespace stemedb::cli
