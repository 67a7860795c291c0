#include "stemedb/wal/wal.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "support/fault_env.h"
#include "support/temp_dir.h"
#include "wal_test_util.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::FaultEnv;
using stemedb::testing::TempDir;
using testing::Payload;
using testing::ReadAll;

std::unique_ptr<Wal> OpenOrDie(const std::filesystem::path& dir, WalOptions options = {}) {
  auto wal = Wal::Open(dir, options);
  EXPECT_TRUE(wal.ok()) << wal.status().ToString();
  return wal.ok() ? std::move(*wal) : nullptr;
}

std::vector<std::string> SegmentNames(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (ParseSegmentFileName(e.path().filename().string())) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path LastSegment(const std::filesystem::path& dir) { return dir / SegmentNames(dir).back(); }

TEST(Wal, AppendsAndReadsBackInOrder) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  for (std::uint64_t k = 1; k <= 300; ++k) {
    auto r = wal->Append(RecordType::kTest, Payload(k));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->first, k);
    EXPECT_EQ(r->last, k);
    EXPECT_EQ(r->durability, Durability::kDurable);
  }
  EXPECT_EQ(wal->durable_position(), 300U);
  const auto records = ReadAll(*wal);
  ASSERT_EQ(records.size(), 300U);
  for (std::uint64_t k = 1; k <= 300; ++k) {
    EXPECT_EQ(records[k - 1].first, k);
    EXPECT_EQ(records[k - 1].second, Payload(k));
  }
  // A reader can start anywhere.
  const auto tail = ReadAll(*wal, 250);
  ASSERT_EQ(tail.size(), 51U);
  EXPECT_EQ(tail.front().first, 250U);
}

// A reader starting past the beginning steps over the records before it by their headers alone,
// or starts in the tail cache: from every kind of place (a segment's first record, its middle, its
// last, the log's last), what it returns is exactly the tail, payloads intact — with every record
// in the files (no cache), every record cached, and the newest few cached.
TEST(Wal, ReaderStartsAnywhereAcrossSegments) {
  for (const std::size_t cache_bytes : {std::size_t{0}, std::size_t{1} << 20, std::size_t{2048}}) {
    SCOPED_TRACE(::testing::Message() << "tail_cache_bytes " << cache_bytes);
    TempDir dir;
    WalOptions options;
    options.segment_bytes = 4096;  // a few dozen records per segment
    options.tail_cache_bytes = cache_bytes;
    auto wal = OpenOrDie(dir.path(), options);
    constexpr std::uint64_t kRecords = 400;
    for (std::uint64_t k = 1; k <= kRecords; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k)).ok());
    ASSERT_GT(SegmentNames(dir.path()).size(), 3U);
    EXPECT_LE(wal->tail_cache_bytes(), cache_bytes);
    std::set<LogPosition> starts = {1, 2, kRecords - 1, kRecords};
    for (const std::string& name : SegmentNames(dir.path())) {
      const LogPosition first = *ParseSegmentFileName(name);
      starts.insert(first);
      if (first > 1) starts.insert(first - 1);  // the last record of the segment before
      if (first + 3 <= kRecords) starts.insert(first + 3);
    }
    for (const LogPosition from : starts) {
      const auto tail = ReadAll(*wal, from);
      ASSERT_EQ(tail.size(), kRecords - from + 1) << "from " << from;
      for (std::size_t i = 0; i < tail.size(); ++i) {
        ASSERT_EQ(tail[i].first, from + i) << "from " << from;
        ASSERT_EQ(tail[i].second, Payload(from + i)) << "from " << from;
      }
    }
  }
}

// Stepping over records reads their headers through a 1 MiB window of the file: a log of more than
// two windows, read from the files, from starts whose skips cross the window's edges.
TEST(Wal, ReaderStepsOverMoreThanItsReadWindow) {
  TempDir dir;
  WalOptions options;
  options.tail_cache_bytes = 0;
  auto wal = OpenOrDie(dir.path(), options);
  constexpr std::uint64_t kRecords = 8000;  // ~2.7 MB
  std::vector<std::vector<std::uint8_t>> payloads;
  std::vector<RecordInput> batch;
  for (std::uint64_t k = 1; k <= kRecords; ++k) payloads.push_back(Payload(k));
  for (const auto& p : payloads) batch.push_back({RecordType::kTest, p, std::nullopt});
  ASSERT_TRUE(wal->AppendBatch(batch).ok());
  ASSERT_EQ(SegmentNames(dir.path()).size(), 1U);
  for (const LogPosition from :
       {LogPosition{2}, LogPosition{2999}, LogPosition{3001}, LogPosition{5555}, LogPosition{7999}, kRecords}) {
    auto reader = *wal->NewReader(from);
    for (LogPosition k = from; k <= kRecords; k += 1) {
      auto r = reader->Next();
      ASSERT_TRUE(r.ok() && *r) << "from " << from << " at " << k;
      ASSERT_EQ((*r)->position, k);
      ASSERT_EQ(std::vector<std::uint8_t>((*r)->payload.begin(), (*r)->payload.end()), Payload(k));
    }
    auto end = reader->Next();
    ASSERT_TRUE(end.ok() && !*end);
  }
}

// Both parts of a note come back, the position whether set or not.
RecordNote NoteFor(std::uint64_t key) {
  return {Blake3(fmt::format("note {}", key)), key % 2 == 0 ? std::optional<LogPosition>(key * 7) : std::nullopt};
}

