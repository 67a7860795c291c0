#include "stemedb/rdf/rdf.h"

#include "stemedb/base/utf8.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace stemedb::rdf {
namespace {

Result<std::vector<Statement>> ReadAll(std::string_view text, Syntax syntax = Syntax::kNTriples) {
  std::vector<Statement> out;
  STEMEDB_RETURN_IF_ERROR(ReadText(text, syntax, [&out](Statement&& s) {
    out.push_back(std::move(s));
    return Status::Ok();
  }));
  return out;
}

TEST(Rdf, NTriplesMapToEntitiesAndNativeValues) {
  const std::string xsd = "http://www.w3.org/2001/XMLSchema#";
  const std::string text =
      "# a comment\n"
      "<http://ex.org/Tesla> <http://ex.org/ceo> <http://ex.org/Musk> .\n"
      "_:b1 <http://ex.org/name> \"Tesla, Inc.\"@en .\n"
      "<http://ex.org/Tesla> <http://ex.org/employees> \"140473\"^^<" +
      xsd +
      "integer> .\n"
      "<http://ex.org/Tesla> <http://ex.org/revenue> \"96.77\"^^<" +
      xsd +
      "double> .\n"
      "<http://ex.org/Tesla> <http://ex.org/public> \"true\"^^<" +
      xsd +
      "boolean> .\n"
      "<http://ex.org/Tesla> <http://ex.org/founded> \"2003-07-01T00:00:00Z\"^^<" +
      xsd +
      "dateTime> .\n"
      "<http://ex.org/Tesla> <http://ex.org/local> \"2003-07-01T00:00:00\"^^<" +
      xsd +
      "dateTime> .\n"
      "<http://ex.org/Tesla> <http://ex.org/huge> \"99999999999999999999999\"^^<" +
      xsd +
      "integer> .\n"
      "<http://ex.org/Tesla> <http://ex.org/motto> \"say \\\"hi\\\"\\n\\u00E9\" .\n"
      "<http://ex.org/Tesla> <http://ex.org/shape> \"POINT(1 2)\"^^<http://ex.org/wkt> .\n";
  auto statements = ReadAll(text);
  ASSERT_TRUE(statements.ok()) << statements.status().ToString();
  ASSERT_EQ(statements->size(), 10U);
  const auto& s = *statements;
  EXPECT_EQ(s[0].subject.str(), "http://ex.org/Tesla");
  EXPECT_EQ(s[0].predicate.str(), "http://ex.org/ceo");
  EXPECT_EQ(s[0].object, ObjectValue::Entity(EntityId("http://ex.org/Musk")));
  EXPECT_EQ(s[0].line, 2U);
  EXPECT_EQ(s[1].subject.str(), "_:b1");
  EXPECT_EQ(s[1].object, ObjectValue::Text("Tesla, Inc.", "en"));
  EXPECT_EQ(s[2].object, ObjectValue::Integer(140473));
  EXPECT_EQ(s[3].object, ObjectValue::Number(96.77));
  EXPECT_EQ(s[4].object, ObjectValue::Boolean(true));
  EXPECT_EQ(s[5].object, ObjectValue::Time(*Timestamp::FromRfc3339("2003-07-01T00:00:00Z")));
  // Values that have no native kind stay verbatim, typed.
  EXPECT_EQ(s[6].object, ObjectValue::Typed("2003-07-01T00:00:00", xsd + "dateTime"));
  EXPECT_EQ(s[7].object, ObjectValue::Typed("99999999999999999999999", xsd + "integer"));
  EXPECT_EQ(s[8].object, ObjectValue::Text("say \"hi\"\n\xC3\xA9"));
  EXPECT_EQ(s[9].object, ObjectValue::Typed("POINT(1 2)", "http://ex.org/wkt"));
}

TEST(Rdf, SyntaxErrorsNameTheLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"<http://a> <http://b> <http://c> .\n<http://a> <http://b> .\n", "line 2"},
      {"<http://a> <http://b> \"unterminated .\n", "line 1"},
      {"<http://a> <http://b> <http://c>\n", "line 1"},
      {"\n\n<http://a> <http://b> \"x\"@ .\n", "line 3"},
      {"<http://a> <http://b> \"x\"^^<http://c> <http://d> .\n", "line 1"},
      {std::string("<http://a> <http://b> \"nul\0\" .\n", 31), "NUL"},
      // serd passes some invalid UTF-8 in IRIs through; the reader refuses it, naming the line.
      {"<http://a> <http://b> <http://c> .\n<ubdb:x\xed\x62> <http://b> \"x\" .\n", "line 2"},
  };
  for (const auto& [text, where] : bad) {
    std::size_t seen = 0;
    Status s = ReadText(text, Syntax::kNTriples, [&seen](Statement&&) {
      ++seen;
      return Status::Ok();
    });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(s.ToString().find(where), std::string::npos) << s.ToString();
  }
}

TEST(Rdf, NQuadsCarryTheGraph) {
  auto s = ReadAll("<http://a> <http://b> \"x\" <http://graph/1> .\n<http://a> <http://b> \"y\" .\n", Syntax::kNQuads);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 2U);
  EXPECT_EQ((*s)[0].graph, "http://graph/1");
  EXPECT_FALSE((*s)[1].graph.has_value());
}

