#include "stemedb/ingest/ingestor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "stemedb/storage/keys.h"

namespace stemedb::ingest {

namespace keys = storage::keys;

namespace {

// What one batch adds, so that later records in the same batch see it before it is written.
struct BatchState {
  storage::WriteBatch batch;
  std::map<AssertionId, std::pair<EntityId, RelationId>> assertions;
  std::set<std::pair<AssertionId, AgentId>> signatures;
  IngestStats delta;
};

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
  std::thread worker;

  void Run();
  Status ApplyBatch(wal::WalReader& reader, bool& progressed);
  Status Apply(const wal::WalRecord& record, BatchState& state);
  Status ApplyAssertion(const wal::WalRecord& record, BatchState& state);
  Status ApplyCoSignatures(const wal::WalRecord& record, BatchState& state);
  // Subject and predicate of a stored (or batched) assertion, or nullopt.
  Result<std::optional<std::pair<EntityId, RelationId>>> FindAssertion(const AssertionId& id, const BatchState& state);
  Result<bool> HasSignature(const AssertionId& id, const AgentId& agent, const BatchState& state);
  void AddSignature(const AssertionId& id, const EntityId& subject, const RelationId& predicate,
                    const SignatureEntry& entry, BatchState& state);
  void Reject(const wal::WalRecord& record, const Status& why, BatchState& state);
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
          "index format version is not the one this build writes; rebuild the indexes by "
          "deleting the kv directory (the WAL holds everything)");
    }
  } else {
    storage::WriteBatch init;
    init.Put(std::string(keys::kFormat), keys::EncodeU64(keys::kFormatVersion));
    STEMEDB_RETURN_IF_ERROR(store.Write(init));
  }
  STEMEDB_ASSIGN_OR_RETURN(auto applied, store.Get(keys::kApplied));
  const wal::LogPosition position = applied ? keys::DecodeU64(applied->view()) : 0;
  if (position > wal.visible_position()) {
    return Status::Corruption(
        fmt::format("the indexes have applied position {} but the WAL ends at {}: the store "
                    "is ahead of its log of record",
                    position, wal.visible_position()));
  }
  state->applied = position;
  state->stats.applied_position = position;
  State* raw = state.get();
  state->worker = std::thread([raw] { raw->Run(); });
  spdlog::info("ingest: resuming after position {} (WAL at {})", position, wal.visible_position());
  return std::unique_ptr<Ingestor>(new Ingestor(std::move(state)));
}

Ingestor::Ingestor(std::shared_ptr<State> state) : state_(std::move(state)) {}
Ingestor::~Ingestor() { Stop(); }

void Ingestor::Stop() {
  state_->stop = true;
  if (state_->worker.joinable()) state_->worker.join();
  state_->applied_cv.notify_all();
}

wal::LogPosition Ingestor::applied_position() const noexcept { return state_->applied.load(); }

IngestStats Ingestor::stats() const {
  std::scoped_lock lock(state_->mu);
  return state_->stats;
}

Status Ingestor::WaitForApplied(wal::LogPosition position, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu);
  const bool reached = state_->applied_cv.wait_for(lock, timeout, [&] {
    return state_->applied.load() >= position || !state_->stats.error.ok() || state_->stop.load();
  });
  if (state_->applied.load() >= position) return Status::Ok();
  if (!state_->stats.error.ok()) return state_->stats.error;
  if (!reached || state_->stop.load()) {
    return Status::Unavailable(
        fmt::format("position {} not applied yet (applied: {})", position, state_->applied.load()));
  }
  return Status::Ok();
}

void Ingestor::State::Run() {
  auto reader = wal->NewReader(applied.load() + 1);
  Status failure = reader.ok() ? Status::Ok() : reader.status();
  while (failure.ok() && !stop.load()) {
    bool progressed = false;
    failure = ApplyBatch(**reader, progressed);
    if (failure.ok() && !progressed) wal->WaitForVisible(applied.load() + 1, options.idle_wait);
  }
  if (!failure.ok()) {
    spdlog::error("ingest: stopped at position {}: {}", applied.load(), failure.ToString());
    std::scoped_lock lock(mu);
    stats.error = failure;
  }
  applied_cv.notify_all();
}

Status Ingestor::State::ApplyBatch(wal::WalReader& reader, bool& progressed) {
  BatchState state;
  wal::LogPosition last = 0;
  for (std::size_t n = 0; n < options.max_batch_records; ++n) {
    auto record = reader.Next();
    if (!record.ok()) return std::move(record).status().with_context("ingest: read WAL");
    if (!*record) break;
    STEMEDB_RETURN_IF_ERROR(Apply(**record, state));
    last = (*record)->position;
  }
  if (last == 0) return Status::Ok();
  state.batch.Put(std::string(keys::kApplied), keys::EncodeU64(last));
  STEMEDB_RETURN_IF_ERROR(store->Write(state.batch).with_context(fmt::format("ingest: write batch up to {}", last)));
  progressed = true;
  {
    std::scoped_lock lock(mu);
    applied = last;
    stats.applied_position = last;
    stats.records_applied += state.delta.records_applied;
    stats.records_rejected += state.delta.records_rejected;
    stats.assertions_added += state.delta.assertions_added;
    stats.signatures_added += state.delta.signatures_added;
    stats.evidence_added += state.delta.evidence_added;
  }
  applied_cv.notify_all();
  return Status::Ok();
}

