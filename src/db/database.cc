#include "stemedb/db/database.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "stemedb/base/thread.h"
#include "stemedb/model/codec.h"
#include "stemedb/storage/keys.h"

namespace stemedb::db {

namespace keys = storage::keys;

struct Database::Impl {
  DatabaseOptions options;
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<storage::KVStore> store;
  std::unique_ptr<ingest::Ingestor> ingestor;

  // Each call holds `lifetime` shared while it uses the WAL, the store or the ingestor; Close
  // holds it exclusively to release them. So Close waits for the calls in progress (it stops the
  // ingestor first, which ends their waits for it), and a call after Close fails with
  // FailedPrecondition instead of reaching what Close released. A call that needs another's work
  // uses the Impl function both share, never the other public call: the hold is not reentrant.
  std::shared_mutex lifetime;
  bool closed = false;               // guarded by lifetime
  std::atomic<bool> closing{false};  // Close has begun: no call may start
  DatabaseStats final_stats;         // what stats() reports after Close; guarded by lifetime
  // The hold for one call named `call`, or FailedPrecondition once the database is closed.
  Result<std::shared_lock<std::shared_mutex>> Enter(std::string_view call);
  DatabaseStats Stats();
  Result<std::optional<SignedAssertion>> Get(const AssertionId& id);
  Result<std::vector<AssertionId>> Children(const AssertionId& id);
  Status CatchUp(wal::LogPosition position, const CatchUpOptions& how);

  // Backpressure (database.h): the appends of this process the ingestor has not applied yet, as
  // (last position, record bytes), oldest first.
  std::size_t max_unapplied_bytes = 0;
  std::mutex unapplied_mu;
  std::deque<std::pair<wal::LogPosition, std::uint64_t>> unapplied;
  std::uint64_t unapplied_bytes = 0;
  std::atomic<std::uint64_t> backpressure_waits{0};
  std::atomic<std::uint64_t> backpressure_wait_ns{0};
  // Forgets the appends the ingestor has applied; returns the bytes still unapplied. Needs unapplied_mu.
  std::uint64_t DropApplied();
  // Waits until `bytes` more fit under max_unapplied_bytes (see database.h for the errors).
  Status WaitForRoom(std::uint64_t bytes);
  void NoteAppended(wal::LogPosition last, std::uint64_t bytes);

