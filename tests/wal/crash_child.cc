// Crash-test child: opens the WAL, says "ready\n" on stdout, then appends from several threads
// until killed, reporting each acknowledged record on stdout as "<position> <key>\n" (one
// write(2) per line, so lines from different threads never interleave).
// Usage: wal_crash_child DIR CYCLE THREADS
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "stemedb/wal/wal.h"
#include "wal_test_util.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR CYCLE THREADS\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::uint64_t cycle = std::strtoull(argv[2], nullptr, 10);
  const int threads = std::atoi(argv[3]);
  stemedb::wal::WalOptions options;
  options.segment_bytes = 64 * 1024;  // roll often, so crashes land around roll-overs too
  auto wal = stemedb::wal::Wal::Open(argv[1], options);
  if (!wal.ok()) {
    std::fprintf(stderr, "open: %s\n", wal.status().ToString().c_str());
    return 1;
  }
  if (::write(STDOUT_FILENO, "ready\n", 6) != 6) return 1;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t seq = 0;; ++seq) {
        const std::uint64_t key = cycle * 1000000000ULL + static_cast<std::uint64_t>(t) * 10000000ULL + seq;
        auto r = (*wal)->Append(stemedb::wal::RecordType::kTest, stemedb::wal::testing::Payload(key));
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          std::_Exit(1);
        }
        const std::string line = std::to_string(r->first) + " " + std::to_string(key) + "\n";
        if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
