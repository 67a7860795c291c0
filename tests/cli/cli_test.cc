// The stemedb command, tested by running the real binary.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "stemedb/model/json.h"
#include "stemedb/model/validate.h"
#include "support/temp_dir.h"

namespace stemedb {
namespace {

struct Output {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `args` through the shell with optional stdin text.
Output RunStemedb(const std::string& args, const std::string& input = "") {
  stemedb::testing::TempDir io;
  const auto in = io / "in", out = io / "out", err = io / "err";
  std::ofstream(in) << input;
  const std::string command =
      std::string(STEMEDB_BINARY) + " " + args + " < " + in.string() + " > " + out.string() + " 2> " + err.string();
  const int status = std::system(command.c_str());
  Output o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::stringstream so, se;
  so << std::ifstream(out).rdbuf();
  se << std::ifstream(err).rdbuf();
  o.out = so.str();
  o.err = se.str();
  return o;
}

TEST(Cli, KeygenWritesAPrivateKeyAndPrintsThePublicOne) {
  stemedb::testing::TempDir dir;
  const auto key = dir / "a.key";
  Output o = RunStemedb("keygen --out " + key.string());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.size(), 65U);  // 64 hex + newline
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  // Never overwritten.
  Output again = RunStemedb("keygen --out " + key.string());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("never overwritten"), std::string::npos) << again.err;
}

TEST(Cli, SignProducesValidEnvelopesWithSeveralKeys) {
  stemedb::testing::TempDir dir;
  ASSERT_EQ(RunStemedb("keygen --out " + (dir / "a.key").string()).exit_code, 0);
  ASSERT_EQ(RunStemedb("keygen --out " + (dir / "b.key").string()).exit_code, 0);
  const std::string input =
      R"({"subject":"Tesla_Inc","predicate":"revenue","object":{"number":96.7},"confidence":0.9,"evidence":"10-K"})"
      "\n\n"
      R"({"subject":"Tesla_Inc","predicate":"ceo","object":{"entity":"Elon_Musk"}})"
      "\n";
  Output o = RunStemedb("sign --key " + (dir / "a.key").string() + " --key " + (dir / "b.key").string() +
                            " --signed-at 2024-05-01T00:00:00Z",
                        input);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    auto json = ParseJson(line);
    ASSERT_TRUE(json.ok());
    auto envelope = EnvelopeFromJson(*json);
    ASSERT_TRUE(envelope.ok()) << envelope.status().ToString();
    EXPECT_EQ(envelope->signed_assertion.signatures.size(), 2U);
    EXPECT_TRUE(ValidateSignedAssertion(envelope->signed_assertion).ok());
    if (count == 0) {
      EXPECT_EQ(envelope->evidence, "10-K");
    }
    ++count;
  }
  EXPECT_EQ(count, 2);
}

TEST(Cli, SignReportsTheBadLineAndStops) {
  stemedb::testing::TempDir dir;
  ASSERT_EQ(RunStemedb("keygen --out " + (dir / "a.key").string()).exit_code, 0);
  const std::string input = R"({"subject":"s","predicate":"p","object":{"bool":true}})"
                            "\n"
                            R"({"subject":"s","predicate":"p","object":{"bool":true},"confidence":1.5})"
                            "\n"
                            R"({"subject":"s","predicate":"q","object":{"bool":true}})"
                            "\n";
  Output o = RunStemedb("sign --key " + (dir / "a.key").string(), input);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("stdin line 2: confidence: must be in [0, 1]"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1);  // line 1 signed, line 3 never reached
}

TEST(Cli, SignRefusesAKeyOthersCanRead) {
  stemedb::testing::TempDir dir;
  const auto key = dir / "a.key";
  ASSERT_EQ(RunStemedb("keygen --out " + key.string()).exit_code, 0);
  ::chmod(key.c_str(), 0644);
  Output o = RunStemedb("sign --key " + key.string(), "{}\n");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("chmod 600"), std::string::npos) << o.err;
  EXPECT_TRUE(o.out.empty());
}

