// Database: StemeDB embedded in a process, over one directory:
//   {dir}/wal   the write-ahead log (the log of record)
//   {dir}/kv    the RocksDB indexes, derived from the WAL (delete it to rebuild)
//
// Writes: Submit validates everything (limits, ID, every signature) BEFORE appending, so invalid
// input is rejected with a clear error and nothing is written. It returns once the record is
// acknowledged by the WAL (fsynced in the default sync mode), with the log position; the
// ingestor makes it queryable shortly after (WaitForApplied gives read-your-writes). "Shortly":
// at once for records that arrive a few at a time; records that arrive in bulk (batches of 256 or
// more) may wait up to 100 ms for more to share their index batch, unless someone calls
// WaitForApplied (ingest::IngestorOptions::gather_wait, DatabaseOptions::ingest).
// Submitting a claim that is already stored is idempotent (same ID); new signers on a known claim
// are appended as co-signatures, and the stored record is never rewritten.
//
// Reads see what the ingestor has applied.
//
// Backpressure: the ingestor validates nothing again that it gets from the WAL's in-memory tail
// with the note of this process's own validation, but a record that has left that cache by the
// time the ingestor reaches it is read from disk and verified again (nothing read back from disk
// is trusted). Writers that outran the ingestor for long would make it slower still, and the lag
// would grow for as long as they kept writing. So the bytes this process appended and the ingestor
// has not applied yet are bounded (DatabaseOptions::max_unapplied_bytes): a submission that would
// exceed the bound first waits for the ingestor to apply enough — after validation, before
// anything is written — and fails with Unavailable (nothing written) if that takes longer than
// DatabaseOptions::backpressure_timeout.
//
// Thread-safety: safe for concurrent use by many submitters and readers, and Close may be called
// while they run: it ends the waits of calls in progress (WaitForApplied, CatchUp and backpressure
// waits fail with Unavailable), waits for the calls in progress to finish, then releases the WAL,
// the store and the ingestor. Every call that begins once Close has begun fails with
// FailedPrecondition ("get: the database is closed"), nothing written; stats() after Close
// reports the figures as Close found them.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stemedb/base/status.h"
#include "stemedb/ingest/ingestor.h"
#include "stemedb/lens/candidate.h"
#include "stemedb/lens/lens.h"
#include "stemedb/model/assertion.h"
#include "stemedb/model/json.h"
#include "stemedb/model/validate.h"
#include "stemedb/storage/kv_store.h"
#include "stemedb/wal/wal.h"

namespace stemedb::db {

struct DatabaseOptions {
  wal::WalOptions wal;
  storage::RocksOptions kv;
  ingest::IngestorOptions ingest;
  ValidationLimits limits;
  std::size_t max_evidence_bytes = 16U << 20;
  // Threads that verify signatures in SubmitBatch (0: one per core).
  unsigned verify_threads = 0;
  // The bound on record bytes this process appended that the ingestor has not applied yet (see
  // Backpressure above). nullopt: half the WAL's tail cache (32 MiB by default), or 32 MiB when the
  // tail cache is off; SIZE_MAX: unbounded. A soft bound: submissions that pass the check
  // together may each append (it is exceeded by at most what they carry), and a single submission
  // larger than the bound waits until nothing else is unapplied.
  std::optional<std::size_t> max_unapplied_bytes;
  // How long a submission waits for room under max_unapplied_bytes before failing with Unavailable.
  std::chrono::milliseconds backpressure_timeout = std::chrono::seconds(30);
};

struct SubmitResult {
  AssertionId id;
  // The WAL position of the record written for this submission; 0 when nothing needed writing
  // (the claim and all its signers were already stored).
  wal::LogPosition position = 0;
  bool already_stored = false;  // the claim existed before this call
  std::size_t new_signatures = 0;
  wal::Durability durability = wal::Durability::kDurable;
};

struct DatabaseStats {
  wal::LogPosition durable_position = 0;
  wal::LogPosition applied_position = 0;
  wal::LogPosition lag = 0;  // durable - applied: records logged but not yet queryable
  std::uint64_t kv_disk_bytes = 0;
  // The index files' sorted runs, in each of which a read seeks (KVStore::SortedRuns): several
  // after bulk ingest, one after Compact.
  std::uint64_t kv_sorted_runs = 0;
  storage::KVStore::Memory kv_memory;
  // Bytes of recently written log records the WAL keeps in memory for the ingestor.
  std::size_t wal_tail_cache_bytes = 0;
  // Record bytes this process appended that the ingestor has not applied yet (bounded by
  // DatabaseOptions::max_unapplied_bytes), and the submissions that had to wait for room, with
  // their total wait, since open.
  std::uint64_t unapplied_bytes = 0;
  std::uint64_t backpressure_waits = 0;
  double backpressure_wait_seconds = 0;
  ingest::IngestStats ingest;
};

// A page of Database::SignaturesBy: the signatures logged after `after`, at most `limit`.
// `as_of_position` and `as_of_time` filter as a lens's `as_of` does (lens::LensOptions): only
// signatures logged at or before that position, or signed at or before that time. Set both and
// both apply (lens::ParseAsOf sets one and clears the other).
struct SignaturesQuery {
  wal::LogPosition after = 0;
  std::size_t limit = 1000;
  bool with_assertions = false;  // fill each AgentSignature::assertion: a Get per entry
  std::optional<wal::LogPosition> as_of_position = std::nullopt;
  std::optional<Timestamp> as_of_time = std::nullopt;
};

class Database {
 public:
  // Opens or creates the database in `dir`. Errors: those of Wal::Open, OpenRocksStore and
  // Ingestor::Start.
  static Result<std::unique_ptr<Database>> Open(const std::filesystem::path& dir, DatabaseOptions options = {});

