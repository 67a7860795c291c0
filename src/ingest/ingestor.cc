#include "stemedb/ingest/ingestor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "stemedb/base/thread.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "stemedb/storage/keys.h"

namespace stemedb::ingest {

namespace keys = storage::keys;

namespace {

// A WAL record copied out of the reader (whose payload is valid only until its next call), with
// what decoding and validation found.
struct Pending {
  wal::LogPosition position = 0;
  std::uint64_t offset = 0;  // of the record in its WAL segment: the summary says where it is
  wal::RecordType type = wal::RecordType::kInvalid;
  AlignedBytes payload;
  std::optional<wal::RecordNote> note;       // the appender's, read from the WAL's memory
  std::optional<SignedAssertion> assertion;  // kAssertion that decoded
  std::optional<CoSignatures> cosignatures;  // kCoSignature that decoded
  Status verdict;                            // not OK: reject with this
  std::vector<std::uint8_t> signature_ok;    // per signature, after verification
  bool trusted = false;                      // validated by this process at submit (trust_notes)
};

// A claim a batch names: where the store held it before the batch, or the record of the batch
// that added it (pointing into the batch), or neither yet.
struct KnownClaim {
  std::optional<std::pair<EntityId, RelationId>> stored;
  const SignedAssertion* added = nullptr;

  bool exists() const noexcept { return stored.has_value() || added != nullptr; }
  const EntityId& subject() const noexcept { return stored ? stored->first : added->assertion.subject; }
  const RelationId& predicate() const noexcept { return stored ? stored->second : added->assertion.predicate; }
};

// Records read from the WAL in one batch. Decode checks everything but the signatures and lists
// the signatures still to verify in `work`; threads then claim them one at a time (Verify), and
// Conclude turns the ones that failed into verdicts. `delta` counts what was verified and trusted.
struct PreparedBatch {
  std::vector<Pending> records;
  std::vector<std::pair<std::size_t, std::size_t>> work;  // (record, signature) pairs to verify
  IngestStats delta;
};

// What one batch adds, so that later records in the same batch see it before it is written.
struct BatchState {
  storage::WriteBatch batch;
  // The claims the batch names, IDs sorted (LookUpStored), and what is known of each; records
  // applied earlier in the batch update it.
  std::vector<AssertionId> ids;
  std::vector<KnownClaim> claims;
  // Co-signers the batch adds. (The signers of a claim the batch adds are in its record.)
  std::set<std::pair<AssertionId, AgentId>> cosigners;
  // The agent index's new entries, in log order; written per agent and range (AddAgentEntries).
  std::vector<std::pair<AgentId, storage::keys::AgentEntry>> agent_entries;
  IngestStats delta;
};

// The claims the ingestor added in its latest batches. A submission that found a claim absent from
// the store, once everything up to position P was applied, notes P with the record; the claim is
// still new when the ingestor applies the record unless a batch applied after P added it. Of each
// ID only its std::hash (its first 8 bytes) is kept: two claims that share it cost a store lookup,
// never a wrong answer.
// Used by the worker thread only.
class RecentClaims {
 public:
  // `applied`: the position the ingestor starts after (everything up to it is in the store).
  void Reset(wal::LogPosition applied, std::size_t capacity) {
    batches_.clear();
    kept_ = 0;
    capacity_ = capacity;
    remembered_after_ = applied;
  }

  // Whether a batch applied after `absent_through` may have added `id`. True also when the
  // batches applied since then are not all remembered.
  bool MayHaveAdded(const AssertionId& id, wal::LogPosition absent_through) const {
    if (absent_through < remembered_after_) return true;
    const std::size_t key = std::hash<AssertionId>()(id);
    for (auto batch = batches_.rbegin(); batch != batches_.rend() && batch->last > absent_through; ++batch) {
      if (std::binary_search(batch->added.begin(), batch->added.end(), key)) return true;
    }
    return false;
  }

  // A batch, up to `last`, was applied (written) and added the claims hashed in `added`.
  void Applied(wal::LogPosition last, std::vector<std::size_t> added) {
    std::sort(added.begin(), added.end());
    kept_ += added.size();
    batches_.push_back({last, std::move(added)});
    // Batches are forgotten oldest first, so that those remembered are every batch after
    // remembered_after_. The count is bounded too: batches of single claims cost more than 8 bytes.
    while (!batches_.empty() && (kept_ > capacity_ || batches_.size() > kMaxBatches)) {
      kept_ -= batches_.front().added.size();
      remembered_after_ = batches_.front().last;
      batches_.pop_front();
    }
  }

