// The stemedb subcommands that work on a database directory.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace stemedb::cli {

// Adds assert, get, history, query, card, conflicts, verify, wal-repair and stats to `app`. Each
// added subcommand, when parsed, is run by the function stored in `run`.
void AddDatabaseCommands(CLI::App& app, std::function<int()>& run);

}  // namespace stemedb::cli
