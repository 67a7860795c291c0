#include "stemedb/rdf/rdf.h"

#include <fmt/format.h>
#include <serd/serd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "stemedb/base/utf8.h"

namespace stemedb::rdf {
namespace {

constexpr std::string_view kXsd = "http://www.w3.org/2001/XMLSchema#";

std::string_view View(const SerdNode* node) {
  return node == nullptr || node->buf == nullptr
             ? std::string_view()
             : std::string_view(reinterpret_cast<const char*>(node->buf), node->n_bytes);
}

std::optional<std::int64_t> ParseInteger(std::string_view lexical) {
  if (!lexical.empty() && lexical.front() == '+') lexical.remove_prefix(1);
  std::int64_t v = 0;
  const auto [end, error] = std::from_chars(lexical.data(), lexical.data() + lexical.size(), v);
  if (lexical.empty() || error != std::errc() || end != lexical.data() + lexical.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view lexical) {
  if (!lexical.empty() && lexical.front() == '+') lexical.remove_prefix(1);
  double v = 0;
  const auto [end, error] = std::from_chars(lexical.data(), lexical.data() + lexical.size(), v);
  if (lexical.empty() || error != std::errc() || end != lexical.data() + lexical.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

bool IsIntegerType(std::string_view local) {
  static constexpr std::array<std::string_view, 13> kTypes = {"integer",
                                                              "long",
                                                              "int",
                                                              "short",
                                                              "byte",
                                                              "nonNegativeInteger",
                                                              "positiveInteger",
                                                              "nonPositiveInteger",
                                                              "negativeInteger",
                                                              "unsignedLong",
                                                              "unsignedInt",
                                                              "unsignedShort",
                                                              "unsignedByte"};
  return std::find(kTypes.begin(), kTypes.end(), local) != kTypes.end();
}

// A literal's value in StemeDB's terms: a native kind when the lexical form is one, else verbatim.
ObjectValue Literal(std::string_view lexical, std::string_view datatype, std::string_view lang) {
  if (!lang.empty()) return ObjectValue::Text(std::string(lexical), std::string(lang));
  if (datatype.empty()) return ObjectValue::Text(std::string(lexical));
  if (datatype == kBlobDatatype) {
    if (auto hash = Hash::FromHex(lexical); hash.ok()) return ObjectValue::Blob(*hash);
  } else if (datatype.starts_with(kXsd)) {
    const std::string_view local = datatype.substr(kXsd.size());
    if (local == "string") return ObjectValue::Text(std::string(lexical));
    if (IsIntegerType(local)) {
      if (auto v = ParseInteger(lexical)) return ObjectValue::Integer(*v);
    } else if (local == "double" || local == "decimal" || local == "float") {
      if (auto v = ParseDouble(lexical)) return ObjectValue::Number(*v);
    } else if (local == "boolean") {
      if (lexical == "true" || lexical == "1") return ObjectValue::Boolean(true);
      if (lexical == "false" || lexical == "0") return ObjectValue::Boolean(false);
    } else if (local == "dateTime") {
      if (auto t = Timestamp::FromRfc3339(lexical); t.ok()) return ObjectValue::Time(*t);
    }
  }
  return ObjectValue::Typed(std::string(lexical), std::string(datatype));
}

// Escapes a literal's text for N-Triples.
void AppendEscaped(std::string& out, std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
    } else {
      out.push_back(ch);
    }
  }
}

bool IsBlankLabel(std::string_view label) {
  if (label.empty() || label.back() == '.') return false;
  for (std::size_t i = 0; i < label.size(); ++i) {
    const auto c = static_cast<unsigned char>(label[i]);
    const bool ok = std::isalnum(c) != 0 || c == '_' || (i > 0 && (c == '-' || c == '.'));
    if (!ok) return false;
  }
  return true;
}

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  AppendEscaped(out, text);
  out += '"';
  return out;
}

// REQUIRES: `iri` holds no character an IRI forbids (NameIri's output, or a constant).
std::string IriTerm(std::string_view iri) { return fmt::format("<{}>", iri); }

// RFC 3987: an absolute IRI starts with a scheme, ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ":".
bool HasScheme(std::string_view name) {
  const auto colon = name.find(':');
  if (colon == std::string_view::npos || colon == 0 || std::isalpha(static_cast<unsigned char>(name[0])) == 0) {
    return false;
  }
  for (const char ch : name.substr(0, colon)) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) == 0 && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

bool IsIriSafe(std::string_view name) {
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || std::string_view("<>\"{}|^`\\").find(ch) != std::string_view::npos) return false;
  }
  return true;
}

