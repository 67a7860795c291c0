// The real `stemedb serve` binary on a loopback port, driven over HTTP: writes, reads, limits,
// malformed and slow clients, graceful shutdown with writes in flight, and SIGKILL mid-write.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "db/db_test_util.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace stemedb {
namespace {

using db::testing::SignedFor;
using nlohmann::json;
using namespace std::chrono_literals;

// `stemedb serve` on a free port of 127.0.0.1, over `db`.
class Server {
 public:
  Server(const std::filesystem::path& db, const std::filesystem::path& log, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"serve", "--db", db.string(), "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<stemedb::testing::ChildProcess>(STEMEDB_BINARY, args, log.string());
    auto line = process_->ReadLine(30s);
    if (!line) {
      ADD_FAILURE() << "the server did not start: " << process_->Stderr();
      return;
    }
    port_ = std::atoi(line->substr(line->rfind(':') + 1).c_str());
  }
  int port() const { return port_; }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  stemedb::testing::ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<stemedb::testing::ChildProcess> process_;
  int port_ = 0;
};

// A raw TCP connection, for requests no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close early on a bad request
      sent += static_cast<std::size_t>(n);
    }
  }
  // What the server sends until it closes the connection, a whole reply has come (when
  // `stop_at_reply`), or `timeout` passes.
  std::string ReadAll(std::chrono::milliseconds timeout, bool* closed = nullptr, bool stop_at_reply = true) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        if (closed != nullptr) *closed = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
      // A whole JSON reply (every body of this API ends in "}\n"): cpp-httplib keeps even a bad
      // request's connection open, so waiting for the close would wait for the timeout.
      if (stop_at_reply && out.find("\r\n\r\n") != std::string::npos && out.ends_with("}\n")) break;
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

void ExpectHealthy(const Server& server) {
  auto c = server.Client();
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r) << "the server stopped answering";
  EXPECT_EQ(r->status, 200);
}

TEST(Serve, WritesReadsAndStopsCleanlyOnSigterm) {
  stemedb::testing::TempDir dir;
  json batch = json::array();
  for (std::uint64_t k = 0; k < 5; ++k) batch.push_back(EnvelopeToJson(SignedFor(k)));
  std::uint64_t position = 0;
  {
    Server server(dir / "db", dir / "serve.log");
    auto c = server.Client();
    auto posted = c.Post("/v1/assertions", batch.dump(), "application/json");
    ASSERT_TRUE(posted);
    ASSERT_EQ(posted->status, 201) << posted->body;
    position = ParseJson(posted->body).value()["position"];
    const auto& a = SignedFor(3).assertion;
    auto resolved = c.Get("/v1/resolve?subject=" + a.subject.str() + "&predicate=" + a.predicate.str() +
                          "&explain=true&must_see=" + std::to_string(position));
    ASSERT_TRUE(resolved);
    EXPECT_EQ(resolved->status, 200) << resolved->body;
    EXPECT_NE(resolved->body.find("\"explanation\""), std::string::npos);

    server.process().Signal(SIGTERM);
    const int status = server.process().Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.process().Stderr();
    EXPECT_NE(server.process().Stderr().find("stopped"), std::string::npos);
  }
  // A new server on the same directory has everything.
  Server again(dir / "db", dir / "serve2.log");
  auto c = again.Client();
  for (const auto& id : batch) {
    auto got = c.Get("/v1/assertions/" + id["id"].get<std::string>() + "?must_see=" + std::to_string(position));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200) << got->body;
  }
}

