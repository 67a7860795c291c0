// The macro benchmark (make bench): StemeDB against what a user would do instead, SQLite and
// PostgreSQL with an index and the conflict resolved in SQL, on the same generated workload in the
// same run, beside this machine's physical limits. Prints one table; docs/performance.md holds a
// run and says what bounds each figure.
//
//   build/bench/compare [--count N] [--reps R] [--queries Q] [--no-postgres] [--no-sqlite]
//                       [--crash-wal-mib M]
// (--crash-wal-mib: also reopen a database SIGKILLed with M MiB of WAL; make bench uses 1024.)
// (--no-sqlite with --no-postgres measures StemeDB alone: the 10M scale point, whose peers
// would take hours here.)
//
// Workload: entities x 8 predicates; per (subject, predicate) a Zipf-like number of candidates
// (1 to 64, P(k) ~ 1/k^1.3) from 16 agents, values drawn from 4 so that they conflict, all
// signed. Plus 200 keys with exactly 10 candidates and 200 with exactly 100, for the resolve
// comparison at those sizes.
//
// Fairness: the peers verify the same Ed25519 signatures in the harness, spread over all cores,
// before each batch is written; every system writes batches of 1,000 durably (StemeDB: WAL
// fsync; SQLite: WAL mode, synchronous=FULL; PostgreSQL: synchronous_commit=on, fsync on) and
// indexes (subject, predicate). Resolve is Consensus with weight 1 (StemeDB: the full read path,
// prefix scan + decode + lens; SQL: GROUP BY object with SUM(confidence), the winner and its
// share computed by the harness); the systems take turns, a tenth of their queries at a time, so
// that each ratio compares the same minutes of the machine (MeasureInTurns).
#include <fcntl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "stemedb/db/database.h"
#include "stemedb/ingest/ingestor.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "stemedb/storage/kv_store.h"
#include "stemedb/wal/wal.h"

namespace stemedb::bench {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

constexpr std::size_t kBatch = 1000;
const unsigned kCores = std::max(1U, std::thread::hardware_concurrency());

// Runs fn(i) for i in [0, n) on every core.
void ParallelFor(std::size_t n, const std::function<void(std::size_t)>& fn) {
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < kCores; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < n; i += kCores) fn(i);
    });
  }
  for (std::size_t i = 0; i < n; i += kCores) fn(i);
}

double Median(std::vector<double> v) { return Quantile(v, 0.5); }

std::uint64_t PeakRssKiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

std::uint64_t DirBytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// ---- the workload ----

struct Workload {
  std::vector<Envelope> envelopes;                               // all of it, in submission order
  std::vector<std::pair<EntityId, RelationId>> keys10, keys100;  // exactly 10 / 100 candidates
};

std::string ValueText(const ObjectValue& v) { return v.DebugString(); }

Workload Generate(std::size_t count) {
  std::vector<KeyPair> agents;
  for (int i = 0; i < 16; ++i) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(static_cast<std::uint8_t>(i + 1));
    agents.push_back(std::move(KeyPair::FromSeed(seed)).value());
  }
  // Candidates per key: Zipf-like over 1..64.
  std::vector<double> cdf;
  double sum = 0;
  for (int k = 1; k <= 64; ++k) cdf.push_back(sum += 1.0 / std::pow(k, 1.3));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, sum);
  struct Spec {
    std::string subject, predicate;
    std::size_t candidates;
  };
  std::vector<Spec> specs;
  Workload w;
  std::size_t planned = 0;
  for (std::size_t key = 0; planned < count; ++key) {
    const std::size_t k = static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()) + 1;
    specs.push_back(
        {fmt::format("entity_{}", key / 8), fmt::format("predicate_{}", key % 8), std::min(k, count - planned)});
    planned += specs.back().candidates;
  }
  for (std::size_t i = 0; i < 200; ++i) {
    specs.push_back({fmt::format("ten_{}", i), "p", 10});
    w.keys10.emplace_back(EntityId(specs.back().subject), RelationId("p"));
    specs.push_back({fmt::format("hundred_{}", i), "p", 100});
    w.keys100.emplace_back(EntityId(specs.back().subject), RelationId("p"));
  }
  std::vector<std::pair<std::size_t, std::size_t>> flat;  // (spec, candidate)
  for (std::size_t s = 0; s < specs.size(); ++s) {
    for (std::size_t c = 0; c < specs[s].candidates; ++c) flat.emplace_back(s, c);
  }
  std::shuffle(flat.begin(), flat.end(), rng);
  w.envelopes.resize(flat.size());
  ParallelFor(flat.size(), [&](std::size_t i) {
    const auto [s, c] = flat[i];
    Assertion a;
    a.subject = EntityId(specs[s].subject);
    a.predicate = RelationId(specs[s].predicate);
    a.object = ObjectValue::Integer(static_cast<std::int64_t>((c * 7 + s) % 4));
    a.confidence = static_cast<float>((c * 37 + s) % 100 + 1) / 101.0F;
    a.source_hash = Blake3(fmt::format("source {} {}", s, c));
    const KeyPair* signer[] = {&agents[(c + s) % agents.size()]};
    w.envelopes[i].signed_assertion =
        std::move(SignAssertion(a, signer, Timestamp(1700000000000000 + static_cast<std::int64_t>(i)))).value();
  });
  return w;
}