  // The records one submission needs, with their payloads owned here.
  struct Planned {
    SubmitResult result;
    std::vector<std::pair<wal::RecordType, AlignedBytes>> records;
    // For a claim the store did not hold: the applied position as of which it looked.
    std::optional<wal::LogPosition> absent_through;
  };
  // `claim_stored`: whether the store holds the claim already (its location key, looked up by the caller).
  Status Plan(const SignedAssertion& s, const std::optional<std::string>& evidence, bool claim_stored, Planned& out);
  // An envelope as submitted, not copied: Submit takes one by reference, SubmitBatch a span.
  struct EnvelopeRef {
    const SignedAssertion* signed_assertion;
    const std::optional<std::string>* evidence;
  };
  // Submit and SubmitBatch, for a caller inside Enter("submit").
  Result<std::vector<SubmitResult>> Submit(std::span<const EnvelopeRef> envelopes);
  Status CheckEvidence(const SignedAssertion& s, const std::optional<std::string>& evidence) const;
  // Each candidate under a "C:" prefix, complete with its signers, in key order, from one snapshot
  // (`snapshot`, or a new one when null).
  Status ForEachCandidate(const std::string& prefix, const std::function<Status(lens::Candidate&&)>& emit,
                          const storage::Snapshot* snapshot = nullptr);
  Result<std::vector<lens::Candidate>> ScanCandidates(const std::string& prefix);
  // The candidates under a "C:" prefix as lenses read them, one (subject, predicate) at a time,
  // in key order, straight from the index entries: no record is opened. The set is reused
  // between calls. A visitor's error ends the scan and is returned.
  // `visit` is called as Status(std::string_view subject, std::string_view predicate,
  // const lens::CandidateSet&); a template, not a std::function, as a resolve runs one per query.
  template <typename Visitor>
  Status ForEachCandidateSet(const std::string& prefix, Visitor&& visit);
};

Result<std::unique_ptr<Database>> Database::Open(const std::filesystem::path& dir, DatabaseOptions options) {
  const std::string where = fmt::format("open database {}", dir.string());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", where, ec.message()));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.wal.acknowledged_through) {
    // The ingestor applies only what the log made visible (durable, but in SyncMode::kNone), so
    // the indexes' applied position is what the log must still hold: a damaged tail below it is
    // refused, not cut as torn. Asked only when the log finds such a tail; the store is opened
    // for it and closed again.
    options.wal.acknowledged_through = [dir, kv = options.kv]() -> Result<wal::LogPosition> {
      STEMEDB_ASSIGN_OR_RETURN(auto applied, IndexesAppliedPosition(dir, kv));
      return applied.value_or(0);
    };
  }
  auto wal = wal::Wal::Open(dir / "wal", options.wal);
  if (!wal.ok()) return std::move(wal).status().with_context(where);
  impl->wal = std::move(*wal);
  auto store = storage::OpenRocksStore(dir / "kv", options.kv);
  if (!store.ok()) return std::move(store).status().with_context(where);
  impl->store = std::move(*store);
  // Indexes written by an older build are derived data: they are rebuilt from the WAL. (A newer
  // or unreadable format is refused by the ingestor: this build cannot tell what it holds.)
  auto format = impl->store->Get(keys::kFormat);
  if (!format.ok()) return std::move(format).status().with_context(where);
  if (*format && (*format)->bytes().size() == 8 && keys::DecodeU64((*format)->view()) < keys::kFormatVersion) {
    spdlog::warn("{}: the indexes are in format {}, this build writes format {}: rebuilding them from the WAL",
                 dir.string(), keys::DecodeU64((*format)->view()), keys::kFormatVersion);
    format->reset();
    impl->store.reset();
    std::filesystem::remove_all(dir / "kv", ec);
    if (ec) return Status::IoError(fmt::format("{}: remove the old indexes: {}", where, ec.message()));
    store = storage::OpenRocksStore(dir / "kv", options.kv);
    if (!store.ok()) return std::move(store).status().with_context(where);
    impl->store = std::move(*store);
  }
  ingest::IngestorOptions ingest_options = options.ingest;
  // Every signed record this database appends with a note was validated in full by SubmitBatch.
  ingest_options.trust_notes = true;
  auto ingestor = ingest::Ingestor::Start(*impl->wal, *impl->store, ingest_options);
  if (!ingestor.ok()) return std::move(ingestor).status().with_context(where);
  impl->ingestor = std::move(*ingestor);
  constexpr std::size_t kDefaultMaxUnapplied = 32U << 20;
  impl->max_unapplied_bytes = options.max_unapplied_bytes.value_or(
      options.wal.tail_cache_bytes != 0 ? options.wal.tail_cache_bytes / 2 : kDefaultMaxUnapplied);
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

Result<std::optional<wal::LogPosition>> Database::IndexesAppliedPosition(const std::filesystem::path& dir,
                                                                         const storage::RocksOptions& kv) {
  if (!std::filesystem::exists(dir / "kv")) return std::optional<wal::LogPosition>();
  STEMEDB_ASSIGN_OR_RETURN(auto store, storage::OpenRocksStore(dir / "kv", kv));
  auto applied = ingest::ReadAppliedPosition(*store);
  if (!applied.ok()) return std::move(applied).status().with_context((dir / "kv").string());
  if (*applied == 0) return std::optional<wal::LogPosition>();
  return std::optional<wal::LogPosition>(*applied);
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Database::~Database() {
  Status s = Close();
  if (!s.ok()) spdlog::error("database: close: {}", s.ToString());
}

Status Database::Close() {
  {
    std::shared_lock open(impl_->lifetime);
    if (impl_->closed) return Status::Ok();
    impl_->closing = true;
    // Ends the waits of calls in progress (WaitForApplied, CatchUp, backpressure), which would
    // otherwise keep the exclusive hold below waiting for their timeouts.
    impl_->ingestor->Stop();
  }
  std::unique_lock exclusive(impl_->lifetime);
  if (impl_->closed) return Status::Ok();  // a concurrent Close got here first
  impl_->final_stats = impl_->Stats();
  impl_->closed = true;
  Status wal_status = impl_->wal->Close();
  impl_->ingestor.reset();
  impl_->store.reset();  // flushes memtables
  return wal_status;
}

Result<std::shared_lock<std::shared_mutex>> Database::Impl::Enter(std::string_view call) {
  std::shared_lock open(lifetime);
  // Refused from the moment Close begins: glibc's rwlock lets new readers in past a waiting
  // writer, so a steady stream of calls could otherwise keep Close waiting for ever.
  if (closed || closing) return Status::FailedPrecondition(fmt::format("{}: the database is closed", call));
  return open;
}

storage::KVStore& Database::store() { return *impl_->store; }
const wal::Wal& Database::wal() const { return *impl_->wal; }

std::uint64_t Database::Impl::DropApplied() {
  const wal::LogPosition applied = ingestor->applied_position();
  while (!unapplied.empty() && unapplied.front().first <= applied) {
    unapplied_bytes -= unapplied.front().second;
    unapplied.pop_front();
  }
  return unapplied_bytes;
}

Status Database::Impl::WaitForRoom(std::uint64_t bytes) {
  if (max_unapplied_bytes == std::numeric_limits<std::size_t>::max()) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options.backpressure_timeout;
  bool waited = false;
  for (;;) {
    wal::LogPosition target = 0;  // how far the ingestor must get for `bytes` to fit
    std::uint64_t pending = 0;
    {
      std::scoped_lock lock(unapplied_mu);
      pending = DropApplied();
      if (pending == 0 || pending + bytes <= max_unapplied_bytes) break;
      std::uint64_t left = pending;
      for (const auto& [last, size] : unapplied) {
        left -= size;
        target = last;
        if (left == 0 || left + bytes <= max_unapplied_bytes) break;
      }
    }
    waited = true;
    const auto now = std::chrono::steady_clock::now();
    const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    Status s = remaining.count() > 0 ? ingestor->WaitForApplied(target, remaining)
                                     : Status::Unavailable("backpressure timeout");
    if (s.ok()) continue;
    // Unavailable before the deadline: the ingestor was stopped (the database is closing).
    if (s.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() < deadline) {
      return std::move(s).with_context("waiting for the ingestor to apply earlier writes");
    }
    {
      std::scoped_lock lock(unapplied_mu);
      pending = DropApplied();
    }
    return Status::Unavailable(fmt::format(
        "the indexes are {} bytes of writes behind the log (applied position {}, written {}): the ingestor did not "
        "apply enough of them within {} ms to take {} bytes more under max_unapplied_bytes {}; nothing was written, "
        "retry later",
        pending, ingestor->applied_position(), wal->written_position(), options.backpressure_timeout.count(), bytes,
        max_unapplied_bytes));
  }
  if (waited) {
    backpressure_waits.fetch_add(1, std::memory_order_relaxed);
    backpressure_wait_ns.fetch_add(
        static_cast<std::uint64_t>(std::chrono::nanoseconds(std::chrono::steady_clock::now() - start).count()),
        std::memory_order_relaxed);
  }
  return Status::Ok();
}

void Database::Impl::NoteAppended(wal::LogPosition last, std::uint64_t bytes) {
  std::scoped_lock lock(unapplied_mu);
  // Concurrent appenders may get here out of log order; the deque stays in it.
  auto at = unapplied.end();
  while (at != unapplied.begin() && std::prev(at)->first > last) --at;
  unapplied.emplace(at, last, bytes);
  unapplied_bytes += bytes;
  DropApplied();
}

Status Database::Impl::CheckEvidence(const SignedAssertion& s, const std::optional<std::string>& evidence) const {
  if (!evidence) return Status::Ok();
  if (evidence->size() > options.max_evidence_bytes) {
    return Status::InvalidArgument(
               fmt::format("evidence: {} bytes, the limit is {}", evidence->size(), options.max_evidence_bytes))
        .with_field("evidence");
  }
  const Hash hash = Blake3(*evidence);
  if (hash != s.assertion.source_hash) {
    return Status::InvalidArgument(fmt::format("evidence: BLAKE3 is {} but source_hash is {}", hash.ToHex(),
                                               s.assertion.source_hash.ToHex()))
        .with_field("evidence");
  }
  return Status::Ok();
}

// Decides what to append for an already validated submission. Reads the store only: safe to run
// for many submissions at once.
Status Database::Impl::Plan(const SignedAssertion& s, const std::optional<std::string>& evidence, bool claim_stored,
                            Planned& out) {
  out.result.id = s.id;
  if (evidence) {
    STEMEDB_ASSIGN_OR_RETURN(auto stored, store->Get(keys::Evidence(s.assertion.source_hash)));
    if (!stored) {
      out.records.emplace_back(
          wal::RecordType::kEvidence,
          AlignedBytes::CopyOf({reinterpret_cast<const std::uint8_t*>(evidence->data()), evidence->size()}));
    }
  }
  if (!claim_stored) {
    STEMEDB_ASSIGN_OR_RETURN(AlignedBytes bytes, EncodeRecord(s));
    out.records.emplace_back(wal::RecordType::kAssertion, std::move(bytes));
    out.result.new_signatures = s.signatures.size();
    return Status::Ok();
  }
  out.result.already_stored = true;
  CoSignatures cosign{s.id, {}};
  for (const SignatureEntry& entry : s.signatures) {
    STEMEDB_ASSIGN_OR_RETURN(
        bool known, ingest::IsStoredSigner(*store, s.assertion.subject, s.assertion.predicate, s.id, entry.agent));
    if (!known) cosign.signatures.push_back(entry);
  }
  out.result.new_signatures = cosign.signatures.size();
  if (!cosign.signatures.empty()) {
    STEMEDB_ASSIGN_OR_RETURN(AlignedBytes bytes, EncodeCoSignatures(cosign));
    out.records.emplace_back(wal::RecordType::kCoSignature, std::move(bytes));
  }
  return Status::Ok();
}

Result<SubmitResult> Database::Submit(const SignedAssertion& signed_assertion,
                                      const std::optional<std::string>& evidence) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("submit"));
  const Impl::EnvelopeRef envelope{&signed_assertion, &evidence};
  STEMEDB_ASSIGN_OR_RETURN(auto results, impl_->Submit(std::span<const Impl::EnvelopeRef>(&envelope, 1)));
  return results.front();
}