TEST(Serve, RefusesWhatItCannotServeAndKeepsServing) {
  stemedb::testing::TempDir dir;
  Server server(dir / "db", dir / "serve.log", {"--max-body-bytes", "4096", "--read-timeout", "1"});
  auto c = server.Client();

  // Too large: 413 in the API's error form, nothing written.
  json big = EnvelopeToJson(SignedFor(1));
  big["evidence"] = std::string(10000, 'e');
  auto too_large = c.Post("/v1/assertions", big.dump(), "application/json");
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_NE(too_large->body.find("\"error\""), std::string::npos) << too_large->body;

  auto wrong_type = c.Post("/v1/assertions", EnvelopeToJson(SignedFor(1)).dump(), "text/plain");
  ASSERT_TRUE(wrong_type);
  EXPECT_EQ(wrong_type->status, 415);

  // A form-encoded body is not a query: its "fields" must not reach the router as parameters.
  auto form = c.Post("/v1/assertions", "subject=x&predicate=y", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415) << form->body;

  {  // Not HTTP at all.
    RawConnection raw(server.port());
    ASSERT_TRUE(raw.connected());
    raw.Send("HELLO THERE\r\n\r\n");
    EXPECT_NE(raw.ReadAll(3s).find(" 400 "), std::string::npos);
  }
  {  // A 1 MiB header line.
    RawConnection raw(server.port());
    raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n");
    const std::string reply = raw.ReadAll(3s);
    EXPECT_EQ(reply.find(" 200 "), std::string::npos) << reply.substr(0, 100);
  }
  {  // 20,000 small header lines: each is within cpp-httplib's line limit, together they are not.
    RawConnection raw(server.port());
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 20000; ++i) request += "X-H" + std::to_string(i) + ": v\r\n";
    raw.Send(request + "\r\n");
    const std::string reply = raw.ReadAll(5s);
    EXPECT_NE(reply.find(" 431 "), std::string::npos) << reply.substr(0, 200);
  }
  {  // A request line beyond 8 KiB.
    RawConnection raw(server.port());
    raw.Send("GET /v1/resolve?subject=" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string reply = raw.ReadAll(3s);
    EXPECT_EQ(reply.find(" 200 "), std::string::npos) << reply.substr(0, 100);
  }
  ExpectHealthy(server);

  {  // A slow client: headers promise a body that never comes. Others are served meanwhile, and
     // the slow connection is dropped after the read timeout.
    RawConnection slow(server.port());
    slow.Send(
        "POST /v1/assertions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
    ExpectHealthy(server);
    bool closed = false;
    const auto start = std::chrono::steady_clock::now();
    slow.ReadAll(15s, &closed, /*stop_at_reply=*/false);
    EXPECT_TRUE(closed);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  }
  ExpectHealthy(server);

  // Nothing above was written.
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(ParseJson(health->body).value()["durable_position"], 0) << health->body;
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("route=\"rejected\",status=\"413\""), std::string::npos) << metrics->body;
}

// Writers post as fast as they can; SIGTERM arrives mid-stream. Every write answered 201 is
// durable and indexed after the restart, and the server exits 0 after draining.
void WriteUntilStopped(const Server& server, std::atomic<std::uint64_t>& next_key, std::mutex& mu,
                       std::vector<std::string>& acknowledged) {
  auto c = server.Client();
  c.set_connection_timeout(2, 0);
  for (;;) {
    const std::uint64_t k = next_key.fetch_add(1);
    const SignedAssertion s = SignedFor(k, {static_cast<std::uint8_t>(1 + k % 3)});
    auto r = c.Post("/v1/assertions", EnvelopeToJson(s).dump(), "application/json");
    if (!r) return;  // the server has gone
    if (r->status == 201) {
      std::lock_guard lock(mu);
      acknowledged.push_back(s.id.ToHex());
    }
  }
}

void ExpectAllPresent(const std::filesystem::path& db, const std::vector<std::string>& acknowledged) {
  auto database = db::Database::Open(db);
  ASSERT_TRUE(database.ok()) << database.status().ToString();
  ASSERT_TRUE((*database)->WaitForApplied((*database)->stats().durable_position).ok());
  for (const auto& hex : acknowledged) {
    auto got = (*database)->Get(AssertionId::FromHex(hex).value());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(got->has_value()) << "acknowledged " << hex << " is missing";
    EXPECT_TRUE(ValidateSignedAssertion(**got).ok());
  }
}

// A server started on indexes behind their log (here: kv/ deleted) serves while they catch up,
// says so on stderr, and says when they have.
TEST(Serve, SaysWhenItStartsBehindItsLogAndWhenItHasCaughtUp) {
  stemedb::testing::TempDir dir;
  std::vector<Envelope> batch;
  for (std::uint64_t k = 0; k < 3000; ++k) batch.push_back({SignedFor(k), std::nullopt});
  {
    auto database = db::Database::Open(dir / "db");
    ASSERT_TRUE(database.ok()) << database.status().ToString();
    ASSERT_TRUE((*database)->SubmitBatch(batch).ok());
  }
  std::filesystem::remove_all(dir / "db" / "kv");
  Server server(dir / "db", dir / "serve.log");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (server.process().Stderr().find("caught up") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const std::string said = server.process().Stderr();
  const auto behind = said.find("records behind the log");
  const auto caught_up = said.find("caught up with the log after");
  ASSERT_NE(behind, std::string::npos) << said;
  ASSERT_NE(caught_up, std::string::npos) << said;
  EXPECT_LT(behind, caught_up);
  auto c = server.Client();
  auto got = c.Get("/v1/assertions/" + SignedFor(2999).id.ToHex());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200) << got->body;
  // A server on indexes that are up to date says neither.
  server.process().Signal(SIGTERM);
  server.process().Wait();
  Server again(dir / "db", dir / "serve2.log");
  ExpectHealthy(again);
  EXPECT_EQ(again.process().Stderr().find("behind the log"), std::string::npos) << again.process().Stderr();
}

