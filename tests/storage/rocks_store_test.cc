#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stemedb/storage/keys.h"
#include "stemedb/storage/kv_store.h"
#include "support/temp_dir.h"

namespace stemedb::storage {
namespace {

using testing::TempDir;

// The keys an open scan still has, to its end.
std::vector<std::string> Keys(PrefixIterator& it) {
  std::vector<std::string> out;
  for (; it.Valid(); it.Next()) out.emplace_back(it.key());
  EXPECT_TRUE(it.status().ok()) << it.status().ToString();
  return out;
}

std::vector<std::string> Scan(KVStore& store, std::string_view prefix) { return Keys(*store.ScanPrefix(prefix)); }

std::vector<std::string> Expected(const std::map<std::string, std::string>& all, std::string_view prefix,
                                  std::string_view from = {}) {
  std::vector<std::string> out;
  for (const auto& [key, value] : all) {
    if (key.starts_with(prefix) && key >= from) out.push_back(key);
  }
  return out;
}

// Whatever a scan's prefix, it returns every key with that prefix and no other, from the memtable
// and from files flushed at different times, some of which hold none of a group's keys, with
// subjects that are prefixes of other subjects and IDs full of NUL bytes.
TEST(RocksStore, PrefixScansReturnExactlyTheirKeys) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::map<std::string, std::string> all;
  std::mt19937 rng(7);
  const char* subjects[] = {"Tesla", "Tesla_Inc", "Tesla_Inc2", "SpaceX"};  // "Tesla" is a prefix of the others
  const char* predicates[] = {"ceo", "revenue", "rev"};
  constexpr int kRounds = 8;  // 7 flushes: L0 reaches the compaction trigger, so files move to L1
  for (int round = 0; round < kRounds; ++round) {
    WriteBatch batch;
    for (int s = 0; s < 4; ++s) {
      for (int p = 0; p < 3; ++p) {
        if ((s + p + round) % 3 == 0) continue;  // each file lacks some groups
        std::array<std::uint8_t, 32> raw{};
        for (auto& b : raw) b = static_cast<std::uint8_t>(rng() % 3);  // IDs full of NULs
        const AssertionId id{Hash(raw)};
        const EntityId subject(subjects[s]);
        const RelationId predicate(predicates[p]);
        for (std::string key : {keys::CandidateRecord(subject, predicate, id),
                                keys::CandidateSignature(subject, predicate, id, AgentId(raw)), keys::Location(id)}) {
          batch.Put(key, std::string_view("v"));
          all[key] = "v";
        }
      }
    }
    ASSERT_TRUE((*store)->Write(batch).ok());
    if (round < kRounds - 1) {  // the last round stays in the memtable
      ASSERT_TRUE((*store)->Flush().ok());
    }
  }
  std::vector<std::string> prefixes = {"", "C:", "H:", keys::CandidatePrefix(EntityId("Nobody"), RelationId("ceo"))};
  for (const char* s : subjects) {
    prefixes.push_back(keys::SubjectPrefix(EntityId(s)));
    for (const char* p : predicates) prefixes.push_back(keys::CandidatePrefix(EntityId(s), RelationId(p)));
  }
  for (const std::string& prefix : prefixes) {
    EXPECT_EQ(Scan(**store, prefix), Expected(all, prefix)) << "prefix of " << prefix.size() << " bytes";
  }
  for (const auto& [key, value] : all) {
    auto got = (*store)->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value());
  }
  // Narrow scans reuse iterators, each time under another prefix and bound, wider after narrower
  // and back, some at once, while compactions may be running: still exactly their keys.
  for (int i = 0; i < 400; ++i) {
    const std::string& prefix = prefixes[rng() % prefixes.size()];
    const std::string& other = prefixes[rng() % prefixes.size()];
    auto held = (*store)->ScanPrefix(other);
    EXPECT_EQ(Scan(**store, prefix), Expected(all, prefix)) << "prefix of " << prefix.size() << " bytes, scan " << i;
    EXPECT_EQ(Keys(*held), Expected(all, other)) << "held scan " << i;
  }
  // Scans that start part way (paging): from a stored key, from between keys, from before the
  // prefix and from past it, reused iterators again.
  std::vector<std::string> stored;
  for (const auto& [key, value] : all) stored.push_back(key);
  for (int i = 0; i < 400; ++i) {
    const std::string& prefix = prefixes[rng() % prefixes.size()];
    std::string from = stored[rng() % stored.size()];
    switch (rng() % 4) {
      case 0: break;
      case 1: from.push_back('\0'); break;          // just after a key
      case 2: from.resize(from.size() / 2); break;  // before many keys, perhaps before the prefix
      default: from = prefix + "\xFF\xFF"; break;   // past the prefix's keys (no key byte here is 0xFF)
    }
    EXPECT_EQ(Keys(*(*store)->ScanPrefix(prefix, nullptr, from)), Expected(all, prefix, from))
        << "prefix of " << prefix.size() << " bytes from " << from.size() << " bytes, scan " << i;
  }
}