TEST(Rdf, TurtleExpandsPrefixesAndResolvesRelativeIris) {
  auto s = ReadAll(
      "@prefix ex: <http://ex.org/> .\n@base <http://base.org/dir/> .\n"
      "ex:Tesla ex:ceo <Musk> ;\n  ex:employees 140473 ;\n  ex:name \"Tesla\"@en .\n",
      Syntax::kTurtle);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 3U);
  EXPECT_EQ((*s)[0].subject.str(), "http://ex.org/Tesla");
  EXPECT_EQ((*s)[0].object, ObjectValue::Entity(EntityId("http://base.org/dir/Musk")));
  EXPECT_EQ((*s)[1].object, ObjectValue::Integer(140473));
  EXPECT_EQ((*s)[2].object, ObjectValue::Text("Tesla", "en"));
  auto undefined = ReadAll("nope:a nope:b nope:c .\n", Syntax::kTurtle);
  EXPECT_FALSE(undefined.ok());
}

TEST(Rdf, CallbackErrorsStopTheRead) {
  std::size_t seen = 0;
  Status s = ReadText("<http://a> <http://b> \"1\" .\n<http://a> <http://b> \"2\" .\n<http://a> <http://b> \"3\" .\n",
                      Syntax::kNTriples, [&seen](Statement&& st) {
                        ++seen;
                        return st.line == 2 ? Status::InvalidArgument("no thanks") : Status::Ok();
                      });
  EXPECT_EQ(seen, 2U);
  EXPECT_NE(s.ToString().find("no thanks"), std::string::npos);
}

TEST(Rdf, WrittenTriplesReadBackAsTheSameValues) {
  const std::vector<ObjectValue> objects = {
      ObjectValue::Entity(EntityId("http://ex.org/x%20y")),
      ObjectValue::Entity(EntityId("_:b7")),
      ObjectValue::Entity(EntityId("_:not a label")),
      ObjectValue::Entity(EntityId("Tesla_Inc")),
      ObjectValue::Entity(EntityId("urn:stemedb:name:looks%20encoded")),
      ObjectValue::Text("line\nbreak \"quoted\" back\\slash tab\t \xE2\x82\xAC"),
      ObjectValue::Text("bonjour", "fr"),
      ObjectValue::Integer(-9223372036854775807LL - 1),
      ObjectValue::Number(96.77),
      ObjectValue::Number(1e300),
      ObjectValue::Number(5.0),
      ObjectValue::Boolean(false),
      ObjectValue::Time(*Timestamp::FromRfc3339("2024-05-01T12:34:56.123456Z")),
      ObjectValue::Typed("POINT(1 2)", "http://ex.org/wkt"),
      ObjectValue::Blob(Blake3("image")),
  };
  for (const ObjectValue& o : objects) {
    const std::string line = NTriple(EntityId("http://ex.org/s"), RelationId("http://ex.org/p"), o);
    auto back = ReadAll(line);
    ASSERT_TRUE(back.ok()) << line << back.status().ToString();
    ASSERT_EQ(back->size(), 1U) << line;
    EXPECT_EQ((*back)[0].object, o) << line;
  }
}

// Any text of Unicode scalar values other than NUL, as UTF-8.
std::string Utf8(const std::vector<char32_t>& code_points) {
  std::string out;
  for (char32_t c : code_points) {
    if (c == 0 || (c >= 0xD800 && c <= 0xDFFF)) continue;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

RC_GTEST_PROP(Rdf, NamesTextAndNumbersRoundTrip, (std::int64_t i, double d)) {
  RC_PRE(std::isfinite(d));
  // Mostly ASCII (where the escapes are), some of everything else.
  const auto code_point = rc::gen::weightedOneOf<char32_t>(
      {{4, rc::gen::inRange<char32_t>(1, 0x80)}, {1, rc::gen::inRange<char32_t>(0x80, 0x110000)}});
  const std::string text = Utf8(*rc::gen::container<std::vector<char32_t>>(code_point));
  const std::string name = Utf8(*rc::gen::nonEmpty(rc::gen::container<std::vector<char32_t>>(code_point)));
  for (const ObjectValue& o : {ObjectValue::Text(text), ObjectValue::Integer(i), ObjectValue::Number(d),
                               ObjectValue::Entity(EntityId(name))}) {
    auto back = ReadAll(NTriple(EntityId(name), RelationId(name), o));
    RC_ASSERT(back.ok());
    RC_ASSERT(back->size() == 1U);
    RC_ASSERT((*back)[0].subject.str() == name);
    RC_ASSERT((*back)[0].predicate.str() == name);
    RC_ASSERT((*back)[0].object == o);
  }
}

// The W3C N-Triples syntax tests, when ../shared/data holds them: every positive test reads,
// every negative test is refused naming a line.
TEST(Rdf, W3cNTriplesSyntaxTests) {
  const std::filesystem::path dir = std::filesystem::path(STEMEDB_SHARED_DATA_DIR) / "w3c-ntriples-tests";
  if (!std::filesystem::exists(dir)) {
    GTEST_SKIP() << dir << " is not on this machine; the W3C suite cannot run here";
  }
  std::size_t positive = 0, negative = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".nt") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    Status s = ReadText(text.str(), Syntax::kNTriples, [](Statement&&) { return Status::Ok(); });
    // The suite names negative tests "*-bad-*".
    if (entry.path().filename().string().find("-bad-") != std::string::npos) {
      ++negative;
      EXPECT_FALSE(s.ok()) << entry.path() << " should be refused";
      EXPECT_NE(s.ToString().find("line "), std::string::npos) << s.ToString();
    } else {
      ++positive;
      EXPECT_TRUE(s.ok()) << entry.path() << ": " << s.ToString();
    }
  }
  std::printf("W3C N-Triples: %zu positive, %zu negative tests\n", positive, negative);
}

}  // namespace
}  // namespace stemedb::rdf
