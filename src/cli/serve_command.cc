#include "serve_command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli_common.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "stemedb/server/server.h"

namespace stemedb::cli {
namespace {

// A server may start on indexes behind their log: rebuilt (kv/ deleted), or after a crash. It
// serves meanwhile, answering from what is applied (must_see waits for a position; /healthz
// reports the lag). CatchUpReporter says so on stderr, then how far the catch-up is every 10
// seconds, and when it is done. Poll is called by one thread, a few times a second.
class CatchUpReporter {
 public:
  explicit CatchUpReporter(db::Database& database) : database_(database) {
    const db::DatabaseStats stats = database_.stats();
    end_ = stats.durable_position;
    applied_at_start_ = stats.applied_position;
    done_ = stats.applied_position >= end_;
    if (!done_) {
      fmt::print(stderr,
                 "stemedb: the indexes are {} records behind the log (rebuilt, or after a crash): until they catch "
                 "up, queries answer from what is applied (must_see waits for a position; /healthz reports the lag)\n",
                 end_ - stats.applied_position);
    }
  }

  void Poll() {
    if (done_) return;
    const db::DatabaseStats stats = database_.stats();
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    if (stats.applied_position >= end_) {
      fmt::print(stderr, "stemedb: caught up with the log after {:.0f} s\n", seconds);
      done_ = true;
    } else if (!stats.ingest.error.ok()) {
      done_ = true;  // the ingestor logged its error; it applies nothing more
    } else if (now >= next_report_) {
      PrintCatchUpProgress(stats.applied_position, end_,
                           static_cast<double>(stats.applied_position - applied_at_start_) / seconds);
      next_report_ = now + std::chrono::seconds(10);
    }
  }

 private:
  db::Database& database_;
  wal::LogPosition end_ = 0;
  wal::LogPosition applied_at_start_ = 0;
  bool done_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point next_report_ = start_ + std::chrono::seconds(10);
};

struct ServeFlags {
  std::string db;
  std::string listen = "127.0.0.1:7878";
  std::string authority;
  std::size_t threads = 64;
  std::size_t max_body_bytes = 64U << 20;
  unsigned read_timeout_seconds = 10;
  std::size_t cache_mib = storage::RocksOptions().block_cache_bytes >> 20;
  std::size_t write_buffer_mib = storage::RocksOptions().write_buffer_bytes >> 20;
  std::size_t wal_cache_mib = wal::WalOptions().tail_cache_bytes >> 20;
  unsigned backpressure_timeout_seconds = static_cast<unsigned>(
      std::chrono::duration_cast<std::chrono::seconds>(db::DatabaseOptions().backpressure_timeout).count());
};

// "HOST:PORT" (PORT 0: any free port).
Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument(fmt::format("--listen '{}': expected HOST:PORT", listen));
  }
  int port = -1;
  const char* begin = listen.data() + colon + 1;
  const char* end = listen.data() + listen.size();
  const auto [last, error] = std::from_chars(begin, end, port);
  if (error != std::errc() || last != end || port < 0 || port > 65535) {
    return Status::InvalidArgument(fmt::format("--listen '{}': the port must be in [0, 65535]", listen));
  }
  return std::make_pair(listen.substr(0, colon), port);
}

int Serve(const ServeFlags& f) {
  auto listen = ParseListen(f.listen);
  if (!listen.ok()) return Fail(listen.status());
  server::ServerOptions options;
  options.host = listen->first;
  options.port = listen->second;
  options.threads = f.threads;
  options.max_body_bytes = f.max_body_bytes;
  options.read_timeout = std::chrono::seconds(f.read_timeout_seconds);
  if (!f.authority.empty()) {
    auto table = ReadAuthorityFile(f.authority);
    if (!table.ok()) return Fail(table.status());
    options.api.authority = std::move(*table);
  }

  // SIGTERM and SIGINT are taken by one thread with sigwait, so they must be blocked in every
  // thread, including those the database and server start: block them before any exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  db::DatabaseOptions db_options;
  db_options.kv.block_cache_bytes = f.cache_mib << 20;
  db_options.kv.write_buffer_bytes = f.write_buffer_mib << 20;
  db_options.wal.tail_cache_bytes = f.wal_cache_mib << 20;
  db_options.backpressure_timeout = std::chrono::seconds(f.backpressure_timeout_seconds);
  auto database = db::Database::Open(f.db, db_options);
  if (!database.ok()) return Fail(database.status());
  auto http = server::HttpServer::Bind(**database, std::move(options));
  if (!http.ok()) return Fail(http.status());

  CatchUpReporter catch_up(**database);
  std::atomic<bool> done{false};
  // Waits for SIGTERM / SIGINT; between signals, reports a catch-up in progress.
  std::thread signal_waiter([&] {
    const timespec poll_interval{0, 200'000'000};
    while (!done) {
      const int sig = sigtimedwait(&signals, nullptr, &poll_interval);
      if (sig == SIGTERM || sig == SIGINT) {
        spdlog::warn("signal {}: finishing requests in flight, then stopping", sig);
        (*http)->Stop();
        return;
      }
      catch_up.Poll();
    }
  });

  // The first line on stdout says where to connect (tests read the port from it).
  std::printf("stemedb: serving %s on http://%s:%d\n", f.db.c_str(), listen->first.c_str(), (*http)->port());
  std::fflush(stdout);
  spdlog::info("serving {} on {}:{}", f.db, listen->first, (*http)->port());

  Status served = (*http)->Serve();
  done = true;
  signal_waiter.join();
  http->reset();
  // Every acknowledged write is already durable; closing stops the ingestor cleanly.
  Status closed = (*database)->Close();
  if (!served.ok()) return Fail(served);
  if (!closed.ok()) return Fail(closed);
  std::fprintf(stderr, "stemedb: stopped\n");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "serve the HTTP API (docs/api.md) until SIGTERM or SIGINT");
  cmd->add_option("--db", flags->db, "database directory")->required();
  cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
  cmd->add_option("--authority", flags->authority, "authority table (JSON) for the consensus and authority lenses");
  cmd->add_option("--threads", flags->threads, "worker threads")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--max-body-bytes", flags->max_body_bytes, "largest request body accepted")->capture_default_str();
  cmd->add_option("--read-timeout", flags->read_timeout_seconds,
                  "seconds a client may take to send a request before it is dropped")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--cache-mib", flags->cache_mib, "MiB of index blocks cached in memory")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--write-buffer-mib", flags->write_buffer_mib,
                  fmt::format("MiB per index write buffer (at most {} in memory at once)",
                              storage::RocksOptions().max_write_buffers))
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--wal-cache-mib", flags->wal_cache_mib,
                  "MiB of newly written log records kept in memory for the ingestor (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--backpressure-timeout", flags->backpressure_timeout_seconds,
                  "seconds a write may wait for the indexes to catch up (when what this server wrote and they have "
                  "not applied reaches half the WAL cache) before it is answered 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->callback([&run, flags] { run = [flags] { return Serve(*flags); }; });
}

}  // namespace stemedb::cli
