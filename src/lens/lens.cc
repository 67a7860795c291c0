#include "stemedb/lens/lens.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
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

std::string ValueKey(const ObjectValue& value) {
  std::string key(1, static_cast<char>(value.kind()));
  auto put_u64 = [&](std::uint64_t v) {
    for (int i = 7; i >= 0; --i) key += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  // Signed integers ordered as unsigned by flipping the sign bit.
  auto put_i64 = [&](std::int64_t v) { put_u64(static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63)); };
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, EntityId>) {
          key += v.str();
        } else if constexpr (std::is_same_v<T, LangText>) {
          key += v.value;
          key += '\0';
          key += v.lang;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          put_i64(v);
        } else if constexpr (std::is_same_v<T, double>) {
          // IEEE order: flip all bits of negatives, the sign bit of positives. -0.0 is +0.0.
          auto bits = std::bit_cast<std::uint64_t>(v == 0.0 ? 0.0 : v);
          bits = (bits >> 63) != 0 ? ~bits : bits ^ (std::uint64_t{1} << 63);
          put_u64(bits);
        } else if constexpr (std::is_same_v<T, bool>) {
          key += v ? '\1' : '\0';
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          put_i64(v.micros());
        } else if constexpr (std::is_same_v<T, TypedLiteral>) {
          key += v.datatype;
          key += '\0';
          key += v.lexical;
        } else {
          key.append(reinterpret_cast<const char*>(v.bytes().data()), v.bytes().size());
        }
      },
      value.variant());
  return key;
}

