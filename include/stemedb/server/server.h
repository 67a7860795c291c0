// HttpServer: the Api (api.h) on a TCP socket, served by cpp-httplib's thread pool.
//
// Limits: request bodies above max_body_bytes are refused with 413 before the handler runs;
// request lines and header lines above 8 KiB are refused by cpp-httplib (400/414); more than
// max_header_count header lines or max_header_bytes of headers get 431 (cpp-httplib has read them
// by then: it has no bound of its own on their number, so a client can make it buffer headers
// until the read timeout; expose the server to untrusted networks behind a proxy that bounds
// them); a client that stops sending mid-request is dropped after read_timeout, so slow clients
// cannot hold workers forever.
//
// Shutdown: Stop() closes the listening socket; Serve() then returns once every request already
// being handled has been answered (a write in flight completes and is acknowledged, or was never
// started). The caller closes the Database afterwards.
//
// Thread-safety: Stop() may be called from any thread; everything else from one.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "stemedb/base/status.h"
#include "stemedb/server/api.h"

namespace stemedb::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7878;  // 0: any free port (see HttpServer::port)
  std::size_t max_body_bytes = 64U << 20;
  std::size_t max_header_count = 100;
  std::size_t max_header_bytes = 64U << 10;
  // Worker threads. Writers wait for the WAL's fsync in their worker, and many waiting writers
  // are what lets group commit batch them, so this is well above the core count.
  std::size_t threads = 64;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{10};
  ApiOptions api;
};

class HttpServer {
 public:
  // Binds the socket (so that port() is known and connections queue) without serving yet.
  // Errors: IoError when the address cannot be bound. `database` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Bind(db::Database& database, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const noexcept;
  Api& api() noexcept;

  // Serves until Stop(); returns after in-flight requests are answered. Errors: IoError when
  // the listening loop fails.
  Status Serve();
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::server
