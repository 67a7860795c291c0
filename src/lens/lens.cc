#include "stemedb/lens/lens.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#include "stemedb/model/json.h"

namespace stemedb::lens {

std::string_view LensKindName(LensKind kind) noexcept {
  switch (kind) {
    case LensKind::kConsensus: return "consensus";
    case LensKind::kRecency: return "recency";
    case LensKind::kAuthority: return "authority";
  }
  return "unknown";
}

Result<LensKind> ParseLensKind(std::string_view name) {
  if (name == "consensus") return LensKind::kConsensus;
  if (name == "recency") return LensKind::kRecency;
  if (name == "authority") return LensKind::kAuthority;
  return Status::InvalidArgument(fmt::format("unknown lens '{}' (expected consensus, recency or authority)", name))
      .with_field("lens");
}

Status ParseAsOf(std::string_view text, LensOptions& options) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    std::uint64_t position = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), position);
    if (error != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(fmt::format("log position {} is out of range", text)).with_field("as_of");
    }
    options.as_of_position = position;
    options.as_of_time.reset();
    return Status::Ok();
  }
  auto time = Timestamp::FromRfc3339(text);
  if (!time.ok()) {
    return std::move(time).status().with_context("as_of (a log position or an RFC 3339 time)").with_field("as_of");
  }
  options.as_of_time = *time;
  options.as_of_position.reset();
  return Status::Ok();
}

std::string_view VerdictName(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::kWinner: return "winner";
    case Verdict::kOutvoted: return "outvoted";
    case Verdict::kOlder: return "older";
    case Verdict::kLowerAuthority: return "lower_authority";
    case Verdict::kSuperseded: return "superseded";
    case Verdict::kBelowThreshold: return "below_threshold";
    case Verdict::kNoEligibleSigner: return "no_eligible_signer";
  }
  return "unknown";
}

Status AuthorityTable::Set(const AgentId& agent, double weight) {
  if (!(weight >= 0.0 && weight <= 1.0)) {
    return Status::InvalidArgument(fmt::format("authority weight must be in [0, 1], got {}", weight));
  }
  weights_[agent] = weight;
  return Status::Ok();
}

double AuthorityTable::WeightOf(const AgentId& agent) const {
  auto it = weights_.find(agent);
  return it == weights_.end() ? default_weight_ : it->second;
}

Result<AuthorityTable> AuthorityTable::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return Status::InvalidArgument("authority table must be a JSON object").with_field("(root)");
  double default_weight = 0.0;
  if (json.contains("default")) {
    if (!json["default"].is_number()) return Status::InvalidArgument("default: must be a number").with_field("default");
    default_weight = json["default"].get<double>();
    if (!(default_weight >= 0.0 && default_weight <= 1.0)) {
      return Status::InvalidArgument("default: must be in [0, 1]").with_field("default");
    }
  }
  AuthorityTable table(default_weight);
  for (const auto& [key, value] : json.items()) {
    if (key != "default" && key != "agents") {
      return Status::InvalidArgument(fmt::format("{}: unknown key", key)).with_field(key);
    }
  }
  if (json.contains("agents")) {
    if (!json["agents"].is_object()) return Status::InvalidArgument("agents: must be an object").with_field("agents");
    for (const auto& [hex, weight] : json["agents"].items()) {
      const std::string field = "agents." + hex;
      auto agent = AgentId::FromHex(hex);
      if (!agent.ok()) return Status::InvalidArgument(field + ": " + agent.status().message()).with_field(field);
      if (!weight.is_number()) return Status::InvalidArgument(field + ": must be a number").with_field(field);
      Status set = table.Set(*agent, weight.get<double>());
      if (!set.ok()) return Status::InvalidArgument(field + ": " + set.message()).with_field(field);
    }
  }
  return table;
}

CandidateSet CandidateSet::Of(std::span<const Candidate> candidates) {
  CandidateSet set;
  set.entries_.reserve(candidates.size());
  for (const Candidate& c : candidates) {
    // ValueKey's output is a value key for every value (tests/model/value_key_test.cc).
    [[maybe_unused]] const Status added = set.Add(c.id, ValueKey(c.assertion.object), c.assertion.confidence,
                                                  c.assertion.source_hash, c.assertion.parent);
    assert(added.ok());
    for (const Signer& s : c.signers) set.AddSigner(s.signature.agent, s.signature.signed_at, s.position);
  }
  return set;
}