namespace {

// A candidate under resolution: the input, its canonical key, and what the shared rules found.
struct Work {
  const Candidate* candidate = nullptr;
  std::string value_key;
  std::vector<std::size_t> eligible;  // indexes into candidate->signers
  bool live = false;
};

double Weight(const LensOptions& options, const AgentId& agent) {
  return options.weights != nullptr ? options.weights->WeightOf(agent) : 1.0;
}

bool SharesSigner(const Work& a, const Work& b) {
  for (std::size_t i : a.eligible) {
    for (const Signer& s : b.candidate->signers) {
      if (s.signature.agent == a.candidate->signers[i].signature.agent) return true;
    }
  }
  return false;
}

// Applies the shared rules; returns the work list in canonical order, explanations filled in.
std::vector<Work> Prepare(std::span<const Candidate> candidates, const LensOptions& options, Explanation& out) {
  std::vector<Work> work;
  work.reserve(candidates.size());
  for (const Candidate& c : candidates) work.push_back(Work{&c, ValueKey(c.assertion.object), {}, false});
  std::sort(work.begin(), work.end(), [](const Work& a, const Work& b) {
    return a.value_key != b.value_key ? a.value_key < b.value_key : a.candidate->id < b.candidate->id;
  });

  out.candidates.resize(work.size());
  for (std::size_t w = 0; w < work.size(); ++w) {
    const Candidate& c = *work[w].candidate;
    CandidateExplanation& e = out.candidates[w];
    e.id = c.id;
    e.value = c.assertion.object;
    e.confidence = c.assertion.confidence;
    e.source_hash = c.assertion.source_hash;
    for (std::size_t i = 0; i < c.signers.size(); ++i) {
      const Signer& s = c.signers[i];
      SignerExplanation se;
      se.agent = s.signature.agent;
      se.signed_at = s.signature.signed_at;
      se.position = s.position;
      se.weight = Weight(options, s.signature.agent);
      const char* excluded = nullptr;
      if (options.deny_agents.count(se.agent) != 0) {
        excluded = "agent denied";
      } else if (options.allow_agents && options.allow_agents->count(se.agent) == 0) {
        excluded = "agent not in the allow list";
      } else if (options.as_of_time && s.signature.signed_at > *options.as_of_time) {
        excluded = "signed after as_of";
      } else if (options.as_of_position && s.position > *options.as_of_position) {
        excluded = "in the log after as_of";
      }
      if (excluded != nullptr) {
        if (options.explain) se.note = excluded;
      } else {
        se.eligible = true;
        work[w].eligible.push_back(i);
      }
      e.signers.push_back(std::move(se));
    }
    if (work[w].eligible.empty()) {
      e.verdict = Verdict::kNoEligibleSigner;
      if (options.explain) e.reason = "no signature passes the allow/deny lists and as_of";
    } else if (c.assertion.confidence < options.min_confidence) {
      e.verdict = Verdict::kBelowThreshold;
      e.reason =
          fmt::format("confidence {} is below min_confidence {}", c.assertion.confidence, options.min_confidence);
    } else {
      work[w].live = true;
    }
  }

  // Supersession: among known candidates, a child that shares a signer with its parent replaces it.
  const bool any_parent =
      std::any_of(work.begin(), work.end(), [](const Work& w) { return w.candidate->assertion.parent.has_value(); });
  if (!any_parent) return work;
  std::map<AssertionId, std::size_t> by_id;
  for (std::size_t w = 0; w < work.size(); ++w) by_id.emplace(work[w].candidate->id, w);
  for (std::size_t w = 0; w < work.size(); ++w) {
    const Work& child = work[w];
    if (child.eligible.empty() || !child.candidate->assertion.parent) continue;
    auto parent = by_id.find(*child.candidate->assertion.parent);
    if (parent == by_id.end()) continue;
    Work& p = work[parent->second];
    CandidateExplanation& e = out.candidates[parent->second];
    if (!SharesSigner(child, p)) continue;  // a stranger's correction is just another candidate
    if (e.superseded_by && *e.superseded_by < child.candidate->id) continue;  // deterministic: lowest child ID
    e.superseded_by = child.candidate->id;
    if (!options.include_superseded && (p.live || e.verdict == Verdict::kSuperseded)) {
      p.live = false;
      e.verdict = Verdict::kSuperseded;
      if (options.explain) {
        e.reason = fmt::format("superseded by {}, signed by one of its own signers", child.candidate->id.ToHex());
      }
    }
  }
  return work;
}

// Earliest eligible signature: when the claim was first made (as far as the options allow).
Timestamp FirstSigned(const Work& w) {
  Timestamp first(Timestamp::kMaxMicros);
  for (std::size_t i : w.eligible) first = std::min(first, w.candidate->signers[i].signature.signed_at);
  return first;
}

void ResolveConsensus(std::vector<Work>& work, const LensOptions& options, Resolution& r) {
  Explanation& e = r.explanation;
  // Groups of live candidates by value (numbers within the tolerance are one value), in canonical
  // order: `work` is sorted by value key, and numbers sort by value within it.
  std::vector<std::vector<std::size_t>> groups;
  std::vector<std::string> group_keys;
  for (std::size_t w = 0; w < work.size(); ++w) {
    if (!work[w].live) continue;
    const ObjectValue& v = work[w].candidate->assertion.object;
    bool joined = false;
    if (!groups.empty()) {
      const ObjectValue& first = work[groups.back().front()].candidate->assertion.object;
      if (work[w].value_key == group_keys.back()) {
        joined = true;
      } else if (options.number_tolerance > 0 && v.kind() == ObjectKind::kNumber &&
                 first.kind() == ObjectKind::kNumber) {
        joined = std::get<double>(v.variant()) - std::get<double>(first.variant()) <= options.number_tolerance;
      }
    }
    if (joined) {
      groups.back().push_back(w);
    } else {
      groups.push_back({w});
      group_keys.push_back(work[w].value_key);
    }
  }

  double all = 0;
  std::size_t best = 0;
  std::vector<double> totals(groups.size(), 0.0);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    // One vote per agent per value (its largest), then one per piece of evidence per value (copied
    // evidence is one piece of evidence; "no evidence" is never merged). Equal votes: the first in
    // canonical order counts.
    struct Vote {
      const AgentId* agent;
      const Hash* source;
      double contribution;
      std::size_t w, i;
    };
    std::vector<Vote> votes;
    for (std::size_t w : groups[g]) {
      const Candidate& c = *work[w].candidate;
      for (std::size_t i : work[w].eligible) {
        const double contribution =
            static_cast<double>(c.assertion.confidence) * Weight(options, c.signers[i].signature.agent);
        e.candidates[w].signers[i].contribution = contribution;
        votes.push_back({&c.signers[i].signature.agent, &c.assertion.source_hash, contribution, w, i});
      }
    }
    auto stronger = [](const Vote& a, const Vote& b) {
      return a.contribution != b.contribution ? a.contribution > b.contribution
                                              : std::tie(a.w, a.i) < std::tie(b.w, b.i);
    };
    std::sort(votes.begin(), votes.end(), [&](const Vote& a, const Vote& b) {
      return *a.agent != *b.agent ? *a.agent < *b.agent : stronger(a, b);
    });
    std::vector<Vote> by_evidence;
    for (std::size_t k = 0; k < votes.size(); ++k) {
      if (k > 0 && *votes[k].agent == *votes[k - 1].agent) {
        if (options.explain) e.candidates[votes[k].w].signers[votes[k].i].note = "agent already counted for this value";
        continue;
      }
      if (*votes[k].source == kNoEvidence) {
        e.candidates[votes[k].w].signers[votes[k].i].counted = true;
        totals[g] += votes[k].contribution;
      } else {
        by_evidence.push_back(votes[k]);
      }
    }
    std::sort(by_evidence.begin(), by_evidence.end(), [&](const Vote& a, const Vote& b) {
      return *a.source != *b.source ? *a.source < *b.source : stronger(a, b);
    });
    for (std::size_t k = 0; k < by_evidence.size(); ++k) {
      auto& signer = e.candidates[by_evidence[k].w].signers[by_evidence[k].i];
      if (k > 0 && *by_evidence[k].source == *by_evidence[k - 1].source) {
        if (options.explain) signer.note = "same evidence already counted for this value";
        continue;
      }
      signer.counted = true;
      totals[g] += by_evidence[k].contribution;
    }
    all += totals[g];
    if (totals[g] > totals[best]) best = g;  // strict: ties keep the canonically first value
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ValueGroup vg;
    vg.value = work[groups[g].front()].candidate->assertion.object;
    vg.total = totals[g];
    for (std::size_t w : groups[g]) vg.members.push_back(work[w].candidate->id);
    e.groups.push_back(std::move(vg));
  }
  if (groups.empty()) return;
  r.value = e.groups[best].value;
  r.confidence = all > 0 ? totals[best] / all : 0.0;
  r.support = e.groups[best].members;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t w : groups[g]) {
      auto& ce = e.candidates[w];
      ce.verdict = g == best ? Verdict::kWinner : Verdict::kOutvoted;
      if (!options.explain) continue;
      ce.reason = g == best
                      ? fmt::format("its value has the largest total, {:.4g} of {:.4g}", totals[g], all)
                      : fmt::format("its value's total {:.4g} is below the winner's {:.4g}", totals[g], totals[best]);
    }
  }
}

