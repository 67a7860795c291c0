#include "stemedb/server/api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "stemedb/base/heap.h"
#include "stemedb/model/json.h"

namespace stemedb::server {
namespace {

using nlohmann::json;

// Upper bounds of the latency histogram, in seconds (Prometheus convention).
constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

// Resident set of this process, from /proc.
std::uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  // Invalid UTF-8 cannot reach a response (inputs are validated), but a response must never
  // throw: replace rather than abort.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

HttpResponse BadRequest(std::string message, std::string field = {}) {
  return ErrorResponse(400, Status::InvalidArgument(std::move(message)).with_field(std::move(field)));
}

// The HTTP status for a failure of the database or of input validation.
int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kResourceExhausted: return 507;
    default: return 500;
  }
}

HttpResponse Failure(const Status& status) {
  const int http_status = HttpStatusFor(status);
  // 503 is the server holding writers back or shutting down, not a fault: it would flood the
  // error log under load.
  if (http_status == 503) {
    spdlog::warn("request refused: {}", status.ToString());
  } else if (http_status >= 500) {
    spdlog::error("request failed: {}", status.ToString());
  }
  return ErrorResponse(http_status, status);
}

bool IsJsonContentType(std::string_view content_type) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  std::string lowered(media);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  lowered.erase(lowered.find_last_not_of(" \t") + 1);
  return lowered == "application/json";
}

// The query parameters of one request: each allowed at most once; unknown ones are errors, so a
// misspelt option is never silently ignored.
class Params {
 public:
  static Result<Params> From(const HttpRequest& request, std::span<const std::string_view> allowed) {
    Params p;
    for (const auto& [name, value] : request.params) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return Status::InvalidArgument(fmt::format("unknown query parameter '{}'", name)).with_field(name);
      }
      if (!p.values_.emplace(name, value).second) {
        return Status::InvalidArgument(fmt::format("query parameter '{}' is given more than once", name))
            .with_field(name);
      }
    }
    return p;
  }

  std::optional<std::string> Get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  Result<std::string> Required(const std::string& name) const {
    auto v = Get(name);
    if (!v || v->empty()) return Status::InvalidArgument(fmt::format("'{}' is required", name)).with_field(name);
    return *v;
  }

  Result<bool> Flag(const std::string& name) const {
    auto v = Get(name);
    if (!v) return false;
    if (*v == "" || *v == "true" || *v == "1") return true;
    if (*v == "false" || *v == "0") return false;
    return Status::InvalidArgument(fmt::format("'{}' must be true or false, not '{}'", name, *v)).with_field(name);
  }

  Result<std::optional<std::uint64_t>> Unsigned(const std::string& name) const {
    auto v = Get(name);
    if (!v) return std::optional<std::uint64_t>();
    const std::string_view text = *v;
    std::uint64_t n = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(fmt::format("'{}' must be a non-negative integer, not '{}'", name, *v))
          .with_field(name);
    }
    return std::optional<std::uint64_t>(n);
  }

  Result<std::optional<double>> Number(const std::string& name) const {
    auto v = Get(name);
    if (!v) return std::optional<double>();
    const std::string_view text = *v;
    double d = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || !std::isfinite(d)) {
      return Status::InvalidArgument(fmt::format("'{}' must be a finite number, not '{}'", name, *v)).with_field(name);
    }
    return std::optional<double>(d);
  }

 private:
  std::map<std::string, std::string> values_;
};

// The lens query parameters shared by /v1/resolve and /v1/entities.
constexpr std::array<std::string_view, 7> kLensParams = {
    "lens", "explain", "as_of", "min_confidence", "include_superseded", "tolerance", "must_see"};
constexpr std::array<std::string_view, 9> kResolveParams = {
    "subject",        "predicate",          "lens",      "explain", "as_of",
    "min_confidence", "include_superseded", "tolerance", "must_see"};
constexpr std::array<std::string_view, 1> kReadParams = {"must_see"};
constexpr std::array<std::string_view, 2> kConflictsParams = {"limit", "must_see"};
constexpr std::array<std::string_view, 5> kSignaturesParams = {"after", "limit", "assertions", "as_of", "must_see"};

