// Crash-test child: opens the database, says "ready\n" on stdout, then submits signed assertions
// through it from several threads until killed, reporting each acknowledged one on stdout as
// "<id hex> <key> <signers>\n".
// Usage: db_crash_child DIR CYCLE
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "db_test_util.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR CYCLE\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::err);
  const std::uint64_t cycle = std::strtoull(argv[2], nullptr, 10);
  auto db = stemedb::db::Database::Open(argv[1]);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  if (::write(STDOUT_FILENO, "ready\n", 6) != 6) return 1;
  std::vector<std::thread> workers;
  for (std::uint64_t t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t seq = 0;; ++seq) {
        const std::uint64_t key = cycle * 1000000 + t * 100000 + seq;
        // Every fifth claim is submitted again with a second signer: a co-signature.
        const int signers = seq % 5 == 4 ? 2 : 1;
        const std::uint64_t claim_key = signers == 2 ? key - 1 : key;
        auto s = signers == 2 ? stemedb::db::testing::SignedFor(claim_key, {1, 2})
                              : stemedb::db::testing::SignedFor(claim_key, {1});
        auto r = (*db)->Submit(s);
        if (!r.ok()) {
          std::fprintf(stderr, "submit: %s\n", r.status().ToString().c_str());
          std::_Exit(1);
        }
        const std::string line = s.id.ToHex() + " " + std::to_string(claim_key) + " " + std::to_string(signers) + "\n";
        if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