// Memory settings out of range are refused before anything is opened or created.
TEST(Cli, ServeRefusesMemorySettingsOutOfRange) {
  stemedb::testing::TempDir dir;
  for (const std::string flag :
       {"--cache-mib 0", "--write-buffer-mib 0", "--cache-mib lots", "--backpressure-timeout 0"}) {
    Output o = RunStemedb("serve --db " + (dir / "db").string() + " --listen 127.0.0.1:0 " + flag);
    EXPECT_NE(o.exit_code, 0) << flag;
    EXPECT_NE(o.err.find(flag.substr(0, flag.find(' '))), std::string::npos) << flag << ": " << o.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "db")) << flag;
  }
}

TEST(Cli, DemoStoresVerifiesAndIsIdempotent) {
  stemedb::testing::TempDir dir;
  Output first = RunStemedb("demo --db " + (dir / "db").string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("stored 8 new signed assertions"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("Tesla_Inc revenue_2023_usd_billions"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("evidence \"Form 10-K 2023, p. 52\""), std::string::npos) << first.out;
  Output second = RunStemedb("demo --db " + (dir / "db").string());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("stored 0 new signed assertions"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("the log holds 16 records"), std::string::npos)
      << second.out;  // 8 claims + 8 evidence blobs
}

TEST(Cli, QueriesResolveTheDemoConflictThreeWays) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  const std::string revenue = " --subject Tesla_Inc --predicate revenue_2023_usd_billions";
  Output consensus = RunStemedb("query --db " + db + revenue + " --lens consensus --json --explain");
  ASSERT_EQ(consensus.exit_code, 0) << consensus.err;
  auto json = ParseJson(consensus.out);
  ASSERT_TRUE(json.ok()) << consensus.out;
  EXPECT_EQ((*json)["value"]["number"], 96.77);
  EXPECT_EQ((*json)["explanation"]["candidates"].size(), 3U);
  EXPECT_FALSE((*json)["explanation"]["candidates"][0]["reason"].get<std::string>().empty());
  Output recency = RunStemedb("query --db " + db + revenue + " --lens recency");
  EXPECT_NE(recency.out.find("number:81.5"), std::string::npos) << recency.out;  // llm-agent signed last
  Output authority = RunStemedb("query --db " + db + revenue + " --lens authority --authority " +
                                (dir / "db" / "authority.json").string());
  EXPECT_NE(authority.out.find("number:96.77"), std::string::npos) << authority.out;
  Output tolerant = RunStemedb("query --db " + db + revenue + " --tolerance 0.05");
  EXPECT_NE(tolerant.out.find("2 supporting assertions"), std::string::npos) << tolerant.out;
  Output before = RunStemedb("query --db " + db + revenue + " --as-of 2000-01-01T00:00:00Z");
  EXPECT_EQ(before.exit_code, 3);  // nothing was known then
  EXPECT_NE(RunStemedb("query --db " + db + revenue + " --lens majority").exit_code, 0);
  EXPECT_NE(RunStemedb("query --db " + db + revenue + " --as-of yesterday").exit_code, 0);

  Output card = RunStemedb("card --db " + db + " --subject Tesla_Inc --json");
  ASSERT_EQ(card.exit_code, 0) << card.err;
  EXPECT_EQ((*ParseJson(card.out))["ceo"]["value"]["entity"], "Elon_Musk");
  Output conflicts = RunStemedb("conflicts --db " + db + " --json");
  ASSERT_EQ(conflicts.exit_code, 0);
  EXPECT_EQ(ParseJson(conflicts.out)->size(), 2U);  // headquarters and revenue
  Output stats = RunStemedb("stats --db " + db + " --json");
  EXPECT_EQ((*ParseJson(stats.out))["lag"], 0);
}

TEST(Cli, AssertStoresGetPrintsHistoryFollows) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  const std::string key = (dir / "a.key").string();
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  Output first = RunStemedb("assert --db " + db + " --key " + key +
                            " --subject Tesla_Inc --predicate revenue --number 96.7 --confidence 0.9 --evidence 10-K");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string id = first.out.substr(0, 64);
  Output fix = RunStemedb("assert --db " + db + " --key " + key +
                          " --subject Tesla_Inc --predicate revenue --number 96.77 --parent " + id);
  ASSERT_EQ(fix.exit_code, 0) << fix.err;
  Output got = RunStemedb("get --db " + db + " " + id);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  auto envelope = EnvelopeFromJson(*ParseJson(got.out));
  ASSERT_TRUE(envelope.ok()) << envelope.status().ToString();
  EXPECT_TRUE(ValidateSignedAssertion(envelope->signed_assertion).ok());
  Output history = RunStemedb("history --db " + db + " " + id);
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_EQ((*ParseJson(history.out))["descendants"].size(), 1U);
  // The correction by the same signer supersedes the original.
  Output now = RunStemedb("query --db " + db + " --subject Tesla_Inc --predicate revenue");
  EXPECT_NE(now.out.find("number:96.77"), std::string::npos) << now.out;
  // Bad input: a clear error, a non-zero exit, nothing written.
  Output bad = RunStemedb("assert --db " + db + " --key " + key + " --subject s --predicate p --number 1 --text two");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("exactly one object"), std::string::npos) << bad.err;
  EXPECT_EQ(RunStemedb("get --db " + db + " " + std::string(64, 'a')).exit_code, 3);
  EXPECT_NE(RunStemedb("get --db " + db + " nothex").exit_code, 0);
  Output stats = RunStemedb("stats --db " + db + " --json");
  EXPECT_EQ((*ParseJson(stats.out))["durable_position"], 3);  // evidence blob + 2 claims
}