struct LensQuery {
  lens::LensKind kind = lens::LensKind::kConsensus;
  lens::LensOptions options;
  std::optional<wal::LogPosition> must_see;
};

Result<LensQuery> LensQueryFrom(const Params& p, const std::optional<lens::AuthorityTable>& authority) {
  LensQuery q;
  if (auto name = p.Get("lens")) {
    STEMEDB_ASSIGN_OR_RETURN(q.kind, lens::ParseLensKind(*name));
  }
  STEMEDB_ASSIGN_OR_RETURN(q.options.explain, p.Flag("explain"));
  STEMEDB_ASSIGN_OR_RETURN(q.options.include_superseded, p.Flag("include_superseded"));
  if (auto as_of = p.Get("as_of")) {
    STEMEDB_RETURN_IF_ERROR(lens::ParseAsOf(*as_of, q.options));
  }
  STEMEDB_ASSIGN_OR_RETURN(auto min_confidence, p.Number("min_confidence"));
  if (min_confidence) {
    if (*min_confidence < 0 || *min_confidence > 1) {
      return Status::InvalidArgument("'min_confidence' must be in [0, 1]").with_field("min_confidence");
    }
    q.options.min_confidence = static_cast<float>(*min_confidence);
  }
  STEMEDB_ASSIGN_OR_RETURN(auto tolerance, p.Number("tolerance"));
  if (tolerance) {
    if (*tolerance < 0) return Status::InvalidArgument("'tolerance' must be >= 0").with_field("tolerance");
    q.options.number_tolerance = *tolerance;
  }
  STEMEDB_ASSIGN_OR_RETURN(q.must_see, p.Unsigned("must_see"));
  if (authority) q.options.weights = &*authority;
  return q;
}

// The must_see of a read that takes no other query parameter. Errors: those of Params.
Result<std::optional<std::uint64_t>> MustSeeOnly(const HttpRequest& request) {
  STEMEDB_ASSIGN_OR_RETURN(Params params, Params::From(request, kReadParams));
  return params.Unsigned("must_see");
}

// Parses a request body as JSON: 415 unless the content type says JSON, 400 when malformed.
Result<json> JsonBody(const HttpRequest& request, HttpResponse& error) {
  if (!IsJsonContentType(request.content_type)) {
    auto s =
        Status::InvalidArgument(fmt::format("Content-Type must be application/json, not '{}'", request.content_type));
    error = ErrorResponse(415, s);
    return s;
  }
  auto parsed = ParseJson(request.body);
  if (!parsed.ok()) error = ErrorResponse(400, parsed.status());
  return parsed;
}

// The request path split on "/", for routing: "/v1/assertions/ab/history" -> {"v1", "assertions",
// "ab", "history"}.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = std::min(path.find('/', i), path.size());
    out.push_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace

HttpResponse ErrorResponse(int http_status, const Status& status) {
  // The message is the context chain and cause; the code has its own key.
  std::string message = status.ToString();
  const std::string_view code = StatusCodeName(status.code());
  if (message.starts_with(code) && message.compare(code.size(), 2, ": ") == 0) message.erase(0, code.size() + 2);
  json error = {{"status", http_status}, {"code", std::string(code)}, {"message", std::move(message)}};
  if (!status.field().empty()) error["field"] = status.field();
  HttpResponse response = JsonResponse(http_status, {{"error", std::move(error)}});
  // Indexes catching up, a must_see position about to be applied, a restart: worth a retry soon.
  if (http_status == 503) response.retry_after_seconds = 1;
  return response;
}

struct Api::Impl {
  Impl(db::Database& d, ApiOptions o) : database(d), options(std::move(o)) {}

  db::Database& database;
  const ApiOptions options;

  // Metrics: request counts by (route, status) and a latency histogram by route. A mutex is
  // cheap beside the work of any request (a JSON parse at least).
  struct RouteLatency {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::mutex metrics_mu;
  std::map<std::pair<std::string, int>, std::uint64_t> request_counts;
  std::map<std::string, RouteLatency> latencies;