// A name as an IRI: verbatim when it is an absolute IRI already, else under kNamePrefix with
// everything but unreserved ASCII percent-encoded, so that any name survives the trip.
std::string NameIri(std::string_view name) {
  if (HasScheme(name) && IsIriSafe(name) && !name.starts_with(kNamePrefix)) return std::string(name);
  std::string out(kNamePrefix);
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The inverse of NameIri for IRIs read back.
std::string NameFromIri(std::string_view iri) {
  if (!iri.starts_with(kNamePrefix)) return std::string(iri);
  std::string out;
  const std::string_view rest = iri.substr(kNamePrefix.size());
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && HexDigit(rest[i + 1]) >= 0 && HexDigit(rest[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(rest[i + 1]) * 16 + HexDigit(rest[i + 2])));
      i += 2;
    } else {
      out.push_back(rest[i]);
    }
  }
  return out;
}

Status CheckUtf8(std::string_view text, std::string_view what) {
  if (const auto bad = FindInvalidUtf8(text)) {
    return Status::InvalidArgument(fmt::format("{}: invalid UTF-8 at byte {}", what, *bad));
  }
  return Status::Ok();
}

// Every string an object holds, run together (only to check their encoding).
std::string ValueText(const ObjectValue& object) {
  const auto& v = object.variant();
  if (const auto* e = std::get_if<EntityId>(&v)) return e->str();
  if (const auto* t = std::get_if<LangText>(&v)) return t->value + t->lang;
  if (const auto* t = std::get_if<TypedLiteral>(&v)) return t->lexical + t->datatype;
  return {};
}

