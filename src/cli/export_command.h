// stemedb export: every signed envelope as JSON lines, or the lens-resolved graph as N-Triples.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace stemedb::cli {

void AddExportCommand(CLI::App& app, std::function<int()>& run);

}  // namespace stemedb::cli