// Prefixes ending in 0xFF bytes have a shorter upper bound, and a prefix of only 0xFF bytes has
// none: each still returns exactly its keys.
TEST(RocksStore, PrefixesOfFFBytesScanExactly) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::map<std::string, std::string> all;
  WriteBatch batch;
  for (std::string key :
       {std::string("a"), std::string("a\xFF"), std::string("a\xFF\x01"), std::string("a\xFF\xFF"), std::string("b"),
        std::string("\xFE\xFF"), std::string("\xFF"), std::string("\xFF\x00", 2), std::string("\xFF\xFF\xFF")}) {
    batch.Put(key, std::string_view("v"));
    all[key] = "v";
  }
  ASSERT_TRUE((*store)->Write(batch).ok());
  for (const std::string prefix : {"", "a", "a\xFF", "a\xFF\xFF", "\xFE", "\xFF", "\xFF\xFF", "\xFF\xFF\xFF\xFF"}) {
    EXPECT_EQ(Scan(**store, prefix), Expected(all, prefix)) << "prefix of " << prefix.size() << " bytes";
  }
}

bool WaitForKeptIterators(KVStore& store, std::uint64_t n) {
  for (int i = 0; i < 500; ++i) {
    if (store.MemoryUsage().kept_iterators == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A kept iterator, reused, sees every write made since its last scan; none is kept across a
// flush (it would pin the flushed memtable), neither the idle ones nor one in use during it.
TEST(RocksStore, ReusedIteratorsSeeEveryWriteAndOutliveNoFlush) {
  TempDir dir;
  auto opened = OpenRocksStore(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  KVStore& store = **opened;
  auto put = [&](std::string key) {
    WriteBatch batch;
    batch.Put(std::move(key), std::string_view("v"));
    ASSERT_TRUE(store.Write(batch).ok());
  };
  using Strings = std::vector<std::string>;
  put("abc/1");
  EXPECT_EQ(Scan(store, "abc/"), Strings({"abc/1"}));
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 1U);
  put("abc/2");
  EXPECT_EQ(Scan(store, "abc/"), Strings({"abc/1", "abc/2"}));
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 1U);
  {
    auto a = store.ScanPrefix("abc/");
    auto b = store.ScanPrefix("abc/1");
    put("abc/3");  // after both began: neither sees it
    EXPECT_EQ(Keys(*a), Strings({"abc/1", "abc/2"}));
    EXPECT_EQ(Keys(*b), Strings({"abc/1"}));
  }
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 2U);
  {
    auto during = store.ScanPrefix("abc/");
    ASSERT_TRUE(store.Flush().ok());
    EXPECT_TRUE(WaitForKeptIterators(store, 0));  // the idle ones went with the flush
    EXPECT_EQ(Keys(*during), Strings({"abc/1", "abc/2", "abc/3"}));
  }
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 0U);  // nor was the one in use kept
  put("abc/4");
  EXPECT_EQ(Scan(store, "abc/"), Strings({"abc/1", "abc/2", "abc/3", "abc/4"}));
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 1U);
  // Scans of a snapshot, and of whole key spaces, use iterators of their own.
  const auto snapshot = store.GetSnapshot();
  put("abc/5");
  {
    auto it = store.ScanPrefix("abc/", snapshot.get());
    EXPECT_EQ(Keys(*it), Strings({"abc/1", "abc/2", "abc/3", "abc/4"}));
  }
  EXPECT_EQ(Scan(store, "ab"), Strings({"abc/1", "abc/2", "abc/3", "abc/4", "abc/5"}));
  EXPECT_EQ(store.MemoryUsage().kept_iterators, 1U);
}

