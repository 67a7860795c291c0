#include "db_commands.h"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli_common.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "stemedb/model/key_file.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "stemedb/wal/wal.h"

namespace stemedb::cli {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What `assert` reads from its flags.
struct AssertFlags {
  std::string db, key, subject, predicate;
  std::string entity, text, lang, timestamp, blob, parent, evidence, evidence_file;
  std::optional<std::int64_t> integer;
  std::optional<double> number;
  std::optional<bool> boolean;
  float confidence = 1.0F;
};

Result<ObjectValue> ObjectFromFlags(const AssertFlags& f) {
  int given = (f.entity.empty() ? 0 : 1) + (f.text.empty() ? 0 : 1) + (f.integer ? 1 : 0) + (f.number ? 1 : 0) +
              (f.boolean ? 1 : 0) + (f.timestamp.empty() ? 0 : 1) + (f.blob.empty() ? 0 : 1);
  if (given != 1) {
    return Status::InvalidArgument(
        "give exactly one object: --entity, --text, --integer, --number, --bool, --timestamp or --blob");
  }
  if (!f.entity.empty()) return ObjectValue::Entity(EntityId(f.entity));
  if (!f.text.empty()) return ObjectValue::Text(f.text, f.lang);
  if (f.integer) return ObjectValue::Integer(*f.integer);
  if (f.number) return ObjectValue::Number(*f.number);
  if (f.boolean) return ObjectValue::Boolean(*f.boolean);
  if (!f.timestamp.empty()) {
    STEMEDB_ASSIGN_OR_RETURN(Timestamp t, Timestamp::FromRfc3339(f.timestamp));
    return ObjectValue::Time(t);
  }
  STEMEDB_ASSIGN_OR_RETURN(Hash h, Hash::FromHex(f.blob));
  return ObjectValue::Blob(h);
}

int Assert(const AssertFlags& f) {
  auto key = ReadKeyFile(f.key);
  if (!key.ok()) return Fail(key.status());
  Assertion a;
  a.subject = EntityId(f.subject);
  a.predicate = RelationId(f.predicate);
  auto object = ObjectFromFlags(f);
  if (!object.ok()) return Fail(object.status());
  a.object = std::move(*object);
  a.confidence = f.confidence;
  std::optional<std::string> evidence;
  if (!f.evidence.empty() && !f.evidence_file.empty()) {
    return Fail(Status::InvalidArgument("give --evidence or --evidence-file, not both"));
  }
  if (!f.evidence.empty()) evidence = f.evidence;
  if (!f.evidence_file.empty()) {
    auto text = ReadFile(f.evidence_file);
    if (!text.ok()) return Fail(text.status());
    evidence = std::move(*text);
  }
  if (evidence) a.source_hash = Blake3(*evidence);
  if (!f.parent.empty()) {
    auto parent = AssertionId::FromHex(f.parent);
    if (!parent.ok()) return Fail(std::move(parent).status().with_context("--parent"));
    a.parent = *parent;
  }
  Status valid = ValidateAssertion(a);
  if (!valid.ok()) return Fail(valid);
  const KeyPair* signer[] = {&*key};
  auto signed_assertion = SignAssertion(std::move(a), signer, Timestamp::Now());
  if (!signed_assertion.ok()) return Fail(signed_assertion.status());
  // Caught up first, like import: against indexes still being rebuilt a claim already stored
  // would be appended again.
  auto database = OpenCaughtUp(f.db);
  if (!database.ok()) return Fail(database.status());
  auto result = (*database)->Submit(*signed_assertion, evidence);
  if (!result.ok()) return Fail(result.status());
  fmt::print("{}\n", result->id.ToHex());
  return 0;
}

int Get(const std::string& dir, const std::string& id_hex) {
  auto id = AssertionId::FromHex(id_hex);
  if (!id.ok()) return Fail(std::move(id).status().with_context("ID"));
  auto database = OpenCaughtUp(dir);
  if (!database.ok()) return Fail(database.status());
  auto got = (*database)->Get(*id);
  if (!got.ok()) return Fail(got.status());
  if (!*got) return Fail(Status::NotFound("assertion " + id_hex + " is not stored"));
  fmt::print("{}\n", EnvelopeToJson(**got).dump(2));
  return 0;
}

int History(const std::string& dir, const std::string& id_hex) {
  auto id = AssertionId::FromHex(id_hex);
  if (!id.ok()) return Fail(std::move(id).status().with_context("ID"));
  auto database = OpenCaughtUp(dir);
  if (!database.ok()) return Fail(database.status());
  auto history = (*database)->History(*id);
  if (!history.ok()) return Fail(history.status());
  nlohmann::json out = {{"ancestors", nlohmann::json::array()}, {"descendants", nlohmann::json::array()}};
  for (const auto& s : history->ancestors) out["ancestors"].push_back(EnvelopeToJson(s));
  for (const auto& s : history->descendants) out["descendants"].push_back(EnvelopeToJson(s));
  fmt::print("{}\n", out.dump(2));
  return 0;
}

struct QueryFlags {
  std::string db, subject, predicate, lens = "consensus", authority, as_of;
  float min_confidence = 0.0F;
  double tolerance = 0.0;
  bool explain = false, json = false, include_superseded = false;
};

// Lens options from flags. `table` receives the authority table, which the options point to.
Result<lens::LensOptions> OptionsFromFlags(const QueryFlags& f, std::optional<lens::AuthorityTable>& table) {
  lens::LensOptions options;
  options.min_confidence = f.min_confidence;
  options.number_tolerance = f.tolerance;
  options.explain = f.explain;
  options.include_superseded = f.include_superseded;
  if (!f.authority.empty()) {
    STEMEDB_ASSIGN_OR_RETURN(table, ReadAuthorityFile(f.authority));
    options.weights = &*table;
  }
  if (!f.as_of.empty()) {
    STEMEDB_RETURN_IF_ERROR(lens::ParseAsOf(f.as_of, options).with_context("--as-of"));
  }
  return options;
}

void PrintResolution(const std::string& title, const lens::Resolution& r, bool explain) {
  if (!r.value) {
    fmt::print("{}: nothing known\n", title);
    return;
  }
  fmt::print("{}: {}  (confidence {:.3f}, {} supporting assertion{})\n", title, r.value->DebugString(), r.confidence,
             r.support.size(), r.support.size() == 1 ? "" : "s");
  if (!explain) return;
  for (const auto& c : r.explanation.candidates) {
    fmt::print("  {:<18} {:<34} confidence {:.2f}  {}\n", lens::VerdictName(c.verdict), c.value.DebugString(),
               c.confidence, c.reason);
    for (const auto& s : c.signers) {
      fmt::print("      signer {}  signed {}  weight {:.2f}{}{}\n", s.agent.ToHex().substr(0, 16),
                 s.signed_at.ToRfc3339(), s.weight, s.counted ? "  counted" : "",
                 s.note.empty() ? "" : "  (" + s.note + ")");
    }
  }
}

int Query(const QueryFlags& f) {
  auto kind = lens::ParseLensKind(f.lens);
  if (!kind.ok()) return Fail(kind.status());
  std::optional<lens::AuthorityTable> table;
  auto options = OptionsFromFlags(f, table);
  if (!options.ok()) return Fail(options.status());
  auto database = OpenDatabase(f.db);
  if (!database.ok()) return Fail(database.status());
  auto r = (*database)->Resolve(EntityId(f.subject), RelationId(f.predicate), *kind, *options,
                                (*database)->stats().durable_position);
  if (!r.ok()) return Fail(r.status());
  if (f.json) {
    fmt::print("{}\n", lens::ResolutionToJson(*r, f.explain).dump(2));
  } else {
    PrintResolution(fmt::format("{} {} ({})", f.subject, f.predicate, f.lens), *r, f.explain);
  }
  return r->value ? 0 : kNotFound;
}

int Card(const QueryFlags& f) {
  auto kind = lens::ParseLensKind(f.lens);
  if (!kind.ok()) return Fail(kind.status());
  std::optional<lens::AuthorityTable> table;
  auto options = OptionsFromFlags(f, table);
  if (!options.ok()) return Fail(options.status());
  auto database = OpenCaughtUp(f.db);
  if (!database.ok()) return Fail(database.status());
  auto card = (*database)->ResolveSubject(EntityId(f.subject), *kind, *options);
  if (!card.ok()) return Fail(card.status());
  if (f.json) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& p : *card) out[p.predicate.str()] = lens::ResolutionToJson(p.resolution, f.explain);
    fmt::print("{}\n", out.dump(2));
  } else {
    for (const auto& p : *card) PrintResolution(p.predicate.str(), p.resolution, f.explain);
  }
  return card->empty() ? kNotFound : 0;
}