 private:
  static constexpr std::size_t kMaxBatches = 4096;
  struct Batch {
    wal::LogPosition last = 0;
    std::vector<std::size_t> added;  // sorted
  };
  std::deque<Batch> batches_;
  std::size_t kept_ = 0;
  std::size_t capacity_ = 0;
  // Every batch applied after this position is in batches_.
  wal::LogPosition remembered_after_ = 0;
};

std::size_t PayloadBytes(const std::vector<Pending>& batch) {
  std::size_t bytes = 0;
  for (const Pending& p : batch) bytes += p.payload.bytes().size();
  return bytes;
}

}  // namespace

struct Ingestor::State {
  wal::Wal* wal = nullptr;
  storage::KVStore* store = nullptr;
  IngestorOptions options;

  mutable std::mutex mu;
  mutable std::condition_variable applied_cv;
  IngestStats stats;  // guarded by mu
  std::atomic<wal::LogPosition> applied{0};
  std::atomic<bool> stop{false};
  std::mutex stop_mu;  // one Stop joins the worker, the others wait for it
  std::thread worker;
  // WaitForApplied calls waiting for a position not applied yet; while there is one, the worker
  // does not gather. `gathering` tells them to wake the worker from its wait on the WAL.
  std::atomic<unsigned> waiters{0};
  std::atomic<bool> gathering{false};
  RecentClaims recent;  // the worker's (with trust_notes)

