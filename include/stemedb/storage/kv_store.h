// KVStore: the ordered key-value store under StemeDB's indexes, and its RocksDB implementation.
//
// The store is derived state: everything in it can be rebuilt from the WAL. Writes are atomic
// batches; reads return values pinned in the store's memory (no copy) for as long as the
// PinnedValue lives; prefix scans iterate keys in byte order.
//
// Thread-safety: a KVStore is safe for concurrent use. Iterators and PinnedValues belong to the
// thread that made them. The RocksDB store turns RocksDB's per-thread perf counters off
// (rocksdb::SetPerfLevel(kDisable)) on each thread that calls it: StemeDB never reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stemedb/base/status.h"

namespace stemedb::storage {

// A value read from the store. The bytes stay valid (pinned) while this object lives.
class PinnedValue {
 public:
  PinnedValue() = default;
  PinnedValue(std::shared_ptr<const void> owner, std::span<const std::uint8_t> bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}

  std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }
  // The bytes at an 8-byte aligned address, as Cap'n Proto reads them: in place when they already
  // are (the usual case for RocksDB block-cache pins), else copied once into this object.
  std::span<const std::uint8_t> aligned();

 private:
  std::shared_ptr<const void> owner_;
  std::span<const std::uint8_t> bytes_;
  std::vector<std::uint64_t> copy_;
};

// The size of one entry of a sorted set (WriteBatch::AddToSet): the agent index's (keys.h).
inline constexpr std::size_t kSetEntryBytes = 48;

// Writes collected for one atomic write: puts, and additions to sorted sets. The keys and values
// are copied into one growing buffer (an ingest batch puts thousands of small entries: a pair of
// strings each was measurable).
class WriteBatch {
 public:
  enum class Op : std::uint8_t { kPut, kAddToSet };

  // REQUIRES: key and value do not point into this batch (a put may move its buffer).
  void Put(std::string_view key, std::string_view value) { Append(Op::kPut, key, value); }
  void Put(std::string_view key, std::span<const std::uint8_t> value) {
    Put(key, std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
  }
  // Adds `entries` (kSetEntryBytes each, in any order) to the sorted set stored under `key`: a
  // value of entries in byte order without repeats. The store merges them in when it reads or
  // compacts the key, so the writer need not read the set first, and adding an entry already
  // there changes nothing. A later Put of the key replaces the set. A stored value that is not
  // whole entries (damage) stays so whatever is added: its bytes are kept, never repaired or
  // refused, so that whoever decodes the set reports Corruption and the rest of the store works.
  // KVStore::Write refuses a batch whose additions are not whole entries (InvalidArgument).
  // REQUIRES: key and entries do not point into this batch.
  void AddToSet(std::string_view key, std::string_view entries) { Append(Op::kAddToSet, key, entries); }

  // The writes in the order they were made; the views are valid until the next write or Clear.
  std::size_t size() const noexcept { return slots_.size(); }
  Op op(std::size_t i) const noexcept { return slots_[i].op; }
  std::string_view key(std::size_t i) const noexcept { return View(slots_[i].key_at, slots_[i].key_size); }
  std::string_view value(std::size_t i) const noexcept { return View(slots_[i].value_at, slots_[i].value_size); }
  bool empty() const noexcept { return slots_.empty(); }
  // The keys' and values' bytes together.
  std::size_t payload_bytes() const noexcept { return bytes_.size(); }
  void Clear() noexcept {
    slots_.clear();
    bytes_.clear();
  }

 private:
  struct Slot {
    std::size_t key_at, key_size, value_at, value_size;
    Op op;
  };
  void Append(Op op, std::string_view key, std::string_view value) {
    slots_.push_back({bytes_.size(), key.size(), bytes_.size() + key.size(), value.size(), op});
    bytes_.append(key);
    bytes_.append(value);
  }
  std::string_view View(std::size_t at, std::size_t size) const noexcept { return {bytes_.data() + at, size}; }
  std::vector<Slot> slots_;
  std::string bytes_;
};

// A forward iterator over the keys that start with a prefix, in byte order.
class PrefixIterator {
 public:
  virtual ~PrefixIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // REQUIRES: Valid(). Valid until the next call to Next().
  virtual std::string_view key() const = 0;
  virtual std::span<const std::uint8_t> value() const = 0;
  // OK, or the error that ended the iteration early.
  virtual Status status() const = 0;
};

// A consistent point-in-time view for reads.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
};

