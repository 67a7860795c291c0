// Writes the seed corpora of the fuzz targets into the directory given (fuzz/corpus in the
// repository): valid inputs of every kind, from which the fuzzers mutate. Deterministic, so the
// committed corpus can be regenerated: build/fuzz/fuzz_seed_corpus fuzz/corpus
#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "stemedb/model/codec.h"
#include "stemedb/model/json.h"
#include "stemedb/model/signing.h"
#include "stemedb/rdf/rdf.h"
#include "stemedb/wal/wal.h"

namespace {

using namespace stemedb;

KeyPair Key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  return std::move(KeyPair::FromSeed(seed)).value();
}

std::vector<SignedAssertion> Samples() {
  const std::vector<ObjectValue> objects = {
      ObjectValue::Entity(EntityId("Elon_Musk")),
      ObjectValue::Text("Austin, Texas", "en"),
      ObjectValue::Integer(-42),
      ObjectValue::Number(96.77),
      ObjectValue::Boolean(true),
      ObjectValue::Time(Timestamp(1700000000000000)),
      ObjectValue::Typed("POINT(1 2)", "http://www.opengis.net/ont/geosparql#wktLiteral"),
      ObjectValue::Blob(Blake3("image bytes"))};
  std::vector<SignedAssertion> out;
  const KeyPair k1 = Key(1), k2 = Key(2);
  for (std::size_t i = 0; i < objects.size(); ++i) {
    Assertion a;
    a.subject = EntityId("Tesla_Inc");
    a.predicate = RelationId(fmt::format("p{}", i));
    a.object = objects[i];
    a.confidence = 0.5F + 0.05F * static_cast<float>(i);
    a.source_hash = Blake3(fmt::format("evidence {}", i));
    if (i % 3 == 1) a.visual_hash = PHash(0x0123456789abcdefULL);
    if (i > 0 && i % 2 == 0) a.parent = out.back().id;
    std::vector<const KeyPair*> signers = {&k1};
    if (i % 2 == 1) signers.push_back(&k2);
    out.push_back(SignAssertion(a, signers, Timestamp(1700000000000000 + static_cast<std::int64_t>(i))).value());
  }
  return out;
}