Result<std::vector<SubmitResult>> Database::SubmitBatch(std::span<const Envelope> envelopes) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("submit"));
  std::vector<Impl::EnvelopeRef> refs;
  refs.reserve(envelopes.size());
  for (const Envelope& e : envelopes) refs.push_back({&e.signed_assertion, &e.evidence});
  return impl_->Submit(refs);
}

Result<std::vector<SubmitResult>> Database::Impl::Submit(std::span<const EnvelopeRef> envelopes) {
  if (envelopes.empty()) return std::vector<SubmitResult>();
  // 1. Validate each envelope (signatures included) and decide what it needs written (nothing for
  //    a claim already stored with all its signers), spread over the cores. Each thread takes the
  //    next few envelopes when it is done with its last, so a core that is busy elsewhere (with
  //    the ingestor, say) does not hold the others back; it looks up whether the valid ones are
  //    stored in one MultiGet (most are new: the lookups end in the bloom filters, probed
  //    together). Nothing is written unless every envelope passes.
  std::vector<Status> verdicts(envelopes.size());
  std::vector<Planned> plans(envelopes.size());
  constexpr std::size_t kChunk = 32;
  unsigned threads = options.verify_threads != 0 ? options.verify_threads : CoreCount();
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, (envelopes.size() + kChunk - 1) / kChunk));
  std::atomic<std::size_t> next{0};
  auto validate_and_plan = [&] {
    std::vector<std::size_t> valid;
    std::vector<std::string> location_keys;
    for (std::size_t begin = next.fetch_add(kChunk); begin < envelopes.size(); begin = next.fetch_add(kChunk)) {
      valid.clear();
      location_keys.clear();
      for (std::size_t i = begin; i < std::min(envelopes.size(), begin + kChunk); ++i) {
        const SignedAssertion& signed_assertion = *envelopes[i].signed_assertion;
        Status s = ValidateSignedAssertion(signed_assertion, options.limits);
        if (s.ok()) s = CheckEvidence(signed_assertion, *envelopes[i].evidence);
        if (s.ok()) {
          valid.push_back(i);
          location_keys.push_back(keys::Location(signed_assertion.id));
        }
        verdicts[i] = std::move(s);
      }
      // Read before the lookups: every record up to it is in the store they read.
      const wal::LogPosition applied = ingestor->applied_position();
      auto stored = store->MultiGet(location_keys);
      for (std::size_t k = 0; k < valid.size(); ++k) {
        const std::size_t i = valid[k];
        verdicts[i] = stored.ok() ? Plan(*envelopes[i].signed_assertion, *envelopes[i].evidence,
                                         (*stored)[k].has_value(), plans[i])
                                  : stored.status();
        if (stored.ok() && !(*stored)[k].has_value()) plans[i].absent_through = applied;
      }
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (unsigned t = 1; t < threads; ++t) {
      helpers.push_back(StartNamedThread("stemedb-verify", validate_and_plan));
    }
    validate_and_plan();
  }
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    if (!verdicts[i].ok()) {
      Status s = std::move(verdicts[i]);
      if (envelopes.size() > 1) s.with_context(fmt::format("envelope {}", i));
      return s;
    }
  }

  // 2. One WAL batch: the records get consecutive positions and are acknowledged together.
  // A signed record carries, in memory only, the ID it was validated under above: the ingestor
  // does not validate again the bytes the WAL hands it back from memory with that note. A new
  // claim's record also carries the applied position as of which the store did not hold it: the
  // ingestor need not look it up again unless it has added the claim since.
  std::vector<wal::RecordInput> inputs;
  std::size_t record_count = 0;
  for (const Planned& plan : plans) record_count += plan.records.size();
  inputs.reserve(record_count);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    for (const auto& [type, bytes] : plans[i].records) {
      std::optional<wal::RecordNote> note;
      if (type != wal::RecordType::kEvidence) {
        note = wal::RecordNote{envelopes[i].signed_assertion->id.hash(),
                               type == wal::RecordType::kAssertion ? plans[i].absent_through : std::nullopt};
      }
      inputs.push_back({type, bytes.bytes(), note});
    }
  }
  std::vector<SubmitResult> results;
  results.reserve(plans.size());
  if (inputs.empty()) {
    for (auto& plan : plans) results.push_back(plan.result);
    return results;
  }
  std::uint64_t bytes = 0;
  for (const wal::RecordInput& input : inputs) bytes += input.payload.size();
  STEMEDB_RETURN_IF_ERROR(WaitForRoom(bytes));
  auto appended = wal->AppendBatch(inputs);
  if (!appended.ok()) return std::move(appended).status();
  NoteAppended(appended->last, bytes);
  wal::LogPosition position = appended->first;
  for (auto& plan : plans) {
    position += plan.records.size();
    if (!plan.records.empty()) plan.result.position = position - 1;  // the assertion / co-signature record
    plan.result.durability = appended->durability;
    results.push_back(plan.result);
  }
  return results;
}

