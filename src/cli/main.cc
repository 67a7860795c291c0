// stemedb: the command-line tool. Errors go to stderr with a non-zero exit code; results go to
// stdout.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli_common.h"
#include "db_commands.h"
#include "export_command.h"
#include "import_command.h"
#include "serve_command.h"
#include "stemedb/db/database.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/json.h"
#include "stemedb/model/key_file.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"

#ifdef STEMEDB_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads its options from this global (MALLOC_CONF in the environment still adds to and
// overrides them): freed pages go back to the system from a background thread after about a
// second, rather than after 10 s and only when some thread allocates, so that the server's
// resident memory follows what it has in use (docs/reliability.md, "Load").
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

namespace stemedb::cli {
namespace {

int Keygen(const std::string& out) {
  auto key = KeyPair::Generate();
  if (!key.ok()) return Fail(key.status());
  Status written = WriteKeyFile(out, *key);
  if (!written.ok()) return Fail(written);
  fmt::print("{}\n", key->agent().ToHex());
  return 0;
}

Result<std::vector<KeyPair>> ReadKeys(const std::vector<std::string>& paths) {
  std::vector<KeyPair> keys;
  for (const auto& path : paths) {
    STEMEDB_ASSIGN_OR_RETURN(KeyPair key, ReadKeyFile(path));
    keys.push_back(std::move(key));
  }
  return keys;
}

// Reads assertion JSON lines on stdin and writes signed envelopes on stdout.
int Sign(const std::vector<std::string>& key_paths, const std::string& signed_at_text) {
  auto keys = ReadKeys(key_paths);
  if (!keys.ok()) return Fail(keys.status());
  std::vector<const KeyPair*> signers;
  for (const auto& k : *keys) signers.push_back(&k);
  Timestamp signed_at = Timestamp::Now();
  if (!signed_at_text.empty()) {
    auto parsed = Timestamp::FromRfc3339(signed_at_text);
    if (!parsed.ok()) return Fail(std::move(parsed).status().with_context("--signed-at"));
    signed_at = *parsed;
  }
  std::string line;
  for (std::size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("stdin line {}", line_number);
    auto json = ParseJson(line);
    if (!json.ok()) return Fail(std::move(json).status().with_context(where));
    auto parsed = AssertionFromJson(*json);
    if (!parsed.ok()) return Fail(std::move(parsed).status().with_context(where));
    Status valid = ValidateAssertion(parsed->assertion);
    if (!valid.ok()) return Fail(std::move(valid).with_context(where));
    auto signed_assertion = SignAssertion(parsed->assertion, signers, signed_at);
    if (!signed_assertion.ok()) return Fail(std::move(signed_assertion).status().with_context(where));
    fmt::print("{}\n", EnvelopeToJson(*signed_assertion, parsed->evidence).dump());
  }
  return 0;
}

// ---- demo ----

struct DemoClaim {
  const char* agent;
  const char* subject;
  const char* predicate;
  ObjectValue object;
  float confidence;
  const char* evidence;
};

Result<KeyPair> LoadOrCreateKey(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return ReadKeyFile(path);
  STEMEDB_ASSIGN_OR_RETURN(KeyPair key, KeyPair::Generate());
  STEMEDB_RETURN_IF_ERROR(WriteKeyFile(path, key));
  return key;
}

int Demo(const std::filesystem::path& db) {
  const std::vector<DemoClaim> claims = {
      {"sec-filings", "Tesla_Inc", "revenue_2023_usd_billions", ObjectValue::Number(96.77), 0.95F,
       "Form 10-K 2023, p. 52"},
      {"news-crawler", "Tesla_Inc", "revenue_2023_usd_billions", ObjectValue::Number(96.8), 0.7F,
       "Reuters, 2024-01-24"},
      {"llm-agent", "Tesla_Inc", "revenue_2023_usd_billions", ObjectValue::Number(81.5), 0.4F, "model recollection"},
      {"sec-filings", "Tesla_Inc", "ceo", ObjectValue::Entity(EntityId("Elon_Musk")), 0.99F, "Form 10-K 2023"},
      {"news-crawler", "Tesla_Inc", "ceo", ObjectValue::Entity(EntityId("Elon_Musk")), 0.9F, "Reuters"},
      {"llm-agent", "Tesla_Inc", "headquarters", ObjectValue::Text("Palo Alto, California", "en"), 0.5F,
       "training data"},
      {"sec-filings", "Tesla_Inc", "headquarters", ObjectValue::Text("Austin, Texas", "en"), 0.95F, "Form 10-K 2023"},
      {"news-crawler", "Tesla_Inc", "founded", ObjectValue::Time(*Timestamp::FromRfc3339("2003-07-01T00:00:00Z")), 0.8F,
       "company history page"},
  };
  std::error_code ec;
  std::filesystem::create_directories(db / "keys", ec);
  if (ec) return Fail(Status::IoError(fmt::format("create {}: {}", (db / "keys").string(), ec.message())));
  std::map<std::string, KeyPair> agents;
  for (const char* name : {"sec-filings", "news-crawler", "llm-agent"}) {
    auto key = LoadOrCreateKey(db / "keys" / (std::string(name) + ".key"));
    if (!key.ok()) return Fail(key.status());
    agents.emplace(name, std::move(*key));
  }

  auto database = db::Database::Open(db);
  if (!database.ok()) return Fail(database.status());

  // Submit is idempotent: a claim already stored (same ID, same signer) writes nothing.
  // Each agent signs at its own time (Recency has something to decide) and has an authority
  // weight (Authority has something to rank): the table is written beside the keys.
  const std::map<std::string, std::pair<const char*, double>> profile = {
      {"sec-filings", {"2024-01-29T16:05:00Z", 0.95}},
      {"news-crawler", {"2024-01-24T21:30:00Z", 0.6}},
      {"llm-agent", {"2024-02-01T09:00:00Z", 0.2}}};
  nlohmann::json authority = {{"default", 0.1}, {"agents", nlohmann::json::object()}};
  for (const auto& [name, key] : agents) authority["agents"][key.agent().ToHex()] = profile.at(name).second;
  {
    std::ofstream out(db / "authority.json");
    out << authority.dump(2) << "\n";
    if (!out) return Fail(Status::IoError("write " + (db / "authority.json").string()));
  }
  std::vector<Envelope> envelopes;
  for (const DemoClaim& c : claims) {
    const Timestamp signed_at = *Timestamp::FromRfc3339(profile.at(c.agent).first);
    Assertion a;
    a.subject = EntityId(c.subject);
    a.predicate = RelationId(c.predicate);
    a.object = c.object;
    a.confidence = c.confidence;
    a.source_hash = Blake3(c.evidence);
    const KeyPair* signer[] = {&agents.at(c.agent)};
    auto signed_assertion = SignAssertion(a, signer, signed_at);
    if (!signed_assertion.ok()) return Fail(signed_assertion.status());
    envelopes.push_back({std::move(*signed_assertion), std::string(c.evidence)});
  }
  auto submitted = (*database)->SubmitBatch(envelopes);
  if (!submitted.ok()) return Fail(submitted.status());
  std::size_t appended = 0;
  for (const auto& r : *submitted) appended += r.already_stored ? 0 : 1;
  if (Status applied = WaitUntilQueryable(**database); !applied.ok()) return Fail(applied);
  const auto durable = (*database)->stats().durable_position;

  fmt::print("StemeDB demo database: {}\n", std::filesystem::absolute(db).string());
  fmt::print("stored {} new signed assertions (verified, fsynced, indexed); the log holds {} records\n\n", appended,
             durable);

  // Read back through the indexes: every candidate per (subject, predicate), the conflicts that
  // the lenses resolve.
  std::map<std::string, std::string> names;
  for (const auto& [name, key] : agents) names[key.agent().ToHex()] = name;
  auto card = (*database)->BySubject(EntityId("Tesla_Inc"));
  if (!card.ok()) return Fail(card.status());
  std::string predicate;
  for (const lens::Candidate& s : *card) {
    const Assertion& a = s.assertion;
    if (a.predicate.str() != predicate) {
      predicate = a.predicate.str();
      fmt::print("{} {}\n", a.subject.str(), predicate);
    }
    std::string signers;
    for (const auto& signer : s.signers) {
      const SignatureEntry& sig = signer.signature;
      auto it = names.find(sig.agent.ToHex());
      signers += (signers.empty() ? "" : ",") + (it != names.end() ? it->second : sig.agent.ToHex().substr(0, 12));
    }
    auto evidence = (*database)->GetEvidence(a.source_hash);
    if (!evidence.ok()) return Fail(evidence.status());
    fmt::print("    {:<34} confidence {:.2f}  by {:<12}  evidence \"{}\"  id {}\n", a.object.DebugString(),
               a.confidence, signers, evidence->value_or("?"), s.id.ToHex().substr(0, 16));
  }
  fmt::print(
      "\nEvery claim above was verified (Ed25519) before it was written, appended to the write-ahead\n"
      "log and fsynced, then indexed from the log; its ID is the BLAKE3 hash of its canonical\n"
      "encoding. The claims conflict on purpose: resolving them is the job of StemeDB's lenses.\n\n");
  return 0;
}

}  // namespace
}  // namespace stemedb::cli

