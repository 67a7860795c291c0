// The server under sustained load: `stemedb serve` on a loopback port, with concurrent writers
// (each posting client-signed envelopes) and readers (resolve and get) for a bounded time.
// Reports throughput per 5 s of the run, the server's resident memory sampled every second and,
// every 30 s, where that memory goes (the server's /metrics: heap in use and held free, index
// write buffers, block cache, open index files); at the end it checks, through the Database API,
// that every write acknowledged with 201 is stored.
//
// Usage: http_load STEMEDB_BINARY [SECONDS=60] [CONNECTIONS=64] [SERVE_FLAG...]   (make loadtest)
// e.g. http_load build/stemedb 600 64 --cache-mib 16 --write-buffer-mib 8
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "stemedb/model/signing.h"

namespace {

using namespace stemedb;
using Clock = std::chrono::steady_clock;

struct Server {
  pid_t pid = -1;
  int port = 0;
};

Server StartServer(const std::string& binary, const std::filesystem::path& db, const std::vector<std::string>& flags) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  Server s;
  s.pid = ::fork();
  if (s.pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<std::string> args = {binary, "serve", "--db", db.string(), "--listen", "127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string line;
  char c = 0;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  ::close(fds[0]);
  s.port = std::atoi(line.substr(line.rfind(':') + 1).c_str());
  return s;
}

std::uint64_t RssKiB(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// One gauge from a Prometheus text page, or 0.
double Gauge(const std::string& page, const std::string& name) {
  std::size_t at = 0;
  while ((at = page.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || page[at - 1] == '\n') return std::strtod(page.c_str() + at + name.size() + 1, nullptr);
    at += name.size();
  }
  return 0;
}

void PrintMemory(int port, int second) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) {
    std::printf("%6d memory: /metrics unavailable\n", second);
    return;
  }
  auto mib = [&](const char* name) { return Gauge(res->body, name) / (1 << 20); };
  std::printf(
      "%6d memory MiB: resident %.1f = heap in use %.1f + heap held free %.1f + other; "
      "of the heap: write buffers %.1f, block cache %.1f, open index files %.1f\n",
      second, mib("stemedb_process_resident_bytes"), mib("stemedb_heap_in_use_bytes"), mib("stemedb_heap_free_bytes"),
      mib("stemedb_kv_memtable_bytes"), mib("stemedb_kv_block_cache_bytes"), mib("stemedb_kv_table_reader_bytes"));
}

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> writes{0}, reads{0}, errors{0}, retries{0};
  std::mutex mu;
  std::map<std::string, std::uint64_t> error_kinds;  // "status 503", "connection: Read", ...
  std::vector<std::string> acknowledged;             // IDs answered 201
  std::vector<double> write_ms, read_ms;
};

void CountError(Shared& shared, const httplib::Result& r) {
  ++shared.errors;
  const std::string kind = r ? fmt::format("status {}", r->status) : "connection: " + httplib::to_string(r.error());
  std::lock_guard lock(shared.mu);
  ++shared.error_kinds[kind];
}

KeyPair Key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  return std::move(KeyPair::FromSeed(seed)).value();
}

void Writer(int port, int index, Shared& shared) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  client.set_keep_alive(true);  // one connection per client, as a real one would
  // cpp-httplib's client sends a POST's headers and body in two writes: with Nagle's algorithm on,
  // the body waits for the server's delayed ACK of the headers, 40 ms on Linux, on every write.
  client.set_tcp_nodelay(true);
  const KeyPair key = Key(static_cast<std::uint8_t>(1 + index % 16));
  const KeyPair* signer[] = {&key};
  std::vector<std::string> mine;
  std::vector<double> latencies;
  for (std::uint64_t n = 0; !shared.stop; ++n) {
    Assertion a;
    a.subject = EntityId(fmt::format("entity_{}", (n * 31 + static_cast<std::uint64_t>(index)) % 5000));
    a.predicate = RelationId(fmt::format("p{}", n % 7));
    a.object = ObjectValue::Integer(static_cast<std::int64_t>(n % 5));
    a.confidence = 0.5F;
    a.source_hash = Blake3(fmt::format("writer {} claim {}", index, n));
    const SignedAssertion s = SignAssertion(a, signer, Timestamp::Now()).value();
    const auto start = Clock::now();
    const std::string body = EnvelopeToJson(s).dump();
    auto r = client.Post("/v1/assertions", body, "application/json");
    if (!r) {
      // The connection was closed under the request (the server ends a keep-alive connection
      // after 1,000 requests): retry once, as any client would; writes are idempotent.
      ++shared.retries;
      r = client.Post("/v1/assertions", body, "application/json");
    }
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (r && r->status == 201) {
      mine.push_back(s.id.ToHex());
      ++shared.writes;
    } else {
      CountError(shared, r);
    }
  }
  std::lock_guard lock(shared.mu);
  shared.acknowledged.insert(shared.acknowledged.end(), mine.begin(), mine.end());
  shared.write_ms.insert(shared.write_ms.end(), latencies.begin(), latencies.end());
}

