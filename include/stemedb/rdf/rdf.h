// RDF in and out: reading N-Triples, N-Quads and Turtle (with serd) into StemeDB's terms, and
// writing resolved claims as N-Triples. The mapping, both ways, is documented in docs/format.md:
//
//   IRI <x>                    -> entity "x" (Turtle: prefixed names expanded, relative IRIs
//                                 resolved against the base); <urn:stemedb:name:N> -> the name N,
//                                 percent-decoded (how names that are not IRIs are written)
//   blank node _:b             -> entity "_:b"
//   "v"@lang                   -> text "v" with lang
//   "v", "v"^^xsd:string       -> text "v"
//   "5"^^xsd:integer (int, long, short, byte, and the (non)negative/positive kinds)
//                              -> integer 5 (when it fits in 64 bits)
//   "9.7"^^xsd:double (decimal, float) -> number 9.7 (when finite)
//   "true"^^xsd:boolean        -> bool
//   "2024-05-01T00:00:00Z"^^xsd:dateTime -> timestamp (when it has a time zone)
//   "x"^^urn:stemedb:blob      -> blob hash (64 hex)
//   anything else              -> typed literal, lexical form and datatype kept verbatim
//
// Reading is strict: the first syntax error ends the read with InvalidArgument naming the line
// (and column) in the file. Thread-safety: functions are reentrant; share nothing between calls.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "stemedb/base/status.h"
#include "stemedb/model/assertion.h"

namespace stemedb::rdf {

enum class Syntax { kNTriples, kNQuads, kTurtle };
// "ntriples", "nquads" or "turtle". Errors: InvalidArgument.
Result<Syntax> ParseSyntax(std::string_view name);

inline constexpr std::string_view kBlobDatatype = "urn:stemedb:blob";
// Names that are not absolute IRIs ("Tesla_Inc", "Tesla Inc") are written as IRIs under this
// prefix, percent-encoded, and read back to the name itself: any name survives export + import.
inline constexpr std::string_view kNamePrefix = "urn:stemedb:name:";

struct Statement {
  EntityId subject;
  RelationId predicate;
  ObjectValue object;
  std::optional<std::string> graph;  // N-Quads: the graph IRI (or blank node label)
  unsigned line = 0;                 // where the statement starts (N-Triples, N-Quads) or ends (Turtle)
};

// Reads `path` ("-" for stdin) and calls `on_statement` for each statement in order. An error from
// `on_statement` stops the read and is returned as is. Errors: NotFound when the file cannot be
// opened; InvalidArgument "line L, column C: ..." on a syntax error.
Status ReadFile(const std::filesystem::path& path, Syntax syntax,
                const std::function<Status(Statement&&)>& on_statement);
// The same over text in memory (`name` appears in errors).
Status ReadText(std::string_view text, Syntax syntax, const std::function<Status(Statement&&)>& on_statement);

// The literal a value maps to, or an entity's IRI: one N-Triples term.
std::string EntityTerm(const EntityId& entity);
std::string ObjectTerm(const ObjectValue& object);
// "<s> <p> o .\n"
std::string NTriple(const EntityId& subject, const RelationId& predicate, const ObjectValue& object);

}  // namespace stemedb::rdf
