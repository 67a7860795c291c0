// Helpers shared by the benchmarks: scratch directories and latency percentiles.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace stemedb::bench {

// A fresh scratch directory under $STEMEDB_BENCH_DIR (default: the system temp dir), on the disk
// being measured. Removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    static std::atomic<int> counter{0};
    const char* root = std::getenv("STEMEDB_BENCH_DIR");
    path_ = std::filesystem::path(root != nullptr ? root : std::filesystem::temp_directory_path().string()) /
            ("stemedb-bench-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The q-quantile (0..1) of `samples` (sorted in place).
inline double Quantile(std::vector<double>& samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
  return samples[i];
}

}  // namespace stemedb::bench
