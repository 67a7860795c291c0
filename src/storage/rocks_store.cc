#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

#include "stemedb/storage/kv_store.h"

namespace stemedb::storage {

std::span<const std::uint8_t> PinnedValue::aligned() {
  if (reinterpret_cast<std::uintptr_t>(bytes_.data()) % 8 == 0) return bytes_;
  if (copy_.empty() && !bytes_.empty()) {
    copy_.assign((bytes_.size() + 7) / 8, 0);
    std::memcpy(copy_.data(), bytes_.data(), bytes_.size());
  }
  return {reinterpret_cast<const std::uint8_t*>(copy_.data()), bytes_.size()};
}

namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  const std::string message = fmt::format("rocksdb {}: {}", what, s.ToString());
  if (s.IsCorruption()) return Status::Corruption(message);
  if (s.IsNoSpace()) return Status::ResourceExhausted(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) return Status::FailedPrecondition(message);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(message);
  return Status::IoError(message);
}

// RocksDB counts each step of a read and write in per-thread perf counters (on by default) that
// StemeDB never reads; from a shared library every count is a call to __tls_get_addr, 10% of a
// 10-candidate resolve. Every operation of the store first turns them off for the calling thread:
// a thread-local check after the first.
void NoPerfCountersOnThisThread() noexcept {
  thread_local bool off = false;
  if (!off) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    off = true;
  }
}

std::span<const std::uint8_t> AsBytes(const rocksdb::Slice& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The merge operator behind WriteBatch::AddToSet: a value is a set of kSetEntryBytes entries in
// byte order without repeats, and merging takes the union of the value and the additions. The
// ingestor adds to a key in ascending order (log order), so the union is nearly always the parts
// one after the other; anything else is sorted.
//
// A stored value that is not whole entries (damage: Write refuses additions that are not whole,
// and the ingestor never puts such a value) is not a merge failure, which RocksDB would take for
// a background error and stop every write to the store. The parts are kept as they are: a
// damaged value followed by whole additions is never whole entries, so the damage stays visible
// to whoever decodes the set (Corruption) and to `stemedb verify`, and the rest of the store goes
// on.
class SortedSetMerge final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "stemedb.SortedSet48"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<rocksdb::Slice> parts;
    parts.reserve(in.operand_list.size() + 1);
    if (in.existing_value != nullptr) parts.push_back(*in.existing_value);
    parts.insert(parts.end(), in.operand_list.begin(), in.operand_list.end());
    if (!Union(parts, out->new_value)) {
      out->new_value.clear();
      for (const rocksdb::Slice& part : parts) out->new_value.append(part.data(), part.size());
    }
    return true;
  }

  // Additions combine into one addition, so that a flush writes one entry per key. (Damaged ones
  // are left for FullMergeV2.)
  bool PartialMergeMulti(const rocksdb::Slice& /*key*/, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* /*logger*/) const override {
    return Union(std::vector<rocksdb::Slice>(operands.begin(), operands.end()), *new_value);
  }

 private:
  static std::string_view Entry(const rocksdb::Slice& part, std::size_t i) {
    return {part.data() + i * kSetEntryBytes, kSetEntryBytes};
  }

  // False when a part is not whole entries.
  static bool Union(const std::vector<rocksdb::Slice>& parts, std::string& out) {
    std::size_t total = 0;
    bool ascending = true;
    std::string_view last;
    for (const rocksdb::Slice& part : parts) {
      if (part.size() % kSetEntryBytes != 0) return false;
      total += part.size();
      for (std::size_t i = 0; i < part.size() / kSetEntryBytes && ascending; ++i) {
        const std::string_view entry = Entry(part, i);
        ascending = last.empty() || last < entry;
        last = entry;
      }
    }
    out.clear();
    out.reserve(total);
    if (ascending) {
      for (const rocksdb::Slice& part : parts) out.append(part.data(), part.size());
      return true;
    }
    std::vector<std::string_view> entries;
    entries.reserve(total / kSetEntryBytes);
    for (const rocksdb::Slice& part : parts) {
      for (std::size_t i = 0; i < part.size() / kSetEntryBytes; ++i) entries.push_back(Entry(part, i));
    }
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    for (const std::string_view entry : entries) out.append(entry);
    return true;
  }
};