// Notes stay in memory: a reader gets a record's note only from the tail cache, together with the
// very payload appended with it; the same records read from the files (after a reopen) have none.
TEST(Wal, NotesComeOnlyFromTheTailCache) {
  TempDir dir;
  constexpr std::uint64_t kRecords = 60;
  {
    auto wal = OpenOrDie(dir.path());
    std::vector<std::vector<std::uint8_t>> payloads;
    for (std::uint64_t k = 1; k <= kRecords; ++k) payloads.push_back(Payload(k));
    std::vector<RecordInput> batch;
    for (std::uint64_t k = 1; k <= kRecords; ++k) {
      RecordInput in{RecordType::kTest, payloads[k - 1], std::nullopt};
      if (k % 3 != 0) in.note = NoteFor(k);  // some records carry no note
      batch.push_back(in);
      if (k % 7 == 0 || k == kRecords) {
        ASSERT_TRUE(wal->AppendBatch(batch).ok());
        batch.clear();
      }
    }
    EXPECT_GT(wal->tail_cache_bytes(), 0U);
    auto reader = *wal->NewReader(1);
    for (std::uint64_t k = 1; k <= kRecords; ++k) {
      auto r = reader->Next();
      ASSERT_TRUE(r.ok() && *r) << k;
      EXPECT_EQ((*r)->position, k);
      EXPECT_EQ(std::vector<std::uint8_t>((*r)->payload.begin(), (*r)->payload.end()), Payload(k));
      EXPECT_EQ((*r)->note, k % 3 != 0 ? std::optional<RecordNote>(NoteFor(k)) : std::nullopt) << k;
    }
  }
  auto wal = OpenOrDie(dir.path());
  EXPECT_EQ(wal->tail_cache_bytes(), 0U);
  auto reader = *wal->NewReader(1);
  for (std::uint64_t k = 1; k <= kRecords; ++k) {
    auto r = reader->Next();
    ASSERT_TRUE(r.ok() && *r) << k;
    EXPECT_EQ(std::vector<std::uint8_t>((*r)->payload.begin(), (*r)->payload.end()), Payload(k));
    EXPECT_FALSE((*r)->note.has_value()) << k;
  }
}

// Appends one batch of 1 to 8 records (no more than `limit` in all) after the `appended` so far,
// and counts them there: record k holds Payload(k, 300) and, with `notes`, NoteFor(k).
bool AppendSomeRecords(Wal& wal, std::mt19937_64& rng, std::uint64_t& appended, bool notes,
                       std::uint64_t limit = std::numeric_limits<std::uint64_t>::max()) {
  const std::uint64_t n = std::min<std::uint64_t>(1 + rng() % 8, limit - appended);
  std::vector<std::vector<std::uint8_t>> payloads;
  std::vector<RecordInput> batch;
  for (std::uint64_t k = appended + 1; k <= appended + n; ++k) payloads.push_back(Payload(k, 300));
  for (std::uint64_t i = 0; i < n; ++i) {
    batch.push_back({RecordType::kTest, payloads[i], notes ? std::optional(NoteFor(appended + i + 1)) : std::nullopt});
  }
  const auto result = wal.AppendBatch(batch);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  appended += result.ok() ? n : 0;
  return result.ok();
}

// How many records to read before the next batch: none mostly, now and then up to 60, so that a
// reader keeps falling behind the tail cache and catching up.
std::uint64_t ReadsBeforeNextBatch(std::mt19937_64& rng) { return rng() % 5 == 0 ? 1 + rng() % 60 : 0; }

// A reader that falls behind a small tail cache reads the files, across segment rolls, and picks
// the cache up again once it catches up: every record once, in order, intact; a note exactly when
// the record came from memory, and both sources used.
TEST(Wal, ReaderMovesBetweenTheFilesAndTheTailCache) {
  TempDir dir;
  WalOptions options;
  options.segment_bytes = 4096;
  options.tail_cache_bytes = 3000;  // a few batches
  auto wal = OpenOrDie(dir.path(), options);
  auto reader = *wal->NewReader(1);
  std::mt19937_64 rng(7);
  std::uint64_t appended = 0;
  std::uint64_t read = 0;
  std::size_t from_memory = 0;
  std::size_t from_files = 0;
  while (read < 600) {
    ASSERT_TRUE(AppendSomeRecords(*wal, rng, appended, /*notes=*/true));
    for (std::uint64_t want = ReadsBeforeNextBatch(rng); want > 0; --want) {
      auto r = reader->Next();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (!*r) break;
      ++read;
      ASSERT_EQ((*r)->position, read);
      ASSERT_EQ(std::vector<std::uint8_t>((*r)->payload.begin(), (*r)->payload.end()), Payload(read, 300));
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>((*r)->payload.data()) % 8, 0U);
      if ((*r)->note) {
        ASSERT_EQ(*(*r)->note, NoteFor(read));
        ++from_memory;
      } else {
        ++from_files;
      }
    }
  }
  EXPECT_GT(SegmentNames(dir.path()).size(), 10U);
  EXPECT_GT(from_memory, 50U);
  EXPECT_GT(from_files, 50U);
}