  void Run();
  // Copies records out of the reader, appending them to `out`, until `out` is Full or no more are
  // visible.
  Status ReadBatch(wal::WalReader& reader, std::vector<Pending>& out) const;
  // Whether a batch of `records` holding `bytes` of payloads takes no more.
  bool Full(std::size_t records, std::size_t bytes) const {
    return records >= options.max_batch_records || bytes >= options.max_batch_bytes;
  }
  // For a batch that arrived in bulk (gather_min_records or more): waits up to gather_wait for
  // the WAL to fill it, reading what becomes visible; ends early for a waiter or Stop.
  Status Gather(wal::WalReader& reader, std::vector<Pending>& batch);
  // Decodes and checks every record of the batch but its signatures, and lists those to verify.
  void Decode(PreparedBatch& batch) const;
  void Decode(Pending& p) const;
  void DecodeTrusted(Pending& p, const AssertionId& id) const;
  // Verifies listed signatures, each claimed from `cursor`, until none is left: several threads
  // may run it on one batch at once (each signature's result is its own byte).
  static void Verify(PreparedBatch& batch, std::atomic<std::size_t>& cursor);
  // After every Verify on the batch has returned: a record with a signature that failed is rejected.
  static void Conclude(PreparedBatch& batch);
  // Decode, Verify on verify_threads threads (this one among them), Conclude.
  void Prepare(PreparedBatch& batch) const;
  // How many threads verify a batch's signatures.
  unsigned VerifyThreads(std::size_t signatures) const;
  // Applies a prepared batch in log order and writes it with the new applied position.
  // REQUIRES: the batch has records.
  Status ApplyBatch(const PreparedBatch& batch);
  // After a read error: applies the records read before it (prepared; there may be none), so that
  // every acknowledged record before the unreadable one becomes queryable, then returns the error
  // that stops the ingestor (the apply's own, should it fail first).
  Status ApplyThenStop(const PreparedBatch& read, Status read_error);
  // ApplyBatch(current) while `next` (read, not decoded; may be empty) is prepared on the other
  // verifying threads, which this one joins after its apply. `next` is applied after, if at all.
  Status ApplyWhilePreparing(const PreparedBatch& current, PreparedBatch& next);
  // Whether a trusted record's claim is new without a store lookup: its note says the store did
  // not hold it as of some applied position, and no batch remembered since may have added it.
  bool KnownNew(const Pending& p) const;
  // Fills state.ids / state.claims for the claims the batch names, in one MultiGet for those not
  // KnownNew.
  Status LookUpStored(const std::vector<Pending>& batch, BatchState& state);
  Status Apply(const Pending& p, BatchState& state);
  Status ApplyAssertion(const Pending& p, BatchState& state);
  Status ApplyCoSignatures(const Pending& p, BatchState& state);
  // What is known of a claim the batch names. REQUIRES: LookUpStored ran for the batch (a claim
  // it did not look up is an Internal error).
  static Result<KnownClaim*> FindClaim(const AssertionId& id, BatchState& state);
  // Whether `agent` signed the existing claim `id` already: in the store or earlier in the batch.
  Result<bool> HasSignature(const AssertionId& id, const KnownClaim& claim, const AgentId& agent,
                            const BatchState& state);
  // The agent index entry of a signer.
  static void IndexSigner(const AssertionId& id, const SignatureEntry& entry, wal::LogPosition position,
                          BatchState& state);
  // Adds the batch's agent index entries: one addition per agent and range of positions.
  static void AddAgentEntries(BatchState& state);
  // A signer that joins an existing claim: its C:...\1 entry, and IndexSigner.
  static void AddCoSigner(const AssertionId& id, const KnownClaim& claim, const SignatureEntry& entry,
                          wal::LogPosition position, BatchState& state);
  void Reject(const Pending& p, const Status& why, BatchState& state);
};

Result<std::unique_ptr<Ingestor>> Ingestor::Start(wal::Wal& wal, storage::KVStore& store, IngestorOptions options) {
  auto state = std::make_shared<State>();
  state->wal = &wal;
  state->store = &store;
  state->options = options;

  STEMEDB_ASSIGN_OR_RETURN(auto format, store.Get(keys::kFormat));
  if (format) {
    if (format->bytes().size() != 8 || keys::DecodeU64(format->view()) != keys::kFormatVersion) {
      return Status::Corruption(
          fmt::format("index format {} is not the one this build writes ({}); rebuild the indexes by "
                      "deleting the kv directory (the WAL holds everything)",
                      format->bytes().size() == 8 ? std::to_string(keys::DecodeU64(format->view())) : "unreadable",
                      keys::kFormatVersion));
    }
  } else {
    storage::WriteBatch init;
    init.Put(std::string(keys::kFormat), keys::EncodeU64(keys::kFormatVersion));
    STEMEDB_RETURN_IF_ERROR(store.Write(init));
  }
  STEMEDB_ASSIGN_OR_RETURN(const wal::LogPosition position, ReadAppliedPosition(store));
  if (position > wal.visible_position()) {
    return Status::Corruption(
        fmt::format("the indexes have applied position {} but the WAL ends at {}: the store "
                    "is ahead of its log of record. If the log was cut on purpose (stemedb wal-repair), "
                    "delete the indexes (the kv directory): they are rebuilt from the log",
                    position, wal.visible_position()));
  }
  state->applied = position;
  state->stats.applied_position = position;
  state->recent.Reset(position, options.recent_claims);
  State* raw = state.get();
  state->worker = std::thread([raw] { raw->Run(); });
  SetThreadName(state->worker, "stemedb-ingest");
  spdlog::info("ingest: resuming after position {} (WAL at {})", position, wal.visible_position());
  return std::unique_ptr<Ingestor>(new Ingestor(std::move(state)));
}

Ingestor::Ingestor(std::shared_ptr<State> state) : state_(std::move(state)) {}
Ingestor::~Ingestor() { Stop(); }

void Ingestor::Stop() {
  std::scoped_lock stopping(state_->stop_mu);
  state_->stop = true;
  // Waiters check `stop` under `mu`: taking it once means each one has either seen it or is
  // waiting, and so gets the notification. They are woken before the join, which may last a batch.
  { std::scoped_lock lock(state_->mu); }
  state_->applied_cv.notify_all();
  if (state_->gathering.load()) state_->wal->WakeVisibleWaiters();
  if (state_->worker.joinable()) state_->worker.join();
}

bool Ingestor::stopped() const noexcept { return state_->stop.load(); }

wal::LogPosition Ingestor::applied_position() const noexcept { return state_->applied.load(); }

IngestStats Ingestor::stats() const {
  std::scoped_lock lock(state_->mu);
  return state_->stats;
}

Status Ingestor::WaitForApplied(wal::LogPosition position, std::chrono::milliseconds timeout) const {
  if (state_->applied.load() >= position) return Status::Ok();
  // A caller is waiting: a gather in progress ends now, and none starts until it has returned.
  state_->waiters.fetch_add(1);
  struct Unregister {
    std::atomic<unsigned>& waiters;
    ~Unregister() { waiters.fetch_sub(1); }
  } unregister{state_->waiters};
  if (state_->gathering.load()) state_->wal->WakeVisibleWaiters();
  std::unique_lock lock(state_->mu);
  const bool reached = state_->applied_cv.wait_for(lock, timeout, [&] {
    return state_->applied.load() >= position || !state_->stats.error.ok() || state_->stop.load();
  });
  if (state_->applied.load() >= position) return Status::Ok();
  if (!state_->stats.error.ok()) return state_->stats.error;
  if (state_->stop.load()) {
    return Status::Unavailable(fmt::format("the ingestor stopped before position {} was applied (applied: {})",
                                           position, state_->applied.load()));
  }
  if (!reached) {
    return Status::Unavailable(
        fmt::format("position {} not applied yet (applied: {})", position, state_->applied.load()));
  }
  return Status::Ok();
}

void Ingestor::State::Run() {
  auto reader = wal->NewReader(applied.load() + 1);
  Status failure = reader.ok() ? Status::Ok() : reader.status();
  PreparedBatch current;  // prepared, to be applied next
  while (failure.ok() && !stop.load()) {
    if (current.records.empty()) {
      if (Status read = ReadBatch(**reader, current.records); !read.ok()) {
        Prepare(current);
        failure = ApplyThenStop(current, std::move(read));
        break;
      }
      if (current.records.empty()) {
        wal->WaitForVisible(applied.load() + 1, options.idle_wait);
        continue;
      }
      Status gathered = Gather(**reader, current.records);
      Prepare(current);
      if (!gathered.ok()) {
        failure = ApplyThenStop(current, std::move(gathered));
        break;
      }
    }
    // A batch that needed verifying came from the files (a restart's catch-up, a rebuild), and so,
    // most likely, will the next: it is read now and prepared while this one is applied. Batches
    // the submit path validated go one at a time: reading ahead would only delay them.
    PreparedBatch next;
    if (current.delta.signatures_verified > 0) {
      if (Status read = ReadBatch(**reader, next.records); !read.ok()) {
        // The batch before the unreadable record is still applied, as it would have been had it
        // been read on its own.
        failure = ApplyThenStop(current, std::move(read));
        break;
      }
    }
    failure = ApplyWhilePreparing(current, next);
    current = std::move(next);
  }
  if (!failure.ok()) {
    spdlog::error("ingest: stopped at position {}: {}", applied.load(), failure.ToString());
    std::scoped_lock lock(mu);
    stats.error = failure;
  }
  applied_cv.notify_all();
}

Status Ingestor::State::ApplyThenStop(const PreparedBatch& read, Status read_error) {
  if (read.records.empty()) return read_error;
  Status applied_ok = ApplyBatch(read);
  return applied_ok.ok() ? read_error : applied_ok;
}

Status Ingestor::State::ApplyWhilePreparing(const PreparedBatch& current, PreparedBatch& next) {
  const unsigned helpers = next.records.empty() ? 0 : VerifyThreads(next.records.size()) - 1;
  if (helpers == 0) {
    Status applied_ok = ApplyBatch(current);
    if (applied_ok.ok() && !next.records.empty()) Prepare(next);
    return applied_ok;
  }
  // The helpers decode the next batch and verify its signatures while this thread applies the
  // current one; then it verifies with them. No more threads verify than verify_threads: with a
  // full set of verifying threads beside the applying one, three busy threads on two cores, the
  // scheduler left cores idle around every apply, and a rebuild ran slower than with no overlap.
  std::atomic<std::size_t> cursor{0};
  std::latch decoded(1);
  Status applied_ok;
  {
    std::vector<std::jthread> pool;
    pool.push_back(StartNamedThread("stemedb-verify", [&] {
      Decode(next);
      decoded.count_down();
      Verify(next, cursor);
    }));
    for (unsigned t = 1; t < helpers; ++t) {
      pool.push_back(StartNamedThread("stemedb-verify", [&] {
        decoded.wait();
        Verify(next, cursor);
      }));
    }
    applied_ok = ApplyBatch(current);
    decoded.wait();
    if (applied_ok.ok()) Verify(next, cursor);
  }  // joins the helpers
  Conclude(next);
  return applied_ok;
}

Status Ingestor::State::ReadBatch(wal::WalReader& reader, std::vector<Pending>& out) const {
  // Payloads are copied: the reader's are valid only until its next call.
  if (out.empty()) out.reserve(std::min<std::size_t>(options.max_batch_records, 1024));
  std::size_t bytes = PayloadBytes(out);
  while (!Full(out.size(), bytes)) {
    auto record = reader.Next();
    if (!record.ok()) return std::move(record).status().with_context("ingest: read WAL");
    if (!*record) break;
    Pending& p = out.emplace_back();
    p.position = (*record)->position;
    p.offset = (*record)->offset;
    p.type = (*record)->type;
    p.payload = AlignedBytes::CopyOf((*record)->payload);
    p.note = (*record)->note;
    bytes += p.payload.bytes().size();
  }
  return Status::Ok();
}

Status Ingestor::State::Gather(wal::WalReader& reader, std::vector<Pending>& batch) {
  if (options.gather_wait.count() <= 0 || batch.size() < options.gather_min_records) return Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + options.gather_wait;
  // Seen by every WaitForApplied that registers after this store; those registered before are
  // seen by the `waiters` check below (both sequentially consistent).
  gathering.store(true);
  const auto give_up = [this] { return waiters.load() > 0 || stop.load(); };
  Status status;
  while (!Full(batch.size(), PayloadBytes(batch)) && !give_up()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // Positions are consecutive: the batch is full once this one is visible.
    const wal::LogPosition full = batch.back().position + (options.max_batch_records - batch.size());
    wal->WaitForVisible(full, left, give_up);
    status = ReadBatch(reader, batch);
    if (!status.ok()) break;
  }
  gathering.store(false);
  return status;
}

void Ingestor::State::Prepare(PreparedBatch& batch) const {
  Decode(batch);
  std::atomic<std::size_t> cursor{0};
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < VerifyThreads(batch.work.size()); ++t) {
      pool.push_back(StartNamedThread("stemedb-verify", [&] { Verify(batch, cursor); }));
    }
    Verify(batch, cursor);
  }
  Conclude(batch);
}