class RocksSnapshot final : public Snapshot {
 public:
  RocksSnapshot(rocksdb::DB* db, const rocksdb::Snapshot* snapshot) : db_(db), snapshot_(snapshot) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }
  RocksSnapshot(const RocksSnapshot&) = delete;
  RocksSnapshot& operator=(const RocksSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

// The smallest key greater than every key with this prefix, or empty when there is none.
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xFF) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

constexpr std::size_t kLongScanPrefix = 2;  // at most this long: a whole key space (KVStore::ScanPrefix)
constexpr std::size_t kWholeSpaceReadahead = std::size_t{2} << 20;

// A RocksDB iterator with the prefix and bound it reads under; narrow scans keep it between them.
// ReadOptions::iterate_upper_bound points at `upper_slice`, so the object never moves.
struct ReusableIterator {
  std::string prefix;
  std::string upper;
  rocksdb::Slice upper_slice;
  std::uint64_t generation = 0;  // of the pool when it was taken
  std::unique_ptr<rocksdb::Iterator> it;
};

// Iterators of finished narrow scans, kept for the next: making a RocksDB iterator (a child per
// memtable, L0 file and level) and destroying it were 14% of a 10-candidate resolve, where
// Refresh() on a kept one reads a sequence number while the LSM's shape is unchanged. A kept
// iterator pins the memtables and files of its version, so every flush and compaction empties
// the pool (PoolResetListener), and an iterator taken before one is not kept when it comes back.
// Thread-safe.
class IteratorPool {
 public:
  static constexpr std::size_t kMaxKept = 16;

  std::unique_ptr<ReusableIterator> Take() {
    std::unique_ptr<ReusableIterator> out;
    std::scoped_lock lock(mu_);
    if (!kept_.empty()) {
      out = std::move(kept_.back());
      kept_.pop_back();
    }
    if (out) out->generation = generation_;
    return out;
  }
  std::uint64_t generation() {
    std::scoped_lock lock(mu_);
    return generation_;
  }
  void Give(std::unique_ptr<ReusableIterator> it) {
    std::scoped_lock lock(mu_);
    if (!closed_ && it->generation == generation_ && kept_.size() < kMaxKept) kept_.push_back(std::move(it));
    // Else it is destroyed when this returns, after the lock is released, and releases its version.
  }
  std::size_t kept() {
    std::scoped_lock lock(mu_);
    return kept_.size();
  }
  // Drops every kept iterator; `close` also refuses any given back later.
  void Clear(bool close = false) noexcept {
    std::vector<std::unique_ptr<ReusableIterator>> dropped;
    {
      std::scoped_lock lock(mu_);
      ++generation_;
      closed_ = closed_ || close;
      dropped.swap(kept_);
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<ReusableIterator>> kept_;
  std::uint64_t generation_ = 0;
  bool closed_ = false;
};

class PoolResetListener final : public rocksdb::EventListener {
 public:
  explicit PoolResetListener(std::shared_ptr<IteratorPool> pool) : pool_(std::move(pool)) {}
  // Called by RocksDB's flush and compaction threads after the new version is installed and
  // without the DB mutex held (listener.h), so the dropped iterators may release theirs there. An
  // iterator is tagged with the generation read before it is made or refreshed: one that may hold
  // an older version than its tag says cannot exist, only the reverse (dropped when given back).
  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo&) override { pool_->Clear(); }
  void OnCompactionCompleted(rocksdb::DB*, const rocksdb::CompactionJobInfo&) override { pool_->Clear(); }

 private:
  std::shared_ptr<IteratorPool> pool_;
};

class RocksIterator final : public PrefixIterator {
 public:
  RocksIterator(rocksdb::DB* db, IteratorPool& pool, std::string_view prefix, const Snapshot* snapshot,
                std::string_view from) {
    NoPerfCountersOnThisThread();
    std::string upper = PrefixEnd(prefix);
    // Narrow scans of the latest state reuse a kept iterator (snapshots cannot be refreshed, and
    // whole-space scans read ahead); the others make one of their own and drop it at the end.
    if (snapshot == nullptr && prefix.size() > kLongScanPrefix && !upper.empty()) {
      pool_ = &pool;
      state_ = pool.Take();
      if (state_ && !state_->it->Refresh().ok()) state_.reset();
    }
    if (!state_) {
      state_ = std::make_unique<ReusableIterator>();
      if (pool_ != nullptr) state_->generation = pool.generation();
      rocksdb::ReadOptions options;
      if (!upper.empty()) options.iterate_upper_bound = &state_->upper_slice;
      if (snapshot != nullptr) options.snapshot = static_cast<const RocksSnapshot*>(snapshot)->get();
      // A scan of a whole key space (every claim, or everything: conflicts, verify) reads ahead
      // explicitly from its first block missing from the cache; narrower scans (a resolve, a
      // claim, an entity card) touch a few blocks and read only those (see the table options in
      // Open).
      if (prefix.size() <= kLongScanPrefix) options.readahead_size = kWholeSpaceReadahead;
      state_->it.reset(db->NewIterator(options));
    }
    state_->prefix.assign(prefix);
    state_->upper = std::move(upper);
    state_->upper_slice = rocksdb::Slice(state_->upper);
    it_ = state_->it.get();
    const std::string_view start = std::max(prefix, from);
    it_->Seek(rocksdb::Slice(start.data(), start.size()));
  }
  ~RocksIterator() override {
    // One that ended in an error is not reused: a refresh need not rebuild what failed.
    if (pool_ != nullptr && it_->status().ok()) pool_->Give(std::move(state_));
  }
  RocksIterator(const RocksIterator&) = delete;
  RocksIterator& operator=(const RocksIterator&) = delete;