// Each process that writes leaves a file of its own (its memtable, flushed at close); compact
// merges them into one sorted run, and the answers stay the same.
TEST(Cli, CompactLeavesOneSortedRunAndTheSameAnswers) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  const std::string key = (dir / "a.key").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  for (const char* number : {"90", "91"}) {
    ASSERT_EQ(
        RunStemedb("assert --db " + db + " --key " + key +
                   " --subject Tesla_Inc --predicate revenue_2023_usd_billions --confidence 0.1 --number " + number)
            .exit_code,
        0);
  }
  const std::string revenue = " --subject Tesla_Inc --predicate revenue_2023_usd_billions --json";
  Output before = RunStemedb("query --db " + db + revenue);
  ASSERT_EQ(before.exit_code, 0) << before.err;
  Output stats = RunStemedb("stats --db " + db + " --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_GE((*ParseJson(stats.out))["kv_sorted_runs"], 2);

  Output compacted = RunStemedb("compact --db " + db + " --json");
  ASSERT_EQ(compacted.exit_code, 0) << compacted.err;
  auto report = ParseJson(compacted.out);
  ASSERT_TRUE(report.ok()) << compacted.out;
  EXPECT_EQ((*report)["sorted_runs_before"], (*ParseJson(stats.out))["kv_sorted_runs"]);
  EXPECT_EQ((*report)["sorted_runs_after"], 1);
  EXPECT_GT((*report)["kv_disk_bytes_after"], 0);
  EXPECT_EQ((*ParseJson(RunStemedb("stats --db " + db + " --json").out))["kv_sorted_runs"], 1);
  Output after = RunStemedb("query --db " + db + revenue);
  EXPECT_EQ(after.out, before.out);
  EXPECT_EQ(RunStemedb("verify --db " + db).exit_code, 0);
  Output text = RunStemedb("compact --db " + db);
  EXPECT_NE(text.out.find("sorted runs"), std::string::npos) << text.out;
  EXPECT_NE(RunStemedb("compact").exit_code, 0);  // --db is required

  // An import names the command when it leaves the indexes in several runs, and only then.
  const auto claims = dir / "claims.jsonl";
  std::ofstream(claims) << R"({"subject":"Tesla_Inc","predicate":"founded","object":{"integer":2003}})"
                        << "\n";
  Output one_run = RunStemedb("import --db " + db + " --key " + key + " " + claims.string());
  ASSERT_EQ(one_run.exit_code, 0) << one_run.err;
  EXPECT_EQ(one_run.err.find("stemedb compact"), std::string::npos) << one_run.err;
  // The first import's record reaches the files once it is applied and the store closes, and the
  // ingestor may not have applied it before that import closed: `stats` catches up and closes.
  // Then the store has two runs when the next import ends.
  ASSERT_EQ(RunStemedb("stats --db " + db).exit_code, 0);
  ASSERT_EQ((*ParseJson(RunStemedb("stats --db " + db + " --json").out))["kv_sorted_runs"], 2);
  std::ofstream(claims) << R"({"subject":"Tesla_Inc","predicate":"founded","object":{"integer":2004}})"
                        << "\n";
  Output two_runs = RunStemedb("import --db " + db + " --key " + key + " " + claims.string());
  ASSERT_EQ(two_runs.exit_code, 0) << two_runs.err;
  EXPECT_NE(two_runs.err.find("sorted runs, and every read seeks in each: `stemedb compact --db " + db + "`"),
            std::string::npos)
      << two_runs.err;
}