Result<Hash> Database::PutEvidence(std::span<const std::uint8_t> bytes) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("put evidence"));
  if (bytes.size() > impl_->options.max_evidence_bytes) {
    return Status::InvalidArgument(
        fmt::format("evidence: {} bytes, the limit is {}", bytes.size(), impl_->options.max_evidence_bytes));
  }
  const Hash hash = Blake3(bytes);
  STEMEDB_ASSIGN_OR_RETURN(auto stored, impl_->store->Get(keys::Evidence(hash)));
  if (!stored) {
    STEMEDB_RETURN_IF_ERROR(impl_->WaitForRoom(bytes.size()));
    STEMEDB_ASSIGN_OR_RETURN(const wal::AppendResult appended, impl_->wal->Append(wal::RecordType::kEvidence, bytes));
    impl_->NoteAppended(appended.last, bytes.size());
  }
  return hash;
}

Result<std::optional<std::string>> Database::GetEvidence(const Hash& hash) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("get evidence"));
  STEMEDB_ASSIGN_OR_RETURN(auto stored, impl_->store->Get(keys::Evidence(hash)));
  if (!stored) return std::optional<std::string>();
  return std::optional<std::string>(std::string(stored->view()));
}

namespace {

// Reads a stored record (validated when it was ingested, filed under `id`) into an owned
// assertion with the signatures it carries; co-signatures come from their own index entries.
// The ID is the index key's, not recomputed.
Result<SignedAssertion> ReadStored(std::span<const std::uint8_t> aligned_bytes, const AssertionId& id) {
  // The ingestor checked these bytes' encoding before it indexed them, and Wal::ReadRecord has just
  // checked that the log still holds them intact (or they never left this process's memory):
  // neither the exact encoding nor Cap'n Proto's layout walk is repeated on every read.
  DecodeLimits stored;
  stored.require_exact_encoding = false;
  stored.trusted_layout = true;
  auto view = SignedClaimView::Open(aligned_bytes, stored);
  if (!view.ok()) return std::move(view).status().with_context("stored record " + id.ToHex());
  SignedAssertion out{view->ToOwnedAssertion(), id, {}};
  out.signatures.reserve(view->signature_count());
  for (std::size_t i = 0; i < view->signature_count(); ++i) out.signatures.push_back(view->signature(i));
  return out;
}

// Signers in the order every read returns them: ascending by agent.
void SortSigners(std::vector<lens::Signer>& signers) {
  std::sort(signers.begin(), signers.end(),
            [](const lens::Signer& a, const lens::Signer& b) { return a.signature.agent < b.signature.agent; });
}

}  // namespace

Result<std::optional<SignedAssertion>> Database::Get(const AssertionId& id) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("get"));
  return impl_->Get(id);
}

Result<std::optional<SignedAssertion>> Database::Impl::Get(const AssertionId& id) {
  // H:{id} says under which (subject, predicate) the record and its signers are: one scan.
  auto snapshot = store->GetSnapshot();
  STEMEDB_ASSIGN_OR_RETURN(auto stored, store->Get(keys::Location(id), snapshot.get()));
  if (!stored) return std::optional<SignedAssertion>();
  auto location = keys::DecodeLocation(stored->view());
  if (!location.ok()) return std::move(location).status().with_context("stored claim " + id.ToHex());
  std::optional<SignedAssertion> out;
  STEMEDB_RETURN_IF_ERROR(ForEachCandidate(
      keys::CandidateEntries(location->first, location->second, id),
      [&out](lens::Candidate&& c) {
        out = SignedAssertion{std::move(c.assertion), c.id, {}};
        for (const lens::Signer& signer : c.signers) out->signatures.push_back(signer.signature);
        return Status::Ok();
      },
      snapshot.get()));
  if (!out) return Status::Corruption(fmt::format("claim {} has a location but no record", id.ToHex()));
  return out;
}