void CandidateSet::Clear() noexcept {
  entries_.clear();
  signers_.clear();
  keys_.clear();
}

void CandidateSet::Reserve(std::size_t candidates, std::size_t signers) {
  entries_.reserve(candidates);
  signers_.reserve(signers);
}

Status CandidateSet::Add(const AssertionId& id, std::string_view value_key, float confidence, const Hash& source_hash,
                         const std::optional<AssertionId>& parent) {
  if (!IsValueKey(value_key)) return CheckValueKey(value_key).with_context("candidate " + id.ToHex());
  entries_.emplace_back(id, source_hash, parent, confidence, keys_.size(), value_key.size(), signers_.size());
  keys_ += value_key;
  return Status::Ok();
}

void CandidateSet::AddSigner(const AgentId& agent, Timestamp signed_at, std::uint64_t position) {
  signers_.emplace_back(agent, signed_at, position);  // in place, as Add's entries
  ++entries_.back().signer_count;
}

void CandidateSet::OrderLastSigners() {
  const Entry& e = entries_.back();
  const auto first = signers_.begin() + static_cast<std::ptrdiff_t>(e.first_signer);
  std::stable_sort(first, first + static_cast<std::ptrdiff_t>(e.signer_count),
                   [](const SignerFacts& a, const SignerFacts& b) { return a.agent < b.agent; });
}

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

double Weight(const LensOptions& options, const AgentId& agent) {
  return options.weights != nullptr ? options.weights->WeightOf(agent) : 1.0;
}

// What the shared rules, then Consensus's vote, found for one signature.
enum class SignerState : std::uint8_t {
  kEligible,      // passed allow/deny/as_of
  kDenied,        // not eligible: on the deny list
  kNotAllowed,    // not eligible: not on the allow list
  kSignedAfter,   // not eligible: signed after as_of
  kLoggedAfter,   // not eligible: logged after as_of
  kSameAgent,     // eligible, not counted: the agent's vote for this value is counted once
  kSameEvidence,  // eligible, not counted: this evidence is counted once for this value
  kCounted,       // eligible and added to its value's total
};

bool Eligible(SignerState state) { return state == SignerState::kEligible || state >= SignerState::kSameAgent; }

const char* Note(SignerState state) {
  switch (state) {
    case SignerState::kDenied: return "agent denied";
    case SignerState::kNotAllowed: return "agent not in the allow list";
    case SignerState::kSignedAfter: return "signed after as_of";
    case SignerState::kLoggedAfter: return "in the log after as_of";
    case SignerState::kSameAgent: return "agent already counted for this value";
    case SignerState::kSameEvidence: return "same evidence already counted for this value";
    default: return "";
  }
}

std::size_t TableSize(std::size_t entries) { return std::bit_ceil(std::max<std::size_t>(8, 2 * entries)); }

std::size_t Mix(std::uint64_t h) {
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 29;
  return static_cast<std::size_t>(h);
}

// Value keys are mostly short (9 bytes for a number): one of 8 to 16 bytes is two overlapping
// 8-byte words, hashed and compared in a few instructions where std::hash walks it byte by byte
// and equality calls memcmp.
bool IsShortKey(std::string_view key) { return key.size() >= 8 && key.size() <= 16; }
std::array<std::uint64_t, 2> ShortKeyWords(std::string_view key) {  // REQUIRES: IsShortKey(key)
  std::array<std::uint64_t, 2> words{};
  std::memcpy(&words[0], key.data(), 8);
  std::memcpy(&words[1], key.data() + key.size() - 8, 8);
  return words;
}

std::size_t HashValueKey(std::string_view key) {
  if (!IsShortKey(key)) return std::hash<std::string_view>{}(key);
  const auto [head, tail] = ShortKeyWords(key);
  return Mix(head ^ Mix(tail + key.size()));
}