  // The log position the indexes in `dir` have applied through, read from the store on disk;
  // nullopt when there are no indexes yet, or they have applied nothing. Open asks it when the
  // log's last batch is damaged (WalOptions::acknowledged_through); `stemedb wal-repair` asks it
  // after a cut. REQUIRES: the database is not open. Errors: those of OpenRocksStore; Corruption
  // for an unreadable position.
  static Result<std::optional<wal::LogPosition>> IndexesAppliedPosition(const std::filesystem::path& dir,
                                                                        const storage::RocksOptions& kv = {});

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Validates and stores one signed assertion, with its evidence text when given (BLAKE3 of the
  // evidence must equal source_hash). Errors: InvalidArgument (field named) and nothing written;
  // Unavailable, nothing written, when the ingestor did not make room under max_unapplied_bytes
  // within backpressure_timeout (the ingestor's own error if it stopped on one); the WAL's errors.
  Result<SubmitResult> Submit(const SignedAssertion& signed_assertion,
                              const std::optional<std::string>& evidence = std::nullopt);
  // All-or-nothing: every envelope is validated (signatures verified on all cores) before any is
  // written, then all are appended in one WAL batch. Errors name the envelope: "envelope 3: ...";
  // Submit's otherwise.
  Result<std::vector<SubmitResult>> SubmitBatch(std::span<const Envelope> envelopes);

  // Stores an evidence blob under its BLAKE3 hash (durably, through the WAL). Errors: InvalidArgument
  // beyond max_evidence_bytes; Submit's backpressure and WAL errors.
  Result<Hash> PutEvidence(std::span<const std::uint8_t> bytes);
  Result<std::optional<std::string>> GetEvidence(const Hash& hash);

  // The stored assertion with every signature it has gathered, or nullopt.
  Result<std::optional<SignedAssertion>> Get(const AssertionId& id);
  // Every assertion about (subject, predicate), with all its signers (and the log position each
  // signature arrived at): the lens candidates, read with one prefix scan from one snapshot.
  Result<std::vector<lens::Candidate>> Candidates(const EntityId& subject, const RelationId& predicate);
  // Every assertion about `subject`, ordered by predicate.
  Result<std::vector<lens::Candidate>> BySubject(const EntityId& subject);
  // Every stored assertion with all its signers, in (subject, predicate, ID) order, read from one
  // snapshot: what export reads. Stops at the first error `visit` returns, and returns it.
  Status ForEachAssertion(const std::function<Status(lens::Candidate&&)>& visit);
  // The IDs of the assertions that name `id` as their parent.
  Result<std::vector<AssertionId>> Children(const AssertionId& id);
  // The supersession history of `id`, both directions: `ancestors` is `id` itself, then its parent,
  // and so on as far as parents are stored; `descendants` are the claims that name it (or one of
  // them) as parent, breadth first. Errors: NotFound when `id` is not stored.
  struct SupersessionHistory {
    std::vector<SignedAssertion> ancestors;
    std::vector<SignedAssertion> descendants;
  };
  Result<SupersessionHistory> History(const AssertionId& id);

  // What `agent` signed, oldest first: an entry per signature it made, on a claim's first record
  // or as a co-signer, logged at a position after `after`; at most `limit` of them. Read from the
  // agent index with one scan that starts at `after`'s range of positions, so a page costs the
  // same however much the agent signed before it. `next` is set when more entries follow: pass it
  // as `after` for the next page (positions only grow, so paging misses nothing that is applied).
  // With `as_of_position` the scan ends at that position; with `as_of_time` it steps over the
  // signatures made later (signing times need not follow log order), and `next` still says where
  // the next page starts.
  // Errors: InvalidArgument when `limit` is 0; Corruption for a damaged index entry (the agent
  // and position named), or for a listed claim that is not stored; the store's errors.
  struct AgentSignature {
    wal::LogPosition position = 0;  // of the log record that brought the signature
    AssertionId id;
    Timestamp signed_at;
    std::optional<Assertion> assertion;  // the claim, when asked for
  };
  struct SignaturesPage {
    std::vector<AgentSignature> signatures;
    std::optional<wal::LogPosition> next;
  };
  Result<SignaturesPage> SignaturesBy(const AgentId& agent, const SignaturesQuery& query = {});

  // Resolves (subject, predicate) through a lens over the candidates stored now. With `must_see`,
  // first waits (up to 30 s) until that log position is applied: read-your-writes.
  // Errors: Unavailable when `must_see` is not reached in time; the store's errors.
  Result<lens::Resolution> Resolve(const EntityId& subject, const RelationId& predicate, lens::LensKind lens,
                                   const lens::LensOptions& options = {},
                                   std::optional<wal::LogPosition> must_see = std::nullopt);
  // One resolution per predicate of `subject` (an entity card), in predicate order.
  struct PredicateResolution {
    RelationId predicate;
    lens::Resolution resolution;
  };
  Result<std::vector<PredicateResolution>> ResolveSubject(const EntityId& subject, lens::LensKind lens,
                                                          const lens::LensOptions& options = {});
  // The (subject, predicate) pairs whose live candidates disagree (more than one live value under
  // `options`), in key order, at most `limit`. Scans the candidate index in key order until `limit` are found.
  struct Conflict {
    EntityId subject;
    RelationId predicate;
    std::size_t candidates = 0;
    std::size_t live_values = 0;
  };
  Result<std::vector<Conflict>> Conflicts(std::size_t limit = 1000, const lens::LensOptions& options = {});

  // The full integrity check behind `stemedb verify`. It rebuilds every index from the WAL into a
  // fresh store in `scratch_dir` (created, and removed afterwards) — reading every record back
  // through its checksum, recomputing every ID and re-verifying every signature, as ingest does
  // for untrusted input — then compares the rebuilt indexes key by key and byte by byte with the
  // live ones, which must be identical. Faults go in the report; an error means the check could
  // not be completed (e.g. Corruption reading the WAL, or FailedPrecondition when the log grew
  // during the check: run it without concurrent writers). `progress` is called about twice a
  // second with (records applied to the rebuild, log end).
  struct VerifyReport {
    wal::LogPosition log_end = 0;  // the log position verified through
    std::uint64_t records = 0;     // WAL records read and checked
    std::uint64_t assertions = 0;
    std::uint64_t signatures_verified = 0;
    std::uint64_t evidence_blobs = 0;
    std::uint64_t index_entries = 0;      // keys compared
    std::vector<std::string> rejected;    // records that fail validation: "position N: why"
    std::uint64_t mismatch_count = 0;     // index entries missing, extra or different
    std::vector<std::string> mismatches;  // the first 100 of them, described
    bool clean() const noexcept { return rejected.empty() && mismatch_count == 0; }
  };
  Result<VerifyReport> Verify(const std::filesystem::path& scratch_dir,
                              const std::function<void(wal::LogPosition, wal::LogPosition)>& progress = {});

  // Read-your-writes: blocks until everything up to `position` is queryable. Errors: the
  // ingestor's, if it stopped on one; Unavailable when `timeout` passes first.
  static constexpr std::chrono::seconds kDefaultApplyWait{30};  // also Resolve's wait for must_see
  Status WaitForApplied(wal::LogPosition position, std::chrono::milliseconds timeout = kDefaultApplyWait);

  // For waits that may be long — a rebuild of every index, the catch-up after a crash — which no
  // fixed timeout suits: waits until `position` is applied for as long as the ingestor keeps
  // applying, calling `progress` every `progress_every` meanwhile (never, if the wait is shorter).
  // Errors: the ingestor's, if it stopped on one; Unavailable if it applied nothing for
  // `stall_timeout`.
  struct CatchUpOptions {
    std::chrono::milliseconds stall_timeout = std::chrono::minutes(5);
    std::chrono::milliseconds progress_every = std::chrono::seconds(10);
    // (applied position, `position`, records applied per second since the wait began)
    std::function<void(wal::LogPosition, wal::LogPosition, double)> progress;
  };
  Status CatchUp(wal::LogPosition position, const CatchUpOptions& options);
  DatabaseStats stats();

  // Merges the index files into one sorted run (KVStore::Compact), so that every read seeks in
  // fewer files: worth it after a bulk load, when ingest leaves several. Nothing a read returns
  // changes. It compacts what is applied when it starts (CatchUp first to include everything
  // logged). Reads and submissions go on meanwhile; Close waits for it. It rewrites every index
  // file: time grows with the store (~0.5 s per 100k claims here). Errors: FailedPrecondition
  // when closed; the store's IoError.
  struct CompactionReport {
    double seconds = 0;
    std::uint64_t sorted_runs_before = 0;
    std::uint64_t sorted_runs_after = 0;
    std::uint64_t kv_disk_bytes_before = 0;
    std::uint64_t kv_disk_bytes_after = 0;
  };
  Result<CompactionReport> Compact();

  // Stops the ingestor, waits for the calls in progress, closes the WAL and the store (see
  // Thread-safety above). Idempotent; the destructor calls it.
  Status Close();

  // For tests and tools: the underlying store and log. REQUIRES: not closed.
  storage::KVStore& store();
  const wal::Wal& wal() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::db