// signed-by lists what an agent signed, oldest first, each with its claim; pages with --after.
TEST(Cli, SignedByListsWhatAnAgentSignedOldestFirst) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  const std::string key = (dir / "a.key").string();
  Output agent = RunStemedb("keygen --out " + key);
  ASSERT_EQ(agent.exit_code, 0);
  const std::string agent_hex = agent.out.substr(0, 64);
  std::vector<std::string> ids;
  for (const char* number : {"1", "2"}) {
    Output stored = RunStemedb("assert --db " + db + " --key " + key +
                               " --subject Tesla_Inc --predicate revenue --number " + number);
    ASSERT_EQ(stored.exit_code, 0) << stored.err;
    ids.push_back(stored.out.substr(0, 64));
  }
  Output all = RunStemedb("signed-by --db " + db + " " + agent_hex);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const auto first_line = all.out.find(ids[0]), second_line = all.out.find(ids[1]);
  ASSERT_NE(first_line, std::string::npos) << all.out;
  ASSERT_NE(second_line, std::string::npos) << all.out;
  EXPECT_LT(first_line, second_line);
  EXPECT_NE(all.out.find("Tesla_Inc  revenue  number:2"), std::string::npos) << all.out;
  EXPECT_EQ(all.err, "");

  Output one = RunStemedb("signed-by --db " + db + " " + agent_hex + " --limit 1 --json");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto page = *ParseJson(one.out);
  ASSERT_EQ(page["signatures"].size(), 1U);
  EXPECT_EQ(page["signatures"][0]["id"], ids[0]);
  EXPECT_EQ(page["signatures"][0]["assertion"]["subject"], "Tesla_Inc");
  ASSERT_TRUE(page["next"].is_number());
  Output rest = RunStemedb("signed-by --db " + db + " " + agent_hex + " --limit 1 --after " +
                           std::to_string(page["next"].get<std::uint64_t>()));
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(rest.out.find(ids[0]), std::string::npos) << rest.out;
  EXPECT_NE(rest.out.find(ids[1]), std::string::npos) << rest.out;
  EXPECT_EQ(rest.err, "");  // the last page: nothing follows
  Output more = RunStemedb("signed-by --db " + db + " " + agent_hex + " --limit 1");
  EXPECT_NE(more.err.find("more follow: --after"), std::string::npos) << more.err;

  // --as-of as `query` reads it: through the first claim's position, only the first is listed.
  Output as_of = RunStemedb("signed-by --db " + db + " " + agent_hex + " --json --as-of " +
                            std::to_string(page["signatures"][0]["position"].get<std::uint64_t>()));
  ASSERT_EQ(as_of.exit_code, 0) << as_of.err;
  const auto through_first = *ParseJson(as_of.out);
  ASSERT_EQ(through_first["signatures"].size(), 1U) << as_of.out;
  EXPECT_EQ(through_first["signatures"][0]["id"], ids[0]);
  EXPECT_TRUE(through_first["next"].is_null());
  Output bad_as_of = RunStemedb("signed-by --db " + db + " " + agent_hex + " --as-of yesterday");
  EXPECT_EQ(bad_as_of.exit_code, 1);
  EXPECT_NE(bad_as_of.err.find("--as-of"), std::string::npos) << bad_as_of.err;
  Output bad = RunStemedb("signed-by --db " + db + " nothex");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("agent"), std::string::npos) << bad.err;
  EXPECT_NE(RunStemedb("signed-by --db " + db + " " + agent_hex + " --limit 0").exit_code, 0);
}

