// Ingestor: the background worker that makes the WAL queryable.
//
// It tails the WAL from the store's applied position and, for each record, decodes it in place,
// validates it as if it came from outside (canonical and exact encoding, ID recomputed, limits,
// every signature verified, spread over the cores — skipped only, when trust_notes is set, for a
// record the WAL hands over from its in-memory tail with the note of the assertion ID it was
// validated under: the very bytes this process validated at submit) and writes the record, its index
// entries (storage/keys.h) and the new applied position in one atomic batch. When a batch needed
// verifying (a restart's catch-up, a rebuild), the next one is read and verified while this one is
// applied; batches are still applied one after another, in log order. A record that fails
// validation is never indexed: the failure is logged as an error, counted, and kept under
// X:{position} for `stemedb verify`.
//
// Applying is idempotent (a record already applied changes nothing), so after any crash the
// ingestor simply resumes from the applied position the store holds, and deleting the store
// rebuilds every index from the WAL. Whether a claim is already stored is looked up in the store,
// a batch at a time, except for a trusted record whose note says the store did not hold the claim
// once everything up to some position was applied: that claim is new unless a batch applied since
// added it, which the ingestor remembers (IngestorOptions::recent_claims).
//
// Thread-safety: all methods are safe for concurrent use.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "stemedb/base/status.h"
#include "stemedb/model/validate.h"
#include "stemedb/storage/kv_store.h"
#include "stemedb/wal/wal.h"

namespace stemedb::ingest {

struct IngestorOptions {
  // Records per RocksDB batch at most. Larger batches insert their keys more densely into the
  // memtable's skip list (sorted, so each insert starts near the last), and cost less per record.
  std::size_t max_batch_records = 8192;
  // Record bytes per batch at most (a record larger than this makes a batch of its own): evidence
  // records may be megabytes each, and a catch-up holds two batches in memory at once.
  std::size_t max_batch_bytes = 32U << 20;
  ValidationLimits limits;
  std::chrono::milliseconds idle_wait{20};  // how long to sleep on an idle WAL between checks of stop
  // While the log arrives in bulk — the records visible when a batch is read number at least
  // gather_min_records — the ingestor waits up to gather_wait for more, until the batch is full,
  // before it applies it: fewer, larger batches cost less CPU per record (see max_batch_records).
  // Such records become queryable up to gather_wait later. The wait ends at once for a
  // WaitForApplied caller (read-your-writes, backpressure, CatchUp) and for Stop; fewer visible
  // records (single submissions, small batches) are applied at once. gather_wait 0: never wait.
  std::chrono::milliseconds gather_wait{100};
  std::size_t gather_min_records = 256;
  // Whether a signed record the WAL returns with a note (WalRecord::note: read from the WAL's
  // memory, appended by this process with the ID it validated the payload under) is taken as
  // validated. Set only when every appender of kAssertion / kCoSignature records with notes
  // validated them in full first, as Database::SubmitBatch does. false: validate everything.
  bool trust_notes = false;
  // Threads that verify the signatures of a batch (0: one per core), the ingestor's own among them.
  unsigned verify_threads = 0;
  // With trust_notes: how many of the claims it added lately the ingestor remembers (8 bytes of
  // each ID, the newest batches first). A trusted record whose note (wal::RecordNote::position)
  // says its claim was absent once everything up to that position was applied needs no store
  // lookup, unless a batch applied since added that claim — or may have: a batch no longer
  // remembered, or another claim sharing the 8 bytes. Then the store is asked, as for any record.
  std::size_t recent_claims = std::size_t{1} << 17;
};

struct IngestStats {
  wal::LogPosition applied_position = 0;
  std::uint64_t records_applied = 0;   // since start
  std::uint64_t records_rejected = 0;  // since start
  std::uint64_t assertions_added = 0;
  std::uint64_t signatures_added = 0;
  std::uint64_t evidence_added = 0;
  std::uint64_t signatures_verified = 0;  // Ed25519 verifications done by the ingestor
  std::uint64_t records_trusted = 0;      // not validated again: noted as validated by this process
  std::uint64_t lookups_skipped = 0;      // claims known to be new without a store lookup (recent_claims)
  std::uint64_t batches_applied = 0;      // atomic RocksDB writes (each with its applied position)
  Status error;                           // the failure that stopped the ingestor, if any
};

class Ingestor {
 public:
  // Reads the applied position (and checks the index format) from `store`, then starts tailing.
  // `wal` and `store` must outlive the ingestor. Errors: Corruption on an unknown index format;
  // the store's errors.
  static Result<std::unique_ptr<Ingestor>> Start(wal::Wal& wal, storage::KVStore& store, IngestorOptions options = {});

  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;
  ~Ingestor();  // Stop()

  // Stops the worker after the batch in progress; every WaitForApplied, waiting or to come, then
  // fails with Unavailable unless its position was applied. Idempotent, and safe to call from
  // several threads at once (each returns once the worker has stopped).
  void Stop();
  bool stopped() const noexcept;

  wal::LogPosition applied_position() const noexcept;
  // Blocks until applied_position() >= position. A gather in progress (IngestorOptions::
  // gather_wait) ends at once, and none begins while the call waits. Errors: Unavailable on
  // timeout; the ingestor's own failure (e.g. Corruption reading the WAL) when it stopped.
  Status WaitForApplied(wal::LogPosition position, std::chrono::milliseconds timeout) const;
  IngestStats stats() const;

  struct State;

 private:
  explicit Ingestor(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// The position up to which `store` holds every record of its log applied (keys::kApplied); 0 when
// the store has applied nothing. Errors: Corruption when the stored value is not 8 bytes; those of
// the store.
Result<wal::LogPosition> ReadAppliedPosition(storage::KVStore& store);

// Whether `agent` already signed the stored claim `id` of (`subject`, `predicate`): among the
// signers in its summary, or as a co-signer. Reads `store` (at `snapshot` when given). Errors:
// those of the store; Corruption when the claim's summary does not decode.
Result<bool> IsStoredSigner(storage::KVStore& store, const EntityId& subject, const RelationId& predicate,
                            const AssertionId& id, const AgentId& agent, const storage::Snapshot* snapshot = nullptr);

}  // namespace stemedb::ingest