  void Record(const std::string& route, int status, double seconds) {
    std::lock_guard lock(metrics_mu);
    ++request_counts[{route, status}];
    auto& l = latencies[route];
    ++l.count;
    l.sum += seconds;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      if (seconds <= kLatencyBuckets[i]) ++l.buckets[i];
    }
  }

  // Waits for a read's must_see position; a response when it cannot be met.
  std::optional<HttpResponse> AwaitPosition(std::optional<wal::LogPosition> must_see) {
    if (!must_see) return std::nullopt;
    const auto durable = database.stats().durable_position;
    if (*must_see > durable) {
      return ErrorResponse(422, Status::InvalidArgument(fmt::format("must_see {} is beyond the durable log position {}",
                                                                    *must_see, durable))
                                    .with_field("must_see"));
    }
    Status waited = database.WaitForApplied(*must_see, options.must_see_timeout);
    if (!waited.ok()) return ErrorResponse(503, waited);
    return std::nullopt;
  }

  HttpResponse Route(const HttpRequest& request, std::string& route);
  std::string MetricsText();

  HttpResponse Health();
  HttpResponse Stats();
  HttpResponse PostAssertions(const HttpRequest& request);
  HttpResponse GetAssertion(const HttpRequest& request, std::string_view id_hex, bool history);
  HttpResponse PostSignatures(const HttpRequest& request, std::string_view id_hex);
  HttpResponse PostEvidence(const HttpRequest& request);
  HttpResponse GetEvidence(const HttpRequest& request, std::string_view hash_hex);
  HttpResponse Resolve(const HttpRequest& request);
  HttpResponse Entity(const HttpRequest& request, std::string subject);
  HttpResponse Conflicts(const HttpRequest& request);
  HttpResponse SignaturesBy(const HttpRequest& request, std::string_view agent_hex);
};

Api::Api(db::Database& database, ApiOptions options) : impl_(std::make_unique<Impl>(database, std::move(options))) {}
Api::~Api() = default;

HttpResponse Api::Handle(const HttpRequest& request) noexcept {
  const auto start = std::chrono::steady_clock::now();
  std::string route = "unmatched";
  HttpResponse response;
  try {
    response = impl_->Route(request, route);
  } catch (const std::exception& e) {
    // A bug (every expected failure is a Status); answer 500 rather than drop the connection.
    spdlog::error("{} {}: unexpected exception: {}", request.method, request.path, e.what());
    response = ErrorResponse(500, Status::Internal("unexpected error; see the server log"));
  } catch (...) {
    spdlog::error("{} {}: unexpected exception", request.method, request.path);
    response = ErrorResponse(500, Status::Internal("unexpected error; see the server log"));
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  try {
    impl_->Record(route, response.status, elapsed.count());
  } catch (...) {
    // Counting must not fail a request (bad_alloc at worst); the metrics just miss it.
  }
  return response;
}

void Api::CountRejected(int status) noexcept {
  try {
    impl_->Record("rejected", status, 0.0);
  } catch (...) {
  }
}

namespace {

using Segs = std::vector<std::string_view>;

// "*" in a pattern matches any one segment.
bool Matches(const Segs& pattern, const Segs& segments) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != "*" && pattern[i] != segments[i]) return false;
  }
  return true;
}

}  // namespace