// Grouping compares each candidate's key with its group's.
bool SameValueKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (!IsShortKey(a)) return a == b;
  const auto x = ShortKeyWords(a);
  const auto y = ShortKeyWords(b);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;  // no memcmp call
}

std::uint64_t Prefix64(std::span<const std::uint8_t, Hash::kSize> bytes) {
  std::uint64_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

struct ExactGroup {  // live candidates with one value key
  std::string_view key;
  std::uint32_t count = 0;
  std::uint32_t begin = 0;  // into ordered
  std::uint32_t group = 0;  // into groups
};
struct ValueGroupRange {             // a value as Consensus counts it: exact groups, merged by number_tolerance
  std::uint32_t begin = 0, end = 0;  // into ordered
  double total = 0;
};
struct Ballot {  // Consensus: one eligible signature of a live candidate
  std::uint32_t group;
  std::uint32_t candidate;
  std::size_t signer;  // CandidateSet's numbering
  const AgentId* agent;
  double contribution;
};

// The working arrays of a resolve, kept per thread so that a warm resolve allocates nothing but
// its answer. Released after a resolve larger than kKeptCandidates.
struct Scratch {
  static constexpr std::size_t kKeptCandidates = std::size_t{1} << 16;
  std::vector<std::uint32_t> by_id;          // candidates in ID order
  std::vector<SignerState> state;            // per signature
  std::vector<double> contribution;          // per signature (Consensus)
  std::vector<std::uint32_t> eligible;       // per candidate: eligible signatures
  std::vector<Verdict> verdict;              // per candidate
  std::vector<std::uint8_t> live;            // per candidate
  std::vector<std::uint32_t> superseded_by;  // per candidate: the child that replaces it, or kNone
  std::vector<std::uint32_t> exact_of;       // per live candidate: its exact group
  std::vector<ExactGroup> exact;
  std::vector<ValueGroupRange> groups;  // in canonical value order
  std::vector<std::uint32_t> ordered;   // live candidates in canonical order
  std::vector<Timestamp> first_signed;  // Recency
  std::vector<double> authority;        // Authority
  std::vector<Ballot> ballots;          // Consensus
  std::vector<std::uint32_t> slots;     // hash tables
  std::vector<std::uint32_t> sorted;
  std::vector<std::uint32_t> next;
};

thread_local Scratch scratch;

// One resolve, as flat arrays indexed by candidate or by signature (CandidateSet's numbering), in
// this thread's Scratch. Candidates are never copied: grouping goes through a hash table of value
// keys, supersession through a binary search of the candidates in ID order, Consensus's
// once-per-agent and once-per-evidence rules through hash tables keyed by (group, agent) and
// (group, evidence). Indexes are 32-bit: a set holds fewer than 2^32 - 1 candidates.
class Resolver {
 public:
  Resolver(LensKind kind, const CandidateSet& set, const LensOptions& options)
      : kind_(kind), set_(set), options_(options), n_(static_cast<std::uint32_t>(set.size())) {}

  Resolution Run() {
    Resolution r;
    r.explanation.lens = kind_;
    exact_.clear();
    groups_.clear();
    OrderById();
    ApplySharedRules();
    Supersede();
    GroupByValue();
    r.distinct_values = groups_.size();
    std::optional<std::uint32_t> winner;  // the candidate whose value key is the answer's
    switch (kind_) {
      case LensKind::kConsensus: winner = Vote(r); break;
      case LensKind::kRecency: winner = RankRecency(r); break;
      case LensKind::kAuthority: winner = RankAuthority(r); break;
    }
    if (winner) r.value = ValueOf(*winner);
    if (options_.explain) Explain(r);
    if (n_ > Scratch::kKeptCandidates) s_ = Scratch();
    return r;
  }

 private:
  using Group = ValueGroupRange;

  const AssertionId& IdOf(std::uint32_t c) const { return set_.facts(c).id; }
  // The canonical order: value key, then ID.
  bool Before(std::uint32_t a, std::uint32_t b) const {
    const int by_key = set_.value_key(a).compare(set_.value_key(b));
    return by_key != 0 ? by_key < 0 : IdOf(a) < IdOf(b);
  }
  // CandidateSet::Add admits only value keys, so every key here decodes.
  ObjectValue ValueOf(std::uint32_t c) const { return ValueFromKey(set_.value_key(c)).value(); }

  void OrderById() {
    by_id_.resize(n_);
    std::iota(by_id_.begin(), by_id_.end(), 0U);
    bool sorted = true;
    for (std::uint32_t c = 1; c < n_ && sorted; ++c) sorted = !(IdOf(c) < IdOf(c - 1));
    if (!sorted) {
      std::sort(by_id_.begin(), by_id_.end(),
                [&](std::uint32_t a, std::uint32_t b) { return IdOf(a) != IdOf(b) ? IdOf(a) < IdOf(b) : a < b; });
    }
  }

  SignerState Check(const SignerFacts& s) const {
    if (!options_.deny_agents.empty() && options_.deny_agents.count(s.agent) != 0) return SignerState::kDenied;
    if (options_.allow_agents && options_.allow_agents->count(s.agent) == 0) return SignerState::kNotAllowed;
    if (options_.as_of_time && s.signed_at > *options_.as_of_time) return SignerState::kSignedAfter;
    if (options_.as_of_position && s.position > *options_.as_of_position) return SignerState::kLoggedAfter;
    return SignerState::kEligible;
  }

  void ApplySharedRules() {
    state_.assign(set_.signer_total(), SignerState::kEligible);
    eligible_.assign(n_, 0);
    verdict_.assign(n_, Verdict::kOutvoted);
    live_.assign(n_, 0);
    superseded_by_.assign(n_, kNone);
    // Without agent lists or as_of (the usual query) every signature is eligible.
    const bool filtered =
        !options_.deny_agents.empty() || options_.allow_agents || options_.as_of_time || options_.as_of_position;
    for (std::uint32_t c = 0; c < n_; ++c) {
      const auto signers = set_.signers(c);
      if (!filtered) {
        eligible_[c] = static_cast<std::uint32_t>(signers.size());
      } else {
        const std::size_t base = set_.first_signer(c);
        for (std::size_t k = 0; k < signers.size(); ++k) {
          state_[base + k] = Check(signers[k]);
          if (state_[base + k] == SignerState::kEligible) ++eligible_[c];
        }
      }
      if (eligible_[c] == 0) {
        verdict_[c] = Verdict::kNoEligibleSigner;
      } else if (set_.facts(c).confidence < options_.min_confidence) {
        verdict_[c] = Verdict::kBelowThreshold;
      } else {
        live_[c] = 1;
      }
    }
  }

  bool SharesSigner(std::uint32_t child, std::uint32_t parent) const {
    const auto child_signers = set_.signers(child);
    const std::size_t base = set_.first_signer(child);
    for (std::size_t k = 0; k < child_signers.size(); ++k) {
      if (state_[base + k] != SignerState::kEligible) continue;
      for (const SignerFacts& p : set_.signers(parent)) {
        if (p.agent == child_signers[k].agent) return true;
      }
    }
    return false;
  }

  // A child that shares an eligible signer with its parent replaces it; the lowest such child ID
  // is named.
  void Supersede() {
    for (std::uint32_t child = 0; child < n_; ++child) {
      const auto& parent_id = set_.facts(child).parent;
      if (!parent_id || eligible_[child] == 0) continue;
      const auto found = std::lower_bound(by_id_.begin(), by_id_.end(), *parent_id,
                                          [&](std::uint32_t c, const AssertionId& id) { return IdOf(c) < id; });
      if (found == by_id_.end() || IdOf(*found) != *parent_id) continue;
      const std::uint32_t parent = *found;
      if (!SharesSigner(child, parent)) continue;  // a stranger's correction is just another candidate
      if (superseded_by_[parent] != kNone && IdOf(superseded_by_[parent]) < IdOf(child)) continue;
      superseded_by_[parent] = child;
      if (!options_.include_superseded && (live_[parent] != 0 || verdict_[parent] == Verdict::kSuperseded)) {
        live_[parent] = 0;
        verdict_[parent] = Verdict::kSuperseded;
      }
    }
  }

  // Live candidates into ordered_, in canonical order, cut into exact groups and value groups.
  void GroupByValue() {
    exact_of_.assign(n_, kNone);
    std::vector<std::uint32_t>& slots = s_.slots;
    slots.assign(TableSize(n_), kNone);
    const std::size_t mask = slots.size() - 1;
    std::uint32_t live_count = 0;
    for (std::uint32_t c : by_id_) {
      if (live_[c] == 0) continue;
      ++live_count;
      const std::string_view key = set_.value_key(c);
      std::size_t slot = HashValueKey(key) & mask;
      while (slots[slot] != kNone && !SameValueKey(exact_[slots[slot]].key, key)) slot = (slot + 1) & mask;
      if (slots[slot] == kNone) {
        slots[slot] = static_cast<std::uint32_t>(exact_.size());
        exact_.push_back(ExactGroup{key});
      }
      exact_of_[c] = slots[slot];
      ++exact_[slots[slot]].count;
    }
    std::vector<std::uint32_t>& sorted = s_.sorted;
    sorted.resize(exact_.size());
    std::iota(sorted.begin(), sorted.end(), 0U);
    std::sort(sorted.begin(), sorted.end(),
              [&](std::uint32_t a, std::uint32_t b) { return exact_[a].key < exact_[b].key; });
    const double tolerance = options_.number_tolerance;
    std::uint32_t at = 0;
    bool group_is_number = false;
    double first_number = 0;  // the smallest number of the group being built
    for (std::uint32_t e : sorted) {
      ExactGroup& exact = exact_[e];
      exact.begin = at;
      at += exact.count;
      // Numbers within the tolerance of the group's first number join it (keys order numbers).
      const bool number = static_cast<ObjectKind>(exact.key[0]) == ObjectKind::kNumber;
      const double value = number && tolerance > 0 ? std::get<double>(ValueFromKey(exact.key).value().variant()) : 0;
      const bool joins = tolerance > 0 && number && group_is_number && value - first_number <= tolerance;
      if (!joins) {
        groups_.push_back(Group{exact.begin, exact.begin, 0.0});
        group_is_number = number;
        first_number = value;
      }
      exact.group = static_cast<std::uint32_t>(groups_.size() - 1);
      groups_.back().end = at;
    }
    ordered_.assign(live_count, kNone);
    std::vector<std::uint32_t>& next = s_.next;
    next.resize(exact_.size());
    for (std::size_t e = 0; e < exact_.size(); ++e) next[e] = exact_[e].begin;
    for (std::uint32_t c : by_id_) {
      if (exact_of_[c] != kNone) ordered_[next[exact_of_[c]]++] = c;
    }
  }

  // Consensus: one vote per agent per value (its largest), then one per piece of evidence per
  // value (copied evidence is one piece of evidence; "no evidence" is never merged). Equal votes:
  // the first in canonical order counts.
  std::optional<std::uint32_t> Vote(Resolution& r) {
    std::vector<Ballot>& ballots = s_.ballots;
    ballots.clear();
    contribution_.assign(set_.signer_total(), 0.0);
    for (std::uint32_t g = 0; g < groups_.size(); ++g) {
      for (std::uint32_t at = groups_[g].begin; at < groups_[g].end; ++at) {
        const std::uint32_t c = ordered_[at];
        const auto signers = set_.signers(c);
        const std::size_t base = set_.first_signer(c);
        for (std::size_t k = 0; k < signers.size(); ++k) {
          if (state_[base + k] != SignerState::kEligible) continue;
          const double contribution =
              static_cast<double>(set_.facts(c).confidence) * Weight(options_, signers[k].agent);
          contribution_[base + k] = contribution;
          ballots.push_back(Ballot{g, c, base + k, &signers[k].agent, contribution});
        }
      }
    }
    std::vector<std::uint32_t>& slots = s_.slots;
    slots.resize(TableSize(ballots.size()));  // each pass below empties it first
    const std::size_t mask = slots.size() - 1;
    // Keeps, per (group, what), the strongest ballot; the others get `loser`.
    auto keep_strongest = [&](auto&& what, auto&& same, SignerState loser) {
      std::fill(slots.begin(), slots.end(), kNone);
      for (std::uint32_t b = 0; b < ballots.size(); ++b) {
        if (state_[ballots[b].signer] != SignerState::kEligible) continue;
        const std::optional<std::uint64_t> key = what(ballots[b]);
        if (!key) continue;
        std::size_t slot = Mix(*key ^ (ballots[b].group * 0x9E3779B97F4A7C15ULL)) & mask;
        while (slots[slot] != kNone &&
               !(ballots[slots[slot]].group == ballots[b].group && same(ballots[slots[slot]], ballots[b]))) {
          slot = (slot + 1) & mask;
        }
        if (slots[slot] == kNone) {
          slots[slot] = b;
        } else if (ballots[b].contribution > ballots[slots[slot]].contribution) {
          state_[ballots[slots[slot]].signer] = loser;
          slots[slot] = b;
        } else {
          state_[ballots[b].signer] = loser;
        }
      }
    };
    keep_strongest([](const Ballot& b) -> std::optional<std::uint64_t> { return Prefix64(b.agent->bytes()); },
                   [](const Ballot& a, const Ballot& b) { return *a.agent == *b.agent; }, SignerState::kSameAgent);
    auto source = [&](const Ballot& b) -> const Hash& { return set_.facts(b.candidate).source_hash; };
    keep_strongest(
        [&](const Ballot& b) -> std::optional<std::uint64_t> {
          if (source(b) == kNoEvidence) return std::nullopt;
          return Prefix64(source(b).span());
        },
        [&](const Ballot& a, const Ballot& b) { return source(a) == source(b); }, SignerState::kSameEvidence);
    // Ballots are in group order: each total is summed in a register, in canonical order.
    for (std::size_t b = 0; b < ballots.size();) {
      const std::uint32_t group = ballots[b].group;
      double total = 0;
      for (; b < ballots.size() && ballots[b].group == group; ++b) {
        if (state_[ballots[b].signer] != SignerState::kEligible) continue;
        state_[ballots[b].signer] = SignerState::kCounted;
        total += ballots[b].contribution;
      }
      groups_[group].total = total;
    }
    if (groups_.empty()) return std::nullopt;
    for (std::uint32_t g = 0; g < groups_.size(); ++g) {
      all_ += groups_[g].total;
      if (groups_[g].total > groups_[best_group_].total) best_group_ = g;  // strict: ties keep the first value
    }
    const Group& best = groups_[best_group_];
    r.confidence = all_ > 0 ? best.total / all_ : 0.0;
    r.support.reserve(best.end - best.begin);
    for (std::uint32_t at = 0; at < ordered_.size(); ++at) {
      const bool wins = at >= best.begin && at < best.end;
      verdict_[ordered_[at]] = wins ? Verdict::kWinner : Verdict::kOutvoted;
      if (wins) r.support.push_back(IdOf(ordered_[at]));
    }
    return ordered_[best.begin];
  }

  // Recency and Authority: one candidate wins by a ranking (ties keep canonical order); the live
  // candidates with its exact value support it.
  template <typename Better>
  std::optional<std::uint32_t> Rank(Resolution& r, Better better, Verdict loser) {
    std::optional<std::uint32_t> best;
    for (std::uint32_t c : ordered_) {
      if (!best || better(c, *best)) best = c;
    }
    if (!best) return std::nullopt;
    r.confidence = set_.facts(*best).confidence;
    const std::uint32_t winning_value = exact_of_[*best];
    for (std::uint32_t c : ordered_) {
      const bool same_value = exact_of_[c] == winning_value;
      verdict_[c] = same_value ? Verdict::kWinner : loser;
      if (same_value) r.support.push_back(IdOf(c));
    }
    best_ = *best;
    return best;
  }

  std::optional<std::uint32_t> RankRecency(Resolution& r) {
    // Earliest eligible signature: when the claim was first made (as far as the options allow).
    first_signed_.assign(n_, Timestamp(Timestamp::kMaxMicros));
    for (std::uint32_t c : ordered_) {
      const auto signers = set_.signers(c);
      const std::size_t base = set_.first_signer(c);
      for (std::size_t k = 0; k < signers.size(); ++k) {
        if (state_[base + k] == SignerState::kEligible) {
          first_signed_[c] = std::min(first_signed_[c], signers[k].signed_at);
        }
      }
    }
    return Rank(
        r, [&](std::uint32_t a, std::uint32_t b) { return first_signed_[a] > first_signed_[b]; }, Verdict::kOlder);
  }

  std::optional<std::uint32_t> RankAuthority(Resolution& r) {
    authority_.assign(n_, 0.0);
    for (std::uint32_t c : ordered_) {
      const auto signers = set_.signers(c);
      const std::size_t base = set_.first_signer(c);
      for (std::size_t k = 0; k < signers.size(); ++k) {
        if (state_[base + k] == SignerState::kEligible) {
          authority_[c] = std::max(authority_[c], Weight(options_, signers[k].agent));
        }
      }
    }
    return Rank(
        r,
        [&](std::uint32_t a, std::uint32_t b) {
          if (authority_[a] != authority_[b]) return authority_[a] > authority_[b];
          return set_.facts(a).confidence > set_.facts(b).confidence;
        },
        Verdict::kLowerAuthority);
  }

  std::string Describe(std::uint32_t c) const {
    if (kind_ == LensKind::kRecency) return "first signed " + first_signed_[c].ToRfc3339();
    return fmt::format("authority {:.4g}, confidence {:.4g}", authority_[c], set_.facts(c).confidence);
  }

  std::string Reason(std::uint32_t c) const {
    switch (verdict_[c]) {
      case Verdict::kNoEligibleSigner: return "no signature passes the allow/deny lists and as_of";
      case Verdict::kBelowThreshold:
        return fmt::format("confidence {} is below min_confidence {}", set_.facts(c).confidence,
                           options_.min_confidence);
      case Verdict::kSuperseded:
        return fmt::format("superseded by {}, signed by one of its own signers", IdOf(superseded_by_[c]).ToHex());
      default: break;
    }
    if (kind_ == LensKind::kConsensus) {
      const Group& group = groups_[exact_[exact_of_[c]].group];
      const Group& best = groups_[best_group_];
      return &group == &best
                 ? fmt::format("its value has the largest total, {:.4g} of {:.4g}", group.total, all_)
                 : fmt::format("its value's total {:.4g} is below the winner's {:.4g}", group.total, best.total);
    }
    if (c == best_) return "chosen: " + Describe(c);
    if (verdict_[c] == Verdict::kWinner) return "same value as the chosen candidate; " + Describe(c);
    return Describe(c) + "; the chosen candidate: " + Describe(best_);
  }

  void Explain(Resolution& r) const {
    std::vector<std::uint32_t> canonical(n_);
    std::iota(canonical.begin(), canonical.end(), 0U);
    std::sort(canonical.begin(), canonical.end(), [&](std::uint32_t a, std::uint32_t b) { return Before(a, b); });
    Explanation& out = r.explanation;
    out.candidates.reserve(n_);
    for (std::uint32_t c : canonical) {
      CandidateExplanation e;
      e.id = IdOf(c);
      e.value = ValueOf(c);
      e.confidence = set_.facts(c).confidence;
      e.source_hash = set_.facts(c).source_hash;
      const auto signers = set_.signers(c);
      const std::size_t base = set_.first_signer(c);
      for (std::size_t k = 0; k < signers.size(); ++k) {
        SignerExplanation s;
        s.agent = signers[k].agent;
        s.signed_at = signers[k].signed_at;
        s.position = signers[k].position;
        s.eligible = Eligible(state_[base + k]);
        s.weight = Weight(options_, signers[k].agent);
        s.contribution = kind_ == LensKind::kConsensus ? contribution_[base + k] : 0.0;
        s.counted = state_[base + k] == SignerState::kCounted;
        s.note = Note(state_[base + k]);
        e.signers.push_back(std::move(s));
      }
      e.verdict = verdict_[c];
      e.reason = Reason(c);
      if (superseded_by_[c] != kNone) e.superseded_by = IdOf(superseded_by_[c]);
      out.candidates.push_back(std::move(e));
    }
    if (kind_ != LensKind::kConsensus) return;
    for (const Group& g : groups_) {
      ValueGroup group;
      group.value = ValueOf(ordered_[g.begin]);
      group.total = g.total;
      for (std::uint32_t at = g.begin; at < g.end; ++at) group.members.push_back(IdOf(ordered_[at]));
      out.groups.push_back(std::move(group));
    }
  }

  const LensKind kind_;
  const CandidateSet& set_;
  const LensOptions& options_;
  const std::uint32_t n_;

  Scratch& s_ = scratch;
  std::vector<std::uint32_t>& by_id_ = s_.by_id;
  std::vector<SignerState>& state_ = s_.state;
  std::vector<double>& contribution_ = s_.contribution;
  std::vector<std::uint32_t>& eligible_ = s_.eligible;
  std::vector<Verdict>& verdict_ = s_.verdict;
  std::vector<std::uint8_t>& live_ = s_.live;
  std::vector<std::uint32_t>& superseded_by_ = s_.superseded_by;
  std::vector<std::uint32_t>& exact_of_ = s_.exact_of;
  std::vector<ExactGroup>& exact_ = s_.exact;
  std::vector<Group>& groups_ = s_.groups;
  std::vector<std::uint32_t>& ordered_ = s_.ordered;
  std::vector<Timestamp>& first_signed_ = s_.first_signed;
  std::vector<double>& authority_ = s_.authority;
  std::uint32_t best_group_ = 0;  // Consensus
  double all_ = 0;                // Consensus: the sum of all totals
  std::uint32_t best_ = kNone;    // Recency, Authority
};

}  // namespace