class KVStore {
 public:
  virtual ~KVStore() = default;
  // The value of `key`, or nullopt. Errors: IoError / Corruption from the store.
  virtual Result<std::optional<PinnedValue>> Get(std::string_view key, const Snapshot* snapshot = nullptr) = 0;
  // The values of `keys` in their order (nullopt where absent), read from `snapshot` or the latest
  // state in one batched lookup: cheaper than a Get per key, above all when most keys are absent
  // (their bloom filter probes are batched). Errors: the first key's error, as Get.
  virtual Result<std::vector<std::optional<PinnedValue>>> MultiGet(std::span<const std::string> keys,
                                                                   const Snapshot* snapshot = nullptr) = 0;
  // Applies every write of `batch` atomically, in the batch's order for any one key: of two puts
  // the later wins, additions to a set accumulate, a put replaces the set before it. Errors:
  // InvalidArgument (nothing written) when an addition to a set is not whole entries.
  virtual Status Write(const WriteBatch& batch) = 0;
  // The keys that start with `prefix`, in order, from `snapshot` (or the latest state). A scan of
  // a few blocks reads only those; one whose prefix is at most two bytes (in StemeDB's schema a
  // whole key space such as "C:", or everything) is taken to be long and reads ahead in large
  // requests where blocks are not cached. Narrow scans of the latest state reuse the iterators of
  // finished ones (at most 16 kept; a flush or compaction drops them, so that none pins an old
  // version of the store). With `from`, the scan starts at the first such key not below `from`
  // (the rest of a long index, paged: nothing before it is read).
  virtual std::unique_ptr<PrefixIterator> ScanPrefix(std::string_view prefix, const Snapshot* snapshot = nullptr,
                                                     std::string_view from = {}) = 0;
  virtual std::shared_ptr<const Snapshot> GetSnapshot() = 0;
  // Makes everything written so far durable in the store's own files.
  virtual Status Flush() = 0;
  // Flushes, then merges every file into the store's bottom level: afterwards a read seeks in one
  // sorted run instead of one per L0 file and per level (SortedRuns). Nothing read changes. Reads
  // and writes go on meanwhile, and files written during it may stay outside the bottom level. It
  // rewrites the whole store: time and I/O grow with its size (~0.5 s per 100k claims here).
  // Blocks until done. Errors: IoError.
  virtual Status Compact() = 0;
  // The sorted runs a read of the files may have to seek in: each L0 file, and each level below
  // it that holds files (memtables not counted). Bulk ingest leaves several; Compact leaves one.
  virtual std::uint64_t SortedRuns() = 0;
  // Approximate bytes on disk.
  virtual std::uint64_t DiskBytes() = 0;
  // The store's memory, by where it goes (RocksOptions bounds the first two).
  struct Memory {
    std::uint64_t memtable_bytes = 0;      // write buffers, flushed and not yet flushed
    std::uint64_t block_cache_bytes = 0;   // cached data, index and filter blocks
    std::uint64_t table_reader_bytes = 0;  // per-file state of open index files
    std::uint64_t kept_iterators = 0;      // idle iterators kept for the next narrow scans
  };
  virtual Memory MemoryUsage() = 0;
};

// Memory: at most write_buffer_bytes x max_write_buffers of memtables plus block_cache_bytes of
// cached blocks (index and filter blocks included), about 224 MiB with the defaults.
struct RocksOptions {
  std::size_t block_cache_bytes = 128U << 20;
  std::size_t write_buffer_bytes = 32U << 20;
  int max_write_buffers = 3;
  int bloom_bits_per_key = 10;
  // RocksDB's own WAL is off: StemeDB's WAL is the log of record and the applied position is
  // written in the same batch as the data it covers, so after a crash the ingestor re-applies
  // whatever the store lost. Set to true only for a store used without a StemeDB WAL.
  bool use_rocksdb_wal = false;
};

// Opens (creating if needed) a RocksDB store in `dir`.
// Errors: IoError, or FailedPrecondition when another process holds it.
Result<std::unique_ptr<KVStore>> OpenRocksStore(const std::filesystem::path& dir, const RocksOptions& options = {});

}  // namespace stemedb::storage
