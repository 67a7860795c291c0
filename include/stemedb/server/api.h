// The HTTP API of StemeDB, independent of any socket: a request in, a response out. The HTTP
// server (server.h) feeds it what it reads from connections; tests and the fuzzer call it
// directly. docs/api.md documents every route; docs/openapi.yaml describes them formally.
//
// Promises:
// - Nothing is written unless the whole request is valid: envelopes are parsed and every
//   signature verified before the WAL append, and a batch is all-or-nothing.
// - A 201 is returned only after the WAL has made the write durable.
// - Every failure is a JSON body {"error": {"status", "code", "message", "field"?}} with 400
//   (malformed request: bad JSON, bad query parameter), 404 (no such route or nothing known),
//   405 (wrong method), 413 (too large), 415 (wrong content type), 422 (well-formed but invalid:
//   field named), 503 (shutting down, or a must_see position not reached in time) or 500.
// - Handle never throws, whatever the input.
//
// Thread-safety: Handle and MetricsText may be called concurrently from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "stemedb/db/database.h"
#include "stemedb/lens/lens.h"

namespace stemedb::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query string
  // Query parameters, percent-decoded. A parameter given twice is a 400, so a multimap.
  std::multimap<std::string, std::string> params;
  std::string content_type;  // the Content-Type header, as sent
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // The Retry-After header, in seconds: set on every 503 (the condition is expected to pass).
  std::optional<unsigned> retry_after_seconds;
};

struct ApiOptions {
  // Envelopes accepted in one POST /v1/assertions (more is a 413).
  std::size_t max_batch = 10'000;
  // Upper bound for GET /v1/conflicts?limit=.
  std::size_t max_conflicts = 10'000;
  // Upper bound for GET /v1/agents/{agent}/signatures?limit=.
  std::size_t max_page = 10'000;
  // How long a read waits for its must_see position before answering 503.
  std::chrono::milliseconds must_see_timeout = std::chrono::seconds(10);
  // Weights for the Consensus and Authority lenses; nullopt: every agent weighs 1.
  std::optional<lens::AuthorityTable> authority;
};

class Api {
 public:
  // `database` must outlive the Api.
  explicit Api(db::Database& database, ApiOptions options = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Routes and answers one request, and counts it in the metrics.
  HttpResponse Handle(const HttpRequest& request) noexcept;

  // Counts a request answered without reaching Handle (rejected by the HTTP layer: too large,
  // malformed), so that /metrics shows it.
  void CountRejected(int status) noexcept;

  // The Prometheus text exposition (version 0.0.4) of request counts, latencies, log positions
  // and ingest lag.
  std::string MetricsText();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The JSON error body: {"error": {"status": 422, "code": "invalid_argument", "message": ...,
// "field": ...}}.
HttpResponse ErrorResponse(int http_status, const Status& status);

}  // namespace stemedb::server