// Recency and Authority: one candidate wins by a ranking; candidates with its value support it.
template <typename Better>
void ResolveByRank(std::vector<Work>& work, Resolution& r, Better better, Verdict loser_verdict, bool explain,
                   const std::function<std::string(std::size_t)>& describe) {
  std::optional<std::size_t> best;
  for (std::size_t w = 0; w < work.size(); ++w) {
    if (work[w].live && (!best || better(w, *best))) best = w;  // strict: ties keep canonical order
  }
  if (!best) return;
  const Candidate& winner = *work[*best].candidate;
  r.value = winner.assertion.object;
  r.confidence = winner.assertion.confidence;
  for (std::size_t w = 0; w < work.size(); ++w) {
    if (!work[w].live) continue;
    auto& ce = r.explanation.candidates[w];
    const bool same_value = work[w].value_key == work[*best].value_key;
    if (same_value) r.support.push_back(work[w].candidate->id);
    ce.verdict = same_value ? Verdict::kWinner : loser_verdict;
    if (!explain) continue;
    if (w == *best) {
      ce.reason = "chosen: " + describe(w);
    } else if (same_value) {
      ce.reason = "same value as the chosen candidate; " + describe(w);
    } else {
      ce.reason = describe(w) + "; the chosen candidate: " + describe(*best);
    }
  }
}

}  // namespace

Resolution Resolve(LensKind kind, std::span<const Candidate> candidates, const LensOptions& options) {
  Resolution r;
  r.explanation.lens = kind;
  std::vector<Work> work = Prepare(candidates, options, r.explanation);
  switch (kind) {
    case LensKind::kConsensus: ResolveConsensus(work, options, r); break;
    case LensKind::kRecency: {
      std::vector<Timestamp> first(work.size());
      for (std::size_t w = 0; w < work.size(); ++w) first[w] = FirstSigned(work[w]);
      ResolveByRank(
          work, r, [&](std::size_t a, std::size_t b) { return first[a] > first[b]; }, Verdict::kOlder, options.explain,
          [&](std::size_t w) { return "first signed " + first[w].ToRfc3339(); });
      break;
    }
    case LensKind::kAuthority: {
      std::vector<double> authority(work.size(), 0.0);
      for (std::size_t w = 0; w < work.size(); ++w) {
        for (std::size_t i : work[w].eligible) {
          authority[w] = std::max(authority[w], Weight(options, work[w].candidate->signers[i].signature.agent));
        }
      }
      ResolveByRank(
          work, r,
          [&](std::size_t a, std::size_t b) {
            if (authority[a] != authority[b]) return authority[a] > authority[b];
            return work[a].candidate->assertion.confidence > work[b].candidate->assertion.confidence;
          },
          Verdict::kLowerAuthority, options.explain,
          [&](std::size_t w) {
            return fmt::format("authority {:.4g}, confidence {:.4g}", authority[w],
                               work[w].candidate->assertion.confidence);
          });
      break;
    }
  }
  return r;
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