void Reader(int port, int index, Shared& shared) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::mt19937_64 rng(static_cast<std::uint64_t>(index));
  std::vector<double> latencies;
  while (!shared.stop) {
    const std::string path = fmt::format("/v1/resolve?subject=entity_{}&predicate=p{}&explain={}", rng() % 5000,
                                         rng() % 7, rng() % 4 == 0 ? "true" : "false");
    const auto start = Clock::now();
    auto r = client.Get(path);
    if (!r) {
      ++shared.retries;
      r = client.Get(path);
    }
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (r && (r->status == 200 || r->status == 404)) {
      ++shared.reads;
    } else {
      CountError(shared, r);
    }
  }
  std::lock_guard lock(shared.mu);
  shared.read_ms.insert(shared.read_ms.end(), latencies.begin(), latencies.end());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s STEMEDB_BINARY [SECONDS=60] [CONNECTIONS=64]\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string binary = argv[1];
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 60;
  const int connections = argc > 3 ? std::atoi(argv[3]) : 64;
  const std::vector<std::string> serve_flags(argv + std::min(argc, 4), argv + argc);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows as it happens, even into a file
  stemedb::bench::ScratchDir dir("http-load");
  const auto db = dir.path() / "db";
  Server server = StartServer(binary, db, serve_flags);
  if (server.port <= 0) {
    std::fprintf(stderr, "the server did not start\n");
    return 1;
  }
  std::printf("load: %d connections (%d writers, %d readers) for %d s on port %d\n", connections, connections / 2,
              connections - connections / 2, seconds, server.port);

  Shared shared;
  std::vector<std::thread> clients;
  for (int i = 0; i < connections; ++i) {
    if (i % 2 == 0) {
      clients.emplace_back(Writer, server.port, i, std::ref(shared));
    } else {
      clients.emplace_back(Reader, server.port, i, std::ref(shared));
    }
  }
  std::vector<std::uint64_t> rss;
  std::uint64_t last_writes = 0, last_reads = 0;
  std::printf("%6s %10s %10s %8s %10s\n", "second", "writes/s", "reads/s", "errors", "rss_MiB");
  for (int t = 1; t <= seconds; ++t) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::uint64_t w = shared.writes, r = shared.reads;
    rss.push_back(RssKiB(server.pid));
    if (t % 5 == 0 || t == 1) {
      std::printf("%6d %10llu %10llu %8llu %10.1f\n", t, static_cast<unsigned long long>(w - last_writes),
                  static_cast<unsigned long long>(r - last_reads),
                  static_cast<unsigned long long>(shared.errors.load()), static_cast<double>(rss.back()) / 1024);
    }
    last_writes = w;
    last_reads = r;
    if (t % 30 == 0 || t == seconds) PrintMemory(server.port, t);
  }
  shared.stop = true;
  for (auto& c : clients) c.join();
  ::kill(server.pid, SIGTERM);
  int status = 0;
  ::waitpid(server.pid, &status, 0);

  // Everything acknowledged must be there.
  auto database = db::Database::Open(db);
  if (!database.ok()) {
    std::fprintf(stderr, "reopen: %s\n", database.status().ToString().c_str());
    return 1;
  }
  (void)(*database)->WaitForApplied((*database)->stats().durable_position);
  // Looked up from several threads: after a long run most lookups read the disk.
  std::atomic<std::size_t> missing{0};
  {
    const std::size_t threads = 4;
    std::vector<std::jthread> checkers;
    for (std::size_t t = 0; t < threads; ++t) {
      checkers.emplace_back([&, t] {
        for (std::size_t i = t; i < shared.acknowledged.size(); i += threads) {
          auto got = (*database)->Get(AssertionId::FromHex(shared.acknowledged[i]).value());
          if (!got.ok() || !got->has_value()) ++missing;
        }
      });
    }
  }
  for (const auto& [kind, n] : shared.error_kinds)
    std::printf("error: %s x %llu\n", kind.c_str(), static_cast<unsigned long long>(n));
  const auto quarter = rss.size() / 4;
  std::printf(
      "\nwrites acknowledged: %zu (%.0f/s), reads: %llu (%.0f/s), errors: %llu, retried after a closed "
      "connection: %llu\n"
      "write latency ms p50 %.2f p99 %.2f; read latency ms p50 %.2f p99 %.2f\n"
      "server RSS MiB: at 25%% of the run %.1f, at the end %.1f, peak %.1f\n"
      "server exit: %s; acknowledged writes missing after restart: %zu\n",
      shared.acknowledged.size(), static_cast<double>(shared.acknowledged.size()) / seconds,
      static_cast<unsigned long long>(shared.reads.load()), static_cast<double>(shared.reads.load()) / seconds,
      static_cast<unsigned long long>(shared.errors.load()), static_cast<unsigned long long>(shared.retries.load()),
      stemedb::bench::Quantile(shared.write_ms, 0.5), stemedb::bench::Quantile(shared.write_ms, 0.99),
      stemedb::bench::Quantile(shared.read_ms, 0.5), stemedb::bench::Quantile(shared.read_ms, 0.99),
      static_cast<double>(rss[quarter]) / 1024, static_cast<double>(rss.back()) / 1024,
      static_cast<double>(*std::max_element(rss.begin(), rss.end())) / 1024,
      WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "clean" : "NOT clean", missing.load());
  return missing == 0 && shared.errors == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