HttpResponse Api::Impl::Route(const HttpRequest& request, std::string& route) {
  // The routing table: the route's name (its label in the metrics), method, path pattern and
  // handler.
  using I = Api::Impl;
  using R = const HttpRequest&;
  struct RouteSpec {
    std::string_view name;
    std::string_view method;
    Segs pattern;
    std::function<HttpResponse(I&, R, const Segs&)> handle;
  };
  static const std::vector<RouteSpec> kRoutes = {
      {"/healthz", "GET", {"healthz"}, [](I& a, R, const Segs&) { return a.Health(); }},
      {"/metrics",
       "GET",
       {"metrics"},
       [](I& a, R, const Segs&) {
         HttpResponse r;
         r.content_type = "text/plain; version=0.0.4";
         r.body = a.MetricsText();
         return r;
       }},
      {"/v1/stats", "GET", {"v1", "stats"}, [](I& a, R, const Segs&) { return a.Stats(); }},
      {"/v1/assertions", "POST", {"v1", "assertions"}, [](I& a, R r, const Segs&) { return a.PostAssertions(r); }},
      {"/v1/assertions/{id}",
       "GET",
       {"v1", "assertions", "*"},
       [](I& a, R r, const Segs& s) { return a.GetAssertion(r, s[2], /*history=*/false); }},
      {"/v1/assertions/{id}/history",
       "GET",
       {"v1", "assertions", "*", "history"},
       [](I& a, R r, const Segs& s) { return a.GetAssertion(r, s[2], /*history=*/true); }},
      {"/v1/assertions/{id}/signatures",
       "POST",
       {"v1", "assertions", "*", "signatures"},
       [](I& a, R r, const Segs& s) { return a.PostSignatures(r, s[2]); }},
      {"/v1/evidence", "POST", {"v1", "evidence"}, [](I& a, R r, const Segs&) { return a.PostEvidence(r); }},
      {"/v1/evidence/{hash}",
       "GET",
       {"v1", "evidence", "*"},
       [](I& a, R r, const Segs& s) { return a.GetEvidence(r, s[2]); }},
      {"/v1/resolve", "GET", {"v1", "resolve"}, [](I& a, R r, const Segs&) { return a.Resolve(r); }},
      {"/v1/conflicts", "GET", {"v1", "conflicts"}, [](I& a, R r, const Segs&) { return a.Conflicts(r); }},
      {"/v1/agents/{agent}/signatures",
       "GET",
       {"v1", "agents", "*", "signatures"},
       [](I& a, R r, const Segs& s) { return a.SignaturesBy(r, s[2]); }},
  };
  // Entity names may contain "/" (IRIs): the subject is everything after the prefix.
  constexpr std::string_view kEntities = "/v1/entities/";

  const Segs segments = Segments(request.path);
  const RouteSpec* matched = nullptr;
  for (const auto& spec : kRoutes) {
    if (Matches(spec.pattern, segments)) matched = &spec;
  }
  const bool entity =
      matched == nullptr && request.path.starts_with(kEntities) && request.path.size() > kEntities.size();
  if (matched == nullptr && !entity) {
    route = "unmatched";
    return ErrorResponse(404, Status::NotFound(fmt::format("no route for {} {}", request.method, request.path)));
  }
  route = std::string(entity ? "/v1/entities/{subject}" : matched->name);
  const std::string_view method = entity ? "GET" : matched->method;
  if (request.method != method && !(method == "GET" && request.method == "HEAD")) {
    return ErrorResponse(405, Status::InvalidArgument(
                                  fmt::format("{} does not accept {}; use {}", request.path, request.method, method)));
  }
  if (entity) return Entity(request, request.path.substr(kEntities.size()));
  return matched->handle(*this, request, segments);
}

