// Wal: StemeDB's write-ahead log, the log of record. Every accepted record is appended here and,
// in the default sync mode, fsynced before it is acknowledged. Everything else is derived from it.
//
// Promises:
// - An acknowledged record (Durability::kDurable) survives kill -9 and power loss, byte for byte,
//   at the position it was acknowledged with. Positions are dense and increase in append order.
// - No record is rewritten in place; records are written only over the zeros the WAL wrote
//   ahead of them (WalOptions::preallocate_bytes). Recovery cuts only a torn tail of
//   never-acknowledged bytes; damage to records that were durable makes Open fail with Corruption
//   naming the segment and offset (Repair truncates there explicitly and reports what it dropped).
// - After a failed write or fdatasync the WAL acknowledges nothing more: every later append
//   fails with FailedPrecondition carrying the first error (the page cache state is unknown, so
//   retrying and trusting would be a lie).
//
// Group commit: many threads may call Append concurrently; one writer thread gathers what is
// pending into one write and one fdatasync, and each caller returns once its batch is durable.
//
// Tail cache: the batches written last stay in memory (WalOptions::tail_cache_bytes), and a
// reader at the tail reads them from there. Those bytes never left this process; the checksums
// guard what comes back from disk, which the cache does not.
//
// Thread-safety: all methods are safe for concurrent use. A WalReader is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stemedb/base/blake3.h"
#include "stemedb/base/env.h"
#include "stemedb/base/status.h"
#include "stemedb/wal/format.h"

namespace stemedb::wal {

enum class SyncMode {
  kAlways,    // fdatasync every batch before acknowledging (default)
  kInterval,  // acknowledge after write(); fdatasync at most every sync_interval
  kNone,      // never fdatasync until Sync()/Close(): bulk loads that can be redone
};

// What an acknowledgement guarantees.
enum class Durability {
  kDurable,  // fsynced: survives power loss
  kWritten,  // in the OS page cache: survives kill -9 of this process, not power loss
};

struct WalOptions {
  SyncMode sync_mode = SyncMode::kAlways;
  std::chrono::milliseconds sync_interval{10};
  // A segment is sealed and a new one started once it would grow past this size.
  std::uint64_t segment_bytes = 64ULL << 20;
  // Payloads larger than this are refused (InvalidArgument) before anything is written.
  std::uint32_t max_record_bytes = 16U << 20;
  // One group commit writes at most this much (a single larger record still goes alone).
  std::size_t max_batch_bytes = 8U << 20;
  // The most recently written batches are also kept in memory, as written, up to this many bytes
  // in all, so that a reader following the log's tail (the ingestor) gets their records without a
  // system call or a second checksum pass, with their appenders' notes. The oldest batch is
  // dropped first; a reader that falls further behind reads the files. 0: no tail cache.
  std::size_t tail_cache_bytes = 64ULL << 20;
  // The segment being written is extended with zeros ahead of its records, up to this many bytes
  // (at first as many as it holds, from 64 KiB), so that most batches land inside the file as it
  // already is: their fdatasync then writes the data only, not a new file size too. Measured here,
  // that raised fdatasyncs from ~4,600/s to ~7,000/s (docs/wal_format.md). The zeros are cut when
  // the segment is sealed and when the WAL closes; after a crash, recovery reads them as the clean
  // end of the log. 0: off. Not done in SyncMode::kNone, which syncs only at the end.
  std::uint64_t preallocate_bytes = 4ULL << 20;
  // Asked by Open, only when it finds a damaged tail, for the last position known to have been
  // acknowledged (the database answers with what its indexes applied). A tail holding such a
  // position is not torn but damaged: Open refuses (Corruption) instead of cutting it, and leaves
  // the bytes for Repair. Unset: only a later intact record proves a damaged one was durable.
  std::function<Result<LogPosition>()> acknowledged_through;
  Env* env = nullptr;  // nullptr: DefaultEnv()
};

// An appender's note about a record: kept in memory beside it, never written, and handed back
// only by a reader that gets the record from this Wal's memory (WalRecord::note). Its meaning is
// the appender's: the database notes the assertion ID it validated the payload under and, for a
// claim the store did not hold, the applied position as of which it looked.
struct RecordNote {
  Hash hash;
  std::optional<LogPosition> position;

  bool operator==(const RecordNote&) const = default;
};

struct RecordInput {
  RecordType type = RecordType::kTest;
  std::span<const std::uint8_t> payload;
  // The appender's note about this payload. See RecordNote and WalRecord::note.
  std::optional<RecordNote> note;
};

struct AppendResult {
  LogPosition first = 0;  // position of the first record appended by the call
  LogPosition last = 0;   // position of the last one
  Durability durability = Durability::kDurable;
};

// What Open found and did.
struct RecoveryReport {
  std::size_t segments = 0;
  LogPosition last_position = 0;      // the last valid record (0: empty log)
  std::uint64_t torn_tail_bytes = 0;  // bytes cut from the end of the last segment
  std::string torn_tail_segment;      // where they were cut, when any
  std::uint64_t torn_tail_offset = 0;
  // Zeros after the last record of the last segment: written ahead of the records
  // (WalOptions::preallocate_bytes) before a crash, not torn. Written over by the next batches.
  std::uint64_t preallocated_bytes = 0;
};

// What Repair dropped.
struct RepairReport {
  LogPosition last_kept_position = 0;
  std::uint64_t dropped_bytes = 0;
  std::vector<std::string> dropped_segments;  // later segments set aside (renamed *.wal.dropped)
  std::string cut_segment;
  std::uint64_t cut_offset = 0;
};

// One record read from the log. `payload` is 8-byte aligned and valid until the reader's next call.
struct WalRecord {
  LogPosition position = 0;
  RecordType type = RecordType::kInvalid;
  std::span<const std::uint8_t> payload;
  // The note appended with the record, when the record was read from this Wal's tail cache: the
  // payload is then the very bytes that were appended with that note, in this process's memory.
  // nullopt for a record read from a file (notes are never written), or appended without one.
  std::optional<RecordNote> note;
  // Where the record's header starts in its segment file: with `position` and the payload's
  // length, what Wal::ReadRecord needs to read this record again.
  std::uint64_t offset = 0;
};

// Where a record is, as a reader reported it (WalRecord::position, offset and payload size).
struct RecordLocation {
  LogPosition position = 0;
  std::uint64_t offset = 0;  // of the record's header in the segment holding `position`
  std::uint32_t length = 0;  // payload bytes
};

class WalReader;

class Wal {
 public:
  // Opens (creating if needed) the WAL in `dir`: locks it against other openers, recovers the
  // last segment (see the class comment) and starts the writer.
  // Errors: FailedPrecondition when locked by another opener; Corruption for damage to durable
  // records; IoError and friends from the file system.
  static Result<std::unique_ptr<Wal>> Open(const std::filesystem::path& dir, const WalOptions& options = {});

