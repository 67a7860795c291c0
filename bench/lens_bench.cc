// Resolve latency for 1, 10, 100 and 1000 candidates per (subject, predicate), beside the raw
// RocksDB prefix scan that fetches the same candidates, in the same run (warm caches).
//
//   BM_RawScan     iterate the candidate prefix in RocksDB, touching every key and value
//   BM_Candidates  the same scan, decoded into lens::Candidate (what a lens reads)
//   BM_LensOnly    the Consensus lens over owned candidates already fetched (pure CPU; includes
//                  turning them into a CandidateSet)
//   BM_LensOnSet   the Consensus lens over a CandidateSet, what Database::Resolve runs (pure CPU)
//   BM_Resolve     Database::Resolve: scan the index entries into a CandidateSet + lens
//   BM_SignaturesBy  Database::SignaturesBy: a page of what one agent signed (20,000 claims), from
//                  the start, the middle and near the end of its history (args: limit, percent)
//
//   build/bench/lens_bench --benchmark_min_time=0.5 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>

#include "bench_util.h"
#include "stemedb/db/database.h"
#include "stemedb/model/signing.h"
#include "stemedb/storage/keys.h"

namespace stemedb::bench {
namespace {

constexpr int kSizes[] = {1, 10, 100, 1000};

struct Fixture {
  std::unique_ptr<ScratchDir> dir;
  std::unique_ptr<db::Database> db;
  std::map<int, std::vector<lens::Candidate>> fetched;
  std::map<int, lens::CandidateSet> sets;
};

EntityId Subject(int n) { return EntityId(fmt::format("entity_with_{}_candidates", n)); }
const RelationId kPredicate("revenue_usd");

// One database with a key per size: n candidates, each by its own agent, values in a few groups.
// Destroyed at exit, members in reverse: the database closes, then its scratch directory goes.
Fixture& Shared() {
  static Fixture f = [] {
    spdlog::set_level(spdlog::level::warn);
    Fixture made;
    made.dir = std::make_unique<ScratchDir>("lens");
    made.db = std::move(db::Database::Open(made.dir->path())).value();
    std::vector<Envelope> batch;
    for (int n : kSizes) {
      for (int i = 0; i < n; ++i) {
        std::array<std::uint8_t, 32> seed{};
        seed[0] = static_cast<std::uint8_t>(i);
        seed[1] = static_cast<std::uint8_t>(i >> 8);
        const KeyPair key = std::move(KeyPair::FromSeed(seed)).value();
        Assertion a;
        a.subject = Subject(n);
        a.predicate = kPredicate;
        a.object = ObjectValue::Number(90.0 + i % 7);
        a.confidence = 0.5F + static_cast<float>(i % 50) / 100.0F;
        a.source_hash = Blake3(fmt::format("source {} {}", n, i));
        const KeyPair* signer[] = {&key};
        batch.push_back({std::move(SignAssertion(a, signer, Timestamp(1700000000000000 + i))).value(), std::nullopt});
      }
    }
    auto r = made.db->SubmitBatch(batch);
    if (!r.ok() || !made.db->WaitForApplied(made.db->stats().durable_position).ok()) std::abort();
    (void)made.db->store().Flush();  // read from SST files and the block cache, as a warm server would
    // Reopened, as a server that restarted: the WAL's tail cache is empty, so the records that
    // Candidates returns are read from the log's files (page cache), as most are in a large store.
    if (!made.db->Close().ok()) std::abort();
    made.db = std::move(db::Database::Open(made.dir->path())).value();
    for (int n : kSizes) {
      made.fetched[n] = std::move(made.db->Candidates(Subject(n), kPredicate)).value();
      made.sets[n] = lens::CandidateSet::Of(made.fetched[n]);
    }
    return made;
  }();
  return f;
}

template <typename Fn>
void Timed(benchmark::State& state, Fn fn) {
  std::vector<double> us;
  us.reserve(1 << 16);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  state.counters["p50_us"] = Quantile(us, 0.50);
  state.counters["p99_us"] = Quantile(us, 0.99);
  state.SetItemsProcessed(state.iterations());
}

void BM_RawScan(benchmark::State& state) {
  auto& fx = Shared();
  const int n = static_cast<int>(state.range(0));
  const std::string prefix = storage::keys::CandidatePrefix(Subject(n), kPredicate);
  Timed(state, [&] {
    std::size_t bytes = 0;
    auto it = fx.db->store().ScanPrefix(prefix);
    for (; it->Valid(); it->Next()) bytes += it->key().size() + it->value().size();
    benchmark::DoNotOptimize(bytes);
  });
}

void BM_Candidates(benchmark::State& state) {
  auto& fx = Shared();
  const int n = static_cast<int>(state.range(0));
  Timed(state, [&] { benchmark::DoNotOptimize(fx.db->Candidates(Subject(n), kPredicate)); });
}

void BM_LensOnly(benchmark::State& state) {
  auto& fx = Shared();
  const auto& candidates = fx.fetched.at(static_cast<int>(state.range(0)));
  Timed(state, [&] { benchmark::DoNotOptimize(lens::Resolve(lens::LensKind::kConsensus, candidates)); });
}

void BM_LensOnSet(benchmark::State& state) {
  auto& fx = Shared();
  const auto& candidates = fx.sets.at(static_cast<int>(state.range(0)));
  Timed(state, [&] { benchmark::DoNotOptimize(lens::Resolve(lens::LensKind::kConsensus, candidates)); });
}

void BM_Resolve(benchmark::State& state) {
  auto& fx = Shared();
  const int n = static_cast<int>(state.range(0));
  Timed(state, [&] { benchmark::DoNotOptimize(fx.db->Resolve(Subject(n), kPredicate, lens::LensKind::kConsensus)); });
}

// One agent that signed 20,000 claims (20 ranges of the agent index), in a database of its own.
struct AgentFixture {
  std::unique_ptr<ScratchDir> dir;
  std::unique_ptr<db::Database> db;
  AgentId agent;
  wal::LogPosition end = 0;
};

AgentFixture& SharedAgent() {
  static AgentFixture f = [] {
    spdlog::set_level(spdlog::level::warn);
    constexpr int kClaims = 20000;
    AgentFixture made;
    made.dir = std::make_unique<ScratchDir>("agent");
    made.db = std::move(db::Database::Open(made.dir->path())).value();
    std::array<std::uint8_t, 32> seed{};
    seed.fill(7);
    const KeyPair key = std::move(KeyPair::FromSeed(seed)).value();
    made.agent = key.agent();
    const KeyPair* signer[] = {&key};
    std::vector<Envelope> batch;
    for (int i = 0; i < kClaims; ++i) {
      Assertion a;
      a.subject = EntityId(fmt::format("entity_{}", i));
      a.predicate = kPredicate;
      a.object = ObjectValue::Number(i);
      a.confidence = 0.9F;
      a.source_hash = Blake3(fmt::format("source {}", i));
      batch.push_back({std::move(SignAssertion(a, signer, Timestamp(1700000000000000 + i))).value(), std::nullopt});
      if (batch.size() == 1000) {
        if (!made.db->SubmitBatch(batch).ok()) std::abort();
        batch.clear();
      }
    }
    made.end = made.db->stats().durable_position;
    if (!made.db->WaitForApplied(made.end).ok()) std::abort();
    (void)made.db->store().Flush();
    return made;
  }();
  return f;
}

void BM_SignaturesBy(benchmark::State& state) {
  auto& fx = SharedAgent();
  const auto limit = static_cast<std::size_t>(state.range(0));
  const wal::LogPosition after = fx.end * static_cast<wal::LogPosition>(state.range(1)) / 100;
  Timed(state, [&] {
    auto page = fx.db->SignaturesBy(fx.agent, {.after = after, .limit = limit});
    if (!page.ok() || page->signatures.empty()) std::abort();
    benchmark::DoNotOptimize(page);
  });
}

BENCHMARK(BM_RawScan)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_Candidates)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_LensOnly)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_LensOnSet)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_Resolve)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_SignaturesBy)->Args({100, 0})->Args({100, 50})->Args({100, 99})->Args({1000, 0})->Args({1000, 50});

}  // namespace
}  // namespace stemedb::bench

BENCHMARK_MAIN();
