// Shared by the fuzz targets. A target that finds a property broken calls Fail, which aborts:
// libFuzzer then saves the input, and the replay test (replay_main.cc) keeps it as a regression.
#pragma once

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace stemedb::fuzz {

[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

// A directory private to this process, for targets that need files; removed at exit. The path is
// never destroyed: a static path's destructor would be registered when its initialiser returns,
// after the exit handler below, so it would run first and leave the handler an empty path.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path* const dir = [] {
    auto* p = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("stemedb-fuzz-" + std::to_string(::getpid())));
    std::filesystem::remove_all(*p);
    std::filesystem::create_directories(*p);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return p;
  }();
  return *dir;
}

}  // namespace stemedb::fuzz