// MultiGet answers exactly as a Get per key would, in the order asked, keys repeated or absent,
// from the memtable and from files, and from a snapshot taken before later writes.
TEST(RocksStore, MultiGetAnswersAsGetsWould) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto put = [&](std::string key, std::string value) {
    WriteBatch batch;
    batch.Put(std::move(key), std::string_view(value));
    ASSERT_TRUE((*store)->Write(batch).ok());
  };
  put("k1", "flushed");
  put(std::string("k\0", 2), "nul");
  ASSERT_TRUE((*store)->Flush().ok());
  put("k2", "in the memtable");
  const auto before = (*store)->GetSnapshot();
  put("k3", "after the snapshot");
  put("k1", "overwritten");

  const std::vector<std::string> asked = {"k2", "missing", "k1", std::string("k\0", 2), "k1", "k3", ""};
  auto got = (*store)->MultiGet(asked);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), asked.size());
  std::vector<std::string> values;
  for (const auto& v : *got) values.push_back(v ? std::string(v->view()) : "<absent>");
  EXPECT_EQ(values, (std::vector<std::string>{"in the memtable", "<absent>", "overwritten", "nul", "overwritten",
                                              "after the snapshot", "<absent>"}));
  for (std::size_t i = 0; i < asked.size(); ++i) {
    auto one = (*store)->Get(asked[i]);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->has_value() ? std::string((*one)->view()) : "<absent>", values[i]) << asked[i];
  }

  auto then = (*store)->MultiGet(asked, before.get());
  ASSERT_TRUE(then.ok()) << then.status().ToString();
  values.clear();
  for (const auto& v : *then) values.push_back(v ? std::string(v->view()) : "<absent>");
  EXPECT_EQ(values, (std::vector<std::string>{"in the memtable", "<absent>", "flushed", "nul", "flushed", "<absent>",
                                              "<absent>"}));
  // The values stay readable after the vector that held them is gone, while a copy lives.
  std::optional<PinnedValue> kept = (*then)[2];
  then = std::vector<std::optional<PinnedValue>>();
  EXPECT_EQ(kept->view(), "flushed");

  auto none = (*store)->MultiGet({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A batch hands back every put as made, across the growth of its buffer, and the store applies
// them all at once; of two puts of one key, the later wins.
TEST(RocksStore, BatchWritesEveryPutAndTheLaterOfTwoWins) {
  WriteBatch batch;
  EXPECT_TRUE(batch.empty());
  std::vector<std::pair<std::string, std::string>> puts;
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    std::string key = "k" + std::to_string(rng() % 200);  // repeats, in no order
    key.push_back('\0');                                  // NULs in keys and values
    std::string value(static_cast<std::size_t>(rng() % 64), static_cast<char>(i));
    if (i == 150) value.assign(std::size_t{1} << 20, 'x');  // one large value
    puts.emplace_back(key, value);
    if (i % 2 == 0) {
      batch.Put(key, std::string_view(value));
    } else {
      batch.Put(key, std::span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
    }
  }
  batch.Put("empty", std::string_view());
  puts.emplace_back("empty", "");
  ASSERT_EQ(batch.size(), puts.size());
  for (std::size_t i = 0; i < puts.size(); ++i) {
    ASSERT_EQ(batch.key(i), puts[i].first) << i;
    ASSERT_EQ(batch.value(i), puts[i].second) << i;
  }

  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Write(batch).ok());
  std::map<std::string, std::string> last;
  for (const auto& [key, value] : puts) last[key] = value;
  for (const auto& [key, value] : last) {
    auto got = (*store)->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << key;
    EXPECT_EQ((*got)->view(), value) << key;
  }
  EXPECT_EQ(Scan(**store, "").size(), last.size());

  batch.Clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.size(), 0U);
}

}  // namespace
}  // namespace stemedb::storage

