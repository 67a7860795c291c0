#include "cli_common.h"

#include <fmt/format.h>

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

}  // namespace stemedb::cli