TEST(Cli, ImportStopsAtTheFirstBadLineAfterStoringWhatCameBefore) {
  stemedb::testing::TempDir dir;
  const std::string key = (dir / "a.key").string();
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  std::string claims;
  for (int i = 1; i <= 5; ++i) {
    claims += R"({"subject":"s","predicate":"p","object":{"integer":)" + std::to_string(i) + "}}\n";
  }
  Output signed_lines = RunStemedb("sign --key " + key + " --signed-at 2024-01-01T00:00:00Z", claims);
  ASSERT_EQ(signed_lines.exit_code, 0) << signed_lines.err;
  std::vector<std::string> lines;
  std::vector<std::string> ids;
  std::istringstream in(signed_lines.out);
  for (std::string line; std::getline(in, line);) {
    ids.push_back((*ParseJson(line))["id"].get<std::string>());
    lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 5U);
  // Line 3: a forged signature (one hex digit changed).
  auto forged = *ParseJson(lines[2]);
  std::string sig = forged["signatures"][0]["signature"];
  sig[0] = sig[0] == '0' ? '1' : '0';
  forged["signatures"][0]["signature"] = sig;
  lines[2] = forged.dump();
  const auto file = dir / "claims.jsonl";
  {
    std::ofstream out(file);
    for (const auto& l : lines) out << l << "\n";
  }

  const std::string db = (dir / "db").string();
  Output stopped = RunStemedb("import --db " + db + " " + file.string());
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find(file.string() + ":3"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("does not verify"), std::string::npos) << stopped.err;
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[0]).exit_code, 0);
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[1]).exit_code, 0);
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[2]).exit_code, 3);
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[3]).exit_code, 3);  // after the bad line: not written

  Output skipped = RunStemedb("import --db " + db + " --skip-invalid " + file.string());
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.err.find("2 already stored"), std::string::npos) << skipped.err;
  EXPECT_NE(skipped.err.find("1 skipped"), std::string::npos) << skipped.err;
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[3]).exit_code, 0);
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[4]).exit_code, 0);
  EXPECT_EQ(RunStemedb("get --db " + db + " " + ids[2]).exit_code, 3);

  // Unsigned claims need a key.
  const auto unsigned_file = dir / "unsigned.jsonl";
  std::ofstream(unsigned_file) << R"({"subject":"t","predicate":"q","object":{"bool":true},"evidence":"memo"})"
                               << "\n";
  Output no_key = RunStemedb("import --db " + db + " " + unsigned_file.string());
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("needs --key"), std::string::npos) << no_key.err;
  Output with_key = RunStemedb("import --db " + db + " --key " + key + " " + unsigned_file.string());
  EXPECT_EQ(with_key.exit_code, 0) << with_key.err;
  EXPECT_NE(RunStemedb("query --db " + db + " --subject t --predicate q").out.find("bool:true"), std::string::npos);
  EXPECT_NE(RunStemedb("import --db " + db + " /no/such/file").exit_code, 0);
}

// Every resolution of every (subject, predicate) in `db`, through every lens, as JSON text.
std::string AllResolutions(const std::string& db, const std::vector<std::pair<std::string, std::string>>& keys) {
  std::string out;
  for (const auto& [subject, predicate] : keys) {
    for (const char* lens : {"consensus", "recency", "authority"}) {
      Output o = RunStemedb("query --db " + db + " --subject '" + subject + "' --predicate '" + predicate +
                            "' --json --lens " + lens);
      auto json = ParseJson(o.out);
      out += json.ok() ? (*json)["value"].dump() + " " + (*json)["support"].dump() + "\n" : "?\n";
    }
  }
  return out;
}

TEST(Cli, ExportThenImportGivesIdenticalIdsAndResolutions) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  // A co-signature and a correction, so that export carries several signers and a parent.
  const std::string key = (dir / "b.key").string();
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  Output first = RunStemedb("assert --db " + db + " --key " + key +
                            " --subject Tesla_Inc --predicate ceo --entity "
                            "Elon_Musk --confidence 0.9 --evidence 'Form 10-K 2023'");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(
      RunStemedb("assert --db " + db + " --key " + key +
                 " --subject Tesla_Inc --predicate employees --integer 127855 --parent " + first.out.substr(0, 64))
          .exit_code,
      0);

  const auto dump = dir / "all.jsonl";
  Output exported = RunStemedb("export --db " + db + " --out " + dump.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.err.find("exported 10 envelopes"), std::string::npos) << exported.err;
  const std::string copy = (dir / "copy").string();
  Output imported = RunStemedb("import --db " + copy + " " + dump.string());
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  // Identical content: the same envelopes, byte for byte, and the same answers.
  Output again = RunStemedb("export --db " + copy);
  std::stringstream original;
  original << std::ifstream(dump).rdbuf();
  EXPECT_EQ(again.out, original.str());
  const std::vector<std::pair<std::string, std::string>> keys = {{"Tesla_Inc", "revenue_2023_usd_billions"},
                                                                 {"Tesla_Inc", "headquarters"},
                                                                 {"Tesla_Inc", "ceo"},
                                                                 {"Tesla_Inc", "employees"}};
  EXPECT_EQ(AllResolutions(copy, keys), AllResolutions(db, keys));
  EXPECT_EQ(RunStemedb("verify --db " + copy).exit_code, 0);

  // Importing again into a copy whose indexes were deleted: import waits for their rebuild, so
  // everything is found stored and nothing is written twice.
  const auto log_bytes = [&] {
    std::uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(copy) / "wal"))
      bytes += e.file_size();
    return bytes;
  };
  const std::uintmax_t before = log_bytes();
  std::filesystem::remove_all(std::filesystem::path(copy) / "kv");
  Output reimported = RunStemedb("import --db " + copy + " " + dump.string());
  ASSERT_EQ(reimported.exit_code, 0) << reimported.err;
  EXPECT_NE(reimported.err.find("0 new assertions, 10 already stored, 0 signatures added"), std::string::npos)
      << reimported.err;
  EXPECT_EQ(log_bytes(), before);
}