// Verifies every signature of envelopes [begin, end) on all cores: the peers' share of the work.
bool VerifyBatch(const std::vector<Envelope>& envelopes, std::size_t begin, std::size_t end) {
  std::atomic<bool> ok{true};
  ParallelFor(end - begin, [&](std::size_t i) {
    if (!ValidateSignedAssertion(envelopes[begin + i].signed_assertion).ok()) ok = false;
  });
  return ok;
}

// Removes `path` and waits until the file system has settled what that freed (untimed), so that
// the next measurement does not pay for it: with ext4 mounted with `discard`, as on this machine,
// the journal commit that frees the blocks also trims them on the disk.
void RemoveAndSettle(const std::filesystem::path& path) {
  std::filesystem::remove_all(path);
  ::sync();
}

// ---- limits ----

struct Limits {
  double verify_per_s = 0, fdatasync_per_s = 0, write_mib_s = 0;
};

// Ed25519 verifications per second on all cores, over the first `n` envelopes.
double VerifyRate(const Workload& w, std::size_t n) {
  n = std::min(n, w.envelopes.size());
  const auto start = Clock::now();
  VerifyBatch(w.envelopes, 0, n);
  return static_cast<double>(n) / Seconds(start);
}

Limits MeasureLimits(const Workload& w, const std::filesystem::path& dir) {
  Limits l;
  // Median of three: one measurement moves by ±10% on this shared machine.
  std::vector<double> verify_rates;
  for (int r = 0; r < 3; ++r) verify_rates.push_back(VerifyRate(w, 40000));
  l.verify_per_s = Median(verify_rates);
  auto start = Clock::now();

  const int fd = ::open((dir / "limits").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  std::vector<char> block(4096, 'x');
  std::size_t syncs = 0;
  start = Clock::now();
  while (Seconds(start) < 2.0) {
    if (::write(fd, block.data(), block.size()) < 0 || ::fdatasync(fd) != 0) break;
    ++syncs;
  }
  l.fdatasync_per_s = static_cast<double>(syncs) / Seconds(start);
  std::vector<char> chunk(1 << 20, 'y');
  start = Clock::now();
  for (int i = 0; i < 256; ++i) {
    if (::write(fd, chunk.data(), chunk.size()) < 0) break;
  }
  ::fdatasync(fd);
  l.write_mib_s = 256.0 / Seconds(start);
  ::close(fd);
  RemoveAndSettle(dir / "limits");
  return l;
}

// ---- StemeDB ----

struct IngestResult {
  double seconds = 0;  // until everything is durable and queryable
  double durable_seconds = 0;
  std::uint64_t disk_bytes = 0;
};

IngestResult StemeIngest(const Workload& w, const std::filesystem::path& dir) {
  auto db = db::Database::Open(dir).value();
  const auto start = Clock::now();
  for (std::size_t b = 0; b < w.envelopes.size(); b += kBatch) {
    const std::size_t e = std::min(w.envelopes.size(), b + kBatch);
    auto r = db->SubmitBatch(std::span(w.envelopes).subspan(b, e - b));
    if (!r.ok()) throw std::runtime_error(r.status().ToString());
  }
  IngestResult out;
  out.durable_seconds = Seconds(start);
  (void)db->WaitForApplied(db->stats().durable_position, std::chrono::minutes(30));
  out.seconds = Seconds(start);
  (void)db->Close();
  out.disk_bytes = DirBytes(dir);
  return out;
}

// Below the verification layer: records already validated are appended to the WAL durably and
// indexed by an ingestor told that they were validated. The ingestor trusts what the WAL's tail
// cache hands it with a note; a record it has to read back from the files (the appends ran more
// than the cache ahead of it) it validates in full, signatures included, as after a restart. So
// the appender keeps the ingestor within kMaxLagRecords (~13 MB of log at ~318 bytes a claim, a
// fifth of the 64 MiB cache), as a bulk loader with bounded lag would: what is measured stays
// below verification.
constexpr std::uint64_t kMaxLagRecords = 40000;
void AppendPreVerified(const Workload& w, const std::vector<AlignedBytes>& records, wal::Wal& wal,
                       ingest::Ingestor& ingestor) {
  std::vector<wal::RecordInput> batch;
  for (std::size_t b = 0; b < records.size(); b += kBatch) {
    batch.clear();
    for (std::size_t i = b; i < std::min(records.size(), b + kBatch); ++i) {
      batch.push_back({wal::RecordType::kAssertion, records[i].bytes(),
                       wal::RecordNote{w.envelopes[i].signed_assertion.id.hash(), std::nullopt}});
    }
    auto appended = wal.AppendBatch(batch);
    if (!appended.ok()) throw std::runtime_error("append");
    if (appended->last > kMaxLagRecords &&
        !ingestor.WaitForApplied(appended->last - kMaxLagRecords, std::chrono::minutes(30)).ok()) {
      throw std::runtime_error("ingest");
    }
  }
}

struct PreVerifiedStore {
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<storage::KVStore> store;
  std::unique_ptr<ingest::Ingestor> ingestor;  // trusts the notes
};
PreVerifiedStore OpenPreVerified(const std::filesystem::path& dir) {
  PreVerifiedStore s;
  s.wal = wal::Wal::Open(dir / "wal").value();
  s.store = storage::OpenRocksStore(dir / "kv").value();
  ingest::IngestorOptions options;
  options.trust_notes = true;
  s.ingestor = ingest::Ingestor::Start(*s.wal, *s.store, options).value();
  return s;
}

std::vector<AlignedBytes> EncodeRecords(const Workload& w) {
  std::vector<AlignedBytes> records;
  records.reserve(w.envelopes.size());
  for (const auto& e : w.envelopes) records.push_back(EncodeRecord(e.signed_assertion).value());
  return records;
}

double StemeStoragePath(const Workload& w, const std::filesystem::path& dir) {
  const std::vector<AlignedBytes> records = EncodeRecords(w);
  auto [wal, store, ingestor] = OpenPreVerified(dir);
  const auto start = Clock::now();
  AppendPreVerified(w, records, *wal, *ingestor);
  (void)ingestor->WaitForApplied(wal->durable_position(), std::chrono::minutes(30));
  const double seconds = Seconds(start);
  if (const auto verified = ingestor->stats().signatures_verified; verified != 0) {
    std::printf("  (the storage path verified %llu signatures: its ingestor fell behind the tail cache)\n",
                static_cast<unsigned long long>(verified));
  }
  ingestor->Stop();
  (void)wal->Close();
  return seconds;
}

// ---- crash recovery ----

// Reading every WAL file and hashing its bytes with BLAKE3: the bandwidth recovery is set beside.
double ReadAndHashSeconds(const std::filesystem::path& wal_dir) {
  const auto start = Clock::now();
  Blake3Hasher hasher;
  std::vector<char> buf(1 << 20);
  for (const auto& e : std::filesystem::directory_iterator(wal_dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      hasher.Update({reinterpret_cast<const std::uint8_t*>(buf.data()), static_cast<std::size_t>(in.gcount())});
    }
  }
  (void)hasher.Finalize();
  return Seconds(start);
}

// The child of MeasureCrashRecovery (compare --crash-child DIR COUNT): generates COUNT claims,
// appends them to the database in DIR as the storage path does (WAL batches, an ingestor kept
// within kMaxLagRecords), says "appended" on stdout and waits to be killed. It never closes
// anything: the store keeps unflushed memtables, as a server's does when it crashes.
int CrashChild(const std::filesystem::path& dir, std::size_t count) {
  const Workload w = Generate(count);
  const std::vector<AlignedBytes> records = EncodeRecords(w);
  std::printf("ready\n");
  std::fflush(stdout);
  PreVerifiedStore s = OpenPreVerified(dir);
  AppendPreVerified(w, records, *s.wal, *s.ingestor);
  std::printf("appended\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

// Issue 7's "time to reopen after a crash with 1 GiB of WAL": a child process appends claims
// until the WAL holds `wal_mib`, and is SIGKILLed there, mid-stream. Then the database is opened
// (WAL recovery: the torn tail cut; RocksDB opened) and caught up: the ingestor re-applies
// everything after the applied position the store's files kept (what the lost memtables held, and
// the ingestor's lag), verifying every signature (no record read back from disk is trusted).
void MeasureCrashRecovery(const std::filesystem::path& dir, std::size_t wal_mib) {
  // ~318 WAL bytes per generated claim (docs/performance.md); 20% more than needed, so that the
  // child is killed while appending.
  const std::size_t count = static_cast<std::size_t>(static_cast<double>(wal_mib << 20) / 318.0 * 1.2);
  std::printf("\n== crash recovery: SIGKILL at %zu MiB of WAL (a child appends up to %zu claims)\n", wal_mib, count);
  std::fflush(stdout);
  std::filesystem::create_directories(dir);
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    const std::string n = std::to_string(count);
    ::execl("/proc/self/exe", "compare", "--crash-child", dir.c_str(), n.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string said;  // what the child has printed
  bool eof = false;
  auto listen = [&](int timeout_ms) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return;
    char buf[64];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n > 0) {
      said.append(buf, static_cast<std::size_t>(n));
    } else {
      eof = true;
    }
  };
  auto heard = [&](std::string_view word) { return said.find(word) != std::string::npos; };
  while (!eof && !heard("ready\n")) listen(1000);  // generating and signing takes a while
  const bool ready = heard("ready\n");
  const auto append_start = Clock::now();
  while (ready && !eof && !heard("appended\n")) {
    if (std::filesystem::exists(dir / "wal") && DirBytes(dir / "wal") >= (wal_mib << 20)) break;
    listen(20);
  }
  const bool appended_all = heard("appended\n");
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  if (!ready || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    std::printf("the child %s (status %d): no crash measurement\n", ready ? "ended on its own" : "did not start",
                status);
    return;
  }
  const double appended_s = Seconds(append_start);
  const double mib = static_cast<double>(DirBytes(dir / "wal")) / (1 << 20);
  std::printf("killed %s after %.1f s of appends, WAL of %.1f MiB\n",
              appended_all ? "after its last append (it ran out of claims)" : "while appending", appended_s, mib);
  std::vector<double> hash_s;
  for (int r = 0; r < 3; ++r) hash_s.push_back(ReadAndHashSeconds(dir / "wal"));
  const auto start = Clock::now();
  auto db = db::Database::Open(dir).value();
  const double open_s = Seconds(start);
  const db::DatabaseStats at_open = db->stats();
  const Status caught_up = db->WaitForApplied(at_open.durable_position, std::chrono::minutes(30));
  const double total_s = Seconds(start);
  const db::DatabaseStats after = db->stats();
  (void)db->Close();
  std::printf("read + BLAKE3 of the WAL (median of 3)  %8.3f s  %8.0f MiB/s\n", Median(hash_s), mib / Median(hash_s));
  std::printf("open: WAL recovered, store opened       %8.3f s\n", open_s);
  std::printf(
      "caught up (queryable as before)         %8.3f s  %s: %llu records re-applied, %llu signatures "
      "re-verified (all after the applied position the store's files kept)\n",
      total_s, caught_up.ok() ? "ok" : caught_up.ToString().c_str(),
      static_cast<unsigned long long>(after.ingest.records_applied),
      static_cast<unsigned long long>(after.ingest.signatures_verified));
}

// ---- SQLite ----

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(fmt::format("sqlite {}: {}", what, sqlite3_errmsg(db)));
  }
}