std::string Api::Impl::MetricsText() {
  const auto stats = database.stats();
  std::string out;
  auto append = [&out](std::string_view text) { out.append(text); };
  append("# HELP stemedb_http_requests_total HTTP requests answered, by route and status.\n");
  append("# TYPE stemedb_http_requests_total counter\n");
  {
    std::lock_guard lock(metrics_mu);
    for (const auto& [key, count] : request_counts) {
      append(
          fmt::format("stemedb_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count));
    }
    append("# HELP stemedb_http_request_duration_seconds Time to answer a request, by route.\n");
    append("# TYPE stemedb_http_request_duration_seconds histogram\n");
    for (const auto& [name, l] : latencies) {
      for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        append(fmt::format("stemedb_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", name,
                           kLatencyBuckets[i], l.buckets[i]));
      }
      append(
          fmt::format("stemedb_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", name, l.count));
      append(fmt::format("stemedb_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", name, l.sum));
      append(fmt::format("stemedb_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", name, l.count));
    }
  }
  auto gauge = [&append](std::string_view name, std::string_view help, std::string_view type, std::uint64_t value) {
    append(fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value));
  };
  gauge("stemedb_wal_durable_position", "End of the durable (fsynced) write-ahead log.", "gauge",
        stats.durable_position);
  gauge("stemedb_ingest_applied_position", "Log position up to which the indexes are built.", "gauge",
        stats.applied_position);
  gauge("stemedb_ingest_lag", "Log records durable but not yet queryable (durable - applied position).", "gauge",
        stats.lag);
  gauge("stemedb_ingest_unapplied_bytes",
        "Record bytes this server appended that the indexes have not applied yet (bounded: writers wait beyond it).",
        "gauge", stats.unapplied_bytes);
  gauge("stemedb_backpressure_waits_total", "Submissions that waited for the ingestor to make room.", "counter",
        stats.backpressure_waits);
  append(
      fmt::format("# HELP stemedb_backpressure_wait_seconds_total Time submissions spent waiting for the ingestor.\n"
                  "# TYPE stemedb_backpressure_wait_seconds_total counter\n"
                  "stemedb_backpressure_wait_seconds_total {:.6f}\n",
                  stats.backpressure_wait_seconds));
  gauge("stemedb_ingest_records_applied_total", "Log records indexed since the server started.", "counter",
        stats.ingest.records_applied);
  gauge("stemedb_ingest_records_rejected_total", "Log records refused by the ingestor since the server started.",
        "counter", stats.ingest.records_rejected);
  gauge("stemedb_kv_disk_bytes", "Bytes of the RocksDB index files.", "gauge", stats.kv_disk_bytes);
  gauge("stemedb_kv_sorted_runs", "Sorted runs of index files a read may seek in (stemedb compact leaves one).",
        "gauge", stats.kv_sorted_runs);
  gauge("stemedb_kv_memtable_bytes", "Index write buffers in memory (bounded by the store's options).", "gauge",
        stats.kv_memory.memtable_bytes);
  gauge("stemedb_kv_block_cache_bytes", "Index blocks cached in memory (bounded by the store's options).", "gauge",
        stats.kv_memory.block_cache_bytes);
  gauge("stemedb_kv_table_reader_bytes", "Memory held for the open index files.", "gauge",
        stats.kv_memory.table_reader_bytes);
  gauge("stemedb_kv_kept_iterators", "Idle index iterators kept for the next narrow scans (at most 16).", "gauge",
        stats.kv_memory.kept_iterators);
  gauge("stemedb_wal_tail_cache_bytes", "Newly written log records kept in memory for the ingestor.", "gauge",
        stats.wal_tail_cache_bytes);
  // In use vs. held free tells growth of live data apart from fragmentation.
  const HeapStats heap = ReadHeapStats();
  gauge("stemedb_process_resident_bytes", "Resident memory of the server process.", "gauge", ResidentBytes());
  gauge("stemedb_heap_in_use_bytes", "Heap memory allocated and in use.", "gauge", heap.in_use_bytes);
  gauge("stemedb_heap_free_bytes", "Heap memory resident but free, held by the allocator for reuse.", "gauge",
        heap.free_bytes);
  append(
      fmt::format("# HELP stemedb_heap_allocator The allocator the heap figures come from.\n"
                  "# TYPE stemedb_heap_allocator gauge\nstemedb_heap_allocator{{allocator=\"{}\"}} 1\n",
                  heap.allocator));
  return out;
}

HttpResponse Api::Impl::Health() {
  const auto s = database.stats();
  return JsonResponse(200, {{"status", "ok"},
                            {"durable_position", s.durable_position},
                            {"applied_position", s.applied_position},
                            {"lag", s.lag}});
}

HttpResponse Api::Impl::Stats() {
  const auto s = database.stats();
  return JsonResponse(200, {{"durable_position", s.durable_position},
                            {"applied_position", s.applied_position},
                            {"lag", s.lag},
                            {"kv_disk_bytes", s.kv_disk_bytes},
                            {"kv_sorted_runs", s.kv_sorted_runs},
                            {"wal_tail_cache_bytes", s.wal_tail_cache_bytes},
                            {"unapplied_bytes", s.unapplied_bytes},
                            {"backpressure_waits", s.backpressure_waits},
                            {"backpressure_wait_seconds", s.backpressure_wait_seconds},
                            {"records_applied_since_open", s.ingest.records_applied},
                            {"records_rejected_since_open", s.ingest.records_rejected}});
}