int Conflicts(const std::string& dir, std::size_t limit, bool json) {
  auto database = OpenCaughtUp(dir);
  if (!database.ok()) return Fail(database.status());
  auto conflicts = (*database)->Conflicts(limit);
  if (!conflicts.ok()) return Fail(conflicts.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : *conflicts) {
    if (json) {
      out.push_back({{"subject", c.subject.str()},
                     {"predicate", c.predicate.str()},
                     {"candidates", c.candidates},
                     {"live_values", c.live_values}});
    } else {
      fmt::print("{}  {}  {} candidates, {} live values\n", c.subject.str(), c.predicate.str(), c.candidates,
                 c.live_values);
    }
  }
  if (json) fmt::print("{}\n", out.dump(2));
  return 0;
}

struct SignedByFlags {
  std::string db, agent, as_of;
  wal::LogPosition after = 0;
  std::size_t limit = 1000;
  bool json = false;
};

// What an agent signed, oldest first, each with its claim: a line per signature, or one JSON
// document shaped as GET /v1/agents/{agent}/signatures?assertions=true answers.
int SignedBy(const SignedByFlags& f) {
  auto agent = AgentId::FromHex(f.agent);
  if (!agent.ok()) return Fail(std::move(agent).status().with_context("agent"));
  lens::LensOptions as_of;  // read as `query --as-of` reads it
  if (!f.as_of.empty()) {
    if (Status s = lens::ParseAsOf(f.as_of, as_of); !s.ok()) return Fail(std::move(s).with_context("--as-of"));
  }
  auto database = OpenCaughtUp(f.db);
  if (!database.ok()) return Fail(database.status());
  auto page = (*database)->SignaturesBy(*agent, {.after = f.after,
                                                 .limit = f.limit,
                                                 .with_assertions = true,
                                                 .as_of_position = as_of.as_of_position,
                                                 .as_of_time = as_of.as_of_time});
  if (!page.ok()) return Fail(page.status());
  nlohmann::json signatures = nlohmann::json::array();
  for (const auto& s : page->signatures) {
    const Assertion& a = *s.assertion;
    if (f.json) {
      signatures.push_back({{"id", s.id.ToHex()},
                            {"position", s.position},
                            {"signed_at", s.signed_at.ToRfc3339()},
                            {"assertion", AssertionToJson(a)}});
    } else {
      fmt::print("{:>10}  {}  {}  {}  {}  {}  confidence {:.2f}\n", s.position, s.id.ToHex(), s.signed_at.ToRfc3339(),
                 a.subject.str(), a.predicate.str(), a.object.DebugString(), a.confidence);
    }
  }
  if (f.json) {
    const nlohmann::json next = page->next ? nlohmann::json(*page->next) : nlohmann::json(nullptr);
    fmt::print(
        "{}\n",
        nlohmann::json{{"agent", agent->ToHex()}, {"signatures", std::move(signatures)}, {"next", next}}.dump(2));
  } else if (page->next) {
    // On stderr, so that stdout holds only the listing.
    fmt::print(stderr, "more follow: --after {}\n", *page->next);
  }
  return 0;
}