unsigned Ingestor::State::VerifyThreads(std::size_t signatures) const {
  const unsigned threads = options.verify_threads != 0 ? options.verify_threads : CoreCount();
  // A thread for fewer than 16 signatures costs more to start than it saves.
  return static_cast<unsigned>(std::min<std::size_t>(threads, signatures / 16 + 1));
}

Status Ingestor::State::ApplyBatch(const PreparedBatch& prepared) {
  const std::vector<Pending>& batch = prepared.records;
  BatchState state;
  state.delta = prepared.delta;
  // In log order: later records see what earlier ones added.
  STEMEDB_RETURN_IF_ERROR(LookUpStored(batch, state));
  for (const Pending& p : batch) STEMEDB_RETURN_IF_ERROR(Apply(p, state));
  AddAgentEntries(state);
  const wal::LogPosition last = batch.back().position;
  state.batch.Put(keys::kApplied, keys::EncodeU64(last));
  STEMEDB_RETURN_IF_ERROR(store->Write(state.batch).with_context(fmt::format("ingest: write batch up to {}", last)));
  if (options.trust_notes) {
    std::vector<std::size_t> added;
    for (std::size_t i = 0; i < state.ids.size(); ++i) {
      if (state.claims[i].added != nullptr && !state.claims[i].stored) {
        added.push_back(std::hash<AssertionId>()(state.ids[i]));
      }
    }
    recent.Applied(last, std::move(added));
  }
  {
    std::scoped_lock lock(mu);
    applied = last;
    stats.applied_position = last;
    stats.records_applied += state.delta.records_applied;
    stats.records_rejected += state.delta.records_rejected;
    stats.assertions_added += state.delta.assertions_added;
    stats.signatures_added += state.delta.signatures_added;
    stats.evidence_added += state.delta.evidence_added;
    stats.signatures_verified += state.delta.signatures_verified;
    stats.records_trusted += state.delta.records_trusted;
    stats.lookups_skipped += state.delta.lookups_skipped;
    ++stats.batches_applied;
  }
  applied_cv.notify_all();
  return Status::Ok();
}