Resolution Resolve(LensKind kind, const CandidateSet& candidates, const LensOptions& options) {
  return Resolver(kind, candidates, options).Run();
}

Resolution Resolve(LensKind kind, std::span<const Candidate> candidates, const LensOptions& options) {
  return Resolve(kind, CandidateSet::Of(candidates), options);
}

nlohmann::json ResolutionToJson(const Resolution& r, bool explain) {
  nlohmann::json out;
  out["lens"] = LensKindName(r.explanation.lens);
  out["value"] = r.value ? ObjectToJson(*r.value) : nlohmann::json(nullptr);
  out["confidence"] = r.confidence;
  out["support"] = nlohmann::json::array();
  for (const auto& id : r.support) out["support"].push_back(id.ToHex());
  if (!explain) return out;
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : r.explanation.candidates) {
    nlohmann::json signers = nlohmann::json::array();
    for (const auto& s : c.signers) {
      nlohmann::json sj = {{"agent", s.agent.ToHex()},
                           {"signed_at", s.signed_at.ToRfc3339()},
                           {"position", s.position},
                           {"eligible", s.eligible},
                           {"weight", s.weight}};
      if (r.explanation.lens == LensKind::kConsensus) {
        sj["contribution"] = s.contribution;
        sj["counted"] = s.counted;
      }
      if (!s.note.empty()) sj["note"] = s.note;
      signers.push_back(std::move(sj));
    }
    nlohmann::json cj = {{"id", c.id.ToHex()},
                         {"value", ObjectToJson(c.value)},
                         {"confidence", std::stod(fmt::format("{}", c.confidence))},
                         {"verdict", VerdictName(c.verdict)},
                         {"reason", c.reason},
                         {"signers", std::move(signers)}};
    if (c.source_hash != kNoEvidence) cj["source_hash"] = c.source_hash.ToHex();
    if (c.superseded_by) cj["superseded_by"] = c.superseded_by->ToHex();
    candidates.push_back(std::move(cj));
  }
  nlohmann::json explanation = {{"candidates", std::move(candidates)}};
  if (r.explanation.lens == LensKind::kConsensus) {
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : r.explanation.groups) {
      nlohmann::json members = nlohmann::json::array();
      for (const auto& id : g.members) members.push_back(id.ToHex());
      groups.push_back({{"value", ObjectToJson(g.value)}, {"total", g.total}, {"members", std::move(members)}});
    }
    explanation["groups"] = std::move(groups);
  }
  out["explanation"] = std::move(explanation);
  return out;
}

}  // namespace stemedb::lens