HttpResponse Api::Impl::PostAssertions(const HttpRequest& request) {
  if (!request.params.empty()) return BadRequest("POST /v1/assertions takes no query parameters");
  HttpResponse error;
  auto body = JsonBody(request, error);
  if (!body.ok()) return error;
  const bool batch = body->is_array();
  if (!batch && !body->is_object()) {
    return ErrorResponse(422, Status::InvalidArgument("the body must be a signed envelope or an array of them"));
  }
  if (batch && body->empty()) return ErrorResponse(422, Status::InvalidArgument("the batch is empty"));
  if (batch && body->size() > options.max_batch) {
    return ErrorResponse(413, Status::InvalidArgument(fmt::format("a batch holds at most {} envelopes, not {}",
                                                                  options.max_batch, body->size())));
  }
  std::vector<Envelope> envelopes;
  envelopes.reserve(batch ? body->size() : 1);
  for (std::size_t i = 0; i < (batch ? body->size() : 1); ++i) {
    auto envelope = EnvelopeFromJson(batch ? (*body)[i] : *body);
    if (!envelope.ok()) {
      Status s = std::move(envelope).status();
      if (batch) s.with_context(fmt::format("envelope {}", i));
      return ErrorResponse(422, s);
    }
    envelopes.push_back(std::move(*envelope));
  }
  auto results = database.SubmitBatch(envelopes);
  if (!results.ok()) return Failure(results.status());
  json ids = json::array();
  wal::LogPosition position = 0;
  bool wrote = false;
  for (const auto& r : *results) {
    ids.push_back(r.id.ToHex());
    position = std::max(position, r.position);
    wrote = wrote || r.position != 0;
  }
  // Nothing new: everything was stored before, at or below the durable position, which is then
  // the position a reader must see.
  if (!wrote) position = database.stats().durable_position;
  return JsonResponse(wrote ? 201 : 200, {{"ids", std::move(ids)}, {"position", position}});
}

HttpResponse Api::Impl::GetAssertion(const HttpRequest& request, std::string_view id_hex, bool history) {
  auto must_see = MustSeeOnly(request);
  if (!must_see.ok()) return ErrorResponse(400, must_see.status());
  auto id = AssertionId::FromHex(id_hex);
  if (!id.ok()) return ErrorResponse(400, std::move(id).status().with_field("id"));
  if (auto waited = AwaitPosition(*must_see)) return *waited;
  if (history) {
    auto h = database.History(*id);
    if (!h.ok()) return Failure(h.status());
    json out = {{"ancestors", json::array()}, {"descendants", json::array()}};
    for (const auto& a : h->ancestors) out["ancestors"].push_back(EnvelopeToJson(a));
    for (const auto& d : h->descendants) out["descendants"].push_back(EnvelopeToJson(d));
    return JsonResponse(200, out);
  }
  auto got = database.Get(*id);
  if (!got.ok()) return Failure(got.status());
  if (!*got) return ErrorResponse(404, Status::NotFound(fmt::format("assertion {} is not stored", id_hex)));
  return JsonResponse(200, EnvelopeToJson(**got));
}