void Write(const std::filesystem::path& dir, const std::string& name, std::string_view bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string_view Bytes(const AlignedBytes& b) {
  return {reinterpret_cast<const char*>(b.bytes().data()), b.bytes().size()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const auto samples = Samples();

  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    Write(root / "record_decode", fmt::format("record-{}", i), Bytes(EncodeRecord(s).value()));
    Write(root / "record_decode", fmt::format("claim-{}", i), Bytes(EncodeClaim(s.assertion).value()));
    Write(root / "json_envelope", fmt::format("envelope-{}.json", i),
          EnvelopeToJson(s, i % 2 == 0 ? std::optional<std::string>(fmt::format("evidence {}", i)) : std::nullopt)
              .dump());
    Write(root / "json_envelope", fmt::format("assertion-{}.json", i), AssertionToJson(s.assertion).dump());
  }
  const CoSignatures co{samples[0].id, {Key(3).Sign(samples[0].id, Timestamp(1700000000000009))}};
  Write(root / "record_decode", "cosignatures", Bytes(EncodeCoSignatures(co).value()));
  Write(root / "json_envelope", "authority.json",
        R"({"default": 0.1, "agents": {")" + Key(1).agent().ToHex() + R"(": 0.9}})");
  nlohmann::json batch = nlohmann::json::array();
  for (const auto& s : samples) batch.push_back(EnvelopeToJson(s));
  Write(root / "json_envelope", "batch.json", batch.dump());

  // RDF: the first byte picks the syntax (0 N-Triples, 1 N-Quads, 2 Turtle).
  std::string ntriples;
  for (const auto& s : samples)
    ntriples += rdf::NTriple(s.assertion.subject, s.assertion.predicate, s.assertion.object);
  ntriples += "_:b1 <http://ex.org/name> \"Tesla\\n\\\"Inc\\\"\"@en .\n# comment\n";
  Write(root / "rdf_import", "ntriples.nt", std::string(1, '\0') + ntriples);
  Write(root / "rdf_import", "nquads.nq",
        std::string(1, '\1') +
            "<http://ex.org/a> <http://ex.org/p> \"1\"^^<http://www.w3.org/2001/"
            "XMLSchema#integer> <http://ex.org/g> .\n<http://ex.org/a> <http://ex.org/q> _:x .\n");
  Write(root / "rdf_import", "turtle.ttl",
        std::string(1, '\2') +
            "@prefix ex: <http://ex.org/> .\n@base <http://base.org/> .\nex:Tesla ex:ceo <Musk> ;\n"
            "  ex:employees 140473 ; ex:revenue 96.77 ; ex:public true ;\n  ex:name \"Tesla\"@en , "
            "\"\"\"long\nname\"\"\" ;\n"
            "  ex:knows [ ex:name \"anon\" ] ; ex:list ( 1 2 3 ) .\n");

  // WAL: a real segment with assertion, co-signature and evidence records.
  {
    const auto dir = std::filesystem::temp_directory_path() / "stemedb-seed-wal";
    std::filesystem::remove_all(dir);
    {
      auto wal = wal::Wal::Open(dir).value();
      for (const auto& s : samples) (void)wal->Append(wal::RecordType::kAssertion, EncodeRecord(s).value().bytes());
      (void)wal->Append(wal::RecordType::kCoSignature, EncodeCoSignatures(co).value().bytes());
      const std::string evidence = "Form 10-K 2023, p. 52";
      (void)wal->Append(wal::RecordType::kEvidence,
                        {reinterpret_cast<const std::uint8_t*>(evidence.data()), evidence.size()});
      (void)wal->Close();
    }
    std::ifstream in(dir / wal::SegmentFileName(1), std::ios::binary);
    const std::string segment((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Write(root / "wal_segment", "segment", segment);
    Write(root / "wal_segment", "body", segment.substr(wal::kSegmentHeaderSize));
    std::filesystem::remove_all(dir);
  }

  // HTTP: METHOD\nPATH\nQUERY\nCONTENT-TYPE\nBODY
  const std::string id = samples[0].id.ToHex();
  const KeyPair k3 = Key(3);
  const KeyPair* cosigner[] = {&k3};
  const SignedAssertion cosigned = SignAssertion(samples[0].assertion, cosigner, Timestamp(1700000000000010)).value();
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"post-one", "POST\n/v1/assertions\n\napplication/json\n" + EnvelopeToJson(samples[0]).dump()},
      {"post-batch", "POST\n/v1/assertions\n\napplication/json\n" + batch.dump()},
      {"cosign", "POST\n/v1/assertions/" + id + "/signatures\n\napplication/json\n" +
                     nlohmann::json({{"signatures", EnvelopeToJson(cosigned)["signatures"]}}).dump()},
      {"evidence", "POST\n/v1/evidence\n\napplication/octet-stream\nsome evidence"},
      {"get", "GET\n/v1/assertions/" + id + "\nmust_see=1\n\n"},
      {"history", "GET\n/v1/assertions/" + id + "/history\n\n\n"},
      {"resolve",
       "GET\n/v1/resolve\nsubject=Tesla_Inc&predicate=p3&lens=consensus&explain=true&min_confidence=0.1&"
       "as_of=2024-01-01T00:00:00Z&tolerance=0.5\n\n"},
      {"entity", "GET\n/v1/entities/Tesla_Inc\nlens=recency&include_superseded=true\n\n"},
      {"conflicts", "GET\n/v1/conflicts\nlimit=10\n\n"},
      {"signatures", "GET\n/v1/agents/" + Key(1).agent().ToHex() + "/signatures\nafter=1&limit=3&assertions=true\n\n"},
      {"metrics", "GET\n/metrics\n\n\n"},
      {"health", "GET\n/healthz\n\n\n"},
  };
  for (const auto& [name, bytes] : requests) Write(root / "http_api", name, bytes);
  std::printf("seed corpus written to %s\n", root.c_str());
  return 0;
}
