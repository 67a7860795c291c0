// Fuzz target: the RDF import path (serd and the mapping to StemeDB's terms). The first byte
// picks N-Triples, N-Quads or Turtle. Properties: no crash; every statement read, written back
// as N-Triples, reads back as the same statement.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "stemedb/rdf/rdf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stemedb;
  if (size == 0) return 0;
  const auto syntax = static_cast<rdf::Syntax>(data[0] % 3);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<rdf::Statement> statements;
  (void)rdf::ReadText(text, syntax, [&statements](rdf::Statement&& s) {
    statements.push_back(std::move(s));
    return Status::Ok();
  });
  for (const auto& s : statements) {
    const std::string line = rdf::NTriple(s.subject, s.predicate, s.object);
    std::vector<rdf::Statement> back;
    Status read = rdf::ReadText(line, rdf::Syntax::kNTriples, [&back](rdf::Statement&& b) {
      back.push_back(std::move(b));
      return Status::Ok();
    });
    if (!read.ok()) {
      std::fprintf(stderr, "%s%s\n", line.c_str(), read.ToString().c_str());
      fuzz::Fail("a written triple does not read back");
    }
    if (back.size() != 1 || back[0].subject != s.subject || back[0].predicate != s.predicate ||
        !(back[0].object == s.object)) {
      std::fprintf(stderr, "%s", line.c_str());
      fuzz::Fail("a statement changes through write and read");
    }
  }
  return 0;
}