// Wal::ReadRecord reads a record again where a reader found it, from the tail cache or from the
// files, over more segments than it keeps open, from several threads; a location that does not
// name the record there, or damage to it, is Corruption, never other bytes.
TEST(Wal, RecordsAreReadAgainWhereReadersFoundThem) {
  TempDir dir;
  WalOptions options;
  options.segment_bytes = 4096;
  options.tail_cache_bytes = 3000;
  constexpr std::uint64_t kRecords = 1500;
  std::vector<RecordLocation> locations;
  const auto read_all = [&](const Wal& wal) {
    std::vector<std::uint64_t> buffer;
    for (const RecordLocation& at : locations) {
      auto payload = wal.ReadRecord(at, buffer);
      ASSERT_TRUE(payload.ok()) << at.position << ": " << payload.status().ToString();
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(payload->data()) % 8, 0U);
      ASSERT_EQ(std::vector<std::uint8_t>(payload->begin(), payload->end()), Payload(at.position, 300)) << at.position;
    }
  };
  {
    auto wal = OpenOrDie(dir.path(), options);
    auto reader = *wal->NewReader(1);
    std::mt19937_64 rng(11);
    std::uint64_t appended = 0;
    std::vector<std::uint64_t> buffer;
    while (appended < kRecords) {
      ASSERT_TRUE(AppendSomeRecords(*wal, rng, appended, /*notes=*/false, kRecords));
      // The reader falls behind the cache now and then, so locations come from both.
      for (std::uint64_t want = ReadsBeforeNextBatch(rng); want > 0; --want) {
        auto r = reader->Next();
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (!*r) break;
        locations.push_back({(*r)->position, (*r)->offset, static_cast<std::uint32_t>((*r)->payload.size())});
        // Read again at once, mostly from the cache: the location names the same bytes.
        auto again = wal->ReadRecord(locations.back(), buffer);
        ASSERT_TRUE(again.ok()) << again.status().ToString();
        ASSERT_TRUE(std::equal(again->begin(), again->end(), (*r)->payload.begin(), (*r)->payload.end()));
      }
    }
    for (auto r = reader->Next(); r.ok() && *r; r = reader->Next()) {
      locations.push_back({(*r)->position, (*r)->offset, static_cast<std::uint32_t>((*r)->payload.size())});
    }
    ASSERT_EQ(locations.size(), kRecords);
    read_all(*wal);

    // A location that does not name the record there, whether it is cached or not.
    const RecordLocation last = locations.back();
    const RecordLocation first = locations.front();
    for (const RecordLocation& at : {last, first}) {
      for (const RecordLocation& wrong :
           {RecordLocation{at.position, at.offset + 8, at.length},
            RecordLocation{at.position, at.offset, at.length + 1},
            RecordLocation{at.position == kRecords ? at.position - 1 : at.position + 1, at.offset, at.length}}) {
        auto r = wal->ReadRecord(wrong, buffer);
        ASSERT_FALSE(r.ok()) << wrong.position << " " << wrong.offset << " " << wrong.length;
        EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
      }
    }
    auto unseen = wal->ReadRecord({kRecords + 1, last.offset, last.length}, buffer);
    EXPECT_EQ(unseen.status().code(), StatusCode::kInvalidArgument) << unseen.status().ToString();
    auto none = wal->ReadRecord({0, first.offset, first.length}, buffer);
    EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
    auto huge = wal->ReadRecord({first.position, first.offset, options.max_record_bytes + 1}, buffer);
    EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  }
  const std::size_t segments = SegmentNames(dir.path()).size();
  EXPECT_GT(segments, 64U) << "more segments than reads keep open";

  // Reopened, the cache is empty: every record comes from the files, read by four threads at once.
  auto wal = OpenOrDie(dir.path(), options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { read_all(*wal); });
  for (auto& t : threads) t.join();

  // Damage on disk, a byte at a time, to one record's header and then to another's payload. Each
  // read of the damaged record is Corruption naming its segment; its neighbours still read.
  const RecordLocation victim =
      *std::find_if(locations.begin() + 100, locations.end(), [](const RecordLocation& at) { return at.length > 0; });
  const auto segment_of = [&](LogPosition position) {
    std::string segment;
    for (const std::string& name : SegmentNames(dir.path())) {
      if (*ParseSegmentFileName(name) <= position) segment = name;
    }
    return segment;
  };
  const auto flip = [&](const std::string& segment, std::uint64_t offset) {
    std::fstream file(dir.path() / segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    char byte = 0;
    file.get(byte);
    file.seekp(static_cast<std::streamoff>(offset));
    file.put(static_cast<char>(byte ^ 0x10));
  };
  const std::string victim_segment = segment_of(victim.position);
  std::vector<std::uint64_t> buffer;
  // The header: a read knows the record's length from its location and checks the checksum
  // first, which covers the header's own check (not recomputed); every byte is still guarded.
  const RecordLocation next = locations[victim.position];
  const std::string next_segment = segment_of(next.position);
  for (std::uint64_t byte = 0; byte < kRecordHeaderSize; ++byte) {
    flip(next_segment, next.offset + byte);
    auto r = wal->ReadRecord(next, buffer);
    ASSERT_FALSE(r.ok()) << "header byte " << byte;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().ToString().find(next_segment), std::string::npos) << r.status().ToString();
    flip(next_segment, next.offset + byte);
    ASSERT_TRUE(wal->ReadRecord(next, buffer).ok()) << "header byte " << byte << " restored";
  }
  // The payload.
  flip(victim_segment, victim.offset + kRecordHeaderSize);
  auto damaged = wal->ReadRecord(victim, buffer);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().ToString().find(victim_segment), std::string::npos) << damaged.status().ToString();
  EXPECT_NE(damaged.status().ToString().find("checksum"), std::string::npos) << damaged.status().ToString();
  for (const RecordLocation& at : {locations[victim.position - 2], locations[victim.position]}) {
    auto r = wal->ReadRecord(at, buffer);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(std::vector<std::uint8_t>(r->begin(), r->end()), Payload(at.position, 300));
  }
}

TEST(Wal, BatchesGetConsecutivePositions) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  std::vector<std::vector<std::uint8_t>> payloads;
  std::vector<RecordInput> batch;
  for (std::uint64_t k = 1; k <= 10; ++k) payloads.push_back(Payload(k));
  for (const auto& p : payloads) batch.push_back({RecordType::kAssertion, p, std::nullopt});
  auto r = wal->AppendBatch(batch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 1U);
  EXPECT_EQ(r->last, 10U);
  auto reader = *wal->NewReader(1);
  auto first = reader->Next();
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_EQ((*first)->type, RecordType::kAssertion);
}