int Stats(const std::string& dir, bool json) {
  auto database = OpenCaughtUp(dir);
  if (!database.ok()) return Fail(database.status());
  const auto s = (*database)->stats();
  const nlohmann::json out = {{"durable_position", s.durable_position},
                              {"applied_position", s.applied_position},
                              {"lag", s.lag},
                              {"kv_disk_bytes", s.kv_disk_bytes},
                              {"kv_sorted_runs", s.kv_sorted_runs},
                              {"records_rejected_since_open", s.ingest.records_rejected}};
  if (json) {
    fmt::print("{}\n", out.dump(2));
  } else {
    for (const auto& [k, v] : out.items()) fmt::print("{:<28} {}\n", k, v.dump());
  }
  return 0;
}

int Compact(const std::string& dir, bool json) {
  auto database = OpenCaughtUp(dir);  // everything logged is in the indexes that get compacted
  if (!database.ok()) return Fail(database.status());
  const auto report = (*database)->Compact();
  if (!report.ok()) return Fail(report.status());
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"seconds", report->seconds},
                                      {"sorted_runs_before", report->sorted_runs_before},
                                      {"sorted_runs_after", report->sorted_runs_after},
                                      {"kv_disk_bytes_before", report->kv_disk_bytes_before},
                                      {"kv_disk_bytes_after", report->kv_disk_bytes_after}}
                           .dump(2));
  } else {
    fmt::print("compacted in {:.3f} s: {} sorted runs -> {}, {} -> {} bytes of index files\n", report->seconds,
               report->sorted_runs_before, report->sorted_runs_after, report->kv_disk_bytes_before,
               report->kv_disk_bytes_after);
  }
  return 0;
}

