// The stemedb command, tested by running the real binary.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
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

TEST(Cli, UsageErrorsAreNonZero) {
  EXPECT_NE(RunStemedb("").exit_code, 0);
  EXPECT_NE(RunStemedb("no-such-command").exit_code, 0);
  EXPECT_NE(RunStemedb("keygen").exit_code, 0);  // --out is required
}

}  // namespace
}  // namespace stemedb