TEST(Wal, RejectsBadInputAndWritesNothing) {
  TempDir dir;
  WalOptions options;
  options.max_record_bytes = 1024;
  auto wal = OpenOrDie(dir.path(), options);
  const std::vector<std::uint8_t> big(1025);
  EXPECT_EQ(wal->Append(RecordType::kTest, big).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->Append(RecordType::kInvalid, Payload(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->AppendBatch({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->written_position(), 0U);
  EXPECT_EQ(std::filesystem::file_size(LastSegment(dir.path())), kSegmentHeaderSize);
}

TEST(Wal, CrashWhileCreatingASegmentIsRecovered) {
  for (std::uint64_t partial : {0, 5, 31}) {
    TempDir dir;
    {
      auto wal = OpenOrDie(dir.path());
      ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(1)).ok());
    }
    // Segment 2 was being created when the power failed: its header is missing or partial.
    const auto header = EncodeSegmentHeader(2);
    {
      std::ofstream out(dir / SegmentFileName(2), std::ios::binary);
      out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(partial));
    }
    auto wal = OpenOrDie(dir.path());
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(wal->written_position(), 1U);
    ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(2)).ok());
    EXPECT_EQ(ReadAll(*wal).size(), 2U);
  }
  // Also for the very first segment of a new log.
  TempDir dir;
  std::ofstream(dir / SegmentFileName(1), std::ios::binary).put('S');
  auto wal = OpenOrDie(dir.path());
  ASSERT_NE(wal, nullptr);
  EXPECT_EQ(wal->written_position(), 0U);
  EXPECT_TRUE(wal->Append(RecordType::kTest, Payload(1)).ok());
}

TEST(Wal, SecondOpenerIsRefused) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  auto second = Wal::Open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  wal.reset();
  EXPECT_TRUE(Wal::Open(dir.path()).ok());
}

TEST(Wal, ManyOpenAppendCloseCyclesKeepEverything) {
  TempDir dir;
  WalOptions options;
  options.segment_bytes = 4096;  // roll often
  std::uint64_t k = 0;
  for (int cycle = 0; cycle < 40; ++cycle) {
    auto wal = OpenOrDie(dir.path(), options);
    ASSERT_EQ(wal->written_position(), k) << "cycle " << cycle;
    ASSERT_EQ(wal->recovery().torn_tail_bytes, 0U);
    for (int i = 0; i < 7; ++i) {
      auto r = wal->Append(RecordType::kTest, Payload(++k));
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->first, k);
    }
    ASSERT_TRUE(wal->Close().ok());
  }
  EXPECT_GT(SegmentNames(dir.path()).size(), 5U);
  auto wal = OpenOrDie(dir.path(), options);
  const auto records = ReadAll(*wal);
  ASSERT_EQ(records.size(), k);
  for (std::uint64_t i = 1; i <= k; ++i) ASSERT_EQ(records[i - 1].second, Payload(i)) << i;
}

TEST(Wal, SegmentsRollAndSealedOnesAreNeverRewritten) {
  TempDir dir;
  WalOptions options;
  options.segment_bytes = 2048;
  auto wal = OpenOrDie(dir.path(), options);
  for (std::uint64_t k = 1; k <= 60; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 200)).ok());
  auto names = SegmentNames(dir.path());
  ASSERT_GT(names.size(), 3U);
  EXPECT_EQ(names.front(), SegmentFileName(1));
  std::map<std::string, std::uint64_t> sizes;
  for (const auto& n : names) sizes[n] = std::filesystem::file_size(dir / n);
  for (std::uint64_t k = 61; k <= 120; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 200)).ok());
  for (std::size_t i = 0; i + 1 < names.size(); ++i) {
    EXPECT_EQ(std::filesystem::file_size(dir / names[i]), sizes[names[i]]) << names[i];
  }
  EXPECT_EQ(ReadAll(*wal).size(), 120U);
  // A record larger than a segment gets a segment of its own.
  ASSERT_TRUE(wal->Append(RecordType::kTest, std::vector<std::uint8_t>(5000, 7)).ok());
  EXPECT_EQ(ReadAll(*wal, 121).at(0).second.size(), 5000U);
}

// Where a segment holding records first..last, appended as Payload(k, 200), ends.
std::uint64_t RecordsEnd(std::uint64_t first, std::uint64_t last) {
  std::uint64_t end = kSegmentHeaderSize;
  for (std::uint64_t k = first; k <= last; ++k) end += RecordFootprint(Payload(k, 200).size());
  return end;
}