int Verify(const std::string& dir, bool json) {
  auto database = OpenCaughtUp(dir);  // the live indexes first, with progress; then the check
  if (!database.ok()) return Fail(database.status());
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto report = (*database)->Verify(
      std::filesystem::path(dir) / "verify.tmp", [tty](wal::LogPosition done, wal::LogPosition total) {
        if (tty)
          std::fprintf(stderr, "\rverify: %llu / %llu records", static_cast<unsigned long long>(done),
                       static_cast<unsigned long long>(total));
      });
  if (tty) std::fprintf(stderr, "\n");
  if (!report.ok()) return Fail(report.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& r = *report;
  if (json) {
    fmt::print("{}\n", nlohmann::json({{"clean", r.clean()},
                                       {"log_end", r.log_end},
                                       {"records", r.records},
                                       {"assertions", r.assertions},
                                       {"signatures_verified", r.signatures_verified},
                                       {"evidence_blobs", r.evidence_blobs},
                                       {"index_entries", r.index_entries},
                                       {"rejected", r.rejected},
                                       {"mismatch_count", r.mismatch_count},
                                       {"mismatches", r.mismatches},
                                       {"seconds", seconds}})
                           .dump(2));
  } else {
    fmt::print("log: {} records read back through their checksums (through position {})\n", r.records, r.log_end);
    fmt::print("assertions: {}, IDs recomputed; signatures: {} re-verified; evidence blobs: {} re-hashed\n",
               r.assertions, r.signatures_verified, r.evidence_blobs);
    fmt::print("indexes: {} entries compared with a rebuild from the log, {} differ\n", r.index_entries,
               r.mismatch_count);
    for (const auto& why : r.rejected) fmt::print("FAULT rejected record at {}\n", why);
    for (const auto& m : r.mismatches) fmt::print("FAULT index {}\n", m);
    if (r.mismatch_count > r.mismatches.size()) {
      fmt::print("... and {} more index differences\n", r.mismatch_count - r.mismatches.size());
    }
    fmt::print("{} in {:.2f} s\n", r.clean() ? "clean" : "FAULTS FOUND", seconds);
  }
  return r.clean() ? 0 : kFailure;
}

// Wal::Repair on the database's log: the operator's answer to an open refused for damaged
// records. The indexes are derived, so when the cut leaves them ahead of the log (they then refuse
// to open), it says how to rebuild them rather than deleting them itself.
int WalRepair(const std::string& dir_text, bool json) {
  const std::filesystem::path dir(dir_text);
  if (!std::filesystem::exists(dir / "wal")) {
    return Fail(Status::NotFound(fmt::format("{} holds no log (no wal directory)", dir_text)));
  }
  auto report = wal::Wal::Repair(dir / "wal");
  if (!report.ok()) return Fail(std::move(report).status().with_context("wal-repair " + dir_text));
  auto applied = db::Database::IndexesAppliedPosition(dir);
  if (!applied.ok()) return Fail(std::move(applied).status().with_context("wal-repair: read the indexes' position"));
  const wal::RepairReport& r = *report;
  const bool indexes_ahead = applied->has_value() && **applied > r.last_kept_position;
  if (json) {
    nlohmann::json out = {{"last_kept_position", r.last_kept_position},
                          {"dropped_bytes", r.dropped_bytes},
                          {"cut_segment", r.cut_segment},
                          {"cut_offset", r.cut_offset},
                          {"dropped_segments", r.dropped_segments},
                          {"indexes_applied_position", applied->has_value() ? nlohmann::json(**applied) : nullptr},
                          {"indexes_ahead", indexes_ahead}};
    fmt::print("{}\n", out.dump(2));
  } else if (r.cut_segment.empty()) {
    fmt::print("log: whole through position {}; nothing cut\n", r.last_kept_position);
  } else {
    fmt::print("log: cut {} at offset {}; kept through position {}; dropped {} bytes\n", r.cut_segment, r.cut_offset,
               r.last_kept_position, r.dropped_bytes);
    for (const auto& name : r.dropped_segments) fmt::print("set aside: {} (now {}.dropped)\n", name, name);
  }
  if (indexes_ahead && !json) {
    fmt::print(
        "indexes: applied through position {}, past the log's end: they will refuse to open. Delete {} "
        "and open the database again: it rebuilds them from the log\n",
        **applied, (dir / "kv").string());
  }
  return 0;
}

}  // namespace