namespace {

int Main(int argc, char** argv) {
  using namespace stemedb::cli;
  // Library logs go to stderr, quietly unless asked, so stdout carries only results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("stemedb"));
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{"StemeDB: a database for a probabilistic knowledge graph of signed, conflicting claims"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log progress to stderr");

  std::string keygen_out;
  auto* keygen = app.add_subcommand("keygen", "create an Ed25519 key file (mode 0600); prints the public key");
  keygen->add_option("--out", keygen_out, "key file to create (never overwritten)")->required();

  std::vector<std::string> sign_keys;
  std::string signed_at;
  auto* sign = app.add_subcommand("sign", "sign assertion JSON lines from stdin; writes signed envelopes");
  sign->add_option("--key", sign_keys, "key file; repeat for several signatures")->required();
  sign->add_option("--signed-at", signed_at, "RFC 3339 signing time (default: now)");

  std::string demo_db = "./data";
  auto* demo = app.add_subcommand("demo", "store and print a small demo data set of conflicting signed claims");
  demo->add_option("--db", demo_db, "database directory")->capture_default_str();

  std::function<int()> run;
  AddDatabaseCommands(app, run);
  AddImportCommand(app, run);
  AddExportCommand(app, run);
  AddServeCommand(app, run);

  CLI11_PARSE(app, argc, argv);
  if (verbose) spdlog::set_level(spdlog::level::info);
  if (*keygen) return Keygen(keygen_out);
  if (*sign) return Sign(sign_keys, signed_at);
  if (*demo) return Demo(demo_db);
  if (run) return run();
  return 2;
}

}  // namespace

// Errors are values in StemeDB's code; what can still throw here is the environment (allocation,
// the logger's set-up): reported as a message and exit status 1 rather than an abort.
int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stemedb: %s\n", e.what());
    return 1;
  }
}