void Ingestor::State::Decode(Pending& p) const {
  const bool signed_record = p.type == wal::RecordType::kAssertion || p.type == wal::RecordType::kCoSignature;
  if (signed_record && options.trust_notes && p.note) {
    DecodeTrusted(p, AssertionId(p.note->hash));
    return;
  }
  if (p.type == wal::RecordType::kAssertion) {
    auto decoded = DecodeRecord(p.payload.bytes());
    if (!decoded.ok()) {
      p.verdict = decoded.status();
      return;
    }
    p.verdict = ValidateSignedAssertionExceptSignatures(*decoded, options.limits);
    p.signature_ok.assign(decoded->signatures.size(), 0);
    p.assertion = std::move(*decoded);
  } else if (p.type == wal::RecordType::kCoSignature) {
    auto decoded = DecodeCoSignatures(p.payload.bytes());
    if (!decoded.ok()) {
      p.verdict = decoded.status();
      return;
    }
    if (decoded->signatures.empty()) p.verdict = Status::InvalidArgument("co-signature record without signatures");
    for (const SignatureEntry& e : decoded->signatures) {
      if (!e.signed_at.InRange()) p.verdict = Status::InvalidArgument("signed_at outside the years 0001..9999");
    }
    p.signature_ok.assign(decoded->signatures.size(), 0);
    p.cosignatures = std::move(*decoded);
  }
}