  // Scans the whole log and truncates it at the first damaged record, setting aside any later
  // segments. For use by an operator after Open reported Corruption; it drops data, and says what.
  // REQUIRES: the WAL is not open.
  static Result<RepairReport> Repair(const std::filesystem::path& dir, Env* env = nullptr);

  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  // Closes (see Close) and logs any error.
  ~Wal();

  // Appends one record and returns once it is acknowledged under the sync mode.
  // Errors: InvalidArgument (type 0, payload too large: nothing written); FailedPrecondition
  // after an earlier I/O error; Unavailable after Close; the I/O error of this batch.
  Result<AppendResult> Append(RecordType type, std::span<const std::uint8_t> payload);
  // Appends several records at consecutive positions, acknowledged together.
  Result<AppendResult> AppendBatch(std::span<const RecordInput> records);

  // Forces an fdatasync of everything written so far (useful in kNone / kInterval modes).
  Status Sync();

  // Stops accepting appends, finishes the ones pending, syncs and closes. Idempotent.
  Status Close();

  // The last position acknowledged to a caller.
  LogPosition written_position() const noexcept;
  // The last position known durable (fsynced).
  LogPosition durable_position() const noexcept;
  // The last position readers may see: durable_position(), or written_position() in kNone mode.
  LogPosition visible_position() const noexcept;
  // Blocks until visible_position() >= position, the timeout passes, or the WAL stops.
  // Returns the visible position at that moment.
  LogPosition WaitForVisible(LogPosition position, std::chrono::milliseconds timeout) const;
  // The same, and also returns once `give_up()` is true. `give_up` is called under the WAL's lock
  // (it must be quick and must not call the WAL) each time the wait wakes: whenever records become
  // visible, and when WakeVisibleWaiters is called. Whoever makes it true must then call
  // WakeVisibleWaiters, or the wait lasts until the next visible records or the timeout.
  LogPosition WaitForVisible(LogPosition position, std::chrono::milliseconds timeout,
                             const std::function<bool()>& give_up) const;
  // Wakes every WaitForVisible call to check its condition again. Thread-safe; takes the WAL's lock
  // briefly, so that a wait between its check and its sleep cannot miss the wake-up.
  void WakeVisibleWaiters() const;

  // A reader positioned at `from` (the first record it returns has position `from`, once that is
  // visible). REQUIRES: from >= 1. The reader may outlive this Wal, but then sees nothing new.
  // When `from` is in the tail cache it starts there; otherwise it finds `from` by stepping over
  // the records of its segment before it, by their headers (each checked); their payloads, which
  // it never returns, are not read.
  Result<std::unique_ptr<WalReader>> NewReader(LogPosition from) const;

  // Reads the one record at `at` into `buffer` and returns its payload there, 8-byte aligned: the
  // database's indexes keep a location per claim and read records through this, so the log is
  // the only copy of a record. From the tail cache when the record is there (a copy, no system
  // call); otherwise one pread of header and payload, checked as a reader checks a record (header
  // check, position, length, checksum). Sealed and written segments are never rewritten, so a
  // location stays valid for the life of the log. Segment files opened for these reads stay open,
  // at most 64 at a time.
  // Errors: InvalidArgument when `at.position` is not visible yet or `at.length` exceeds the
  // limit; Corruption, naming segment and offset, when the bytes there are not that record.
  // Thread-safe; `buffer` is the caller's.
  Result<std::span<const std::uint8_t>> ReadRecord(const RecordLocation& at, std::vector<std::uint64_t>& buffer) const;

  // Memory the tail cache holds now (at most WalOptions::tail_cache_bytes), bookkeeping included.
  std::size_t tail_cache_bytes() const;

  const RecoveryReport& recovery() const noexcept;
  SyncMode sync_mode() const noexcept;

  struct State;  // shared with readers

 private:
  explicit Wal(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

class WalReader {
 public:
  ~WalReader();
  WalReader(const WalReader&) = delete;
  WalReader& operator=(const WalReader&) = delete;

  // The next record, or nullopt when every visible record has been read.
  // Errors: Corruption naming segment and offset when a visible record cannot be read back.
  Result<std::optional<WalRecord>> Next();
  // The position the next record will have.
  LogPosition next_position() const noexcept;

 private:
  friend class Wal;
  struct Impl;
  explicit WalReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::wal