  // Every key in [prefix, PrefixEnd(prefix)) starts with the prefix and the upper bound stops
  // RocksDB at the end of that range. The prefix is compared as well so that a reused iterator
  // does not depend on RocksDB re-checking, on a reseek, what its children concluded under the
  // previous bound (7.8 does; a stale conclusion could only skip a comparison, letting a key past
  // the new bound through, never end a scan early), and so that a prefix of 0xFF bytes, which has
  // no upper bound, stops at its end.
  bool Valid() const override { return it_->Valid() && it_->key().starts_with(state_->prefix); }
  void Next() override { it_->Next(); }
  std::string_view key() const override { return {it_->key().data(), it_->key().size()}; }
  std::span<const std::uint8_t> value() const override { return AsBytes(it_->value()); }
  Status status() const override { return FromRocks(it_->status(), "iterate"); }

 private:
  std::unique_ptr<ReusableIterator> state_;  // the iterator, with the prefix and bound it reads under
  rocksdb::Iterator* it_ = nullptr;          // state_->it
  IteratorPool* pool_ = nullptr;             // set when state_ goes back to the pool at the end
};

class RocksStore final : public KVStore {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::shared_ptr<IteratorPool> pool, bool use_wal)
      : db_(std::move(db)), pool_(std::move(pool)) {
    write_options_.disableWAL = !use_wal;
  }
  ~RocksStore() override {
    pool_->Clear(/*close=*/true);
    // Memtables are flushed on close (avoid_flush_during_shutdown is false), so a clean close
    // loses nothing even with RocksDB's WAL off.
    db_->Close().PermitUncheckedError();
  }
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  Result<std::optional<PinnedValue>> Get(std::string_view key, const Snapshot* snapshot) override {
    NoPerfCountersOnThisThread();
    rocksdb::ReadOptions options;
    if (snapshot != nullptr) options.snapshot = static_cast<const RocksSnapshot*>(snapshot)->get();
    auto value = std::make_shared<rocksdb::PinnableSlice>();
    const rocksdb::Status s =
        db_->Get(options, db_->DefaultColumnFamily(), rocksdb::Slice(key.data(), key.size()), value.get());
    if (s.IsNotFound()) return std::optional<PinnedValue>();
    STEMEDB_RETURN_IF_ERROR(FromRocks(s, "get"));
    const auto bytes = AsBytes(*value);
    return std::optional<PinnedValue>(PinnedValue(std::move(value), bytes));
  }