Status Database::Impl::ForEachCandidate(const std::string& prefix, const std::function<Status(lens::Candidate&&)>& emit,
                                        const storage::Snapshot* snapshot) {
  std::shared_ptr<const storage::Snapshot> own;
  if (snapshot == nullptr) {
    own = store->GetSnapshot();
    snapshot = own.get();
  }
  auto it = store->ScanPrefix(prefix, snapshot);
  std::vector<std::uint64_t> record_buffer;
  std::optional<lens::Candidate> current;
  for (; it->Valid(); it->Next()) {
    STEMEDB_ASSIGN_OR_RETURN(keys::CandidateKeyParts key, keys::ParseCandidateKey(it->key()));
    if (!key.signer) {
      if (current) {
        SortSigners(current->signers);
        STEMEDB_RETURN_IF_ERROR(emit(std::move(*current)));
      }
      keys::CandidateValue value;
      if (Status s = keys::DecodeCandidateValue(it->value(), value); !s.ok()) {
        return std::move(s).with_context("stored claim " + key.id.ToHex());
      }
      // The WAL holds the record, its only copy; the summary says where.
      auto bytes = wal->ReadRecord({value.position, value.record_offset, value.record_length}, record_buffer);
      if (!bytes.ok()) {
        Status s = std::move(bytes).status();
        // A location the log does not have (a position past its end, a length past its limit) is
        // damage to the summary, not a caller's bad argument.
        if (s.code() == StatusCode::kInvalidArgument) s = Status::Corruption(s.message());
        return std::move(s).with_context("record of stored claim " + key.id.ToHex());
      }
      STEMEDB_ASSIGN_OR_RETURN(SignedAssertion s, ReadStored(*bytes, key.id));
      current = lens::Candidate{s.id, std::move(s.assertion), {}};
      // The record's signers were logged with it, at the position its summary holds.
      for (const SignatureEntry& entry : s.signatures) current->signers.push_back(lens::Signer{entry, value.position});
    } else if (current && key.id == current->id) {
      const auto value = it->value();
      STEMEDB_ASSIGN_OR_RETURN(
          keys::StoredSignature stored,
          keys::DecodeSignatureValue(*key.signer, {reinterpret_cast<const char*>(value.data()), value.size()}));
      current->signers.push_back(lens::Signer{stored.entry, stored.position});
    } else {
      return Status::Corruption("signature index entry of " + key.id.ToHex() + " without its record");
    }
  }
  STEMEDB_RETURN_IF_ERROR(it->status());
  if (current) {
    SortSigners(current->signers);
    STEMEDB_RETURN_IF_ERROR(emit(std::move(*current)));
  }
  return Status::Ok();
}

namespace {

// The set a scan fills, kept per thread: a warm scan writes into memory it already holds, where a
// new set's first writes miss the cache (about 1 µs of a 100-candidate resolve). A visitor that
// scans again on the same thread borrows a set of its own; a set grown past kKeptCandidates is
// released when the scan ends.
class ThreadCandidateSet {
 public:
  static constexpr std::size_t kKeptCandidates = std::size_t{1} << 16;
  ThreadCandidateSet() : set_(busy_ ? own_.emplace() : kept_) {
    if (&set_ == &kept_) busy_ = true;
    set_.Clear();
  }
  ~ThreadCandidateSet() {
    if (&set_ != &kept_) return;
    if (std::max(largest_, set_.size()) > kKeptCandidates) kept_ = lens::CandidateSet();
    busy_ = false;
  }
  ThreadCandidateSet(const ThreadCandidateSet&) = delete;
  ThreadCandidateSet& operator=(const ThreadCandidateSet&) = delete;

  lens::CandidateSet& get() { return set_; }
  void Clear() {
    largest_ = std::max(largest_, set_.size());
    set_.Clear();
  }

 private:
  static thread_local lens::CandidateSet kept_;
  static thread_local bool busy_;
  std::optional<lens::CandidateSet> own_;
  lens::CandidateSet& set_;
  std::size_t largest_ = 0;
};

thread_local lens::CandidateSet ThreadCandidateSet::kept_;
thread_local bool ThreadCandidateSet::busy_ = false;

}  // namespace

template <typename Visitor>
Status Database::Impl::ForEachCandidateSet(const std::string& prefix, Visitor&& visit) {
  // One iterator is one consistent view: no snapshot needed.
  auto it = store->ScanPrefix(prefix);
  ThreadCandidateSet lease;
  lens::CandidateSet& set = lease.get();
  std::string subject, predicate;  // of the candidates in `set`
  std::string group;               // their key prefix, C:{s}\0{p}\0
  // Whether every key of the scan starts with `group`: the scan is of one (subject, predicate),
  // so its bounds are the group's prefix and that prefix's successor.
  bool one_group = false;
  AssertionId last;              // the ID of the last record read
  keys::CandidateValue summary;  // of the record being read
  bool cosigned = false;         // the last candidate has co-signers, to be merged in agent order
  constexpr std::size_t kRecordTail = Hash::kSize + 1;                   // {id}\0
  constexpr std::size_t kSignerTail = Hash::kSize + 1 + AgentId::kSize;  // {id}\1{agent}
  for (; it->Valid(); it->Next()) {
    const std::string_view key = it->key();
    const auto value = it->value();
    const bool in_group = !group.empty() && (one_group || key.starts_with(group));
    // Co-signer entries follow their record: recognised by its group and ID, without parsing.
    if (in_group && key.size() == group.size() + kSignerTail &&
        key[group.size() + Hash::kSize] == keys::kCandidateSignature && keys::IdAt(key, group.size()) == last) {
      std::array<std::uint8_t, AgentId::kSize> agent{};
      std::memcpy(agent.data(), key.data() + group.size() + Hash::kSize + 1, agent.size());
      STEMEDB_ASSIGN_OR_RETURN(keys::SignatureTimes times, keys::DecodeSignatureTimes(value));
      set.AddSigner(AgentId(agent), times.signed_at, times.position);
      cosigned = true;
      continue;
    }
    if (cosigned) {
      set.OrderLastSigners();
      cosigned = false;
    }
    // The next record of the same (subject, predicate): its ID sits right after the group's prefix.
    if (in_group && key.size() == group.size() + kRecordTail && key.back() == keys::kCandidateRecord) {
      last = keys::IdAt(key, group.size());
    } else {
      STEMEDB_ASSIGN_OR_RETURN(keys::CandidateKeyParts parts, keys::ParseCandidateKey(key));
      if (parts.signer) {
        return Status::Corruption("signature index entry of " + parts.id.ToHex() + " without its record");
      }
      if (!set.empty()) {
        STEMEDB_RETURN_IF_ERROR(visit(subject, predicate, set));
        lease.Clear();
      }
      subject.assign(parts.subject);
      predicate.assign(parts.predicate);
      group.assign(key.substr(0, key.size() - kRecordTail));
      one_group = group.size() == prefix.size();
      last = parts.id;
    }
    if (Status s = keys::DecodeCandidateValue(value, summary); !s.ok()) {
      return std::move(s).with_context("stored claim " + last.ToHex());
    }
    STEMEDB_RETURN_IF_ERROR(set.Add(last, summary.value_key, summary.confidence, summary.source_hash, summary.parent));
    for (std::size_t i = 0; i < summary.signer_count; ++i) {
      set.AddSigner(keys::SummarySignerAgent(summary, i), keys::SummarySignerTime(summary, i), summary.position);
    }
  }
  STEMEDB_RETURN_IF_ERROR(it->status());
  if (cosigned) set.OrderLastSigners();
  if (!set.empty()) STEMEDB_RETURN_IF_ERROR(visit(subject, predicate, set));
  return Status::Ok();
}

