// WAL append throughput and latency, beside the raw limits of this disk measured in the same run:
// one write + fdatasync per record (what a log without group commit would do), and sequential
// write bandwidth in 1 MiB writes with an fdatasync each.
//
//   build/bench/wal_bench --benchmark_min_time=2 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "stemedb/wal/wal.h"

namespace stemedb::bench {
namespace {

using wal::RecordType;
using wal::Wal;

// Raw: write(size) + fdatasync, one record at a time.
void BM_RawWriteFdatasync(benchmark::State& state) {
  ScratchDir dir("raw-fsync");
  const int fd = ::open((dir.path() / "raw").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char> buf(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) state.SkipWithError("write");
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
  }
  ::close(fd);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RawWriteFdatasync)->Arg(256)->Arg(4096)->UseRealTime();

// Raw: sequential bandwidth, 1 MiB writes, fdatasync after each.
void BM_RawSequentialWrite(benchmark::State& state) {
  ScratchDir dir("raw-seq");
  const int fd = ::open((dir.path() / "raw").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char> buf(1 << 20, 'x');
  for (auto _ : state) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) state.SkipWithError("write");
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
  }
  ::close(fd);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(buf.size()));
}
BENCHMARK(BM_RawSequentialWrite)->UseRealTime();

// The WAL shared by the threads of one benchmark run.
struct SharedWal {
  std::unique_ptr<ScratchDir> dir;
  std::unique_ptr<Wal> wal;
  std::mutex mu;
  std::vector<double> latencies_us;
  std::atomic<int> reported{0};
};
SharedWal g_shared;

// Appenders: state.threads() threads each appending one record per iteration (sync = always).
void BM_WalAppend(benchmark::State& state) {
  if (state.thread_index() == 0) {
    spdlog::set_level(spdlog::level::warn);
    g_shared.dir = std::make_unique<ScratchDir>("wal");
    g_shared.wal = std::move(Wal::Open(g_shared.dir->path())).value();
    g_shared.latencies_us.clear();
    g_shared.reported = 0;
  }
  const std::vector<std::uint8_t> payload(static_cast<std::size_t>(state.range(0)), 0xAB);
  std::vector<double> latencies;
  latencies.reserve(1 << 16);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = g_shared.wal->Append(RecordType::kTest, payload);
    latencies.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  {
    std::scoped_lock lock(g_shared.mu);
    g_shared.latencies_us.insert(g_shared.latencies_us.end(), latencies.begin(), latencies.end());
  }
  ++g_shared.reported;
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) {
    while (g_shared.reported.load() < state.threads()) std::this_thread::yield();
    state.counters["p50_us"] = Quantile(g_shared.latencies_us, 0.50);
    state.counters["p99_us"] = Quantile(g_shared.latencies_us, 0.99);
    g_shared.wal.reset();
    g_shared.dir.reset();
  }
}
BENCHMARK(BM_WalAppend)
    ->ArgName("bytes")
    ->Arg(256)
    ->Arg(4096)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime();

// One appender handing the WAL batches of `count` records per call.
void BM_WalAppendBatch(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  ScratchDir dir("wal-batch");
  auto wal = std::move(Wal::Open(dir.path())).value();
  const std::vector<std::uint8_t> payload(static_cast<std::size_t>(state.range(0)), 0xAB);
  const auto count = static_cast<std::size_t>(state.range(1));
  std::vector<wal::RecordInput> batch(count, wal::RecordInput{RecordType::kTest, payload, std::nullopt});
  for (auto _ : state) {
    auto r = wal->AppendBatch(batch);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * state.range(1));
  state.SetBytesProcessed(state.iterations() * state.range(1) * state.range(0));
}
// 256 x 4 KiB = 1 MiB per fdatasync, the same unit as BM_RawSequentialWrite.
BENCHMARK(BM_WalAppendBatch)
    ->ArgNames({"bytes", "count"})
    ->Args({256, 100})
    ->Args({4096, 100})
    ->Args({4096, 256})
    ->UseRealTime();

}  // namespace
}  // namespace stemedb::bench

BENCHMARK_MAIN();