HttpResponse Api::Impl::PostSignatures(const HttpRequest& request, std::string_view id_hex) {
  if (!request.params.empty()) return BadRequest("this route takes no query parameters");
  auto id = AssertionId::FromHex(id_hex);
  if (!id.ok()) return ErrorResponse(400, std::move(id).status().with_field("id"));
  HttpResponse error;
  auto body = JsonBody(request, error);
  if (!body.ok()) return error;
  if (!body->is_object() || !body->contains("signatures") || body->size() != 1) {
    return ErrorResponse(422,
                         Status::InvalidArgument("the body must be {\"signatures\": [...]}").with_field("signatures"));
  }
  auto stored = database.Get(*id);
  if (stored.ok() && !*stored) {
    // It may be durable but not indexed yet (posted a moment ago): look again once everything
    // durable now is applied.
    Status caught_up = database.WaitForApplied(database.stats().durable_position, options.must_see_timeout);
    if (!caught_up.ok()) return ErrorResponse(503, caught_up);
    stored = database.Get(*id);
  }
  if (!stored.ok()) return Failure(stored.status());
  if (!*stored) return ErrorResponse(404, Status::NotFound(fmt::format("assertion {} is not stored", id_hex)));
  // The new signatures travel in an envelope around the stored claim, so they are parsed and
  // verified exactly like any other submission.
  const json envelope = {{"assertion", AssertionToJson((*stored)->assertion)}, {"signatures", (*body)["signatures"]}};
  auto parsed = EnvelopeFromJson(envelope);
  if (!parsed.ok()) return ErrorResponse(422, parsed.status());
  auto result = database.Submit(parsed->signed_assertion);
  if (!result.ok()) return Failure(result.status());
  const wal::LogPosition position = result->position != 0 ? result->position : database.stats().durable_position;
  return JsonResponse(result->new_signatures > 0 ? 201 : 200,
                      {{"id", result->id.ToHex()}, {"new_signatures", result->new_signatures}, {"position", position}});
}

HttpResponse Api::Impl::PostEvidence(const HttpRequest& request) {
  if (!request.params.empty()) return BadRequest("POST /v1/evidence takes no query parameters");
  const auto* data = reinterpret_cast<const std::uint8_t*>(request.body.data());
  auto hash = database.PutEvidence({data, request.body.size()});
  if (!hash.ok()) return Failure(hash.status());
  return JsonResponse(201, {{"hash", hash->ToHex()}, {"bytes", request.body.size()}});
}

HttpResponse Api::Impl::GetEvidence(const HttpRequest& request, std::string_view hash_hex) {
  auto must_see = MustSeeOnly(request);
  if (!must_see.ok()) return ErrorResponse(400, must_see.status());
  auto hash = Hash::FromHex(hash_hex);
  if (!hash.ok()) return ErrorResponse(400, std::move(hash).status().with_field("hash"));
  if (auto waited = AwaitPosition(*must_see)) return *waited;
  auto blob = database.GetEvidence(*hash);
  if (!blob.ok()) return Failure(blob.status());
  if (!*blob) return ErrorResponse(404, Status::NotFound(fmt::format("no evidence with hash {}", hash_hex)));
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body = std::move(**blob);
  return r;
}

HttpResponse Api::Impl::Resolve(const HttpRequest& request) {
  auto params = Params::From(request, kResolveParams);
  if (!params.ok()) return ErrorResponse(400, params.status());
  auto subject = params->Required("subject");
  if (!subject.ok()) return ErrorResponse(400, subject.status());
  auto predicate = params->Required("predicate");
  if (!predicate.ok()) return ErrorResponse(400, predicate.status());
  auto query = LensQueryFrom(*params, options.authority);
  if (!query.ok()) return ErrorResponse(400, query.status());
  if (auto waited = AwaitPosition(query->must_see)) return *waited;
  auto r = database.Resolve(EntityId(*subject), RelationId(*predicate), query->kind, query->options);
  if (!r.ok()) return Failure(r.status());
  json out = lens::ResolutionToJson(*r, query->options.explain);
  if (!r->value) {
    // 404, but with the explanation when asked: it says why nothing is live (every candidate
    // below the threshold, superseded, ...).
    out["error"] = {{"status", 404},
                    {"code", "not_found"},
                    {"message", fmt::format("nothing known about ({}, {}) through this lens", *subject, *predicate)}};
    return JsonResponse(404, out);
  }
  return JsonResponse(200, out);
}