Result<std::vector<lens::Candidate>> Database::Impl::ScanCandidates(const std::string& prefix) {
  std::vector<lens::Candidate> out;
  STEMEDB_RETURN_IF_ERROR(ForEachCandidate(prefix, [&](lens::Candidate&& c) {
    out.push_back(std::move(c));
    return Status::Ok();
  }));
  return out;
}

// The key schema separates names with NUL: a name that holds one (or that validation would
// refuse for any other reason) could match the keys of other names, so it is refused.
Result<std::vector<lens::Candidate>> Database::Candidates(const EntityId& subject, const RelationId& predicate) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("candidates"));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("subject", subject.view(), impl_->options.limits));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("predicate", predicate.view(), impl_->options.limits));
  return impl_->ScanCandidates(keys::CandidatePrefix(subject, predicate));
}

Result<std::vector<lens::Candidate>> Database::BySubject(const EntityId& subject) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("by subject"));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("subject", subject.view(), impl_->options.limits));
  return impl_->ScanCandidates(keys::SubjectPrefix(subject));
}

Result<std::vector<AssertionId>> Database::Children(const AssertionId& id) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("children"));
  return impl_->Children(id);
}

Result<std::vector<AssertionId>> Database::Impl::Children(const AssertionId& id) {
  std::vector<AssertionId> out;
  auto it = store->ScanPrefix(keys::ChildPrefix(id));
  for (; it->Valid(); it->Next()) out.push_back(keys::IdAt(it->key(), 2 + 32));
  STEMEDB_RETURN_IF_ERROR(it->status());
  return out;
}

Result<Database::SignaturesPage> Database::SignaturesBy(const AgentId& agent, const SignaturesQuery& query) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("signatures by agent"));
  const wal::LogPosition after = query.after;
  if (query.limit == 0) return Status::InvalidArgument("signatures by agent: the limit must be at least 1");
  SignaturesPage page;
  const std::string prefix = keys::AgentPrefix(agent);
  // The range that holds `after + 1` is the first that can hold an entry past `after`; past the
  // last position there is nothing to read.
  if (after == std::numeric_limits<wal::LogPosition>::max()) return page;
  const std::string context = "agent index of " + agent.ToHex();
  auto damaged = [&](std::string_view why) { return Status::Corruption(fmt::format("{}: {}", context, why)); };
  auto it = impl_->store->ScanPrefix(prefix, nullptr, keys::AgentRange(agent, after + 1));
  bool past_as_of = false;
  for (; it->Valid(); it->Next()) {
    const std::string_view key = it->key();
    if (key.size() != prefix.size() + 8) return damaged(fmt::format("a key of {} bytes", key.size()));
    const std::uint64_t range = keys::DecodeU64(key.substr(prefix.size()));
    const auto value = it->value();
    auto entries = keys::AgentEntries::Of({reinterpret_cast<const char*>(value.data()), value.size()});
    if (!entries.ok()) return std::move(entries).status().with_context(context);
    // Positions ascend (checked by Of), so the first and last say whether all are in the range.
    if (entries->size() > 0) {
      for (const std::uint64_t p : {entries->position(0), entries->position(entries->size() - 1)}) {
        if (keys::AgentRangeFirst(p) != range) {
          return damaged(fmt::format("position {} listed under the range that starts at {}", p, range));
        }
      }
    }
    for (std::size_t i = entries->FirstAfter(after); i < entries->size(); ++i) {
      const keys::AgentEntry e = (*entries)[i];
      if (query.as_of_position && e.position > *query.as_of_position) {
        past_as_of = true;  // positions ascend: nothing further is in the view
        break;
      }
      if (query.as_of_time && *query.as_of_time < e.signed_at) continue;
      if (page.signatures.size() == query.limit) {
        page.next = page.signatures.back().position;
        break;
      }
      page.signatures.push_back({e.position, e.id, e.signed_at, std::nullopt});
    }
    if (page.next || past_as_of) break;  // the page is full, or the view ends: read no further key
  }
  STEMEDB_RETURN_IF_ERROR(it->status());
  if (query.with_assertions) {
    for (AgentSignature& s : page.signatures) {
      STEMEDB_ASSIGN_OR_RETURN(auto stored, impl_->Get(s.id));
      // Claims are never removed, so an ID the agent index lists is stored.
      if (!stored) {
        return damaged(fmt::format("it lists {} at position {}, which is not stored", s.id.ToHex(), s.position));
      }
      s.assertion = std::move(stored->assertion);
    }
  }
  return page;
}