sqlite3* SqliteOpen(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  Check(sqlite3_open(file.c_str(), &db), db, "open");
  Check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS claims (id BLOB, subject TEXT, predicate TEXT, object TEXT, "
                     "confidence REAL, source_hash BLOB, agent BLOB, signed_at INTEGER, signature BLOB, "
                     "PRIMARY KEY (id, agent));"
                     "CREATE INDEX IF NOT EXISTS by_key ON claims (subject, predicate);",
                     nullptr, nullptr, nullptr),
        db, "schema");
  return db;
}

IngestResult SqliteIngest(const Workload& w, const std::filesystem::path& file, bool verify) {
  sqlite3* db = SqliteOpen(file);
  sqlite3_stmt* insert = nullptr;
  Check(sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO claims VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &insert,
                           nullptr),
        db, "prepare");
  const auto start = Clock::now();
  for (std::size_t b = 0; b < w.envelopes.size(); b += kBatch) {
    const std::size_t e = std::min(w.envelopes.size(), b + kBatch);
    if (verify && !VerifyBatch(w.envelopes, b, e)) throw std::runtime_error("a signature did not verify");
    Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    for (std::size_t i = b; i < e; ++i) {
      const SignedAssertion& s = w.envelopes[i].signed_assertion;
      const auto& a = s.assertion;
      const std::string object = ValueText(a.object);
      for (const auto& sig : s.signatures) {
        sqlite3_bind_blob(insert, 1, s.id.hash().bytes().data(), 32, SQLITE_STATIC);
        sqlite3_bind_text(insert, 2, a.subject.str().c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(insert, 3, a.predicate.str().c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(insert, 4, object.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(insert, 5, a.confidence);
        sqlite3_bind_blob(insert, 6, a.source_hash.bytes().data(), 32, SQLITE_STATIC);
        sqlite3_bind_blob(insert, 7, sig.agent.bytes().data(), 32, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 8, sig.signed_at.micros());
        sqlite3_bind_blob(insert, 9, sig.signature.data(), 64, SQLITE_STATIC);
        Check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
      }
    }
    Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  IngestResult out;
  out.seconds = out.durable_seconds = Seconds(start);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  out.disk_bytes = std::filesystem::file_size(file);
  for (const char* suffix : {"-wal", "-shm"}) {
    std::error_code ec;
    out.disk_bytes += std::filesystem::file_size(file.string() + suffix, ec);
  }
  return out;
}

// ---- PostgreSQL ----

class Postgres {
 public:
  Postgres() = default;
  Postgres(Postgres&& other) noexcept
      : stop_(std::exchange(other.stop_, {})), conninfo_(std::move(other.conninfo_)), data_(std::move(other.data_)) {}
  Postgres& operator=(Postgres&&) = delete;
  ~Postgres() { Stop(); }

  // Starts a private server in `dir` on `port`; as root, as the postgres user (it refuses root).
  static std::optional<Postgres> Start(const std::filesystem::path& dir, int port) {
    const std::string bin = "/usr/lib/postgresql/15/bin";
    if (!std::filesystem::exists(bin + "/initdb")) return std::nullopt;
    const std::string as = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    std::filesystem::create_directories(dir);
    if (::geteuid() == 0 && std::system(fmt::format("chown postgres {}", dir.string()).c_str()) != 0) {
      return std::nullopt;
    }
    const std::string data = (dir / "data").string();
    if (std::system(fmt::format("{}{}/initdb -D {} -U bench --auth=trust -E UTF8 >{}/initdb.log 2>&1", as, bin, data,
                                dir.string())
                        .c_str()) != 0) {
      return std::nullopt;
    }
    if (std::system(fmt::format("{}{}/pg_ctl -D {} -l {}/server.log -w -o \"-p {} -c listen_addresses=127.0.0.1 "
                                "-c unix_socket_directories={} -c fsync=on -c synchronous_commit=on "
                                "-c shared_buffers=256MB\" start >/dev/null 2>&1",
                                as, bin, data, dir.string(), port, dir.string())
                        .c_str()) != 0) {
      return std::nullopt;
    }
    Postgres pg;
    pg.stop_ = fmt::format("{}{}/pg_ctl -D {} -m fast stop >/dev/null 2>&1", as, bin, data);
    pg.conninfo_ = fmt::format("host=127.0.0.1 port={} user=bench dbname=postgres", port);
    pg.data_ = data;
    return pg;
  }
  void Stop() {
    if (!stop_.empty()) (void)std::system(stop_.c_str());
    stop_.clear();
  }
  PGconn* Connect() const {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    return c;
  }
  const std::string& data() const { return data_; }

 private:
  std::string stop_, conninfo_, data_;
};

void Exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const std::string error = PQerrorMessage(c);
    PQclear(r);
    throw std::runtime_error("postgres: " + error);
  }
  PQclear(r);
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "\\\\x";
  for (auto b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

IngestResult PostgresIngest(const Workload& w, const Postgres& pg, const std::string& table, bool verify) {
  PGconn* c = pg.Connect();
  Exec(c, fmt::format("DROP TABLE IF EXISTS {0}; CREATE TABLE {0} (id BYTEA, subject TEXT, predicate TEXT, "
                      "object TEXT, confidence REAL, source_hash BYTEA, agent BYTEA, signed_at BIGINT, "
                      "signature BYTEA, PRIMARY KEY (id, agent)); CREATE INDEX {0}_by_key ON {0} (subject, predicate)",
                      table));
  const auto start = Clock::now();
  for (std::size_t b = 0; b < w.envelopes.size(); b += kBatch) {
    const std::size_t e = std::min(w.envelopes.size(), b + kBatch);
    if (verify && !VerifyBatch(w.envelopes, b, e)) throw std::runtime_error("a signature did not verify");
    Exec(c, "BEGIN");
    PGresult* copy = PQexec(c, fmt::format("COPY {} FROM STDIN", table).c_str());
    if (PQresultStatus(copy) != PGRES_COPY_IN) throw std::runtime_error(PQerrorMessage(c));
    PQclear(copy);
    std::string rows;
    for (std::size_t i = b; i < e; ++i) {
      const SignedAssertion& s = w.envelopes[i].signed_assertion;
      const auto& a = s.assertion;
      for (const auto& sig : s.signatures) {
        rows += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", Hex(s.id.hash().bytes()), a.subject.str(),
                            a.predicate.str(), ValueText(a.object), a.confidence, Hex(a.source_hash.bytes()),
                            Hex(sig.agent.bytes()), sig.signed_at.micros(), Hex(sig.signature));
      }
    }
    if (PQputCopyData(c, rows.data(), static_cast<int>(rows.size())) != 1 || PQputCopyEnd(c, nullptr) != 1) {
      throw std::runtime_error(PQerrorMessage(c));
    }
    PGresult* r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) throw std::runtime_error(PQerrorMessage(c));
    PQclear(r);
    while ((r = PQgetResult(c)) != nullptr) PQclear(r);
    Exec(c, "COMMIT");
  }
  IngestResult out;
  out.seconds = out.durable_seconds = Seconds(start);
  // Untimed: the work the server deferred (dirty pages for the checkpointer, the new table for
  // autovacuum) is done now rather than during the next system's timed run.
  Exec(c, "CHECKPOINT");
  Exec(c, fmt::format("VACUUM ANALYZE {}", table));
  Exec(c, "CHECKPOINT");
  PGresult* size = PQexec(c, fmt::format("SELECT pg_total_relation_size('{}')", table).c_str());
  out.disk_bytes = std::strtoull(PQgetvalue(size, 0, 0), nullptr, 10);
  PQclear(size);
  PQfinish(c);
  return out;
}

// ---- resolve ----

struct Latency {
  double p50_us = 0, p99_us = 0, per_s = 0;
};

// One system's side of a measurement: `queries` calls of `query(i)`, i = 0, 1, ...
struct QueryLoad {
  std::size_t queries = 0;
  std::function<void(std::size_t)> query;
};

// Measures the loads in turns: each runs a tenth of its queries, then the next, ten rounds. On
// this shared host the speed of both cores moves by tens of per cent within a minute, so systems
// measured one after the other see different machines; taking turns puts each into the same
// minutes, and their ratio is the steadier figure. Each load's caches are warmed first (500
// queries, untimed). The rate is the load's queries over the time spent in its own turns.
std::vector<Latency> MeasureInTurns(const std::vector<QueryLoad>& loads) {
  constexpr std::size_t kRounds = 10;
  std::vector<std::vector<double>> us(loads.size());
  std::vector<double> seconds(loads.size(), 0);
  for (const QueryLoad& load : loads) {
    for (std::size_t i = 0; i < std::min<std::size_t>(load.queries, 500); ++i) load.query(i);
  }
  for (std::size_t round = 0; round < kRounds; ++round) {
    for (std::size_t k = 0; k < loads.size(); ++k) {
      const QueryLoad& load = loads[k];
      const std::size_t first = load.queries * round / kRounds, end = load.queries * (round + 1) / kRounds;
      const auto start = Clock::now();
      for (std::size_t i = first; i < end; ++i) {
        const auto t = Clock::now();
        load.query(i);
        us[k].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      }
      seconds[k] += Seconds(start);
    }
  }
  std::vector<Latency> out(loads.size());
  for (std::size_t k = 0; k < loads.size(); ++k) {
    if (loads[k].queries == 0) continue;
    out[k].per_s = static_cast<double>(loads[k].queries) / seconds[k];
    out[k].p50_us = Quantile(us[k], 0.5);
    out[k].p99_us = Quantile(us[k], 0.99);
  }
  return out;
}

// The SQL equivalent of Consensus with weight 1: totals per value; the harness picks the winner
// and its share, as the lens does.
struct SqlVote {
  std::string value;
  double share = 0;
};

}  // namespace
}  // namespace stemedb::bench