HttpResponse Api::Impl::Entity(const HttpRequest& request, std::string subject) {
  auto params = Params::From(request, kLensParams);
  if (!params.ok()) return ErrorResponse(400, params.status());
  auto query = LensQueryFrom(*params, options.authority);
  if (!query.ok()) return ErrorResponse(400, query.status());
  if (auto waited = AwaitPosition(query->must_see)) return *waited;
  auto card = database.ResolveSubject(EntityId(subject), query->kind, query->options);
  if (!card.ok()) return Failure(card.status());
  if (card->empty()) {
    return ErrorResponse(404, Status::NotFound(fmt::format("nothing known about {}", subject)));
  }
  json predicates = json::object();
  for (const auto& p : *card)
    predicates[p.predicate.str()] = lens::ResolutionToJson(p.resolution, query->options.explain);
  return JsonResponse(200, {{"subject", subject},
                            {"lens", std::string(lens::LensKindName(query->kind))},
                            {"predicates", std::move(predicates)}});
}

HttpResponse Api::Impl::Conflicts(const HttpRequest& request) {
  auto params = Params::From(request, kConflictsParams);
  if (!params.ok()) return ErrorResponse(400, params.status());
  auto limit = params->Unsigned("limit");
  if (!limit.ok()) return ErrorResponse(400, limit.status());
  auto must_see = params->Unsigned("must_see");
  if (!must_see.ok()) return ErrorResponse(400, must_see.status());
  const std::size_t n = limit->value_or(1000);
  if (n == 0 || n > options.max_conflicts) {
    return BadRequest(fmt::format("'limit' must be in [1, {}]", options.max_conflicts), "limit");
  }
  if (auto waited = AwaitPosition(*must_see)) return *waited;
  auto conflicts = database.Conflicts(n);
  if (!conflicts.ok()) return Failure(conflicts.status());
  json out = json::array();
  for (const auto& c : *conflicts) {
    out.push_back({{"subject", c.subject.str()},
                   {"predicate", c.predicate.str()},
                   {"candidates", c.candidates},
                   {"live_values", c.live_values}});
  }
  return JsonResponse(200, {{"conflicts", std::move(out)}});
}

HttpResponse Api::Impl::SignaturesBy(const HttpRequest& request, std::string_view agent_hex) {
  auto params = Params::From(request, kSignaturesParams);
  if (!params.ok()) return ErrorResponse(400, params.status());
  auto agent = AgentId::FromHex(agent_hex);
  if (!agent.ok()) return ErrorResponse(400, std::move(agent).status().with_field("agent"));
  auto after = params->Unsigned("after");
  if (!after.ok()) return ErrorResponse(400, after.status());
  auto limit = params->Unsigned("limit");
  if (!limit.ok()) return ErrorResponse(400, limit.status());
  auto with_assertions = params->Flag("assertions");
  if (!with_assertions.ok()) return ErrorResponse(400, with_assertions.status());
  // As resolve reads it: a log position, or an RFC 3339 time.
  lens::LensOptions as_of;
  if (auto text = params->Get("as_of")) {
    if (Status s = lens::ParseAsOf(*text, as_of); !s.ok()) return ErrorResponse(400, s);
  }
  auto must_see = params->Unsigned("must_see");
  if (!must_see.ok()) return ErrorResponse(400, must_see.status());
  const std::size_t n = limit->value_or(1000);
  if (n == 0 || n > options.max_page) {
    return BadRequest(fmt::format("'limit' must be in [1, {}]", options.max_page), "limit");
  }
  if (auto waited = AwaitPosition(*must_see)) return *waited;
  auto page = database.SignaturesBy(*agent, {.after = after->value_or(0),
                                             .limit = n,
                                             .with_assertions = *with_assertions,
                                             .as_of_position = as_of.as_of_position,
                                             .as_of_time = as_of.as_of_time});
  if (!page.ok()) return Failure(page.status());
  json signatures = json::array();
  for (const auto& s : page->signatures) {
    json entry = {{"id", s.id.ToHex()}, {"position", s.position}, {"signed_at", s.signed_at.ToRfc3339()}};
    if (s.assertion) entry["assertion"] = AssertionToJson(*s.assertion);
    signatures.push_back(std::move(entry));
  }
  return JsonResponse(200, {{"agent", agent->ToHex()},
                            {"signatures", std::move(signatures)},
                            {"next", page->next ? json(*page->next) : json(nullptr)}});
}

std::string Api::MetricsText() { return impl_->MetricsText(); }

}  // namespace stemedb::server