void Ingestor::State::DecodeTrusted(Pending& p, const AssertionId& id) const {
  // These very bytes passed full validation in this process; what remains is to read the fields
  // the index keys need, in place. (Should the bytes still fail to open, that is reported, not
  // trusted.)
  if (p.type == wal::RecordType::kAssertion) {
    DecodeLimits validated;
    validated.require_exact_encoding = false;
    validated.trusted_layout = true;
    auto view = SignedClaimView::Open(p.payload.bytes(), validated);
    if (!view.ok()) {
      p.verdict = std::move(view).status();
      return;
    }
    SignedAssertion s{view->ToOwnedAssertion(), id, {}};
    s.signatures.reserve(view->signature_count());
    for (std::size_t i = 0; i < view->signature_count(); ++i) s.signatures.push_back(view->signature(i));
    p.signature_ok.assign(s.signatures.size(), 1);
    p.assertion = std::move(s);
  } else {
    auto decoded = DecodeCoSignatures(p.payload.bytes());
    if (!decoded.ok()) {
      p.verdict = decoded.status();
      return;
    }
    p.signature_ok.assign(decoded->signatures.size(), 1);
    p.cosignatures = std::move(*decoded);
  }
  p.trusted = true;
}

void Ingestor::State::Decode(PreparedBatch& batch) const {
  for (Pending& p : batch.records) Decode(p);
  // (record, signature) pairs still to verify: everything this process has not verified itself.
  for (std::size_t r = 0; r < batch.records.size(); ++r) {
    const Pending& p = batch.records[r];
    if (p.trusted) ++batch.delta.records_trusted;
    if (!p.verdict.ok() || p.trusted) continue;
    if (!p.assertion && !p.cosignatures) continue;
    const auto& sigs = p.assertion ? p.assertion->signatures : p.cosignatures->signatures;
    for (std::size_t i = 0; i < sigs.size(); ++i) batch.work.emplace_back(r, i);
  }
  batch.delta.signatures_verified += batch.work.size();
}

void Ingestor::State::Verify(PreparedBatch& batch, std::atomic<std::size_t>& cursor) {
  for (std::size_t w = cursor.fetch_add(1); w < batch.work.size(); w = cursor.fetch_add(1)) {
    Pending& p = batch.records[batch.work[w].first];
    const std::size_t i = batch.work[w].second;
    const bool ok = p.assertion ? VerifySignatureAt(*p.assertion, i).ok()
                                : VerifySignature(p.cosignatures->id, p.cosignatures->signatures[i]).ok();
    p.signature_ok[i] = ok ? 1 : 0;
  }
}

void Ingestor::State::Conclude(PreparedBatch& batch) {
  for (Pending& p : batch.records) {
    for (std::size_t i = 0; i < p.signature_ok.size() && p.verdict.ok(); ++i) {
      if (p.signature_ok[i] != 0) continue;
      const AssertionId& id = p.assertion ? p.assertion->id : p.cosignatures->id;
      const AgentId& agent = p.assertion ? p.assertion->signatures[i].agent : p.cosignatures->signatures[i].agent;
      p.verdict = Status::InvalidArgument(fmt::format("signatures[{}].signature: signature by agent {} does not "
                                                      "verify for assertion {}",
                                                      i, agent.ToHex(), id.ToHex()))
                      .with_field(fmt::format("signatures[{}].signature", i));
    }
  }
}

Status Ingestor::State::Apply(const Pending& p, BatchState& state) {
  ++state.delta.records_applied;
  if (!p.verdict.ok()) {
    Reject(p, p.verdict, state);
    return Status::Ok();
  }
  switch (p.type) {
    case wal::RecordType::kAssertion: return ApplyAssertion(p, state);
    case wal::RecordType::kCoSignature: return ApplyCoSignatures(p, state);
    case wal::RecordType::kEvidence: {
      const Hash hash = Blake3(p.payload.bytes());
      state.batch.Put(keys::Evidence(hash), p.payload.bytes());
      ++state.delta.evidence_added;
      return Status::Ok();
    }
    case wal::RecordType::kTest: return Status::Ok();  // opaque test payloads carry no index entries
    default:
      Reject(p, Status::Corruption(fmt::format("unknown record type {}", static_cast<int>(p.type))), state);
      return Status::Ok();
  }
}

void Ingestor::State::Reject(const Pending& p, const Status& why, BatchState& state) {
  // A record whose bytes passed the WAL checksum but not validation was written wrong, not
  // damaged on disk: it is skipped (never indexed) and kept on record, loudly.
  spdlog::error("ingest: rejected WAL record at position {}: {}", p.position, why.ToString());
  state.batch.Put(keys::Rejected(p.position), why.ToString());
  ++state.delta.records_rejected;
  --state.delta.records_applied;
}