void AddDatabaseCommands(CLI::App& app, std::function<int()>& run) {
  auto assert_flags = std::make_shared<AssertFlags>();
  auto* assert_cmd = app.add_subcommand("assert", "sign one assertion with --key and store it; prints its ID");
  assert_cmd->add_option("--db", assert_flags->db, "database directory")->required();
  assert_cmd->add_option("--key", assert_flags->key, "key file of the signing agent")->required();
  assert_cmd->add_option("--subject", assert_flags->subject)->required();
  assert_cmd->add_option("--predicate", assert_flags->predicate)->required();
  assert_cmd->add_option("--entity", assert_flags->entity, "object: an entity");
  assert_cmd->add_option("--text", assert_flags->text, "object: text (see --lang)");
  assert_cmd->add_option("--lang", assert_flags->lang, "language tag of --text");
  assert_cmd->add_option("--integer", assert_flags->integer, "object: a 64-bit integer");
  assert_cmd->add_option("--number", assert_flags->number, "object: a finite number");
  assert_cmd->add_option("--bool", assert_flags->boolean, "object: true or false");
  assert_cmd->add_option("--timestamp", assert_flags->timestamp, "object: an RFC 3339 time");
  assert_cmd->add_option("--blob", assert_flags->blob, "object: a blob hash (64 hex)");
  assert_cmd->add_option("--confidence", assert_flags->confidence, "in [0, 1]")->capture_default_str();
  assert_cmd->add_option("--evidence", assert_flags->evidence, "evidence text (stored; its BLAKE3 is the source hash)");
  assert_cmd->add_option("--evidence-file", assert_flags->evidence_file, "evidence file");
  assert_cmd->add_option("--parent", assert_flags->parent, "ID of the assertion this one supersedes");
  assert_cmd->callback([&run, assert_flags] { run = [assert_flags] { return Assert(*assert_flags); }; });

  auto target = std::make_shared<std::pair<std::string, std::string>>();  // db, id
  auto* get_cmd = app.add_subcommand("get", "print a stored assertion with all its signatures (JSON)");
  get_cmd->add_option("--db", target->first, "database directory")->required();
  get_cmd->add_option("id", target->second, "assertion ID (64 hex)")->required();
  get_cmd->callback([&run, target] { run = [target] { return Get(target->first, target->second); }; });
  auto* history_cmd = app.add_subcommand("history", "print the supersession history of an assertion (JSON)");
  history_cmd->add_option("--db", target->first, "database directory")->required();
  history_cmd->add_option("id", target->second, "assertion ID (64 hex)")->required();
  history_cmd->callback([&run, target] { run = [target] { return History(target->first, target->second); }; });

  auto query_flags = std::make_shared<QueryFlags>();
  auto add_lens_flags = [query_flags](CLI::App* cmd) {
    cmd->add_option("--db", query_flags->db, "database directory")->required();
    cmd->add_option("--subject", query_flags->subject)->required();
    cmd->add_option("--lens", query_flags->lens, "consensus, recency or authority")->capture_default_str();
    cmd->add_option("--authority", query_flags->authority, "authority table (JSON file)");
    cmd->add_option("--as-of", query_flags->as_of, "a log position or an RFC 3339 time");
    cmd->add_option("--min-confidence", query_flags->min_confidence);
    cmd->add_option("--tolerance", query_flags->tolerance, "numbers this close are one value (consensus)");
    cmd->add_flag("--include-superseded", query_flags->include_superseded);
    cmd->add_flag("--explain", query_flags->explain, "show every candidate and why it won or lost");
    cmd->add_flag("--json", query_flags->json, "JSON output");
  };
  auto* query_cmd = app.add_subcommand("query", "resolve (subject, predicate) through a lens");
  add_lens_flags(query_cmd);
  query_cmd->add_option("--predicate", query_flags->predicate)->required();
  query_cmd->callback([&run, query_flags] { run = [query_flags] { return Query(*query_flags); }; });
  auto* card_cmd = app.add_subcommand("card", "resolve every predicate of a subject (an entity card)");
  add_lens_flags(card_cmd);
  card_cmd->callback([&run, query_flags] { run = [query_flags] { return Card(*query_flags); }; });

  auto listing = std::make_shared<std::tuple<std::string, std::size_t, bool>>("", 1000, false);
  auto* conflicts_cmd = app.add_subcommand("conflicts", "list (subject, predicate) pairs whose live claims disagree");
  conflicts_cmd->add_option("--db", std::get<0>(*listing), "database directory")->required();
  conflicts_cmd->add_option("--limit", std::get<1>(*listing))->capture_default_str();
  conflicts_cmd->add_flag("--json", std::get<2>(*listing));
  conflicts_cmd->callback([&run, listing] {
    run = [listing] { return Conflicts(std::get<0>(*listing), std::get<1>(*listing), std::get<2>(*listing)); };
  });
  auto* verify_cmd = app.add_subcommand(
      "verify", "full integrity check: WAL checksums, IDs, signatures, indexes against a rebuild; exit 1 on a fault");
  verify_cmd->add_option("--db", std::get<0>(*listing), "database directory")->required();
  verify_cmd->add_flag("--json", std::get<2>(*listing));
  verify_cmd->callback(
      [&run, listing] { run = [listing] { return Verify(std::get<0>(*listing), std::get<2>(*listing)); }; });
  auto* repair_cmd = app.add_subcommand(
      "wal-repair",
      "cut the log at its first damaged record (after open refused it), setting later segments aside; "
      "the database must not be open");
  repair_cmd->add_option("--db", std::get<0>(*listing), "database directory")->required();
  repair_cmd->add_flag("--json", std::get<2>(*listing));
  repair_cmd->callback(
      [&run, listing] { run = [listing] { return WalRepair(std::get<0>(*listing), std::get<2>(*listing)); }; });
  auto signed_by = std::make_shared<SignedByFlags>();
  auto* signed_by_cmd = app.add_subcommand(
      "signed-by", "list what an agent signed, oldest first, with each claim (from the agent index)");
  signed_by_cmd->add_option("--db", signed_by->db, "database directory")->required();
  signed_by_cmd->add_option("agent", signed_by->agent, "the agent's public key (64 hex)")->required();
  signed_by_cmd->add_option("--after", signed_by->after, "only signatures logged after this position (paging)")
      ->capture_default_str();
  signed_by_cmd->add_option("--limit", signed_by->limit, "at most this many")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  signed_by_cmd->add_option("--as-of", signed_by->as_of,
                            "only signatures logged at or before this position, or signed at or before this "
                            "RFC 3339 time");
  signed_by_cmd->add_flag("--json", signed_by->json);
  signed_by_cmd->callback([&run, signed_by] { run = [signed_by] { return SignedBy(*signed_by); }; });
  auto* compact_cmd = app.add_subcommand(
      "compact", "merge the index files into one sorted run, so that reads seek in fewer files (after a bulk load)");
  compact_cmd->add_option("--db", std::get<0>(*listing), "database directory")->required();
  compact_cmd->add_flag("--json", std::get<2>(*listing));
  compact_cmd->callback(
      [&run, listing] { run = [listing] { return Compact(std::get<0>(*listing), std::get<2>(*listing)); }; });
  auto* stats_cmd = app.add_subcommand("stats", "log and index positions, lag, sizes");
  stats_cmd->add_option("--db", std::get<0>(*listing), "database directory")->required();
  stats_cmd->add_flag("--json", std::get<2>(*listing));
  stats_cmd->callback(
      [&run, listing] { run = [listing] { return Stats(std::get<0>(*listing), std::get<2>(*listing)); }; });
}

}  // namespace stemedb::cli
