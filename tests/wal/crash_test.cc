// Real crash test: a child process appends with sync mode `always` and reports every
// acknowledged position through a pipe; the parent SIGKILLs it at a random moment, reopens the
// WAL and checks that every acknowledged record is present and byte-identical at its position,
// that positions are dense, and (in the next cycle) that the log is appendable again.
// STEMEDB_CRASH_CYCLES sets the number of cycles (make crashloop runs many).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

#include "stemedb/wal/wal.h"
#include "support/temp_dir.h"
#include "wal_test_util.h"

namespace stemedb::wal {
namespace {

int CyclesFromEnv(int fallback) {
  const char* v = std::getenv("STEMEDB_CRASH_CYCLES");
  return v != nullptr ? std::max(1, std::atoi(v)) : fallback;
}

struct ChildRun {
  std::map<LogPosition, std::uint64_t> acked;
  int exit_signal = 0;
};

// Runs the child for `run_for`, then kills it and collects what it acknowledged.
ChildRun RunAndKill(const std::filesystem::path& dir, std::uint64_t cycle, std::chrono::milliseconds run_for) {
  ChildRun out;
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe";
    return out;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string cycle_arg = std::to_string(cycle);
    ::execl(STEMEDB_WAL_CRASH_CHILD, STEMEDB_WAL_CRASH_CHILD, dir.c_str(), cycle_arg.c_str(), "4",
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string data;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + run_for;
  bool killed = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && now >= deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int timeout_ms =
        killed ? 1000 : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (::poll(&p, 1, std::max(0, timeout_ms)) > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;  // the child is gone and the pipe drained
      data.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exit_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child exited on its own with status " << WEXITSTATUS(status);
  std::istringstream lines(data);
  LogPosition position = 0;
  std::uint64_t key = 0;
  while (lines >> position >> key) out.acked[position] = key;
  return out;
}

TEST(WalCrash, KilledWriterLosesNothingAcknowledged) {
  spdlog::set_level(spdlog::level::warn);
  stemedb::testing::TempDir dir;
  const int cycles = CyclesFromEnv(25);
  std::mt19937_64 rng(std::random_device{}());
  std::map<LogPosition, std::uint64_t> all_acked;
  std::size_t torn_tails = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    const auto run_for = std::chrono::milliseconds(10 + rng() % 120);
    ChildRun run = RunAndKill(dir.path(), static_cast<std::uint64_t>(cycle), run_for);
    ASSERT_EQ(run.exit_signal, SIGKILL);
    for (const auto& [position, key] : run.acked) {
      ASSERT_FALSE(all_acked.count(position)) << "position " << position << " acknowledged twice";
      all_acked[position] = key;
    }
    WalOptions options;
    options.segment_bytes = 64 * 1024;
    auto wal = Wal::Open(dir.path(), options);
    ASSERT_TRUE(wal.ok()) << "cycle " << cycle << ": " << wal.status().ToString();
    torn_tails += (*wal)->recovery().torn_tail_bytes > 0 ? 1 : 0;
    const auto records = testing::ReadAll(**wal);
    ASSERT_EQ(records.size(), (*wal)->written_position());
    for (std::size_t i = 0; i < records.size(); ++i) ASSERT_EQ(records[i].first, i + 1) << "positions not dense";
    for (const auto& [position, key] : all_acked) {
      ASSERT_LE(position, records.size()) << "cycle " << cycle << ": acknowledged position " << position << " lost";
      ASSERT_EQ(records[position - 1].second, testing::Payload(key))
          << "cycle " << cycle << ": acknowledged position " << position << " altered";
    }
  }
  // Reported so that a long run (make crashloop) shows what it covered.
  std::printf("crash cycles: %d, acknowledged records verified: %zu, torn tails cut: %zu\n", cycles, all_acked.size(),
              torn_tails);
  EXPECT_GT(all_acked.size(), static_cast<std::size_t>(cycles));
}

}  // namespace
}  // namespace stemedb::wal
