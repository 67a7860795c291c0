#include "stemedb/server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>
#include <utility>

namespace stemedb::server {
namespace {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400: return "malformed request";
    case 404: return "not found";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    case 431: return "request headers too large";
    default: return "request refused";
  }
}

}  // namespace

struct HttpServer::Impl {
  Impl(db::Database& database, ServerOptions o) : options(std::move(o)), api(database, options.api) {}

  ServerOptions options;
  Api api;
  httplib::Server http;
  int port = 0;
  // Stop() may come before Serve() has started listening (a signal right after Bind);
  // cpp-httplib's stop() is lost then, so the two meet through these flags.
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};

  void Answer(const httplib::Request& req, httplib::Response& res) {
    HttpRequest request;
    request.method = req.method;
    request.path = req.path;
    // From the request line only: cpp-httplib also folds form-encoded bodies into req.params,
    // and a body is never a query.
    if (const auto q = req.target.find('?'); q != std::string::npos) {
      httplib::detail::parse_query_text(req.target.substr(q + 1), request.params);
    }
    request.content_type = req.get_header_value("Content-Type");
    request.body = req.body;
    HttpResponse response = api.Handle(request);
    res.status = response.status;
    if (response.retry_after_seconds) res.set_header("Retry-After", std::to_string(*response.retry_after_seconds));
    res.set_content(response.body, response.content_type);
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  if (impl_) impl_->http.stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(db::Database& database, ServerOptions options) {
  auto impl = std::make_unique<Impl>(database, std::move(options));
  Impl* self = impl.get();
  auto& http = impl->http;
  const auto threads = std::max<std::size_t>(1, self->options.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(self->options.max_body_bytes);
  http.set_read_timeout(self->options.read_timeout);
  http.set_write_timeout(self->options.write_timeout);
  http.set_keep_alive_max_count(1000);
  http.set_tcp_nodelay(true);

  // One handler for every path and method: the Api routes (and answers 404/405 itself).
  auto handler = [self](const httplib::Request& req, httplib::Response& res) { self->Answer(req, res); };
  const char* kAnyPath = "/.*";
  http.Get(kAnyPath, handler);
  http.Post(kAnyPath, handler);
  http.Put(kAnyPath, handler);
  http.Patch(kAnyPath, handler);
  http.Delete(kAnyPath, handler);
  http.Options(kAnyPath, handler);

  // cpp-httplib bounds each header line (8 KiB) but not their number: refuse requests with too
  // many or too much before any handler runs. (They have been read by then; see server.h.)
  http.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    std::size_t bytes = 0;
    for (const auto& [name, value] : req.headers) bytes += name.size() + value.size() + 4;
    if (req.headers.size() <= self->options.max_header_count && bytes <= self->options.max_header_bytes) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    self->api.CountRejected(431);
    HttpResponse r =
        ErrorResponse(431, Status::InvalidArgument(fmt::format(
                               "{} header lines, {} bytes: the limits are {} lines, {} bytes", req.headers.size(),
                               bytes, self->options.max_header_count, self->options.max_header_bytes)));
    res.status = 431;
    res.set_content(r.body, r.content_type);
    return httplib::Server::HandlerResponse::Handled;
  });

  // Requests refused by cpp-httplib itself (malformed, too large) arrive here with no body:
  // give them the API's JSON error form and count them.
  http.set_error_handler([self](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    self->api.CountRejected(res.status);
    const Status status =
        res.status == 413
            ? Status::ResourceExhausted(fmt::format("the request body exceeds {} bytes", self->options.max_body_bytes))
            : Status::InvalidArgument(fmt::format("HTTP {}: {}", res.status, ReasonPhrase(res.status)));
    HttpResponse r = ErrorResponse(res.status, status);
    res.set_content(r.body, r.content_type);
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, const std::exception_ptr&) {
    spdlog::error("{} {}: exception in the HTTP layer", req.method, req.path);
    res.status = 500;
  });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });

  const int port = self->options.port == 0
                       ? http.bind_to_any_port(self->options.host)
                       : (http.bind_to_port(self->options.host, self->options.port) ? self->options.port : -1);
  if (port < 0) {
    return Status::IoError(fmt::format("cannot listen on {}:{} (in use, or not a local address?)", self->options.host,
                                       self->options.port));
  }
  self->port = port;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const noexcept { return impl_->port; }
Api& HttpServer::api() noexcept { return impl_->api; }

Status HttpServer::Serve() {
  impl_->serving = true;
  const bool ok = impl_->stop_requested || impl_->http.listen_after_bind();
  impl_->serving = false;
  if (!ok) return Status::IoError(fmt::format("serving on {}:{} failed", impl_->options.host, impl_->port));
  return Status::Ok();
}

void HttpServer::Stop() {
  impl_->stop_requested = true;
  // Serve() has either seen the request, or is about to start listening: wait until it does,
  // so that stop() finds a running server.
  while (impl_->serving && !impl_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->http.stop();
}

}  // namespace stemedb::server