TEST(Cli, ResolvedGraphRoundTripsThroughNTriples) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  Output triples =
      RunStemedb("export --db " + db + " --format ntriples --lens authority --authority " + db + "/authority.json");
  ASSERT_EQ(triples.exit_code, 0) << triples.err;
  EXPECT_EQ(std::count(triples.out.begin(), triples.out.end(), '\n'), 4);  // one per predicate
  const auto file = dir / "graph.nt";
  std::ofstream(file) << triples.out;
  const std::string key = (dir / "k.key").string();
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  const std::string copy = (dir / "copy").string();
  Output imported = RunStemedb("import --db " + copy + " --format ntriples --key " + key + " " + file.string());
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  // Names come back as they were (not as IRIs), and so do the values.
  Output card = RunStemedb("card --db " + copy + " --subject Tesla_Inc --json");
  ASSERT_EQ(card.exit_code, 0) << card.err;
  auto json = *ParseJson(card.out);
  EXPECT_EQ(json["revenue_2023_usd_billions"]["value"]["number"], 96.77);
  EXPECT_EQ(json["headquarters"]["value"]["text"], "Austin, Texas");
  EXPECT_EQ(json["ceo"]["value"]["entity"], "Elon_Musk");
}

TEST(Cli, RdfImportStopsAtABadLineNamingIt) {
  stemedb::testing::TempDir dir;
  const std::string key = (dir / "k.key").string();
  ASSERT_EQ(RunStemedb("keygen --out " + key).exit_code, 0);
  const auto file = dir / "data.nq";
  std::ofstream(file) << "<http://ex.org/a> <http://ex.org/p> \"1\"^^<http://www.w3.org/2001/XMLSchema#integer> "
                         "<http://ex.org/graph/1> .\n"
                         "# a comment\n"
                         "<http://ex.org/a> <http://ex.org/q> \"x\"@en .\n"
                         "<http://ex.org/a> <http://ex.org/q> .\n"
                         "<http://ex.org/b> <http://ex.org/q> \"y\" .\n";
  const std::string db = (dir / "db").string();
  Output o = RunStemedb("import --db " + db + " --format nquads --confidence 0.7 --key " + key + " " + file.string());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("line 4"), std::string::npos) << o.err;
  Output p = RunStemedb("query --db " + db + " --subject http://ex.org/a --predicate http://ex.org/p --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ((*ParseJson(p.out))["confidence"], 1.0);
  EXPECT_EQ(RunStemedb("query --db " + db + " --subject http://ex.org/a --predicate http://ex.org/q").exit_code, 0);
  EXPECT_EQ(RunStemedb("query --db " + db + " --subject http://ex.org/b --predicate http://ex.org/q").exit_code, 3);
  // The graph name is the evidence of the claim.
  Output exported = RunStemedb("export --db " + db);
  EXPECT_NE(exported.out.find("\"evidence\":\"http://ex.org/graph/1\""), std::string::npos) << exported.out;
  EXPECT_NE(exported.out.find("\"confidence\":0.7"), std::string::npos) << exported.out;
  // RDF needs a key; unknown formats are refused before anything is opened.
  EXPECT_EQ(RunStemedb("import --db " + db + " --format turtle " + file.string()).exit_code, 1);
  EXPECT_EQ(RunStemedb("import --db " + db + " --format rdfxml --key " + key + " " + file.string()).exit_code, 1);
}