// The writer keeps zeros ahead of its records in the segment it writes (so that its fdatasyncs
// seldom change the file's size); sealed segments and a cleanly closed log hold records only; a
// crash leaves the zeros, and recovery reads them as the clean end, not as a torn tail.
TEST(Wal, ZerosAheadOfTheRecordsAreTheCleanEndAfterACrash) {
  for (const std::uint64_t preallocate : {std::uint64_t{0}, WalOptions{}.preallocate_bytes}) {
    SCOPED_TRACE(fmt::format("preallocate_bytes={}", preallocate));
    TempDir dir;
    TempDir crashed;
    WalOptions options;
    options.segment_bytes = 16U << 10;
    options.preallocate_bytes = preallocate;
    auto wal = OpenOrDie(dir.path(), options);
    for (std::uint64_t k = 1; k <= 400; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 200)).ok());
    const auto names = SegmentNames(dir.path());
    ASSERT_GT(names.size(), 2U);
    for (std::size_t i = 0; i + 1 < names.size(); ++i) {
      EXPECT_EQ(std::filesystem::file_size(dir.path() / names[i]),
                RecordsEnd(*ParseSegmentFileName(names[i]), *ParseSegmentFileName(names[i + 1]) - 1))
          << "sealed " << names[i] << " holds zeros";
    }
    const std::uint64_t end = RecordsEnd(*ParseSegmentFileName(names.back()), 400);
    const std::uint64_t open_size = std::filesystem::file_size(dir.path() / names.back());
    if (preallocate == 0) {
      EXPECT_EQ(open_size, end);
    } else {
      EXPECT_EQ(open_size, options.segment_bytes) << "zeros written ahead, up to the segment's size";
    }

    // What a kill -9 leaves: the files as they are now.
    std::filesystem::copy(dir.path(), crashed.path(),
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
    {
      auto reopened = OpenOrDie(crashed.path(), options);
      ASSERT_NE(reopened, nullptr);
      EXPECT_EQ(reopened->recovery().torn_tail_bytes, 0U);
      EXPECT_EQ(reopened->recovery().preallocated_bytes, open_size - end);
      EXPECT_EQ(reopened->written_position(), 400U);
      ASSERT_TRUE(reopened->Append(RecordType::kTest, Payload(401, 200)).ok());
      const auto records = ReadAll(*reopened);
      ASSERT_EQ(records.size(), 401U);
      for (std::uint64_t k = 1; k <= 401; ++k) ASSERT_EQ(records[k - 1].second, Payload(k, 200)) << k;
    }
    EXPECT_EQ(std::filesystem::file_size(crashed.path() / names.back()),
              end + RecordFootprint(Payload(401, 200).size()))
        << "a closed log holds records only";

    ASSERT_TRUE(wal->Close().ok());
    EXPECT_EQ(std::filesystem::file_size(dir.path() / names.back()), end) << "a closed log holds records only";
  }
}

// Anything but zeros after the last record is a torn tail, even among the zeros written ahead: it
// is cut, with the zeros, and reported. Repair, too, reads zeros as the end and drops nothing.
TEST(Wal, GarbageAmongTheZerosAheadIsATornTail) {
  TempDir dir;
  TempDir crashed;
  WalOptions options;
  options.segment_bytes = 16U << 10;
  auto wal = OpenOrDie(dir.path(), options);
  for (std::uint64_t k = 1; k <= 10; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 200)).ok());
  const std::uint64_t end = RecordsEnd(1, 10);
  std::filesystem::copy(dir.path(), crashed.path(),
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  const auto segment = crashed.path() / SegmentNames(crashed.path()).back();
  const std::uint64_t size = std::filesystem::file_size(segment);
  ASSERT_GT(size, end + 1000);

  const auto repaired = Wal::Repair(crashed.path());
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_EQ(repaired->dropped_bytes, 0U);
  EXPECT_EQ(repaired->last_kept_position, 10U);
  EXPECT_EQ(std::filesystem::file_size(segment), size);

  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(end + 1000));
    f.put(static_cast<char>(0x5A));
  }
  auto reopened = OpenOrDie(crashed.path(), options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->recovery().torn_tail_offset, end);
  EXPECT_EQ(reopened->recovery().torn_tail_bytes, size - end);
  EXPECT_EQ(reopened->recovery().preallocated_bytes, 0U);
  EXPECT_EQ(std::filesystem::file_size(segment), end);
  EXPECT_EQ(ReadAll(*reopened).size(), 10U);
  ASSERT_TRUE(reopened->Append(RecordType::kTest, Payload(11, 200)).ok());
  EXPECT_EQ(ReadAll(*reopened).size(), 11U);
}