Result<Database::SupersessionHistory> Database::History(const AssertionId& id) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("history"));
  SupersessionHistory history;
  // IDs are hashes, so chains cannot loop; the bound only guards against a damaged store.
  constexpr std::size_t kMaxChain = 100000;
  std::optional<AssertionId> next = id;
  while (next && history.ancestors.size() < kMaxChain) {
    STEMEDB_ASSIGN_OR_RETURN(auto stored, impl_->Get(*next));
    if (!stored) break;
    next = stored->assertion.parent;
    history.ancestors.push_back(std::move(*stored));
  }
  if (history.ancestors.empty()) return Status::NotFound("assertion " + id.ToHex() + " is not stored");
  std::vector<AssertionId> frontier = {id};
  while (!frontier.empty() && history.descendants.size() < kMaxChain) {
    std::vector<AssertionId> next_frontier;
    for (const AssertionId& parent : frontier) {
      STEMEDB_ASSIGN_OR_RETURN(auto children, impl_->Children(parent));
      for (const AssertionId& child : children) {
        STEMEDB_ASSIGN_OR_RETURN(auto stored, impl_->Get(child));
        if (!stored) continue;
        history.descendants.push_back(std::move(*stored));
        next_frontier.push_back(child);
      }
    }
    frontier = std::move(next_frontier);
  }
  return history;
}

Result<lens::Resolution> Database::Resolve(const EntityId& subject, const RelationId& predicate, lens::LensKind kind,
                                           const lens::LensOptions& options, std::optional<wal::LogPosition> must_see) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("resolve"));
  if (must_see) STEMEDB_RETURN_IF_ERROR(impl_->ingestor->WaitForApplied(*must_see, kDefaultApplyWait));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("subject", subject.view(), impl_->options.limits));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("predicate", predicate.view(), impl_->options.limits));
  lens::Resolution out;
  out.explanation.lens = kind;
  STEMEDB_RETURN_IF_ERROR(
      impl_->ForEachCandidateSet(keys::CandidatePrefix(subject, predicate),
                                 [&](std::string_view, std::string_view, const lens::CandidateSet& candidates) {
                                   out = lens::Resolve(kind, candidates, options);
                                   return Status::Ok();
                                 }));
  return out;
}

Result<std::vector<Database::PredicateResolution>> Database::ResolveSubject(const EntityId& subject,
                                                                            lens::LensKind kind,
                                                                            const lens::LensOptions& options) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("resolve subject"));
  STEMEDB_RETURN_IF_ERROR(ValidateIdentifier("subject", subject.view(), impl_->options.limits));
  std::vector<PredicateResolution> out;
  STEMEDB_RETURN_IF_ERROR(impl_->ForEachCandidateSet(
      keys::SubjectPrefix(subject),
      [&](std::string_view, std::string_view predicate, const lens::CandidateSet& candidates) {
        out.push_back({RelationId(predicate), lens::Resolve(kind, candidates, options)});
        return Status::Ok();
      }));
  return out;
}

Status Database::ForEachAssertion(const std::function<Status(lens::Candidate&&)>& visit) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("for each assertion"));
  return impl_->ForEachCandidate("C:", visit);
}

Result<std::vector<Database::Conflict>> Database::Conflicts(std::size_t limit, const lens::LensOptions& options) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("conflicts"));
  std::vector<Conflict> out;
  if (limit == 0) return out;
  // Liveness (supersession, thresholds, as_of) is the lens's business: it counts the values.
  // The scan stops once `limit` conflicts are found (the visitor's error ends it; it is ours).
  bool full = false;
  Status scanned = impl_->ForEachCandidateSet(
      "C:", [&](std::string_view subject, std::string_view predicate, const lens::CandidateSet& candidates) {
        const lens::Resolution r = lens::Resolve(lens::LensKind::kConsensus, candidates, options);
        if (r.distinct_values > 1) {
          out.push_back({EntityId(subject), RelationId(predicate), candidates.size(), r.distinct_values});
        }
        if (out.size() < limit) return Status::Ok();
        full = true;
        return Status::Unavailable("limit reached");
      });
  if (!full) STEMEDB_RETURN_IF_ERROR(scanned);
  return out;
}

Status Database::WaitForApplied(wal::LogPosition position, std::chrono::milliseconds timeout) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("wait for applied"));
  return impl_->ingestor->WaitForApplied(position, timeout);
}

Status Database::CatchUp(wal::LogPosition position, const CatchUpOptions& options) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("catch up"));
  return impl_->CatchUp(position, options);
}

Status Database::Impl::CatchUp(wal::LogPosition position, const CatchUpOptions& how) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const wal::LogPosition applied_at_start = ingestor->applied_position();
  wal::LogPosition last_applied = applied_at_start;
  auto last_advance = start;  // when the applied position last moved
  auto next_report = start + how.progress_every;
  for (;;) {
    const auto now = Clock::now();
    const auto until = std::min(next_report, last_advance + how.stall_timeout);
    const auto wait = std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(until - now));
    Status waited = ingestor->WaitForApplied(position, wait);
    if (waited.ok() || waited.code() != StatusCode::kUnavailable) return waited;
    if (Status stopped = ingestor->stats().error; !stopped.ok()) return stopped;
    if (ingestor->stopped()) return std::move(waited).with_context("the database is closing");
    const wal::LogPosition applied = ingestor->applied_position();
    const auto after = Clock::now();
    if (applied != last_applied) {
      last_applied = applied;
      last_advance = after;
    } else if (after - last_advance >= how.stall_timeout) {
      return Status::Unavailable(fmt::format("the ingestor applied nothing for {:.1f} s: at position {} of {}",
                                             std::chrono::duration<double>(how.stall_timeout).count(), applied,
                                             position));
    }
    if (after >= next_report) {
      if (how.progress) {
        const double seconds = std::chrono::duration<double>(after - start).count();
        how.progress(applied, position, static_cast<double>(applied - applied_at_start) / seconds);
      }
      next_report = after + how.progress_every;
    }
  }
}

