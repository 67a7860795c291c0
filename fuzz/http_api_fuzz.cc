// Fuzz target: the HTTP request handlers, in process, over a real database. The input is
// "METHOD\nPATH\nQUERY\nCONTENT-TYPE\nBODY" (missing parts are empty; QUERY is a=b&c=d).
// Properties: Handle never throws or crashes, always answers a known status with a JSON error
// body on failure, and a refused request writes nothing.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "stemedb/server/api.h"

namespace {

std::string_view NextLine(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

struct Fixture {
  Fixture() {
    auto opened = stemedb::db::Database::Open(stemedb::fuzz::ScratchDir() / "db");
    if (!opened.ok()) stemedb::fuzz::Fail("cannot open the database");
    database = std::move(*opened);
    stemedb::server::ApiOptions options;
    options.must_see_timeout = std::chrono::milliseconds(100);
    api = std::make_unique<stemedb::server::Api>(*database, options);
  }
  std::unique_ptr<stemedb::db::Database> database;
  std::unique_ptr<stemedb::server::Api> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stemedb;
  // One database for the whole run, closed at exit before the scratch directory is removed (exit
  // handlers run in reverse order, and the fixture's is registered after the directory's).
  static Fixture* fixture = [] {
    auto* created = new Fixture();
    std::atexit([] { delete fixture; });
    return created;
  }();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  server::HttpRequest request;
  request.method = std::string(NextLine(rest));
  request.path = std::string(NextLine(rest));
  std::string_view query = NextLine(rest);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    request.params.emplace(std::string(pair.substr(0, eq)),
                           eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1)));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  request.content_type = std::string(NextLine(rest));
  request.body = std::string(rest);

  const auto before = fixture->database->stats().durable_position;
  const server::HttpResponse response = fixture->api->Handle(request);
  switch (response.status) {
    case 200:
    case 201:
    case 400:
    case 404:
    case 405:
    case 413:
    case 415:
    case 422:
    case 503: break;
    default: fuzz::Fail("an unexpected HTTP status");
  }
  if (response.status >= 400 && response.body.find("\"error\"") == std::string::npos) {
    fuzz::Fail("a failure without a JSON error");
  }
  if (response.status >= 400 && fixture->database->stats().durable_position != before) {
    fuzz::Fail("a refused request wrote to the log");
  }
  return 0;
}