// Records of one batch cannot vouch for each other, so damage in the last batch reads as a torn
// tail. A caller that knows what was acknowledged (the database: its indexes' applied position)
// turns that into a refusal that leaves the bytes for Repair.
TEST(Wal, DamageBelowWhatTheCallerKnowsWasAcknowledgedIsRefusedNotCut) {
  TempDir seed;
  std::vector<RecordInput> inputs;
  std::vector<std::vector<std::uint8_t>> payloads;
  for (std::uint64_t k = 1; k <= 10; ++k) payloads.push_back(Payload(k, 200));
  for (const auto& p : payloads) inputs.push_back({RecordType::kTest, p, std::nullopt});
  {
    auto wal = OpenOrDie(seed.path());
    ASSERT_TRUE(wal->AppendBatch(inputs).ok());
  }
  const std::uint64_t third = RecordsEnd(1, 2);  // where record 3 starts
  const auto name = SegmentNames(seed.path()).back();
  const std::uint64_t size = std::filesystem::file_size(seed.path() / name);
  {
    std::fstream f(seed.path() / name, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(third + kRecordHeaderSize - 8));  // inside record 3's checksum
    f.put(static_cast<char>(0x5A));
  }
  const auto copy_of_seed = [&](const TempDir& to) {
    std::filesystem::copy(seed.path(), to.path(),
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  };

  for (const LogPosition known : {LogPosition{10}, LogPosition{3}}) {
    TempDir dir;
    copy_of_seed(dir);
    WalOptions options;
    int asked = 0;
    options.acknowledged_through = [&]() -> Result<LogPosition> {
      ++asked;
      return known;
    };
    auto wal = Wal::Open(dir.path(), options);
    ASSERT_FALSE(wal.ok());
    EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
    EXPECT_NE(wal.status().ToString().find(fmt::format("offset {}", third)), std::string::npos)
        << wal.status().ToString();
    EXPECT_NE(
        wal.status().ToString().find(fmt::format("positions through {} are known to have been acknowledged", known)),
        std::string::npos)
        << wal.status().ToString();
    EXPECT_EQ(asked, 1);
    EXPECT_EQ(std::filesystem::file_size(dir.path() / name), size) << "nothing cut";
  }
  {
    // Known through 2 only: the damage may be a torn write; cut, as without the question.
    TempDir dir;
    copy_of_seed(dir);
    WalOptions options;
    options.acknowledged_through = []() -> Result<LogPosition> { return LogPosition{2}; };
    auto wal = OpenOrDie(dir.path(), options);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(wal->recovery().torn_tail_offset, third);
    EXPECT_EQ(wal->written_position(), 2U);
  }
  {
    // The question's own failure fails the open, and cuts nothing.
    TempDir dir;
    copy_of_seed(dir);
    WalOptions options;
    options.acknowledged_through = []() -> Result<LogPosition> { return Status::IoError("store unreadable"); };
    auto wal = Wal::Open(dir.path(), options);
    ASSERT_FALSE(wal.ok());
    EXPECT_NE(wal.status().ToString().find("store unreadable"), std::string::npos) << wal.status().ToString();
    EXPECT_EQ(std::filesystem::file_size(dir.path() / name), size);
  }
  {
    // A log without damage never asks.
    TempDir dir;
    WalOptions options;
    int asked = 0;
    options.acknowledged_through = [&]() -> Result<LogPosition> {
      ++asked;
      return LogPosition{0};
    };
    {
      auto wal = OpenOrDie(dir.path(), options);
      ASSERT_TRUE(wal->AppendBatch(inputs).ok());
    }
    auto wal = OpenOrDie(dir.path(), options);
    EXPECT_EQ(wal->written_position(), 10U);
    EXPECT_EQ(asked, 0);
  }
}

// Truncating the last record at every byte offset, and appending garbage, always recovers to the
// records before it, and the log stays appendable.
TEST(Wal, TornTailIsCutAtEveryOffset) {
  TempDir base;
  const auto seed_dir = base / "seed";
  {
    auto wal = OpenOrDie(seed_dir);
    for (std::uint64_t k = 1; k <= 5; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k)).ok());
  }
  const auto seg = SegmentFileName(1);
  const auto full = std::filesystem::file_size(seed_dir / seg);
  const auto last_len = RecordFootprint(Payload(5).size());
  const auto last_start = full - last_len;
  std::mt19937_64 rng(7);
  for (std::uint64_t cut = last_start; cut < full; ++cut) {
    for (bool garbage : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "cut at " << cut << (garbage ? " + garbage" : ""));
      const auto dir = base / "case";
      std::filesystem::remove_all(dir);
      std::filesystem::copy(seed_dir, dir);
      std::filesystem::resize_file(dir / seg, cut);
      if (garbage) {
        std::ofstream out(dir / seg, std::ios::binary | std::ios::app);
        for (int i = 0; i < 100; ++i) out.put(static_cast<char>(rng()));
      }
      auto wal = OpenOrDie(dir);
      ASSERT_NE(wal, nullptr);
      EXPECT_EQ(wal->written_position(), 4U);
      if (cut > last_start || garbage) {
        EXPECT_EQ(wal->recovery().torn_tail_offset, last_start);
        EXPECT_EQ(wal->recovery().torn_tail_bytes, (cut - last_start) + (garbage ? 100U : 0U));
      } else {
        EXPECT_EQ(wal->recovery().torn_tail_bytes, 0U);  // a clean cut at a record boundary
      }
      auto r = wal->Append(RecordType::kTest, Payload(99));
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->first, 5U);
      const auto records = ReadAll(*wal);
      ASSERT_EQ(records.size(), 5U);
      EXPECT_EQ(records[3].second, Payload(4));
      EXPECT_EQ(records[4].second, Payload(99));
    }
  }
}

// A bit flipped in any record that a later record proves durable makes Open refuse, naming the
// segment and offset; a flip in the very last record is indistinguishable from a torn write and
// is cut (see docs/wal_format.md).
TEST(Wal, BitFlipsAreDetected) {
  TempDir base;
  const auto seed_dir = base / "seed";
  std::vector<std::uint64_t> starts;
  {
    auto wal = OpenOrDie(seed_dir);
    for (std::uint64_t k = 1; k <= 4; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 100)).ok());
  }
  std::uint64_t offset = kSegmentHeaderSize;
  for (std::uint64_t k = 1; k <= 4; ++k) {
    starts.push_back(offset);
    offset += RecordFootprint(Payload(k, 100).size());
  }
  const auto seg = SegmentFileName(1);
  const auto size = std::filesystem::file_size(seed_dir / seg);
  ASSERT_EQ(offset, size);
  int refused = 0, cut = 0;
  for (std::uint64_t byte = 0; byte < size; ++byte) {
    SCOPED_TRACE(byte);
    const auto dir = base / "case";
    std::filesystem::remove_all(dir);
    std::filesystem::copy(seed_dir, dir);
    {
      std::fstream f(dir / seg, std::ios::binary | std::ios::in | std::ios::out);
      f.seekg(static_cast<std::streamoff>(byte));
      const char c = static_cast<char>(f.get());
      f.seekp(static_cast<std::streamoff>(byte));
      f.put(static_cast<char>(c ^ (1 << (byte % 8))));
    }
    auto wal = Wal::Open(dir);
    if (byte < starts.back()) {
      // Header or records 1-3: record 4 (or the header) proves they were durable.
      ASSERT_FALSE(wal.ok());
      EXPECT_EQ(wal.status().code(), StatusCode::kCorruption);
      EXPECT_NE(wal.status().ToString().find(seg), std::string::npos) << wal.status().ToString();
      EXPECT_NE(wal.status().ToString().find("offset"), std::string::npos);
      ++refused;
    } else {
      ASSERT_TRUE(wal.ok()) << wal.status().ToString();
      EXPECT_EQ((*wal)->written_position(), 3U);
      ++cut;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(cut, 0);
}

TEST(Wal, CorruptionInASealedSegmentIsReportedByReaders) {
  TempDir dir;
  WalOptions options;
  options.segment_bytes = 1024;
  {
    auto wal = OpenOrDie(dir.path(), options);
    for (std::uint64_t k = 1; k <= 30; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 100)).ok());
  }
  const auto names = SegmentNames(dir.path());
  ASSERT_GT(names.size(), 2U);
  {
    std::fstream f(dir / names[1], std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + kRecordHeaderSize + 1));  // in the first payload
    f.put('\x5a');
  }
  auto wal = OpenOrDie(dir.path(), options);  // only the last segment is scanned at open
  auto reader = *wal->NewReader(1);
  Status failure;
  for (;;) {
    auto r = reader->Next();
    if (!r.ok()) {
      failure = r.status();
      break;
    }
    ASSERT_TRUE(*r) << "read past a corrupt record";
  }
  EXPECT_EQ(failure.code(), StatusCode::kCorruption);
  EXPECT_NE(failure.ToString().find(names[1]), std::string::npos) << failure.ToString();
  // The record starts right after the segment header.
  EXPECT_NE(failure.ToString().find("offset 32: record checksum mismatch"), std::string::npos) << failure.ToString();
}