Result<Database::CompactionReport> Database::Compact() {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("compact"));
  storage::KVStore& kv = *impl_->store;
  CompactionReport report;
  report.sorted_runs_before = kv.SortedRuns();
  report.kv_disk_bytes_before = kv.DiskBytes();
  spdlog::info("compaction: {} sorted runs, {} bytes of index files", report.sorted_runs_before,
               report.kv_disk_bytes_before);
  const auto start = std::chrono::steady_clock::now();
  STEMEDB_RETURN_IF_ERROR(kv.Compact().with_context("compact"));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.sorted_runs_after = kv.SortedRuns();
  report.kv_disk_bytes_after = kv.DiskBytes();
  spdlog::info("compaction: done in {:.3f} s: {} sorted runs, {} bytes", report.seconds, report.sorted_runs_after,
               report.kv_disk_bytes_after);
  return report;
}

DatabaseStats Database::stats() {
  std::shared_lock open(impl_->lifetime);
  return impl_->closed ? impl_->final_stats : impl_->Stats();
}

DatabaseStats Database::Impl::Stats() {
  DatabaseStats s;
  s.durable_position = wal->durable_position();
  s.ingest = ingestor->stats();
  s.applied_position = s.ingest.applied_position;
  s.lag = s.durable_position > s.applied_position ? s.durable_position - s.applied_position : 0;
  s.kv_disk_bytes = store->DiskBytes();
  s.kv_sorted_runs = store->SortedRuns();
  s.kv_memory = store->MemoryUsage();
  s.wal_tail_cache_bytes = wal->tail_cache_bytes();
  {
    std::scoped_lock lock(unapplied_mu);
    s.unapplied_bytes = DropApplied();
  }
  s.backpressure_waits = backpressure_waits.load(std::memory_order_relaxed);
  s.backpressure_wait_seconds = static_cast<double>(backpressure_wait_ns.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

}  // namespace stemedb::db

namespace stemedb::db {
namespace {

std::string Printable(std::string_view key) {
  // Keys mix text and raw bytes: show the family letter, then hex.
  const std::string_view family = key.substr(0, std::min<std::size_t>(2, key.size()));
  std::string hex;
  for (const char c : key.substr(family.size())) hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return fmt::format("{}{}", family, hex);
}

}  // namespace

Result<Database::VerifyReport> Database::Verify(
    const std::filesystem::path& scratch_dir, const std::function<void(wal::LogPosition, wal::LogPosition)>& progress) {
  STEMEDB_ASSIGN_OR_RETURN(auto open, impl_->Enter("verify"));
  VerifyReport report;
  const wal::LogPosition log_end = impl_->wal->durable_position();
  report.log_end = log_end;
  // The live indexes must have caught up with the log before they can be compared with a rebuild.
  STEMEDB_RETURN_IF_ERROR(impl_->CatchUp(log_end, CatchUpOptions{}).with_context("verify: catch up"));

  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  struct RemoveScratch {
    std::filesystem::path dir;
    ~RemoveScratch() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } remove_scratch{scratch_dir};
  STEMEDB_ASSIGN_OR_RETURN(auto rebuilt, storage::OpenRocksStore(scratch_dir, impl_->options.kv));
  {
    // Nothing is trusted: the rebuild checks every record in full, notes or not.
    ingest::IngestorOptions options = impl_->options.ingest;
    options.trust_notes = false;
    STEMEDB_ASSIGN_OR_RETURN(auto ingestor, ingest::Ingestor::Start(*impl_->wal, *rebuilt, options));
    for (;;) {
      Status done = ingestor->WaitForApplied(log_end, std::chrono::milliseconds(500));
      if (progress) progress(ingestor->applied_position(), log_end);
      if (done.ok()) break;
      if (done.code() != StatusCode::kUnavailable) return std::move(done).with_context("verify: rebuild from the WAL");
      if (Status failed = ingestor->stats().error; !failed.ok()) {
        return std::move(failed).with_context("verify: rebuild from the WAL");
      }
      if (impl_->closing) return Status::Unavailable("verify: the database is closing");
    }
    ingestor->Stop();
    const auto stats = ingestor->stats();
    report.records = stats.records_applied + stats.records_rejected;
    report.assertions = stats.assertions_added;
    report.signatures_verified = stats.signatures_verified;
    report.evidence_blobs = stats.evidence_added;
  }
  if (impl_->wal->durable_position() != log_end) {
    return Status::FailedPrecondition("verify: the log grew during the check; run it without writers");
  }

  for (auto it = rebuilt->ScanPrefix(keys::Rejected(0).substr(0, 2)); it->Valid(); it->Next()) {
    report.rejected.push_back(
        fmt::format("position {}: {}", keys::DecodeU64(it->key().substr(2)),
                    std::string_view(reinterpret_cast<const char*>(it->value().data()), it->value().size())));
  }

  // Both stores in key order, side by side.
  auto live = impl_->store->ScanPrefix("");
  auto fresh = rebuilt->ScanPrefix("");
  auto mismatch = [&report](std::string what) {
    if (report.mismatches.size() < 100) report.mismatches.push_back(std::move(what));
    ++report.mismatch_count;
  };
  auto bytes = [](std::span<const std::uint8_t> v) {
    return std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
  };
  while (live->Valid() || fresh->Valid()) {
    ++report.index_entries;
    if (!fresh->Valid() || (live->Valid() && live->key() < fresh->key())) {
      mismatch(fmt::format("{}: in the indexes but not derived from the log", Printable(live->key())));
      live->Next();
    } else if (!live->Valid() || fresh->key() < live->key()) {
      mismatch(fmt::format("{}: derived from the log but missing from the indexes", Printable(fresh->key())));
      fresh->Next();
    } else {
      if (bytes(live->value()) != bytes(fresh->value())) {
        mismatch(fmt::format("{}: value differs from the one derived from the log", Printable(live->key())));
      }
      live->Next();
      fresh->Next();
    }
  }
  STEMEDB_RETURN_IF_ERROR(live->status().with_context("verify: read the indexes"));
  STEMEDB_RETURN_IF_ERROR(fresh->status().with_context("verify: read the rebuilt indexes"));
  return report;
}

}  // namespace stemedb::db
