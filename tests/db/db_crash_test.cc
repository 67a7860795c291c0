// Crash during ingest: a child process submits through Database (WAL fsync, background
// ingestor) and is SIGKILLed at random moments, many cycles. After each reopen: every
// acknowledged assertion is indexed with every acknowledged signer and verifies; periodically, the
// indexes agree with the H: records, nothing unacknowledged is invented, and Database::Verify
// (stemedb verify) is clean.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

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

std::vector<std::pair<std::string, Acked>> RunAndKill(const std::filesystem::path& dir, int cycle,
                                                      std::chrono::milliseconds run_for) {
  const std::string out =
      stemedb::testing::RunChildAndKill(STEMEDB_DB_CRASH_CHILD, {dir.string(), std::to_string(cycle)}, run_for);
  std::vector<std::pair<std::string, Acked>> acked;
  std::istringstream lines(out);
  std::string id;
  Acked a;
  while (lines >> id >> a.key >> a.signers) acked.emplace_back(id, a);
  return acked;
}

// The indexes agree with the records: one C: record entry per H: record, with the same bytes;
// every S: signature has its C: and A: twins; every stored record is valid.
void CheckConsistency(storage::KVStore& store) {
  const auto dump = testing::Dump(store);
  std::size_t records = 0, candidate_records = 0, signatures = 0;
  std::map<std::string, std::string> record_by_id;
  for (const auto& [key, value] : dump) {
    if (key.starts_with("H:")) {
      ++records;
      record_by_id[key.substr(2)] = value;
      auto decoded = DecodeRecord({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      ASSERT_TRUE(ValidateSignedAssertion(*decoded).ok());
      const std::string candidate =
          keys::CandidateRecord(decoded->assertion.subject, decoded->assertion.predicate, decoded->id);
      ASSERT_TRUE(dump.count(candidate)) << "H: record without its candidate entry";
      ASSERT_EQ(dump.at(candidate), value);
    } else if (key.starts_with("C:")) {
      // C:{subject}\0{predicate}\0{id}{marker}...: parsed from the front (IDs may hold NULs).
      const std::size_t subject_end = key.find('\0', 2);
      const std::size_t predicate_end = key.find('\0', subject_end + 1);
      ASSERT_NE(predicate_end, std::string::npos);
      const std::size_t marker_at = predicate_end + 1 + 32;
      ASSERT_LT(marker_at, key.size());
      if (key[marker_at] == keys::kCandidateRecord) ++candidate_records;
    } else if (key.starts_with("S:")) {
      ++signatures;
      const AssertionId id = keys::IdAt(key, 2);
      std::array<std::uint8_t, 32> agent{};
      std::memcpy(agent.data(), key.data() + 34, 32);
      ASSERT_TRUE(dump.count(keys::Record(id))) << "signature for a record that is not stored";
      ASSERT_TRUE(dump.count(keys::Agent(AgentId(agent), id)));
      auto entry = keys::DecodeSignatureValue(AgentId(agent), value);
      ASSERT_TRUE(entry.ok());
      ASSERT_TRUE(VerifySignature(id, entry->entry).ok());
    }
  }
  EXPECT_EQ(candidate_records, records);
  EXPECT_GE(signatures, records);
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
    for (const auto& [id, a] : RunAndKill(dir.path(), cycle, std::chrono::milliseconds(50 + rng() % 250))) {
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
    CheckConsistency((*db)->store());
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