TEST(Wal, RepairTruncatesAtTheDamageAndReportsWhatItDropped) {
  TempDir dir;
  {
    auto wal = OpenOrDie(dir.path());
    for (std::uint64_t k = 1; k <= 10; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k, 100)).ok());
  }
  const auto seg = dir / SegmentFileName(1);
  std::uint64_t offset = kSegmentHeaderSize;
  for (std::uint64_t k = 1; k <= 5; ++k) offset += RecordFootprint(Payload(k, 100).size());
  {
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(offset + 40));  // inside record 6's checksum
    f.put('\x01');
  }
  ASSERT_EQ(Wal::Open(dir.path()).status().code(), StatusCode::kCorruption);
  auto report = Wal::Repair(dir.path());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->last_kept_position, 5U);
  EXPECT_EQ(report->cut_offset, offset);
  EXPECT_GT(report->dropped_bytes, 0U);
  auto wal = OpenOrDie(dir.path());
  const auto records = ReadAll(*wal);
  ASSERT_EQ(records.size(), 5U);
  for (std::uint64_t k = 1; k <= 5; ++k) EXPECT_EQ(records[k - 1].second, Payload(k, 100));
}

TEST(Wal, ConcurrentAppendersEachRecordOnceInPositionOrder) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  constexpr int kThreads = 8, kPerThread = 250;
  std::vector<std::vector<LogPosition>> acked(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::uint64_t key = static_cast<std::uint64_t>(t) * 100000 + static_cast<std::uint64_t>(i);
        auto r = wal->Append(RecordType::kTest, Payload(key));
        ASSERT_TRUE(r.ok());
        acked[t].push_back(r->first);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto records = ReadAll(*wal);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::map<LogPosition, std::uint64_t> expected;
  for (int t = 0; t < kThreads; ++t) {
    // Each thread's records sit in its own order.
    EXPECT_TRUE(std::is_sorted(acked[t].begin(), acked[t].end()));
    for (int i = 0; i < kPerThread; ++i) {
      expected[acked[t][i]] = static_cast<std::uint64_t>(t) * 100000 + static_cast<std::uint64_t>(i);
    }
  }
  ASSERT_EQ(expected.size(), records.size()) << "a position was handed out twice";
  for (const auto& [position, payload] : records) EXPECT_EQ(payload, Payload(expected.at(position))) << position;
}

TEST(Wal, ReaderWaitsForNewRecords) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  auto reader = *wal->NewReader(1);
  ASSERT_FALSE(*reader->Next());
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(1)).ok());
  });
  EXPECT_EQ(wal->WaitForVisible(1, std::chrono::seconds(10)), 1U);
  writer.join();
  auto record = reader->Next();
  ASSERT_TRUE(record.ok() && *record);
  EXPECT_EQ((*record)->position, 1U);
  // Times out when nothing comes.
  EXPECT_EQ(wal->WaitForVisible(2, std::chrono::milliseconds(10)), 1U);
}

