// The lens semantics written the plain way (copies, sorts and maps, as first implemented): the
// oracle that the allocation-light lens in src/lens is checked against, answer and explanation.
#include "reference_lens.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

namespace stemedb::lens {

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
    // Summed in canonical order (candidates, then their signers), as the lens does, so that the
    // two agree to the bit.
    totals[g] = 0;
    for (std::size_t w : groups[g]) {
      for (std::size_t i : work[w].eligible) {
        const auto& signer = e.candidates[w].signers[i];
        if (signer.counted) totals[g] += signer.contribution;
      }
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

Resolution ReferenceResolve(LensKind kind, std::span<const Candidate> candidates, const LensOptions& options) {
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

}  // namespace stemedb::lens