namespace stemedb::storage {
namespace {

std::string SetEntry(std::uint8_t first, std::uint8_t last) {
  std::string entry(kSetEntryBytes, '\x5a');
  entry.front() = static_cast<char>(first);
  entry.back() = static_cast<char>(last);
  return entry;
}

std::string Joined(const std::set<std::string>& entries) {
  std::string out;
  for (const std::string& e : entries) out += e;
  return out;
}

// Additions to a sorted set read back as the union of everything added, in byte order without
// repeats, whatever their order, repeats and sizes, and wherever they lie: in the memtable, in
// flushed files (where additions were combined), or both, or compacted into one sorted run; a put
// replaces the set before it.
RC_GTEST_PROP(RocksStore, AddToSetReadsAsTheUnionOfItsAdditions, ()) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  RC_ASSERT(store.ok());
  std::map<std::string, std::set<std::string>> model;
  const auto steps = *rc::gen::inRange(1, 30);
  for (int step = 0; step < steps; ++step) {
    const std::string key = "A:" + std::to_string(*rc::gen::inRange(0, 3));
    WriteBatch batch;
    const auto action = *rc::gen::inRange(0, 10);
    if (action == 0) {
      RC_ASSERT((*store)->Flush().ok());
      continue;
    }
    if (action == 1 && *rc::gen::arbitrary<bool>()) {  // additions combined with what lies below
      RC_ASSERT((*store)->Compact().ok());
      RC_ASSERT((*store)->SortedRuns() <= 1);
      continue;
    }
    // Entries from a small space, so that additions repeat and interleave.
    const auto entries = *rc::gen::container<std::vector<std::pair<std::uint8_t, std::uint8_t>>>(
        rc::gen::pair(rc::gen::inRange<std::uint8_t>(0, 6), rc::gen::inRange<std::uint8_t>(0, 3)));
    std::string added;
    std::set<std::string> as_set;
    for (const auto& [first, last] : entries) {
      added += SetEntry(first, last);
      as_set.insert(SetEntry(first, last));
    }
    if (action == 1) {
      batch.Put(key, Joined(as_set));
      model[key] = as_set;
    } else {
      batch.AddToSet(key, added);
      model[key].insert(as_set.begin(), as_set.end());
    }
    RC_ASSERT((*store)->Write(batch).ok());
  }
  for (const auto& [key, entries] : model) {
    auto got = (*store)->Get(key);
    RC_ASSERT(got.ok());
    RC_ASSERT(got->has_value());
    RC_ASSERT(std::string((*got)->view()) == Joined(entries));
  }
  std::size_t scanned = 0;
  for (auto it = (*store)->ScanPrefix("A:"); it->Valid(); it->Next()) {
    ++scanned;
    const std::string_view value(reinterpret_cast<const char*>(it->value().data()), it->value().size());
    RC_ASSERT(value == Joined(model.at(std::string(it->key()))));
  }
  RC_ASSERT(scanned == model.size());
}

// Every key, value and prefix scan reads the same after a compaction, which leaves the files as
// one sorted run; a writer busy during the compaction loses nothing either.
TEST(RocksStore, CompactionLeavesOneSortedRunAndChangesNoRead) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SortedRuns(), 0U);
  std::map<std::string, std::string> all;
  std::mt19937 rng(11);
  auto write_round = [&](int round) {
    WriteBatch batch;
    for (int i = 0; i < 500; ++i) {
      std::string key = fmt::format("{}:{:08x}", "CHR"[i % 3], rng());
      std::string value = fmt::format("round {} value {}", round, i);
      batch.Put(key, value);
      all[key] = value;
    }
    // The same set grows in every round: its additions end up in different files.
    const std::string entry = SetEntry(static_cast<std::uint8_t>(round), 0);
    batch.AddToSet("A:set", entry);
    all["A:set"] += entry;
    return (*store)->Write(batch);
  };
  // Three files in L0, one fewer than start an automatic compaction, so each is a sorted run.
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(write_round(round).ok());
    ASSERT_TRUE((*store)->Flush().ok());
  }
  ASSERT_TRUE(write_round(3).ok());  // left in the memtable: Compact flushes it first
  EXPECT_EQ((*store)->SortedRuns(), 3U);
  const auto snapshot = (*store)->GetSnapshot();

  std::atomic<bool> writer_failed{false};
  std::map<std::string, std::string> during;
  std::thread writer([&] {
    std::mt19937 own(13);
    for (int i = 0; i < 2000; ++i) {
      WriteBatch batch;
      std::string key = fmt::format("W:{:08x}", own());
      batch.Put(key, std::string_view("w"));
      during[key] = "w";
      if (!(*store)->Write(batch).ok()) writer_failed = true;
    }
  });
  const Status compacted = (*store)->Compact();
  writer.join();
  ASSERT_TRUE(compacted.ok()) << compacted.ToString();
  EXPECT_FALSE(writer_failed);
  all.insert(during.begin(), during.end());

  ASSERT_TRUE((*store)->Compact().ok());  // the writer's keys too
  EXPECT_EQ((*store)->SortedRuns(), 1U);
  for (const char* prefix : {"", "A:", "C:", "H:", "R:", "W:", "C:0", "H:f"}) {
    EXPECT_EQ(Scan(**store, prefix), Expected(all, prefix)) << prefix;
  }
  for (const auto& [key, value] : all) {
    auto got = (*store)->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << key;
    EXPECT_EQ(std::string((*got)->view()), value) << key;
  }
  // A snapshot taken before the compaction still reads what it saw.
  EXPECT_EQ(Keys(*(*store)->ScanPrefix("W:", snapshot.get())), std::vector<std::string>{});
  EXPECT_EQ(Keys(*(*store)->ScanPrefix("H:", snapshot.get())), Expected(all, "H:"));
}

