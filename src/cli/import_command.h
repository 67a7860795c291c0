// stemedb import: bulk-load JSON lines (signed envelopes, or claims signed here with --key).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace stemedb::cli {

void AddImportCommand(CLI::App& app, std::function<int()>& run);

}  // namespace stemedb::cli