// One read: the reader, its prefix environment (Turtle), and the first error.
class Reader {
 public:
  Reader(Syntax syntax, const std::function<Status(Statement&&)>& on_statement)
      : syntax_(syntax), on_statement_(on_statement) {
    const SerdSyntax serd_syntax = syntax == Syntax::kNTriples ? SERD_NTRIPLES
                                   : syntax == Syntax::kNQuads ? SERD_NQUADS
                                                               : SERD_TURTLE;
    env_ = serd_env_new(nullptr);
    reader_ =
        serd_reader_new(serd_syntax, this, nullptr, &Reader::OnBase, &Reader::OnPrefix, &Reader::OnStatement, nullptr);
    serd_reader_set_strict(reader_, true);
    serd_reader_set_error_sink(reader_, &Reader::OnError, this);
  }
  ~Reader() {
    serd_reader_free(reader_);
    serd_env_free(env_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Parses `text` (a whole document, or one line of a line-based one) whose first line is
  // `first_line` of the file.
  Status Read(const std::string& text, unsigned first_line) {
    first_line_ = first_line;
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
      return Status::InvalidArgument(fmt::format("line {}: NUL byte in the input", first_line + Newlines(text, nul)));
    }
    const SerdStatus st = serd_reader_read_string(reader_, reinterpret_cast<const std::uint8_t*>(text.c_str()));
    if (!error_.ok()) return error_;
    if (st != SERD_SUCCESS) {
      return Status::InvalidArgument(
          fmt::format("line {}: {}", first_line, reinterpret_cast<const char*>(serd_strerror(st))));
    }
    return Status::Ok();
  }

 private:
  static std::size_t Newlines(const std::string& text, std::size_t end) {
    return static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
  }

  static SerdStatus OnError(void* handle, const SerdError* error) {
    auto* self = static_cast<Reader*>(handle);
    if (!self->error_.ok()) return SERD_SUCCESS;  // the first error is the one reported
    std::array<char, 512> message{};
    // serd hands over a va_list it initialised, through a pointer clang-analyzer cannot follow.
    va_list args;
    va_copy(args, *error->args);                                       // NOLINT(clang-analyzer-valist.Uninitialized)
    std::vsnprintf(message.data(), message.size(), error->fmt, args);  // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(args);
    std::string text(message.data());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    // A line-based syntax is read one line at a time: serd may count the newline that ends it.
    const unsigned line = self->syntax_ == Syntax::kTurtle ? self->first_line_ + error->line - 1 : self->first_line_;
    self->error_ = Status::InvalidArgument(fmt::format("line {}, column {}: {}", line, error->col, text));
    return SERD_SUCCESS;
  }

  static SerdStatus OnBase(void* handle, const SerdNode* uri) {
    return serd_env_set_base_uri(static_cast<Reader*>(handle)->env_, uri);
  }
  static SerdStatus OnPrefix(void* handle, const SerdNode* name, const SerdNode* uri) {
    return serd_env_set_prefix(static_cast<Reader*>(handle)->env_, name, uri);
  }

  // An IRI node as a string: prefixed names expanded, relative IRIs resolved (Turtle).
  Result<std::string> Iri(const SerdNode* node) const {
    if (node->type == SERD_URI && syntax_ != Syntax::kTurtle) return std::string(View(node));
    SerdNode expanded = serd_env_expand_node(env_, node);
    if (expanded.buf == nullptr) {
      return Status::InvalidArgument(fmt::format("cannot expand '{}' (undefined prefix?)", View(node)));
    }
    std::string out(View(&expanded));
    serd_node_free(&expanded);
    return out;
  }

  // A subject, predicate or object IRI as a StemeDB name.
  Result<std::string> Name(const SerdNode* node) const {
    if (node->type == SERD_BLANK) return "_:" + std::string(View(node));
    STEMEDB_ASSIGN_OR_RETURN(std::string iri, Iri(node));
    return NameFromIri(iri);
  }

  Result<Statement> Convert(const SerdNode* graph, const SerdNode* subject, const SerdNode* predicate,
                            const SerdNode* object, const SerdNode* datatype, const SerdNode* lang) const {
    Statement s;
    STEMEDB_ASSIGN_OR_RETURN(std::string subject_iri, Name(subject));
    s.subject = EntityId(std::move(subject_iri));
    STEMEDB_ASSIGN_OR_RETURN(std::string predicate_iri, Name(predicate));
    s.predicate = RelationId(std::move(predicate_iri));
    if (object->type == SERD_LITERAL) {
      std::string datatype_iri;
      if (datatype != nullptr && datatype->buf != nullptr) {
        STEMEDB_ASSIGN_OR_RETURN(datatype_iri, Name(datatype));
      }
      s.object = Literal(View(object), datatype_iri, View(lang));
    } else {
      STEMEDB_ASSIGN_OR_RETURN(std::string object_iri, Name(object));
      s.object = ObjectValue::Entity(EntityId(std::move(object_iri)));
    }
    if (graph != nullptr && graph->buf != nullptr) {
      STEMEDB_ASSIGN_OR_RETURN(s.graph, Name(graph));
    }
    // serd lets some invalid UTF-8 through (found by fuzz_rdf_import, in an IRI); StemeDB's
    // terms are UTF-8, so such a statement is refused here, where its line is known.
    STEMEDB_RETURN_IF_ERROR(CheckUtf8(s.subject.view(), "subject"));
    STEMEDB_RETURN_IF_ERROR(CheckUtf8(s.predicate.view(), "predicate"));
    STEMEDB_RETURN_IF_ERROR(CheckUtf8(ValueText(s.object), "object"));
    if (s.graph) STEMEDB_RETURN_IF_ERROR(CheckUtf8(*s.graph, "graph"));
    s.line = first_line_;
    return s;
  }

  static SerdStatus OnStatement(void* handle, SerdStatementFlags, const SerdNode* graph, const SerdNode* subject,
                                const SerdNode* predicate, const SerdNode* object, const SerdNode* datatype,
                                const SerdNode* lang) {
    auto* self = static_cast<Reader*>(handle);
    auto statement = self->Convert(graph, subject, predicate, object, datatype, lang);
    Status st = statement.ok() ? self->on_statement_(std::move(*statement))
                               : std::move(statement).status().with_context(fmt::format("line {}", self->first_line_));
    if (st.ok()) return SERD_SUCCESS;
    self->error_ = std::move(st);
    return SERD_FAILURE;  // stops the read
  }

  Syntax syntax_;
  const std::function<Status(Statement&&)>& on_statement_;
  SerdEnv* env_ = nullptr;
  SerdReader* reader_ = nullptr;
  unsigned first_line_ = 1;
  Status error_;
};

// Line-based syntaxes are fed one line at a time, so every statement and error knows its line.
Status ReadStream(std::istream& in, Syntax syntax, const std::function<Status(Statement&&)>& on_statement) {
  Reader reader(syntax, on_statement);
  if (syntax == Syntax::kTurtle) {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return reader.Read(text, 1);
  }
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    line.push_back('\n');
    STEMEDB_RETURN_IF_ERROR(reader.Read(line, number));
  }
  return Status::Ok();
}

}  // namespace