TEST(Cli, VerifyIsCleanOnAGoodDatabaseAndFailsOnDamage) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  Output clean = RunStemedb("verify --db " + db + " --json");
  ASSERT_EQ(clean.exit_code, 0) << clean.err << clean.out;
  auto report = *ParseJson(clean.out);
  EXPECT_EQ(report["clean"], true);
  EXPECT_EQ(report["signatures_verified"], 8);
  EXPECT_EQ(report["mismatch_count"], 0);

  // Flip one byte inside a durable WAL record: the log itself refuses to open.
  std::filesystem::path segment;
  for (const auto& e : std::filesystem::directory_iterator(dir / "db" / "wal")) segment = e.path();
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(200);
    char c = 0;
    f.read(&c, 1);
    f.seekp(200);
    c = static_cast<char>(c ^ 0x40);
    f.write(&c, 1);
  }
  Output damaged = RunStemedb("verify --db " + db);
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.err.find("corruption"), std::string::npos) << damaged.err;
}

TEST(Cli, WalRepairCutsAtTheDamageAndSaysHowToRebuildTheIndexes) {
  stemedb::testing::TempDir dir;
  const std::string db = (dir / "db").string();
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  Output whole = RunStemedb("wal-repair --db " + db);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_NE(whole.out.find("whole through position 16; nothing cut"), std::string::npos) << whole.out;
  EXPECT_EQ(whole.out.find("indexes:"), std::string::npos) << whole.out;

  // Damage the second record. The demo stores its claims and their evidence in one batch, so no
  // later record proves that it had been durable; the indexes, which applied all 16, do: open
  // refuses, leaves the log as it is and says what to run.
  std::filesystem::path segment;
  for (const auto& e : std::filesystem::directory_iterator(dir / "db" / "wal")) {
    if (e.path().extension() == ".wal") segment = e.path();
  }
  const auto size = std::filesystem::file_size(segment);
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put(static_cast<char>(0x5A));
  }
  Output refused = RunStemedb("stats --db " + db);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("positions through 16 are known to have been acknowledged"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("stemedb wal-repair"), std::string::npos) << refused.err;
  EXPECT_EQ(std::filesystem::file_size(segment), size);

  Output repaired = RunStemedb("wal-repair --db " + db + " --json");
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  auto report = *ParseJson(repaired.out);
  EXPECT_EQ(report["last_kept_position"], 1);
  const auto cut = report["cut_offset"].get<std::uint64_t>();
  EXPECT_GT(cut, 32U);  // after the first record
  EXPECT_LT(cut, 200U);
  EXPECT_EQ(report["dropped_bytes"], size - cut);
  EXPECT_EQ(report["indexes_applied_position"], 16);
  EXPECT_EQ(report["indexes_ahead"], true);
  EXPECT_EQ(std::filesystem::file_size(segment), cut);

  // The indexes, ahead of the log now, refuse to open until deleted; then they rebuild from it.
  Output again = RunStemedb("wal-repair --db " + db);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("whole through position 1; nothing cut"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("Delete " + (dir / "db" / "kv").string()), std::string::npos) << again.out;
  Output ahead = RunStemedb("stats --db " + db);
  EXPECT_EQ(ahead.exit_code, 1);
  EXPECT_NE(ahead.err.find("delete the indexes"), std::string::npos) << ahead.err;
  std::filesystem::remove_all(dir / "db" / "kv");
  ASSERT_EQ(RunStemedb("demo --db " + db).exit_code, 0);
  Output clean = RunStemedb("verify --db " + db + " --json");
  ASSERT_EQ(clean.exit_code, 0) << clean.err << clean.out;
  EXPECT_EQ((*ParseJson(clean.out))["signatures_verified"], 8);

  Output no_log = RunStemedb("wal-repair --db " + (dir / "nothing").string());
  EXPECT_NE(no_log.exit_code, 0);
  EXPECT_NE(no_log.err.find("no wal directory"), std::string::npos) << no_log.err;
}

TEST(Cli, UsageErrorsAreNonZero) {
  EXPECT_NE(RunStemedb("").exit_code, 0);
  EXPECT_NE(RunStemedb("no-such-command").exit_code, 0);
  EXPECT_NE(RunStemedb("keygen").exit_code, 0);  // --out is required
}

}  // namespace
}  // namespace stemedb