  Result<std::vector<std::optional<PinnedValue>>> MultiGet(std::span<const std::string> keys,
                                                           const Snapshot* snapshot) override {
    NoPerfCountersOnThisThread();
    rocksdb::ReadOptions options;
    if (snapshot != nullptr) options.snapshot = static_cast<const RocksSnapshot*>(snapshot)->get();
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const std::string& k : keys) slices.emplace_back(k);
    // One allocation owns every pinned value; each PinnedValue shares it.
    struct Lookup {
      explicit Lookup(std::size_t n) : values(n), statuses(n) {}
      std::vector<rocksdb::PinnableSlice> values;
      std::vector<rocksdb::Status> statuses;
    };
    auto lookup = std::make_shared<Lookup>(keys.size());
    db_->MultiGet(options, db_->DefaultColumnFamily(), keys.size(), slices.data(), lookup->values.data(),
                  lookup->statuses.data());
    std::vector<std::optional<PinnedValue>> out(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const rocksdb::Status& s = lookup->statuses[i];
      if (s.IsNotFound()) continue;
      STEMEDB_RETURN_IF_ERROR(FromRocks(s, "multiget"));
      out[i].emplace(lookup, AsBytes(lookup->values[i]));
    }
    return out;
  }

  Status Write(const WriteBatch& batch) override {
    NoPerfCountersOnThisThread();
    // Applied in key order: RocksDB's memtable skip list keeps the position of the previous
    // insert, so a sorted batch is inserted in a fraction of the comparisons a scattered one
    // needs (an ingest batch's keys are scattered: hashes, agents, subjects). The sort is stable,
    // so of two puts of one key the later still wins, as the batch's contract says.
    std::vector<std::size_t> order(batch.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&batch](std::size_t a, std::size_t b) { return batch.key(a) < batch.key(b); });
    // Reserved whole: an ingest batch is megabytes, and growing the buffer by doubling copied it
    // about once more (5% of the ingestor thread's samples). Each entry adds a type byte and two
    // varint lengths (at most 5 bytes each) to its key and value; the header is 12 bytes.
    rocksdb::WriteBatch wb(12 + batch.payload_bytes() + 11 * batch.size());
    for (const std::size_t i : order) {
      if (batch.op(i) == WriteBatch::Op::kAddToSet) {
        if (batch.value(i).size() % kSetEntryBytes != 0) {
          return Status::InvalidArgument(
              fmt::format("add to set: {} bytes are not whole {}-byte entries; nothing written", batch.value(i).size(),
                          kSetEntryBytes));
        }
        STEMEDB_RETURN_IF_ERROR(FromRocks(wb.Merge(batch.key(i), batch.value(i)), "batch add to set"));
      } else {
        STEMEDB_RETURN_IF_ERROR(FromRocks(wb.Put(batch.key(i), batch.value(i)), "batch put"));
      }
    }
    return FromRocks(db_->Write(write_options_, &wb), "write");
  }

  std::unique_ptr<PrefixIterator> ScanPrefix(std::string_view prefix, const Snapshot* snapshot,
                                             std::string_view from) override {
    return std::make_unique<RocksIterator>(db_.get(), *pool_, prefix, snapshot, from);
  }

  std::shared_ptr<const Snapshot> GetSnapshot() override {
    return std::make_shared<RocksSnapshot>(db_.get(), db_->GetSnapshot());
  }

  Status Flush() override { return FromRocks(db_->Flush(rocksdb::FlushOptions()), "flush"); }

  Status Compact() override {
    rocksdb::CompactRangeOptions options;
    // Automatic compactions go on beside it, so that writes during a long compaction never stall
    // on a full L0 waiting for it.
    options.exclusive_manual_compaction = false;
    // Files already in the bottom level are rewritten too: their keys may overlap what comes down.
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    STEMEDB_RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "flush before compaction"));
    return FromRocks(db_->CompactRange(options, nullptr, nullptr), "compaction");
  }

  // Read from the per-level file counts (a property lookup each) rather than the full file
  // metadata: stats() asks it, and /healthz and /metrics ask stats() often.
  std::uint64_t SortedRuns() override {
    std::uint64_t runs = 0;
    for (int level = 0; level < db_->NumberLevels(); ++level) {
      std::string files;
      if (!db_->GetProperty(rocksdb::DB::Properties::kNumFilesAtLevelPrefix + std::to_string(level), &files)) continue;
      const std::uint64_t count = std::strtoull(files.c_str(), nullptr, 10);
      runs += level == 0 ? count : std::min<std::uint64_t>(count, 1);
    }
    return runs;
  }

  Memory MemoryUsage() override {
    Memory m;
    db_->GetIntProperty(rocksdb::DB::Properties::kSizeAllMemTables, &m.memtable_bytes);
    db_->GetIntProperty(rocksdb::DB::Properties::kBlockCacheUsage, &m.block_cache_bytes);
    db_->GetIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &m.table_reader_bytes);
    m.kept_iterators = pool_->kept();
    return m;
  }

  std::uint64_t DiskBytes() override {
    std::uint64_t sst = 0;
    db_->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst);
    return sst;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<IteratorPool> pool_;
  rocksdb::WriteOptions write_options_;
};

}  // namespace

