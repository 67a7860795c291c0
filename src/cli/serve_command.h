// stemedb serve: the HTTP API (docs/api.md) over a database directory.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace stemedb::cli {

void AddServeCommand(CLI::App& app, std::function<int()>& run);

}  // namespace stemedb::cli