Status Ingestor::State::Apply(const wal::WalRecord& record, BatchState& state) {
  ++state.delta.records_applied;
  switch (record.type) {
    case wal::RecordType::kAssertion: return ApplyAssertion(record, state);
    case wal::RecordType::kCoSignature: return ApplyCoSignatures(record, state);
    case wal::RecordType::kEvidence: {
      const Hash hash = Blake3(record.payload);
      state.batch.Put(keys::Evidence(hash), record.payload);
      ++state.delta.evidence_added;
      return Status::Ok();
    }
    case wal::RecordType::kTest: return Status::Ok();  // opaque test payloads carry no index entries
    default:
      Reject(record, Status::Corruption(fmt::format("unknown record type {}", static_cast<int>(record.type))), state);
      return Status::Ok();
  }
}

void Ingestor::State::Reject(const wal::WalRecord& record, const Status& why, BatchState& state) {
  // A record whose bytes passed the WAL checksum but not validation was written wrong, not
  // damaged on disk: it is skipped (never indexed) and kept on record, loudly.
  spdlog::error("ingest: rejected WAL record at position {}: {}", record.position, why.ToString());
  state.batch.Put(keys::Rejected(record.position), why.ToString());
  ++state.delta.records_rejected;
  --state.delta.records_applied;
}

Result<std::optional<std::pair<EntityId, RelationId>>> Ingestor::State::FindAssertion(const AssertionId& id,
                                                                                      const BatchState& state) {
  if (auto it = state.assertions.find(id); it != state.assertions.end()) {
    return std::optional<std::pair<EntityId, RelationId>>(it->second);
  }
  STEMEDB_ASSIGN_OR_RETURN(auto stored, store->Get(keys::Record(id)));
  if (!stored) return std::optional<std::pair<EntityId, RelationId>>();
  auto view = SignedClaimView::Open(stored->aligned());
  if (!view.ok()) return std::move(view).status().with_context("stored record " + id.ToHex());
  return std::optional<std::pair<EntityId, RelationId>>(
      std::make_pair(EntityId(view->subject()), RelationId(view->predicate())));
}

Result<bool> Ingestor::State::HasSignature(const AssertionId& id, const AgentId& agent, const BatchState& state) {
  if (state.signatures.count({id, agent}) != 0) return true;
  STEMEDB_ASSIGN_OR_RETURN(auto stored, store->Get(keys::Signature(id, agent)));
  return stored.has_value();
}

void Ingestor::State::AddSignature(const AssertionId& id, const EntityId& subject, const RelationId& predicate,
                                   const SignatureEntry& entry, BatchState& state) {
  const std::string value = keys::EncodeSignatureValue(entry);
  state.batch.Put(keys::Signature(id, entry.agent), value);
  state.batch.Put(keys::CandidateSignature(subject, predicate, id, entry.agent), value);
  state.batch.Put(keys::Agent(entry.agent, id), keys::EncodeU64(static_cast<std::uint64_t>(entry.signed_at.micros())));
  state.signatures.insert({id, entry.agent});
  ++state.delta.signatures_added;
}

Status Ingestor::State::ApplyAssertion(const wal::WalRecord& record, BatchState& state) {
  auto decoded = DecodeRecord(record.payload);
  if (!decoded.ok()) {
    Reject(record, decoded.status(), state);
    return Status::Ok();
  }
  Status valid = ValidateSignedAssertion(*decoded, options.limits);
  if (!valid.ok()) {
    Reject(record, valid, state);
    return Status::Ok();
  }
  const SignedAssertion& s = *decoded;
  const Assertion& a = s.assertion;
  STEMEDB_ASSIGN_OR_RETURN(auto existing, FindAssertion(s.id, state));
  if (!existing) {
    state.batch.Put(keys::Record(s.id), record.payload);
    state.batch.Put(keys::CandidateRecord(a.subject, a.predicate, s.id), record.payload);
    if (a.object.kind() == ObjectKind::kEntity) {
      state.batch.Put(keys::Reverse(std::get<EntityId>(a.object.variant()), s.id), std::string_view());
    }
    if (a.parent) state.batch.Put(keys::Child(*a.parent, s.id), std::string_view());
    if (a.visual_hash) state.batch.Put(keys::Visual(*a.visual_hash, s.id), std::string_view());
    state.assertions.emplace(s.id, std::make_pair(a.subject, a.predicate));
    ++state.delta.assertions_added;
  }
  // A resubmission of a known claim may bring signers the store lacks; they are merged.
  for (const SignatureEntry& entry : s.signatures) {
    STEMEDB_ASSIGN_OR_RETURN(bool known, HasSignature(s.id, entry.agent, state));
    if (!known) AddSignature(s.id, a.subject, a.predicate, entry, state);
  }
  return Status::Ok();
}

Status Ingestor::State::ApplyCoSignatures(const wal::WalRecord& record, BatchState& state) {
  auto decoded = DecodeCoSignatures(record.payload);
  if (!decoded.ok()) {
    Reject(record, decoded.status(), state);
    return Status::Ok();
  }
  STEMEDB_ASSIGN_OR_RETURN(auto existing, FindAssertion(decoded->id, state));
  if (!existing) {
    Reject(record, Status::NotFound("co-signatures for unknown assertion " + decoded->id.ToHex()), state);
    return Status::Ok();
  }
  if (decoded->signatures.empty()) {
    Reject(record, Status::InvalidArgument("co-signature record without signatures"), state);
    return Status::Ok();
  }
  for (const SignatureEntry& entry : decoded->signatures) {
    Status verified = VerifySignature(decoded->id, entry);
    if (!verified.ok() || !entry.signed_at.InRange()) {
      Reject(record, verified.ok() ? Status::InvalidArgument("signed_at out of range") : verified, state);
      return Status::Ok();
    }
  }
  for (const SignatureEntry& entry : decoded->signatures) {
    STEMEDB_ASSIGN_OR_RETURN(bool known, HasSignature(decoded->id, entry.agent, state));
    if (!known) AddSignature(decoded->id, existing->first, existing->second, entry, state);
  }
  return Status::Ok();
}

}  // namespace stemedb::ingest