int main(int argc, char** argv) {
  using namespace stemedb;
  using namespace stemedb::bench;
  spdlog::set_level(spdlog::level::warn);
  std::size_t count = 100000, queries = 20000, crash_wal_mib = 0;
  int reps = 3;
  bool postgres = true;
  bool sqlite = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--count" && has_value) {
      count = std::stoull(argv[++i]);
    } else if (a == "--reps" && has_value) {
      reps = std::stoi(argv[++i]);
    } else if (a == "--queries" && has_value) {
      queries = std::stoull(argv[++i]);
    } else if (a == "--no-postgres") {
      postgres = false;
    } else if (a == "--no-sqlite") {
      sqlite = false;
    } else if (a == "--crash-wal-mib" && has_value) {
      crash_wal_mib = std::stoull(argv[++i]);
    } else if (a == "--crash-child" && i + 2 < argc) {
      return CrashChild(argv[i + 1], std::stoull(argv[i + 2]));
    } else {
      // A misspelt option must not start a long run with the defaults.
      std::fprintf(stderr,
                   "usage: compare [--count N] [--reps R] [--queries Q] [--no-postgres] [--no-sqlite] "
                   "[--crash-wal-mib M]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  ScratchDir scratch("compare");
  std::printf("generating and signing %zu assertions (+ 22000 for the resolve keys)...\n", count);
  const auto gen_start = Clock::now();
  const Workload w = Generate(count);
  std::printf("  %zu envelopes in %.1f s on %u cores\n", w.envelopes.size(), Seconds(gen_start), kCores);
  const Limits limits = MeasureLimits(w, scratch.path());
  const double n = static_cast<double>(w.envelopes.size());

  std::optional<Postgres> pg =
      postgres ? Postgres::Start(scratch.path() / "pg", 15432 + static_cast<int>(::getpid() % 1000)) : std::nullopt;
  if (postgres && !pg) std::printf("PostgreSQL could not be started here: its columns are left out\n");

  // Ingest: medians of `reps` runs, each into a fresh database.
  std::vector<double> steme, steme_durable, steme_storage, sqlite_signed, sqlite_storage, pg_signed, pg_storage;
  IngestResult steme_last, sqlite_last, pg_last;
  std::vector<double> verify_before;  // the limit again, just before each StemeDB run
  for (int r = 0; r < reps; ++r) {
    const auto dir = scratch.path() / fmt::format("run{}", r);
    verify_before.push_back(VerifyRate(w, 20000));
    steme_last = StemeIngest(w, dir / "steme");
    steme.push_back(steme_last.seconds);
    steme_durable.push_back(steme_last.durable_seconds);
    steme_storage.push_back(StemeStoragePath(w, dir / "steme-storage"));
    RemoveAndSettle(dir / "steme-storage");
    if (sqlite) {
      sqlite_last = SqliteIngest(w, dir / "signed.sqlite", true);
      sqlite_signed.push_back(sqlite_last.seconds);
      sqlite_storage.push_back(SqliteIngest(w, dir / "plain.sqlite", false).seconds);
      RemoveAndSettle(dir / "plain.sqlite");
    }
    if (pg) {
      pg_last = PostgresIngest(w, *pg, "signed_claims", true);
      pg_signed.push_back(pg_last.seconds);
      pg_storage.push_back(PostgresIngest(w, *pg, "plain_claims", false).seconds);
    }
    if (r + 1 < reps) {
      RemoveAndSettle(dir);
    } else {
      // The last run is kept for the resolve and recovery measurements.
    }
  }
  const auto last = scratch.path() / fmt::format("run{}", reps - 1);
  auto rate = [n](const std::vector<double>& s) { return s.empty() ? 0.0 : n / Median(s); };

  std::printf("\n== limits of this machine\n");
  std::printf("Ed25519 verify, %u cores        %10.0f /s\n", kCores, limits.verify_per_s);
  std::printf("fdatasync (4 KiB appends)        %10.0f /s\n", limits.fdatasync_per_s);
  std::printf("sequential write + fdatasync     %10.0f MiB/s\n", limits.write_mib_s);

  std::printf("\n== ingest, durable, %zu assertions, batches of %zu (median of %d)\n", w.envelopes.size(), kBatch,
              reps);
  std::printf("%-44s %12s %12s %10s\n", "", "assertions/s", "vs StemeDB", "of limit");
  const double s_rate = rate(steme);
  std::printf("%-44s %12.0f %12s %9.0f%%\n", "StemeDB signed (verified, fsynced, indexed)", s_rate, "1.00",
              100 * s_rate / limits.verify_per_s);
  std::printf("%-44s %12.0f %12s %9.0f%%\n", "StemeDB signed, acknowledged (fsynced)", rate(steme_durable), "",
              100 * rate(steme_durable) / limits.verify_per_s);
  if (reps > 1) {  // the median hides how the runs spread
    std::string runs, before;
    for (std::size_t r = 0; r < steme.size(); ++r) {
      runs += fmt::format("{}{:.0f}", r == 0 ? "" : " / ", n / steme[r]);
      before += fmt::format("{}{:.0f}", r == 0 ? "" : " / ", verify_before[r]);
    }
    std::printf("  (StemeDB signed, each run in order: %s; verify rate just before each: %s)\n", runs.c_str(),
                before.c_str());
  }
  if (sqlite) {
    std::printf("%-44s %12.0f %11.2fx\n", "SQLite signed (harness verifies)", rate(sqlite_signed),
                s_rate / rate(sqlite_signed));
  }
  if (pg) {
    std::printf("%-44s %12.0f %11.2fx\n", "PostgreSQL signed (harness verifies)", rate(pg_signed),
                s_rate / rate(pg_signed));
  }
  const double st_rate = rate(steme_storage);
  std::printf("%-44s %12.0f %12s\n", "StemeDB storage path (pre-verified)", st_rate, "1.00");
  if (sqlite) {
    std::printf("%-44s %12.0f %11.2fx\n", "SQLite storage path", rate(sqlite_storage), st_rate / rate(sqlite_storage));
  }
  if (pg) {
    std::printf("%-44s %12.0f %11.2fx\n", "PostgreSQL storage path", rate(pg_storage), st_rate / rate(pg_storage));
  }
  std::printf(
      "disk bytes per assertion: StemeDB %.0f (WAL + indexes)%s%s\n", static_cast<double>(steme_last.disk_bytes) / n,
      sqlite ? fmt::format(", SQLite {:.0f}", static_cast<double>(sqlite_last.disk_bytes) / n).c_str() : "",
      pg ? fmt::format(", PostgreSQL {:.0f} (table + indexes)", static_cast<double>(pg_last.disk_bytes) / n).c_str()
         : "");

  // Resolve, warm, one thread each.
  std::printf("\n== resolve (Consensus), warm caches, one client thread, %zu queries per cell\n", queries);
  std::printf("%-28s %10s %10s %12s %12s\n", "", "p50 us", "p99 us", "queries/s", "StemeDB ahead");
  auto db = db::Database::Open(last / "steme").value();
  (void)db->WaitForApplied(db->stats().durable_position);
  sqlite3* sq = sqlite ? SqliteOpen(last / "signed.sqlite") : nullptr;
  sqlite3_stmt* vote = nullptr;
  if (sq != nullptr) {
    Check(sqlite3_prepare_v2(
              sq, "SELECT object, SUM(confidence) FROM claims WHERE subject=?1 AND predicate=?2 GROUP BY object", -1,
              &vote, nullptr),
          sq, "prepare");
  }
  PGconn* pc = pg ? pg->Connect() : nullptr;
  if (pc != nullptr) {
    PGresult* r = PQprepare(pc, "vote",
                            "SELECT object, SUM(confidence) FROM signed_claims WHERE subject=$1 AND predicate=$2 "
                            "GROUP BY object",
                            2, nullptr);
    PQclear(r);
    Exec(pc, "ANALYZE signed_claims");
  }
  double checksum = 0;  // keeps the work observable
  auto steme_load = [&](const std::vector<std::pair<EntityId, RelationId>>& keys) {
    return QueryLoad{queries, [&](std::size_t i) {
                       const auto& [subject, predicate] = keys[i % keys.size()];
                       auto r = db->Resolve(subject, predicate, lens::LensKind::kConsensus);
                       checksum += r.ok() ? r->confidence : 0;
                     }};
  };
  auto sqlite_load = [&](const std::vector<std::pair<EntityId, RelationId>>& keys) {
    return QueryLoad{sq == nullptr ? 0 : queries, [&](std::size_t i) {
                       const auto& [subject, predicate] = keys[i % keys.size()];
                       sqlite3_bind_text(vote, 1, subject.str().c_str(), -1, SQLITE_STATIC);
                       sqlite3_bind_text(vote, 2, predicate.str().c_str(), -1, SQLITE_STATIC);
                       SqlVote best;
                       double total = 0, top = -1;
                       while (sqlite3_step(vote) == SQLITE_ROW) {
                         const double t = sqlite3_column_double(vote, 1);
                         total += t;
                         if (t > top) {
                           top = t;
                           best.value = reinterpret_cast<const char*>(sqlite3_column_text(vote, 0));
                         }
                       }
                       sqlite3_reset(vote);
                       checksum += total > 0 ? top / total : 0;
                     }};
  };
  auto postgres_load = [&](const std::vector<std::pair<EntityId, RelationId>>& keys) {
    return QueryLoad{pc == nullptr ? 0 : std::min<std::size_t>(queries, 5000), [&](std::size_t i) {
                       const auto& [subject, predicate] = keys[i % keys.size()];
                       const char* values[] = {subject.str().c_str(), predicate.str().c_str()};
                       PGresult* r = PQexecPrepared(pc, "vote", 2, values, nullptr, nullptr, 0);
                       double total = 0, top = -1;
                       for (int row = 0; row < PQntuples(r); ++row) {
                         const double t = std::strtod(PQgetvalue(r, row, 1), nullptr);
                         total += t;
                         top = std::max(top, t);
                       }
                       PQclear(r);
                       checksum += total > 0 ? top / total : 0;
                     }};
  };
  // StemeDB and its peers take turns (MeasureInTurns), so that each ratio compares the same
  // minutes of this shared machine.
  auto print_row = [](const std::string& name, const Latency& l, const std::string& ahead) {
    std::printf("%-28s %10.1f %10.1f %12.0f %12s\n", name.c_str(), l.p50_us, l.p99_us, l.per_s, ahead.c_str());
  };
  auto ratio = [](const Latency& ours, const Latency& peer) {
    return peer.per_s > 0 ? fmt::format("{:.2f}x", ours.per_s / peer.per_s) : std::string();
  };
  for (const auto* keys : {&w.keys10, &w.keys100}) {
    const std::size_t size = keys == &w.keys10 ? 10 : 100;
    const auto l = MeasureInTurns({steme_load(*keys), sqlite_load(*keys), postgres_load(*keys)});
    print_row(fmt::format("StemeDB, {} candidates", size), l[0], "");
    if (sq != nullptr) print_row(fmt::format("SQLite, {} candidates", size), l[1], ratio(l[0], l[1]));
    if (pc != nullptr) print_row(fmt::format("PostgreSQL, {} candidates", size), l[2], ratio(l[0], l[2]));
  }
  // The same store after `stemedb compact` (what an operator runs after a bulk load): one sorted
  // run to seek in instead of the L0 files and levels ingest left. The ratio is to SQLite,
  // measured again in turns with it.
  const auto compacted = db->Compact();
  if (!compacted.ok()) throw std::runtime_error(compacted.status().ToString());
  std::printf("after stemedb compact (%.3f s; %llu sorted runs -> %llu; ratio to SQLite measured alongside):\n",
              compacted->seconds, static_cast<unsigned long long>(compacted->sorted_runs_before),
              static_cast<unsigned long long>(compacted->sorted_runs_after));
  for (const auto* keys : {&w.keys10, &w.keys100}) {
    const std::size_t size = keys == &w.keys10 ? 10 : 100;
    const auto l = MeasureInTurns({steme_load(*keys), sqlite_load(*keys)});
    print_row(fmt::format("StemeDB, {} candidates", size), l[0], ratio(l[0], l[1]));
  }
  if (sq != nullptr) {
    sqlite3_finalize(vote);
    sqlite3_close(sq);
  }
  if (pc != nullptr) PQfinish(pc);
  (void)db->Close();
  db.reset();

  // Recovery: reopen, and rebuild every index from the WAL, beside reading and hashing the WAL.
  std::printf("\n== recovery over a WAL of %.1f MiB\n",
              static_cast<double>(DirBytes(last / "steme" / "wal")) / (1 << 20));
  std::vector<double> hash_s;
  for (int r = 0; r < 3; ++r) hash_s.push_back(ReadAndHashSeconds(last / "steme" / "wal"));
  const double wal_mib = static_cast<double>(DirBytes(last / "steme" / "wal")) / (1 << 20);
  auto start = Clock::now();
  auto reopened = db::Database::Open(last / "steme").value();
  (void)reopened->WaitForApplied(reopened->stats().durable_position);
  const double reopen_s = Seconds(start);
  (void)reopened->Close();
  reopened.reset();
  RemoveAndSettle(last / "steme" / "kv");
  start = Clock::now();
  auto rebuilt = db::Database::Open(last / "steme").value();
  (void)rebuilt->WaitForApplied(rebuilt->stats().durable_position, std::chrono::minutes(30));
  const double rebuild_s = Seconds(start);
  (void)rebuilt->Close();
  std::printf("read + BLAKE3 of the WAL (median of 3)  %8.3f s  %8.0f MiB/s\n", Median(hash_s),
              wal_mib / Median(hash_s));
  std::printf("reopen, WAL recovered, caught up        %8.3f s\n", reopen_s);
  std::printf(
      "rebuild every index from the WAL        %8.3f s  %8.0f MiB/s  (%.1f%% of read+hash; re-verifies "
      "every signature: %.0f%% of the verify limit)\n",
      rebuild_s, wal_mib / rebuild_s, 100 * (wal_mib / rebuild_s) / (wal_mib / Median(hash_s)),
      100 * (n / rebuild_s) / limits.verify_per_s);
  if (crash_wal_mib > 0) {
    RemoveAndSettle(last);
    MeasureCrashRecovery(scratch.path() / "crash", crash_wal_mib);
  }
  std::printf("\npeak RSS of this process (workload included): %.0f MiB   [checksum %.3f]\n",
              static_cast<double>(PeakRssKiB()) / 1024, checksum);
  if (pg) pg->Stop();
  return 0;
}
