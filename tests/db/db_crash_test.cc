// Crash during ingest: a child process submits through Database (WAL fsync, background
// ingestor) and is SIGKILLed at random moments, many cycles. After each reopen: every
// acknowledged assertion is indexed with every acknowledged signer and verifies; periodically, the
// indexes agree with the H: records, nothing unacknowledged is invented, and Database::Verify
// (stemedb verify) is clean.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "db_test_util.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/validate.h"
#include "stemedb/storage/keys.h"
#include "support/kill_child.h"
#include "support/temp_dir.h"

namespace stemedb::db {
namespace {

namespace keys = storage::keys;

struct Acked {
  std::uint64_t key = 0;
  int signers = 0;
};

// Runs the child and kills it `run_for` after it opened the database or, with `during_open`,
// `run_for` after it started, which is mostly while it opens and recovers.
std::vector<std::pair<std::string, Acked>> RunAndKill(const std::filesystem::path& dir, int cycle,
                                                      std::chrono::milliseconds run_for, bool during_open) {
  const std::string out = stemedb::testing::RunChildAndKill(
      STEMEDB_DB_CRASH_CHILD, {dir.string(), std::to_string(cycle)}, run_for, "ready", during_open);
  std::vector<std::pair<std::string, Acked>> acked;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id;
    Acked a;
    if (fields >> id >> a.key >> a.signers) acked.emplace_back(id, a);
  }
  return acked;
}

// The indexes agree with the records: every H: location leads to exactly one C: summary, whose
// record (read from the log where the summary says) has that ID and is valid, and whose summary says what the record
// says, its signers included (each with its A: twin); every C: co-signer entry belongs to a stored record, names an
// agent the record does not, verifies, and has its A: twin.
void CheckConsistency(storage::KVStore& store, const wal::Wal& log) {
  const auto dump = testing::Dump(store);
  // The agent index's entries, read first: (agent, claim) -> how many entries name the pair.
  std::map<std::pair<AgentId, AssertionId>, int> agent_index;
  for (auto it = dump.lower_bound("A:"); it != dump.end() && it->first.starts_with("A:"); ++it) {
    const std::string& key = it->first;
    ASSERT_EQ(key.size(), 2 + AgentId::kSize + 8);
    std::array<std::uint8_t, AgentId::kSize> agent{};
    std::memcpy(agent.data(), key.data() + 2, AgentId::kSize);
    auto entries = keys::DecodeAgentEntries(it->second);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    ASSERT_FALSE(entries->empty());
    for (const keys::AgentEntry& e : *entries) {
      ASSERT_EQ(keys::AgentRange(AgentId(agent), e.position), key) << "an agent entry filed under another range";
      ++agent_index[{AgentId(agent), e.id}];
    }
  }
  std::size_t signers = 0;
  auto indexed_once = [&agent_index, &signers](const AgentId& agent, const AssertionId& id) {
    ++signers;
    const auto at = agent_index.find({agent, id});
    return at != agent_index.end() && at->second == 1;
  };
  std::size_t locations = 0, candidate_records = 0;
  for (const auto& [key, value] : dump) {
    if (key.starts_with("H:")) {
      ++locations;
      const AssertionId id = keys::IdAt(key, 2);
      auto location = keys::DecodeLocation(value);
      ASSERT_TRUE(location.ok()) << location.status().ToString();
      const std::string record_key = keys::CandidateRecord(location->first, location->second, id);
      ASSERT_TRUE(dump.count(record_key)) << "H: location without its record";
      const std::string& stored = dump.at(record_key);
      keys::CandidateValue summary;
      const Status s =
          keys::DecodeCandidateValue({reinterpret_cast<const std::uint8_t*>(stored.data()), stored.size()}, summary);
      ASSERT_TRUE(s.ok()) << s.ToString();
      std::vector<std::uint64_t> buffer;
      auto record = log.ReadRecord({summary.position, summary.record_offset, summary.record_length}, buffer);
      ASSERT_TRUE(record.ok()) << record.status().ToString();
      auto decoded = DecodeRecord(*record);
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      ASSERT_EQ(decoded->id, id);
      ASSERT_TRUE(ValidateSignedAssertion(*decoded).ok());
      // The summary the lenses read says what the record says.
      ASSERT_EQ(summary.value_key, ValueKey(decoded->assertion.object));
      ASSERT_EQ(summary.confidence, decoded->assertion.confidence);
      ASSERT_EQ(summary.source_hash, decoded->assertion.source_hash);
      ASSERT_EQ(summary.parent, decoded->assertion.parent);
      std::vector<SignatureEntry> by_agent = decoded->signatures;
      std::sort(by_agent.begin(), by_agent.end(),
                [](const SignatureEntry& a, const SignatureEntry& b) { return a.agent < b.agent; });
      ASSERT_EQ(summary.signer_count, by_agent.size());
      for (std::size_t i = 0; i < by_agent.size(); ++i) {
        ASSERT_EQ(keys::SummarySignerAgent(summary, i), by_agent[i].agent);
        ASSERT_EQ(keys::SummarySignerTime(summary, i), by_agent[i].signed_at);
        ASSERT_TRUE(indexed_once(by_agent[i].agent, id)) << "a record's signer not in the agent index once";
        ASSERT_FALSE(dump.count(keys::CandidateSignature(location->first, location->second, id, by_agent[i].agent)))
            << "a record's signer stored again as a co-signer";
      }
    } else if (key.starts_with("C:")) {
      // C:{subject}\0{predicate}\0{id}{marker}...: parsed from the front (IDs may hold NULs).
      const std::size_t subject_end = key.find('\0', 2);
      const std::size_t predicate_end = key.find('\0', subject_end + 1);
      ASSERT_NE(predicate_end, std::string::npos);
      const std::size_t id_at = predicate_end + 1;
      const std::size_t marker_at = id_at + 32;
      ASSERT_LT(marker_at, key.size());
      const AssertionId id = keys::IdAt(key, id_at);
      ASSERT_TRUE(dump.count(keys::Location(id))) << "C: entry of a claim without a location";
      if (key[marker_at] == keys::kCandidateRecord) {
        ++candidate_records;
        continue;
      }
      ASSERT_EQ(key.size(), marker_at + 1 + 32);
      std::array<std::uint8_t, 32> agent{};
      std::memcpy(agent.data(), key.data() + marker_at + 1, 32);
      ASSERT_TRUE(dump.count(key.substr(0, marker_at) + keys::kCandidateRecord)) << "signature without its record";
      ASSERT_TRUE(indexed_once(AgentId(agent), id)) << "a co-signer not in the agent index once";
      auto entry = keys::DecodeSignatureValue(AgentId(agent), value);
      ASSERT_TRUE(entry.ok());
      ASSERT_TRUE(VerifySignature(id, entry->entry).ok());
    }
  }
  EXPECT_EQ(candidate_records, locations);
  EXPECT_EQ(agent_index.size(), signers) << "agent index entries that name no signer";
}

TEST(DatabaseCrash, KilledDuringIngestLosesNothingAcknowledged) {
  spdlog::set_level(spdlog::level::err);
  stemedb::testing::TempDir dir;
  const char* env = std::getenv("STEMEDB_CRASH_CYCLES");
  const int cycles = env != nullptr ? std::max(1, std::atoi(env)) : 12;
  // Every cycle checks what that cycle acknowledged; a tenth of the cycles (every cycle in short
  // runs, and always the last) also check everything ever acknowledged, the consistency of every
  // index, and run the full integrity check, so that a long run stays affordable.
  const int full_every = std::max(1, cycles / 10);
  std::mt19937_64 rng(std::random_device{}());
  std::map<std::string, Acked> acked;  // id hex -> the most signers acknowledged
  std::size_t verifications = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    std::map<std::string, Acked> this_cycle;
    // One cycle in four is killed timed from its start, while it opens (recovery interrupted);
    // the others while they submit.
    const bool during_open = cycle % 4 == 3;
    const auto run_for = std::chrono::milliseconds(during_open ? 50 + rng() % 250 : rng() % 150);
    for (const auto& [id, a] : RunAndKill(dir.path(), cycle, run_for, during_open)) {
      for (auto* m : {&acked, &this_cycle}) {
        auto& best = (*m)[id];
        best.key = a.key;
        best.signers = std::max(best.signers, a.signers);
      }
    }
    const bool full = cycle % full_every == full_every - 1 || cycle + 1 == cycles;
    auto db = Database::Open(dir.path());
    ASSERT_TRUE(db.ok()) << "cycle " << cycle << ": " << db.status().ToString();
    ASSERT_TRUE((*db)->WaitForApplied((*db)->stats().durable_position).ok());
    for (const auto& [id_hex, a] : full ? acked : this_cycle) {
      const AssertionId id = *AssertionId::FromHex(id_hex);
      auto got = (*db)->Get(id);
      ASSERT_TRUE(got.ok() && got->has_value()) << "cycle " << cycle << ": acknowledged " << id_hex << " not indexed";
      ASSERT_EQ((*got)->assertion, testing::ClaimFor(a.key));
      ASSERT_GE((*got)->signatures.size(), static_cast<std::size_t>(a.signers)) << "acknowledged signer lost";
      ASSERT_TRUE(ValidateSignedAssertion(**got).ok()) << "cycle " << cycle << ": " << id_hex << " does not verify";
    }
    EXPECT_EQ((*db)->stats().ingest.records_rejected, 0U);
    if (!full) continue;
    CheckConsistency((*db)->store(), (*db)->wal());
    // Nothing invented: every stored claim is one the child built.
    auto it = (*db)->store().ScanPrefix("H:");
    std::size_t stored = 0;
    for (; it->Valid(); it->Next()) ++stored;
    ASSERT_GE(stored, acked.size());
    auto report = (*db)->Verify(dir / "verify");
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_TRUE(report->clean()) << "cycle " << cycle << ": " << report->mismatch_count << " index faults, "
                                 << report->rejected.size() << " rejected records";
    ++verifications;
  }
  std::printf("db crash cycles: %d, acknowledged assertions verified: %zu, full integrity checks clean: %zu\n", cycles,
              acked.size(), verifications);
  EXPECT_GT(acked.size(), static_cast<std::size_t>(cycles));
}

}  // namespace
}  // namespace stemedb::db