// A wait with a give-up condition returns once the condition holds and WakeVisibleWaiters is
// called: long before its timeout, with nothing new visible.
TEST(Wal, AWaitGivesUpWhenWokenWithItsConditionTrue) {
  TempDir dir;
  auto wal = OpenOrDie(dir.path());
  std::atomic<bool> give_up{false};
  LogPosition seen = 99;
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] { seen = wal->WaitForVisible(1, std::chrono::seconds(60), [&] { return give_up.load(); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  give_up = true;
  wal->WakeVisibleWaiters();
  waiter.join();
  EXPECT_EQ(seen, 0U);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  // A condition already true ends the wait before it sleeps.
  EXPECT_EQ(wal->WaitForVisible(1, std::chrono::seconds(60), [] { return true; }), 0U);
}

// ---- Injected faults ----

TEST(WalFaults, FailedFsyncStopsAllAcknowledgements) {
  TempDir dir;
  FaultEnv env;
  WalOptions options;
  options.env = &env;
  {
    auto wal = OpenOrDie(dir.path(), options);
    for (std::uint64_t k = 1; k <= 3; ++k) ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(k)).ok());
    env.Arm({FaultEnv::Op::kSync, 1, false, EIO});
    auto failed = wal->Append(RecordType::kTest, Payload(4));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
    EXPECT_NE(failed.status().ToString().find("fdatasync"), std::string::npos);
    // The fault was one-shot, but the WAL does not retry and trust: it stays stopped.
    auto later = wal->Append(RecordType::kTest, Payload(5));
    EXPECT_EQ(later.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(later.status().ToString().find("fdatasync"), std::string::npos);
    EXPECT_EQ(wal->durable_position(), 3U);
    EXPECT_FALSE(wal->Close().ok());
  }
  env.Disarm();
  env.SimulatePowerLoss();
  auto wal = OpenOrDie(dir.path(), options);
  const auto records = ReadAll(*wal);
  ASSERT_EQ(records.size(), 3U);  // record 4 was never acknowledged and never synced
}

TEST(WalFaults, ShortWriteAndEnospcAreErrorsNotHalfAcknowledged) {
  for (int error : {ENOSPC, EIO}) {
    TempDir dir;
    FaultEnv env;
    WalOptions options;
    options.env = &env;
    {
      auto wal = OpenOrDie(dir.path(), options);
      ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(1)).ok());
      env.Arm({FaultEnv::Op::kWrite, 1, false, error, 0.5});
      auto failed = wal->Append(RecordType::kTest, Payload(2, 4000));
      ASSERT_FALSE(failed.ok());
      if (error == ENOSPC) {
        EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted);
      }
      EXPECT_EQ(wal->Append(RecordType::kTest, Payload(3)).status().code(), StatusCode::kFailedPrecondition);
    }
    env.Disarm();
    // Half a record sits at the tail; reopening cuts it.
    auto wal = OpenOrDie(dir.path(), options);
    EXPECT_GT(wal->recovery().torn_tail_bytes, 0U);
    EXPECT_EQ(ReadAll(*wal).size(), 1U);
    ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(4)).ok());
  }
}

// SQLite-style fault loop: fail the N-th write or fsync, once or forever, for every N until the
// workload completes without reaching N. Each time, every acknowledged record survives a power
// loss and reopen byte for byte, and the log is appendable again.
TEST(WalFaults, FaultLoopAtEveryOperation) {
  int iterations = 0;
  for (FaultEnv::Op op : {FaultEnv::Op::kWrite, FaultEnv::Op::kSync}) {
    for (bool forever : {false, true}) {
      for (int n = 1;; ++n) {
        TempDir dir;
        FaultEnv env;
        WalOptions options;
        options.env = &env;
        options.segment_bytes = 1500;
        std::map<LogPosition, std::uint64_t> acked;
        {
          auto wal = OpenOrDie(dir.path(), options);
          env.Arm({op, n, forever, EIO, 0.3});
          for (std::uint64_t k = 1; k <= 20; ++k) {
            auto r = wal->Append(RecordType::kTest, Payload(k, 300));
            if (r.ok()) acked[r->first] = k;
          }
        }
        const bool injected = env.injected() > 0;
        env.Disarm();
        std::mt19937_64 rng(static_cast<std::uint64_t>(n));
        env.SimulatePowerLoss(&rng);
        auto wal = OpenOrDie(dir.path(), options);
        ASSERT_NE(wal, nullptr) << "n=" << n;
        const auto records = ReadAll(*wal);
        std::map<LogPosition, std::vector<std::uint8_t>> present(records.begin(), records.end());
        for (const auto& [position, key] : acked) {
          ASSERT_TRUE(present.count(position)) << "acknowledged position " << position << " lost, n=" << n;
          ASSERT_EQ(present[position], Payload(key, 300)) << "position " << position << " altered, n=" << n;
        }
        ASSERT_TRUE(wal->Append(RecordType::kTest, Payload(1000)).ok());
        ++iterations;
        if (!injected) break;  // the workload finished before reaching operation n
      }
    }
  }
  EXPECT_GT(iterations, 40);
}

TEST(WalFaults, SyncModesSayWhatTheyGuarantee) {
  for (SyncMode mode : {SyncMode::kNone, SyncMode::kInterval}) {
    TempDir dir;
    FaultEnv env;
    WalOptions options;
    options.env = &env;
    options.sync_mode = mode;
    options.sync_interval = std::chrono::hours(1);
    std::map<LogPosition, std::uint64_t> durable;
    {
      auto wal = OpenOrDie(dir.path(), options);
      for (std::uint64_t k = 1; k <= 10; ++k) {
        auto r = wal->Append(RecordType::kTest, Payload(k));
        ASSERT_TRUE(r.ok());
        if (r->durability == Durability::kDurable) durable[r->first] = k;
      }
      if (mode == SyncMode::kNone) {
        EXPECT_EQ(wal->visible_position(), 10U);  // bulk load: readers see what is written
      }
      ASSERT_TRUE(wal->Sync().ok());
      EXPECT_EQ(wal->durable_position(), 10U);
      for (std::uint64_t k = 11; k <= 15; ++k) {
        auto r = wal->Append(RecordType::kTest, Payload(k));
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->durability, Durability::kWritten);
      }
      // Power fails before Close: the unsynced tail is lost, the synced part is whole.
      env.SimulatePowerLoss();
    }
    auto wal = OpenOrDie(dir.path());
    const auto records = ReadAll(*wal);
    ASSERT_GE(records.size(), 10U);
    for (std::uint64_t k = 1; k <= 10; ++k) EXPECT_EQ(records[k - 1].second, Payload(k));
  }
}

}  // namespace
}  // namespace stemedb::wal
