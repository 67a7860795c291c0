// Lenses: pure functions that resolve conflicting candidate assertions into one answer, and
// explain it. A lens reads only the candidates it is given: no I/O, no storage, no clock.
// docs/lenses.md states the semantics with worked examples.
//
// Shared rules, applied before any lens:
// - Signers are filtered: deny list, allow list, as_of (time: signed_at <= t; position: the
//   signature arrived at or before that WAL position). A candidate with no signer left is not
//   known (kNoEligibleSigner).
// - A candidate below min_confidence is out (kBelowThreshold).
// - Supersession: a candidate is superseded when another known candidate names it as parent and
//   shares at least one signer with it (a stranger cannot retract your claim; their "correction"
//   is just another candidate). Superseded candidates are out unless include_superseded.
// - Candidates are put in a canonical order (value key, then ID) first, so input order never
//   changes the answer, and every tie breaks the same way: lowest value key (ValueKey in
//   model/object_value.h), then lowest ID.
//
// Thread-safety: all functions are pure and safe to call concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stemedb/base/status.h"
#include "stemedb/lens/candidate.h"

namespace stemedb::lens {

enum class LensKind { kConsensus, kRecency, kAuthority };
std::string_view LensKindName(LensKind kind) noexcept;
// "consensus", "recency" or "authority". Errors: InvalidArgument.
Result<LensKind> ParseLensKind(std::string_view name);

// Agent weights in [0, 1]: Consensus multiplies each vote by its agent's weight, Authority ranks
// by it. Agents not listed weigh default_weight.
class AuthorityTable {
 public:
  explicit AuthorityTable(double default_weight = 0.0) : default_weight_(default_weight) {}
  // Errors: InvalidArgument when weight is not in [0, 1].
  Status Set(const AgentId& agent, double weight);
  double WeightOf(const AgentId& agent) const;
  double default_weight() const noexcept { return default_weight_; }
  // {"default": 0.1, "agents": {"<64 hex>": 0.9, ...}}. Errors: InvalidArgument naming the field.
  static Result<AuthorityTable> FromJson(const nlohmann::json& json);

 private:
  double default_weight_;
  std::map<AgentId, double> weights_;
};

struct LensOptions {
  float min_confidence = 0.0F;
  std::optional<std::set<AgentId>> allow_agents;  // when set, only these agents' signatures count
  std::set<AgentId> deny_agents;
  std::optional<Timestamp> as_of_time;          // only signatures signed at or before this time
  std::optional<std::uint64_t> as_of_position;  // only signatures in the log at or before this position
  bool include_superseded = false;
  double number_tolerance = 0.0;  // Consensus: numbers this close (absolute) are one value
  // Weights for Consensus and Authority. nullptr: every agent weighs 1.
  const AuthorityTable* weights = nullptr;
  // Fill Resolution::explanation: every candidate with its signers, verdict and reason, and the
  // value groups. Without it only the answer is computed, which is what makes a resolve cheap.
  bool explain = false;
};

// Sets `as_of` from text: digits are a log position, anything else an RFC 3339 time.
// Errors: InvalidArgument (field "as_of") when it is neither, or the position overflows.
Status ParseAsOf(std::string_view text, LensOptions& options);

// Why a candidate won or lost.
enum class Verdict {
  kWinner,            // backs the resolved value
  kOutvoted,          // Consensus: its value's total is lower
  kOlder,             // Recency: a later claim won
  kLowerAuthority,    // Authority: backed by a less trusted agent (or lower confidence)
  kSuperseded,        // a known child signed by one of its own signers replaces it
  kBelowThreshold,    // confidence below min_confidence
  kNoEligibleSigner,  // no signer left after allow/deny/as_of
};
std::string_view VerdictName(Verdict verdict) noexcept;

struct SignerExplanation {
  AgentId agent;
  Timestamp signed_at;
  std::uint64_t position = 0;
  bool eligible = false;    // passed allow/deny/as_of
  double weight = 0;        // the agent's weight
  double contribution = 0;  // Consensus: confidence x weight, when counted
  bool counted = false;     // Consensus: added to its value's total
  std::string note;         // why not eligible or not counted
};

struct CandidateExplanation {
  AssertionId id;
  ObjectValue value;
  float confidence = 0;
  Hash source_hash;
  std::vector<SignerExplanation> signers;
  Verdict verdict = Verdict::kOutvoted;
  std::string reason;
  std::optional<AssertionId> superseded_by;
};

struct ValueGroup {
  ObjectValue value;
  double total = 0;
  std::vector<AssertionId> members;
};

struct Explanation {
  LensKind lens = LensKind::kConsensus;
  std::vector<CandidateExplanation> candidates;  // in canonical order
  std::vector<ValueGroup> groups;                // Consensus only, in canonical value order
};

struct Resolution {
  std::optional<ObjectValue> value;  // nullopt when no candidate is live
  double confidence = 0;             // Consensus: share of the total; others: the winner's own
  std::vector<AssertionId> support;  // the live candidates that back the value, in ID order
  // How many values the live candidates hold, grouped as Consensus groups them (number_tolerance
  // included): more than one is a conflict.
  std::size_t distinct_values = 0;
  Explanation explanation;  // empty unless options.explain
};

// Resolves `candidates` with `kind`. Pure: reads only its arguments. Allocates a fixed number of
// buffers per call, none per candidate, unless options.explain.
Resolution Resolve(LensKind kind, const CandidateSet& candidates, const LensOptions& options = {});
// The same over owned candidates (turned into a CandidateSet first).
Resolution Resolve(LensKind kind, std::span<const Candidate> candidates, const LensOptions& options = {});

// {"value": <object JSON>|null, "confidence": c, "support": [ids], "lens": name,
//  "explanation": {...}} (explanation only when `explain`).
nlohmann::json ResolutionToJson(const Resolution& resolution, bool explain);

}  // namespace stemedb::lens