// Backpressure on the wire: the server's bound is half of --wal-cache-mib (512 KiB here), and a
// write may wait --backpressure-timeout (1 s) for the ingestor, which is rebuilding 100,000 claims.
// The first batch (larger than the bound, nothing else unapplied) goes through; the next must wait
// for it to be applied after the rebuild, and is answered 503 with Retry-After, nothing written.
TEST(Serve, AWriteHeldBackByARebuildGets503WithRetryAfter) {
  constexpr std::uint64_t kOld = 100000;
  stemedb::testing::TempDir dir;
  std::vector<Envelope> old(kOld);
  {
    auto sign = [&old](std::uint64_t from) {
      for (std::uint64_t k = from; k < kOld; k += 2) old[k] = {SignedFor(k), std::nullopt};
    };
    std::jthread helper(sign, 1);
    sign(0);
  }
  {
    auto database = db::Database::Open(dir / "db");
    ASSERT_TRUE(database.ok()) << database.status().ToString();
    ASSERT_TRUE((*database)->SubmitBatch(old).ok());
  }
  std::filesystem::remove_all(dir / "db" / "kv");
  Server server(dir / "db", dir / "serve.log", {"--wal-cache-mib", "1", "--backpressure-timeout", "1"});
  auto c = server.Client();
  json first = json::array();
  for (std::uint64_t k = 0; k < 2000; ++k) first.push_back(EnvelopeToJson(SignedFor(200000 + k)));
  auto accepted = c.Post("/v1/assertions", first.dump(), "application/json");
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 201) << accepted->body;
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  ASSERT_LT(ParseJson(health->body).value()["applied_position"].get<std::uint64_t>(), kOld)
      << "the rebuild ended too soon for this test";

  json second = json::array({EnvelopeToJson(SignedFor(300000)), EnvelopeToJson(SignedFor(300001))});
  auto refused = c.Post("/v1/assertions", second.dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  EXPECT_NE(refused->body.find("nothing was written, retry later"), std::string::npos) << refused->body;
  health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(ParseJson(health->body).value()["durable_position"].get<std::uint64_t>(), kOld + 2000);
}

TEST(Serve, SigtermDrainsWritesInFlight) {
  stemedb::testing::TempDir dir;
  std::vector<std::string> acknowledged;
  {
    Server server(dir / "db", dir / "serve.log");
    std::atomic<std::uint64_t> next_key{0};
    std::mutex mu;
    std::vector<std::thread> writers;
    for (int i = 0; i < 8; ++i) {
      writers.emplace_back([&] { WriteUntilStopped(server, next_key, mu, acknowledged); });
    }
    std::this_thread::sleep_for(500ms);
    server.process().Signal(SIGTERM);
    for (auto& t : writers) t.join();
    const int status = server.process().Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.process().Stderr();
  }
  EXPECT_GT(acknowledged.size(), 10U);
  ExpectAllPresent(dir / "db", acknowledged);
}

// SIGKILL while writes are in flight, several times over one directory: after each restart every
// write acknowledged in that cycle is stored, indexed and valid, and every tenth cycle (and the
// last) the full integrity check is clean. `make crashloop` runs 1,000 cycles
// (STEMEDB_HTTP_CRASH_CYCLES).
TEST(Serve, SigkillLosesNoAcknowledgedWrite) {
  stemedb::testing::TempDir dir;
  const char* env = std::getenv("STEMEDB_HTTP_CRASH_CYCLES");
  const int cycles = env != nullptr ? std::atoi(env) : 3;
  std::size_t checked = 0, verifications = 0;
  std::atomic<std::uint64_t> next_key{0};
  for (int cycle = 0; cycle < cycles; ++cycle) {
    std::vector<std::string> acknowledged;
    {
      Server server(dir / "db", dir / "serve.log");
      std::mutex mu;
      std::vector<std::thread> writers;
      for (int i = 0; i < 4; ++i) {
        writers.emplace_back([&] { WriteUntilStopped(server, next_key, mu, acknowledged); });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + (cycle * 37) % 250));
      server.process().Signal(SIGKILL);
      for (auto& t : writers) t.join();
      server.process().Wait();
    }
    ExpectAllPresent(dir / "db", acknowledged);
    checked += acknowledged.size();
    if (cycle % 10 == 9 || cycle + 1 == cycles) {
      auto database = db::Database::Open(dir / "db");
      ASSERT_TRUE(database.ok()) << database.status().ToString();
      auto report = (*database)->Verify(dir / "verify");
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ASSERT_TRUE(report->clean()) << "cycle " << cycle << ": " << report->mismatch_count << " index faults, "
                                   << report->rejected.size() << " rejected records";
      ++verifications;
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("http crash loop: %d cycles, %zu acknowledged writes checked, %zu full verifications clean\n", cycles,
              checked, verifications);
}

}  // namespace
}  // namespace stemedb