Result<std::unique_ptr<KVStore>> OpenRocksStore(const std::filesystem::path& dir, const RocksOptions& options) {
  rocksdb::Options rocks;
  rocks.create_if_missing = true;
  rocks.IncreaseParallelism(2);
  // A stated memory budget: memtables at most write_buffer_bytes x max_write_buffers, plus the
  // block cache. (RocksDB's OptimizeLevelStyleCompaction would allow 6 x 128 MiB of memtables.)
  rocks.write_buffer_size = options.write_buffer_bytes;
  rocks.max_write_buffer_number = options.max_write_buffers;
  rocks.target_file_size_base = options.write_buffer_bytes;
  rocks.max_bytes_for_level_base = 8 * options.write_buffer_bytes;
  rocks.level_compaction_dynamic_level_bytes = true;
  // Flushes write L0 uncompressed; compactions compress (Snappy) what they write below. L0 files
  // are few and short-lived (at most four before they are merged down), and compressing them cost
  // the flush its Snappy pass and the next compaction a decompression of every block:
  // ingest_bench, 1M claims, two SubmitBatch callers, three interleaved runs each: 39.1k -> 40.0k/s
  // median, higher in every pair (no difference at 100k). Compacted data is compressed as before;
  // L0 files waiting for their compaction take more disk, at most ~4 flushes' worth: 608 -> 662 B
  // per assertion at the end of that run, 624 -> 856 B in compare's 100k store (mostly L0).
  rocks.compression_per_level.assign(rocks.num_levels, rocksdb::kSnappyCompression);
  rocks.compression_per_level[0] = rocksdb::kNoCompression;
  // A bloom filter over whole keys in the memtable too: the ingestor's existence checks are
  // mostly misses, and without it each one walks the skip list.
  rocks.memtable_prefix_bloom_size_ratio = 0.05;
  rocks.memtable_whole_key_filtering = true;
  rocks.merge_operator = std::make_shared<SortedSetMerge>();
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  // Whole-key bloom filters serve the point lookups (H:, C:...\1{agent}, E:). Prefix scans rely
  // on the index blocks and the upper bound; prefix filters did not pay (docs/storage.md).
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options.bloom_bits_per_key));
  table.cache_index_and_filter_blocks = true;
  // Every scan seeks each L0 file, and each seek looked up the file's index block in the cache.
  // The index and filter blocks of L0 (flush-sized) files are now pinned: charged to the cache
  // but reached without a lookup. 10-candidate resolve in `compare` 9.2 -> 8.6 us p50. The other
  // levels' stay unpinned, so pinned memory is bounded by the L0 file count, not the store size.
  table.metadata_cache_options.unpartitioned_pinning = rocksdb::PinningTier::kFlushedAndSimilar;
  // Resolves are scans of ~0.45 KB per candidate: 16 KiB blocks take a 100-candidate scan from
  // ~12 block switches to ~3 (38 -> 33 us in lens_bench) and cost point reads little (their
  // misses stop at the bloom filter).
  table.block_size = std::size_t{16} * 1024;
  // No implicit readahead: from a scan's third block on RocksDB would call readahead(2) on the
  // file, cached blocks or not, a system call in nearly every resolve (6% of a 100-candidate
  // resolve's samples). Scans of a whole key space ask for readahead explicitly (RocksIterator);
  // compactions have their own. (SST files are opened with random-access advice, so the kernel
  // does not read ahead for them.)
  table.max_auto_readahead_size = 0;
  rocks.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  auto pool = std::make_shared<IteratorPool>();
  rocks.listeners.push_back(std::make_shared<PoolResetListener>(pool));
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(rocks, dir.string(), &raw);
  if (!s.ok()) return FromRocks(s, fmt::format("open {}", dir.string()));
  return std::unique_ptr<KVStore>(
      new RocksStore(std::unique_ptr<rocksdb::DB>(raw), std::move(pool), options.use_rocksdb_wal));
}

}  // namespace stemedb::storage