bool Ingestor::State::KnownNew(const Pending& p) const {
  return p.trusted && p.assertion && p.note && p.note->position &&
         !recent.MayHaveAdded(p.assertion->id, *p.note->position);
}

Status Ingestor::State::LookUpStored(const std::vector<Pending>& batch, BatchState& state) {
  // Most claims an ingest batch brings are new: their lookups end at the bloom filters, which one
  // MultiGet probes for the whole batch instead of a Get per claim (ingest_bench, 1M claims, two
  // SubmitBatch callers: 39.0k -> 39.8k/s, two interleaved runs each). Claims known to be new
  // (KnownNew) are not looked up at all.
  std::vector<std::pair<AssertionId, bool>> named;  // (claim, whether to look it up)
  named.reserve(batch.size());
  for (const Pending& p : batch) {
    if (!p.verdict.ok()) continue;
    if (p.assertion) named.emplace_back(p.assertion->id, !KnownNew(p));
    if (p.cosignatures) named.emplace_back(p.cosignatures->id, true);
  }
  // Sorted by ID, a claim named twice with a lookup first: unique keeps that one.
  std::sort(named.begin(), named.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
  named.erase(std::unique(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              named.end());
  state.ids.reserve(named.size());
  std::vector<std::string> location_keys;
  location_keys.reserve(named.size());
  for (const auto& [id, look_up] : named) {
    state.ids.push_back(id);
    if (look_up) location_keys.push_back(keys::Location(id));
  }
  state.delta.lookups_skipped += named.size() - location_keys.size();
  state.claims.resize(state.ids.size());
  if (location_keys.empty()) return Status::Ok();
  STEMEDB_ASSIGN_OR_RETURN(auto values, store->MultiGet(location_keys));
  std::size_t k = 0;
  for (std::size_t i = 0; i < named.size(); ++i) {
    if (!named[i].second) continue;
    const auto& value = values[k++];
    if (!value) continue;
    auto location = keys::DecodeLocation(value->view());
    if (!location.ok()) return std::move(location).status().with_context("stored claim " + state.ids[i].ToHex());
    state.claims[i].stored = std::move(*location);
  }
  return Status::Ok();
}

Result<KnownClaim*> Ingestor::State::FindClaim(const AssertionId& id, BatchState& state) {
  const auto at = std::lower_bound(state.ids.begin(), state.ids.end(), id);
  if (at == state.ids.end() || *at != id) {
    // LookUpStored looks up every claim a valid record of the batch names, and only those are applied.
    return Status::Internal("ingest: claim " + id.ToHex() + " was not looked up with its batch");
  }
  return &state.claims[static_cast<std::size_t>(at - state.ids.begin())];
}

Result<bool> Ingestor::State::HasSignature(const AssertionId& id, const KnownClaim& claim, const AgentId& agent,
                                           const BatchState& state) {
  if (state.cosigners.count({id, agent}) != 0) return true;
  if (claim.added != nullptr) {
    return std::any_of(claim.added->signatures.begin(), claim.added->signatures.end(),
                       [&agent](const SignatureEntry& e) { return e.agent == agent; });
  }
  if (!claim.stored) return false;  // a claim neither stored nor added has no signers yet
  return IsStoredSigner(*store, claim.stored->first, claim.stored->second, id, agent);
}

void Ingestor::State::IndexSigner(const AssertionId& id, const SignatureEntry& entry, wal::LogPosition position,
                                  BatchState& state) {
  state.agent_entries.push_back({entry.agent, keys::AgentEntry{position, id, entry.signed_at}});
  ++state.delta.signatures_added;
}

void Ingestor::State::AddAgentEntries(BatchState& state) {
  // A key per signature made three keys per claim where two hold the claim itself: the memtable
  // inserts, flushes and compactions of the third cost ~7 us per claim at 1M on a host where a
  // verification took ~100 us (ingest_bench; docs/storage.md, "The agent index").
  // Grouped, a batch adds one key per agent and range. Stable: each group stays in log order,
  // which is the set's order, so the store appends it.
  auto& entries = state.agent_entries;
  const auto range = [](wal::LogPosition p) { return keys::AgentRangeFirst(p); };
  std::stable_sort(entries.begin(), entries.end(), [&range](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : range(a.second.position) < range(b.second.position);
  });
  std::string added;
  for (std::size_t i = 0; i < entries.size();) {
    const auto& [agent, first] = entries[i];
    added.clear();
    std::size_t j = i;
    for (;
         j < entries.size() && entries[j].first == agent && range(entries[j].second.position) == range(first.position);
         ++j) {
      keys::AppendAgentEntry(entries[j].second, added);
    }
    state.batch.AddToSet(keys::AgentRange(agent, first.position), added);
    i = j;
  }
}

void Ingestor::State::AddCoSigner(const AssertionId& id, const KnownClaim& claim, const SignatureEntry& entry,
                                  wal::LogPosition position, BatchState& state) {
  state.batch.Put(keys::CandidateSignature(claim.subject(), claim.predicate(), id, entry.agent),
                  keys::EncodeSignatureValue(entry, position));
  state.cosigners.insert({id, entry.agent});
  IndexSigner(id, entry, position, state);
}

Status Ingestor::State::ApplyAssertion(const Pending& p, BatchState& state) {
  const SignedAssertion& s = *p.assertion;
  const Assertion& a = s.assertion;
  STEMEDB_ASSIGN_OR_RETURN(KnownClaim * claim, FindClaim(s.id, state));
  if (!claim->exists()) {
    state.batch.Put(keys::Location(s.id), keys::EncodeLocation(a.subject, a.predicate));
    // The record's signers are in its summary (validation refused repeated signers); only the
    // agent index gets an entry per signer.
    state.batch.Put(keys::CandidateRecord(a.subject, a.predicate, s.id),
                    keys::EncodeCandidateValue(a, s.signatures, p.position, p.offset,
                                               static_cast<std::uint32_t>(p.payload.bytes().size())));
    if (a.object.kind() == ObjectKind::kEntity) {
      state.batch.Put(keys::Reverse(std::get<EntityId>(a.object.variant()), s.id), std::string_view());
    }
    if (a.parent) state.batch.Put(keys::Child(*a.parent, s.id), std::string_view());
    if (a.visual_hash) state.batch.Put(keys::Visual(*a.visual_hash, s.id), std::string_view());
    claim->added = &s;
    ++state.delta.assertions_added;
    for (const SignatureEntry& entry : s.signatures) IndexSigner(s.id, entry, p.position, state);
    return Status::Ok();
  }
  // A resubmission of a known claim may bring signers the store lacks: they join as co-signers.
  for (const SignatureEntry& entry : s.signatures) {
    STEMEDB_ASSIGN_OR_RETURN(bool known, HasSignature(s.id, *claim, entry.agent, state));
    if (!known) AddCoSigner(s.id, *claim, entry, p.position, state);
  }
  return Status::Ok();
}

Status Ingestor::State::ApplyCoSignatures(const Pending& p, BatchState& state) {
  const CoSignatures& c = *p.cosignatures;
  STEMEDB_ASSIGN_OR_RETURN(KnownClaim * claim, FindClaim(c.id, state));
  if (!claim->exists()) {
    Reject(p, Status::NotFound("co-signatures for unknown assertion " + c.id.ToHex()), state);
    return Status::Ok();
  }
  for (const SignatureEntry& entry : c.signatures) {
    STEMEDB_ASSIGN_OR_RETURN(bool known, HasSignature(c.id, *claim, entry.agent, state));
    if (!known) AddCoSigner(c.id, *claim, entry, p.position, state);
  }
  return Status::Ok();
}

Result<wal::LogPosition> ReadAppliedPosition(storage::KVStore& store) {
  STEMEDB_ASSIGN_OR_RETURN(auto applied, store.Get(keys::kApplied));
  if (!applied) return wal::LogPosition{0};
  if (applied->bytes().size() != 8) {
    return Status::Corruption(
        fmt::format("the indexes' applied position is {} bytes, not 8; delete the indexes "
                    "(the kv directory) to rebuild them from the log",
                    applied->bytes().size()));
  }
  return wal::LogPosition{keys::DecodeU64(applied->view())};
}

Result<bool> IsStoredSigner(storage::KVStore& store, const EntityId& subject, const RelationId& predicate,
                            const AssertionId& id, const AgentId& agent, const storage::Snapshot* snapshot) {
  STEMEDB_ASSIGN_OR_RETURN(auto cosigner, store.Get(keys::CandidateSignature(subject, predicate, id, agent), snapshot));
  if (cosigner) return true;
  STEMEDB_ASSIGN_OR_RETURN(auto record, store.Get(keys::CandidateRecord(subject, predicate, id), snapshot));
  if (!record) return false;
  keys::CandidateValue summary;
  if (Status s = keys::DecodeCandidateValue(record->bytes(), summary); !s.ok()) {
    return std::move(s).with_context("stored claim " + id.ToHex());
  }
  for (std::size_t i = 0; i < summary.signer_count; ++i) {
    if (keys::SummarySignerAgent(summary, i) == agent) return true;
  }
  return false;
}

}  // namespace stemedb::ingest