// A set whose stored value is not whole entries stays damaged whatever is added to it, in the
// memtable and through flushes (a reader decoding it reports Corruption); the merge does not
// fail, so the store goes on writing. An addition that is not whole entries is refused, and
// nothing of its batch is written.
TEST(RocksStore, AddingToADamagedSetKeepsTheDamageVisible) {
  TempDir dir;
  auto store = OpenRocksStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string damaged = SetEntry(1, 1).substr(1);  // one byte short
  WriteBatch batch;
  batch.Put("A:damaged", damaged);
  batch.AddToSet("A:damaged", SetEntry(2, 2));
  batch.AddToSet("A:fine", SetEntry(2, 2));
  ASSERT_TRUE((*store)->Write(batch).ok());
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    auto got = (*store)->Get("A:damaged");
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
    EXPECT_NE((*got)->view().size() % kSetEntryBytes, 0U);
    EXPECT_TRUE((*got)->view().starts_with(damaged));
    auto fine = (*store)->Get("A:fine");
    ASSERT_TRUE(fine.ok() && fine->has_value()) << fine.status().ToString();
    EXPECT_EQ((*fine)->view(), SetEntry(2, 2));
    ASSERT_TRUE((*store)->Flush().ok());
    WriteBatch more;  // more additions on top of the flushed damage
    more.AddToSet("A:damaged", SetEntry(static_cast<std::uint8_t>(3 + round), 0));
    ASSERT_TRUE((*store)->Write(more).ok());
  }

  WriteBatch refused;
  refused.Put("B:put", "in a refused batch");
  refused.AddToSet("A:fine", SetEntry(5, 5).substr(0, kSetEntryBytes - 1));
  const Status s = (*store)->Write(refused);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_FALSE((*store)->Get("B:put")->has_value());
  EXPECT_EQ((*(*store)->Get("A:fine"))->view(), SetEntry(2, 2));
}

}  // namespace
}  // namespace stemedb::storage