Result<Syntax> ParseSyntax(std::string_view name) {
  if (name == "ntriples") return Syntax::kNTriples;
  if (name == "nquads") return Syntax::kNQuads;
  if (name == "turtle") return Syntax::kTurtle;
  return Status::InvalidArgument(fmt::format("unknown RDF syntax '{}' (expected ntriples, nquads or turtle)", name));
}

Status ReadFile(const std::filesystem::path& path, Syntax syntax,
                const std::function<Status(Statement&&)>& on_statement) {
  if (path == "-") return ReadStream(std::cin, syntax, on_statement);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot read {}", path.string()));
  return ReadStream(in, syntax, on_statement);
}

Status ReadText(std::string_view text, Syntax syntax, const std::function<Status(Statement&&)>& on_statement) {
  std::istringstream in{std::string(text)};
  return ReadStream(in, syntax, on_statement);
}

std::string EntityTerm(const EntityId& entity) {
  const std::string_view name = entity.view();
  if (name.starts_with("_:") && IsBlankLabel(name.substr(2))) return std::string(name);
  return IriTerm(NameIri(name));
}

std::string ObjectTerm(const ObjectValue& object) {
  struct Visitor {
    std::string operator()(const EntityId& e) const { return EntityTerm(e); }
    std::string operator()(const LangText& t) const {
      return t.lang.empty() ? Quoted(t.value) : Quoted(t.value) + "@" + t.lang;
    }
    std::string operator()(std::int64_t v) const {
      return Quoted(std::to_string(v)) + "^^" + IriTerm(std::string(kXsd) + "integer");
    }
    std::string operator()(double v) const {
      return Quoted(fmt::format("{}", v)) + "^^" + IriTerm(std::string(kXsd) + "double");
    }
    std::string operator()(bool v) const {
      return Quoted(v ? "true" : "false") + "^^" + IriTerm(std::string(kXsd) + "boolean");
    }
    std::string operator()(const Timestamp& t) const {
      return Quoted(t.ToRfc3339()) + "^^" + IriTerm(std::string(kXsd) + "dateTime");
    }
    std::string operator()(const TypedLiteral& t) const {
      return Quoted(t.lexical) + "^^" + IriTerm(NameIri(t.datatype));
    }
    std::string operator()(const Hash& h) const { return Quoted(h.ToHex()) + "^^" + IriTerm(kBlobDatatype); }
  };
  return std::visit(Visitor{}, object.variant());
}

std::string NTriple(const EntityId& subject, const RelationId& predicate, const ObjectValue& object) {
  return fmt::format("{} {} {} .\n", EntityTerm(subject), IriTerm(NameIri(predicate.view())), ObjectTerm(object));
}

}  // namespace stemedb::rdf
