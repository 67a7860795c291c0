#include "stemedb/lens/lens.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <random>

#include "reference_lens.h"
#include "stemedb/model/codec.h"

namespace stemedb::lens {
namespace {

// Lenses never verify signatures (the database did), so tests use agents without keys.
AgentId Agent(std::uint16_t n) {
  std::array<std::uint8_t, 32> key{};
  key.fill(0x5A);
  key[0] = static_cast<std::uint8_t>(n & 0xFF);
  key[1] = static_cast<std::uint8_t>(n >> 8);
  return AgentId(key);
}

struct Spec {
  ObjectValue value;
  float confidence = 1.0F;
  std::vector<std::uint16_t> agents = {1};
  std::int64_t signed_at = 1000;
  std::uint64_t position = 1;
  std::string evidence;  // empty: no evidence
  std::optional<AssertionId> parent;
  std::string salt;  // makes otherwise identical claims distinct (through visual_hash)
};

Candidate Make(const Spec& spec) {
  Candidate c;
  c.assertion.subject = EntityId("Tesla_Inc");
  c.assertion.predicate = RelationId("revenue");
  c.assertion.object = spec.value;
  c.assertion.confidence = spec.confidence;
  c.assertion.source_hash = spec.evidence.empty() ? kNoEvidence : Blake3(spec.evidence);
  if (!spec.salt.empty()) c.assertion.visual_hash = PHash(Blake3(spec.salt).bytes()[0] * 256U + spec.salt.size());
  c.assertion.parent = spec.parent;
  c.id = *ComputeAssertionId(c.assertion);
  for (std::uint16_t a : spec.agents) {
    SignatureEntry s;
    s.agent = Agent(a);
    s.signed_at = Timestamp(spec.signed_at);
    c.signers.push_back({s, spec.position});
  }
  return c;
}

ObjectValue Num(double v) { return ObjectValue::Number(v); }

// Resolve with the explanation filled.
Resolution Explained(LensKind kind, std::span<const Candidate> candidates, LensOptions options = {}) {
  options.explain = true;
  return Resolve(kind, candidates, options);
}

const CandidateExplanation& ExplanationOf(const Resolution& r, const AssertionId& id) {
  for (const auto& c : r.explanation.candidates) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no explanation for " << id.ToHex();
  return r.explanation.candidates.front();
}

TEST(Consensus, WeightedVoteByValue) {
  const std::vector<Candidate> c = {Make({Num(96.77), 0.95F, {1}}), Make({Num(96.8), 0.7F, {2}}),
                                    Make({Num(81.5), 0.4F, {3}})};
  const Resolution r = Explained(LensKind::kConsensus, c);
  ASSERT_TRUE(r.value);
  EXPECT_EQ(*r.value, Num(96.77));
  EXPECT_NEAR(r.confidence, 0.95 / (0.95 + 0.7 + 0.4), 1e-6);
  EXPECT_EQ(r.support, std::vector<AssertionId>{c[0].id});
  EXPECT_EQ(ExplanationOf(r, c[0].id).verdict, Verdict::kWinner);
  EXPECT_EQ(ExplanationOf(r, c[1].id).verdict, Verdict::kOutvoted);
  EXPECT_EQ(r.explanation.groups.size(), 3U);
}

TEST(Consensus, AgreeingAgentsOutvoteOneConfidentAgent) {
  const std::vector<Candidate> c = {Make({Num(1), 0.9F, {1}}), Make({Num(2), 0.6F, {2}, 1000, 1, "a"}),
                                    Make({Num(2), 0.6F, {3}, 1000, 1, "b"})};
  const Resolution r = Resolve(LensKind::kConsensus, c);
  EXPECT_EQ(*r.value, Num(2));
  EXPECT_NEAR(r.confidence, 1.2 / 2.1, 1e-6);
  EXPECT_EQ(r.support.size(), 2U);
}

TEST(Consensus, EachAgentCountsOncePerValue) {
  // Agent 1 says "2" twice (two claims, different evidence): one vote, its larger.
  const std::vector<Candidate> c = {Make({Num(2), 0.6F, {1}, 1000, 1, "x"}), Make({Num(2), 0.5F, {1}, 1000, 1, "y"}),
                                    Make({Num(1), 0.9F, {2}})};
  LensOptions explain;
  explain.explain = true;
  const Resolution r = Resolve(LensKind::kConsensus, c, explain);
  EXPECT_EQ(*r.value, Num(1));
  ASSERT_EQ(r.explanation.groups.size(), 2U);
  EXPECT_NEAR(r.explanation.groups[1].total, 0.6, 1e-6);  // groups in value order: 1, then 2
  const auto& loser = ExplanationOf(r, c[1].id);
  EXPECT_FALSE(loser.signers[0].counted);
  EXPECT_EQ(loser.signers[0].note, "agent already counted for this value");
}

TEST(Consensus, CopiedEvidenceCountsOnce) {
  // Agents 2 and 3 cite the same evidence for "2": one piece of evidence, one vote.
  Spec copy_a{Num(2), 0.6F, {2}, 1000, 1, "the same blog post"};
  Spec copy_b = copy_a;
  copy_b.agents = {3};
  copy_b.confidence = 0.5F;
  const std::vector<Candidate> c = {Make({Num(1), 0.9F, {1}}), Make(copy_a), Make(copy_b)};
  LensOptions explain;
  explain.explain = true;
  const Resolution r = Resolve(LensKind::kConsensus, c, explain);
  EXPECT_EQ(*r.value, Num(1));
  EXPECT_NEAR(r.explanation.groups[1].total, 0.6, 1e-6);
  EXPECT_EQ(ExplanationOf(r, c[2].id).signers[0].note, "same evidence already counted for this value");
  // Claims without evidence are never merged on that account.
  const std::vector<Candidate> no_evidence = {Make({Num(1), 0.9F, {1}}), Make({Num(2), 0.6F, {2}}),
                                              Make({Num(2), 0.5F, {3}, 1000, 1, "", std::nullopt, "other"})};
  EXPECT_EQ(*Resolve(LensKind::kConsensus, no_evidence).value, Num(2));
}

TEST(Consensus, WeightsAndTolerance) {
  AuthorityTable weights(0.1);
  ASSERT_TRUE(weights.Set(Agent(1), 1.0).ok());
  const std::vector<Candidate> c = {Make({Num(96.77), 0.5F, {1}}), Make({Num(81.5), 0.9F, {2}}),
                                    Make({Num(96.8), 0.5F, {3}})};
  LensOptions options;
  options.weights = &weights;
  EXPECT_EQ(*Resolve(LensKind::kConsensus, c, options).value, Num(96.77));
  // Without weights, 81.5 wins (0.9 > 0.5, 0.5); with a tolerance that merges 96.77 and 96.8, they win.
  EXPECT_EQ(*Resolve(LensKind::kConsensus, c).value, Num(81.5));
  LensOptions tolerant;
  tolerant.number_tolerance = 0.05;
  const Resolution r = Resolve(LensKind::kConsensus, c, tolerant);
  EXPECT_EQ(*r.value, Num(96.77));
  EXPECT_EQ(r.support.size(), 2U);
}

TEST(Lenses, SupersessionNeedsOneOfTheParentsSigners) {
  const Candidate original = Make({Num(96.7), 0.9F, {1}});
  const Candidate own_fix = Make({Num(96.77), 0.9F, {1}, 2000, 2, "", original.id});
  const Candidate strangers_fix = Make({Num(50.0), 0.9F, {2}, 2000, 2, "", original.id});
  {
    const std::vector<Candidate> c = {original, own_fix};
    const Resolution r = Explained(LensKind::kConsensus, c);
    EXPECT_EQ(*r.value, Num(96.77));
    const auto& e = ExplanationOf(r, original.id);
    EXPECT_EQ(e.verdict, Verdict::kSuperseded);
    EXPECT_EQ(e.superseded_by, own_fix.id);
    LensOptions history;
    history.include_superseded = true;
    const Resolution all = Explained(LensKind::kConsensus, c, history);
    EXPECT_EQ(all.explanation.groups.size(), 2U);
    EXPECT_EQ(ExplanationOf(all, original.id).superseded_by, own_fix.id);  // still shown
  }
  {
    const std::vector<Candidate> c = {original, strangers_fix};
    const Resolution r = Explained(LensKind::kConsensus, c);
    EXPECT_NE(ExplanationOf(r, original.id).verdict, Verdict::kSuperseded);
    EXPECT_EQ(r.explanation.groups.size(), 2U);  // the stranger's "fix" is just another candidate
  }
  {
    // As of before the fix was signed, the original stands.
    const std::vector<Candidate> c = {original, own_fix};
    LensOptions before;
    before.as_of_time = Timestamp(1500);
    const Resolution r = Explained(LensKind::kConsensus, c, before);
    EXPECT_EQ(*r.value, Num(96.7));
    EXPECT_EQ(ExplanationOf(r, own_fix.id).verdict, Verdict::kNoEligibleSigner);
  }
}

TEST(Lenses, ThresholdAllowDenyAndAsOf) {
  const std::vector<Candidate> c = {Make({Num(1), 0.2F, {1}, 1000, 1}), Make({Num(2), 0.6F, {2}, 2000, 5}),
                                    Make({Num(3), 0.5F, {3}, 3000, 9})};
  LensOptions threshold;
  threshold.min_confidence = 0.55F;
  Resolution r = Explained(LensKind::kRecency, c, threshold);
  EXPECT_EQ(*r.value, Num(2));
  EXPECT_EQ(ExplanationOf(r, c[0].id).verdict, Verdict::kBelowThreshold);
  LensOptions deny;
  deny.deny_agents = {Agent(2)};
  EXPECT_EQ(*Resolve(LensKind::kConsensus, c, deny).value, Num(3));
  LensOptions allow;
  allow.allow_agents = std::set<AgentId>{Agent(1)};
  EXPECT_EQ(*Resolve(LensKind::kConsensus, c, allow).value, Num(1));
  LensOptions by_position;
  by_position.as_of_position = 5;
  EXPECT_EQ(*Resolve(LensKind::kRecency, c, by_position).value, Num(2));
  LensOptions by_time;
  by_time.as_of_time = Timestamp(999);
  r = Resolve(LensKind::kConsensus, c, by_time);
  EXPECT_FALSE(r.value);
  EXPECT_TRUE(r.support.empty());
}

TEST(Recency, LatestFirstSignatureWins) {
  Candidate early_but_recosigned = Make({Num(1), 0.9F, {1}, 1000, 1});
  SignatureEntry late;
  late.agent = Agent(4);
  late.signed_at = Timestamp(5000);
  early_but_recosigned.signers.push_back({late, 9});  // a co-signature does not make a claim newer
  const std::vector<Candidate> c = {early_but_recosigned, Make({Num(2), 0.3F, {2}, 3000, 2})};
  const Resolution r = Explained(LensKind::kRecency, c);
  EXPECT_EQ(*r.value, Num(2));
  EXPECT_FLOAT_EQ(static_cast<float>(r.confidence), 0.3F);
  EXPECT_EQ(ExplanationOf(r, c[0].id).verdict, Verdict::kOlder);
}

TEST(Authority, MostTrustedAgentThenConfidence) {
  AuthorityTable table(0.1);
  ASSERT_TRUE(table.Set(Agent(1), 0.9).ok());
  ASSERT_TRUE(table.Set(Agent(2), 0.9).ok());
  LensOptions options;
  options.weights = &table;
  options.explain = true;
  const std::vector<Candidate> c = {Make({Num(1), 0.5F, {1}}), Make({Num(2), 0.7F, {2}}), Make({Num(3), 1.0F, {3}})};
  const Resolution r = Resolve(LensKind::kAuthority, c, options);
  EXPECT_EQ(*r.value, Num(2));  // agents 1 and 2 tie at 0.9; 0.7 > 0.5; agent 3 is barely trusted
  EXPECT_EQ(ExplanationOf(r, c[2].id).verdict, Verdict::kLowerAuthority);
  EXPECT_NE(ExplanationOf(r, c[2].id).reason.find("authority 0.1"), std::string::npos);
}

TEST(Lenses, TiesBreakDeterministically) {
  const std::vector<Candidate> c = {Make({Num(2), 0.5F, {1}}), Make({Num(1), 0.5F, {2}})};
  std::vector<Candidate> reversed(c.rbegin(), c.rend());
  for (LensKind kind : {LensKind::kConsensus, LensKind::kRecency, LensKind::kAuthority}) {
    EXPECT_EQ(*Resolve(kind, c).value, Num(1)) << LensKindName(kind);  // the lower value encoding
    EXPECT_EQ(*Resolve(kind, reversed).value, Num(1)) << LensKindName(kind);
  }
}

TEST(Lenses, NothingToResolve) {
  const Resolution r = Resolve(LensKind::kConsensus, std::vector<Candidate>{});
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.confidence, 0.0);
  const auto json = ResolutionToJson(r, true);
  EXPECT_TRUE(json["value"].is_null());
}

TEST(Lenses, ExplanationJson) {
  const std::vector<Candidate> c = {Make({Num(96.77), 0.95F, {1}, 1000, 1, "10-K"}), Make({Num(81.5), 0.4F, {3}})};
  LensOptions explain;
  explain.explain = true;
  const auto json = ResolutionToJson(Resolve(LensKind::kConsensus, c, explain), true);
  EXPECT_EQ(json["lens"], "consensus");
  EXPECT_EQ(json["value"]["number"], 96.77);
  ASSERT_EQ(json["explanation"]["candidates"].size(), 2U);
  const auto& loser = json["explanation"]["candidates"][0];  // canonical order: 81.5 first
  EXPECT_EQ(loser["verdict"], "outvoted");
  EXPECT_FALSE(loser["reason"].get<std::string>().empty());
  EXPECT_EQ(json["explanation"]["groups"].size(), 2U);
  EXPECT_FALSE(ResolutionToJson(Resolve(LensKind::kConsensus, c), false).contains("explanation"));
  // Without explain there is no explanation, and the same answer.
  const Resolution quiet = Resolve(LensKind::kConsensus, c);
  const Resolution loud = Resolve(LensKind::kConsensus, c, explain);
  EXPECT_TRUE(quiet.explanation.candidates.empty());
  EXPECT_TRUE(quiet.explanation.groups.empty());
  EXPECT_EQ(quiet.value, loud.value);
  EXPECT_EQ(quiet.confidence, loud.confidence);
  EXPECT_EQ(quiet.support, loud.support);
  EXPECT_EQ(quiet.distinct_values, 2U);
}

TEST(CandidateSet, RefusesWhatIsNotAValueKeyAndAddsNothing) {
  CandidateSet set;
  const AssertionId id(Blake3("claim"));
  const Status bad = set.Add(id, std::string(1, '\x03') + "short", 0.5F, kNoEvidence, std::nullopt);
  EXPECT_EQ(bad.code(), StatusCode::kCorruption);
  EXPECT_NE(bad.ToString().find(id.ToHex()), std::string::npos) << bad.ToString();
  EXPECT_TRUE(set.empty());
  ASSERT_TRUE(set.Add(id, ValueKey(Num(2.5)), 0.5F, kNoEvidence, std::nullopt).ok());
  set.AddSigner(Agent(1), Timestamp(1000), 1);
  const Resolution r = Resolve(LensKind::kConsensus, set);
  EXPECT_EQ(r.value, Num(2.5));
  EXPECT_EQ(r.support, std::vector<AssertionId>{id});
}

TEST(AuthorityTable, FromJsonChecksEverything) {
  auto ok = AuthorityTable::FromJson(
      nlohmann::json::parse(R"({"default": 0.2, "agents": {")" + Agent(1).ToHex() + R"(": 0.9}})"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->WeightOf(Agent(1)), 0.9);
  EXPECT_EQ(ok->WeightOf(Agent(2)), 0.2);
  EXPECT_EQ(AuthorityTable::FromJson(nlohmann::json::parse(R"({"default": 2})")).status().field(), "default");
  EXPECT_EQ(AuthorityTable::FromJson(nlohmann::json::parse(R"({"agents": {"zz": 0.5}})")).status().field(),
            "agents.zz");
  EXPECT_EQ(AuthorityTable::FromJson(nlohmann::json::parse(R"({"wieghts": {}})")).status().field(), "wieghts");
  EXPECT_EQ(ParseLensKind("majority").status().field(), "lens");
}

// ---- properties ----

// Candidates whose agents and evidence are all distinct, with values from a small set (conflicts).
// Agents are numbered from `first_agent` (at most 30 candidates x 3 signers), so two calls with
// first agents 100 apart never share an agent.
rc::Gen<std::vector<Candidate>> GenCandidates(std::uint16_t first_agent = 1) {
  return rc::gen::map(
      rc::gen::container<std::vector<std::tuple<int, int, int, int>>>(rc::gen::tuple(
          rc::gen::inRange(0, 4), rc::gen::inRange(0, 101), rc::gen::inRange(0, 50), rc::gen::inRange(0, 3))),
      [first_agent](const std::vector<std::tuple<int, int, int, int>>& specs) {
        std::vector<Candidate> out;
        std::uint16_t agent = first_agent;
        for (std::size_t i = 0; i < specs.size() && i < 30; ++i) {
          const auto& [value, confidence, time, signers] = specs[i];
          Spec s{
              Num(value), static_cast<float>(confidence) / 100.0F, {}, 1000 + time, static_cast<std::uint64_t>(time)};
          for (int k = 0; k <= signers; ++k) s.agents.push_back(agent++);
          s.evidence = "evidence " + std::to_string(first_agent) + "/" + std::to_string(i);
          out.push_back(Make(s));
        }
        return out;
      });
}

bool SameAnswer(const Resolution& a, const Resolution& b) {
  return a.value == b.value && a.confidence == b.confidence && a.support == b.support;
}

RC_GTEST_PROP(LensProperties, CandidateOrderNeverChangesTheAnswer, ()) {
  auto candidates = *GenCandidates();
  const auto kind = *rc::gen::element(LensKind::kConsensus, LensKind::kRecency, LensKind::kAuthority);
  const Resolution before = Resolve(kind, candidates);
  std::mt19937 rng(*rc::gen::arbitrary<unsigned>());
  std::shuffle(candidates.begin(), candidates.end(), rng);
  RC_ASSERT(SameAnswer(before, Resolve(kind, candidates)));
}

RC_GTEST_PROP(LensProperties, AnotherSupportingSignerNeverLowersTheWinnersTotal, ()) {
  auto candidates = *GenCandidates();
  const Resolution before = Explained(LensKind::kConsensus, candidates);
  RC_PRE(before.value.has_value());
  double winner_total = 0;
  for (const auto& g : before.explanation.groups) {
    if (g.value == *before.value) winner_total = g.total;
  }
  // A new agent co-signs one of the winning candidates.
  const AssertionId target = before.support[*rc::gen::inRange<std::size_t>(0, before.support.size())];
  for (auto& c : candidates) {
    if (c.id == target) c.signers.push_back({SignatureEntry{Agent(60000), {}, Timestamp(1000)}, 1});
  }
  const Resolution after = Explained(LensKind::kConsensus, candidates);
  RC_ASSERT(after.value == before.value);
  for (const auto& g : after.explanation.groups) {
    if (g.value == *before.value) RC_ASSERT(g.total >= winner_total);
  }
}

RC_GTEST_PROP(LensProperties, TwoHalvesThatAgreeAgreeWithTheWhole, ()) {
  // Halves with disjoint agents and evidence: totals add up, so a value that wins both wins all.
  const auto left = *GenCandidates(1);
  const auto right = *GenCandidates(1000);
  const Resolution a = Resolve(LensKind::kConsensus, left);
  const Resolution b = Resolve(LensKind::kConsensus, right);
  RC_PRE(a.value.has_value() && a.value == b.value);
  std::vector<Candidate> all = left;
  all.insert(all.end(), right.begin(), right.end());
  RC_ASSERT(Resolve(LensKind::kConsensus, all).value == a.value);
}

RC_GTEST_PROP(LensProperties, AsOfTheEndIsTheSameAsNoAsOf, ()) {
  const auto candidates = *GenCandidates();
  const auto kind = *rc::gen::element(LensKind::kConsensus, LensKind::kRecency, LensKind::kAuthority);
  LensOptions end;
  end.as_of_time = Timestamp(Timestamp::kMaxMicros);
  end.as_of_position = std::numeric_limits<std::uint64_t>::max();
  RC_ASSERT(SameAnswer(Resolve(kind, candidates), Resolve(kind, candidates, end)));
}

// Candidate sets built to collide: few values (a text holding NUL, numbers close enough for a
// tolerance), few agents, shared evidence, parents among earlier candidates, coarse confidences
// and times, so that groups, duplicates, supersession and ties all happen often.
rc::Gen<std::vector<Candidate>> GenCollidingCandidates() {
  return rc::gen::map(
      rc::gen::container<std::vector<std::tuple<int, int, std::vector<int>, int, int, int>>>(rc::gen::tuple(
          rc::gen::inRange(0, 9), rc::gen::inRange(0, 11), rc::gen::container<std::vector<int>>(rc::gen::inRange(1, 7)),
          rc::gen::inRange(0, 4), rc::gen::inRange(0, 6), rc::gen::inRange(-1, 6))),
      [](const std::vector<std::tuple<int, int, std::vector<int>, int, int, int>>& specs) {
        const ObjectValue values[] = {Num(1.0),
                                      Num(1.02),
                                      Num(2.5),
                                      Num(-3.0),
                                      ObjectValue::Text(std::string("a\0b", 3), "en"),
                                      ObjectValue::Text("a"),
                                      ObjectValue::Entity(EntityId("Tesla_Inc")),
                                      ObjectValue::Integer(3),
                                      ObjectValue::Boolean(true)};
        std::vector<Candidate> out;
        for (std::size_t i = 0; i < specs.size() && i < 24; ++i) {
          const auto& [value, confidence, agents, evidence, time, parent] = specs[i];
          Spec s;
          s.value = values[value];
          s.confidence = static_cast<float>(confidence) / 10.0F;
          s.agents.clear();
          for (int a : agents) {
            if (std::find(s.agents.begin(), s.agents.end(), a) == s.agents.end() && s.agents.size() < 3) {
              s.agents.push_back(static_cast<std::uint16_t>(a));
            }
          }
          if (s.agents.empty()) s.agents.push_back(1);
          s.signed_at = 1000 + time;
          s.position = static_cast<std::uint64_t>(time + 1);
          s.evidence = evidence == 0 ? "" : "evidence " + std::to_string(evidence);
          if (parent >= 0 && static_cast<std::size_t>(parent) < out.size()) s.parent = out[parent].id;
          s.salt = "candidate " + std::to_string(i);
          Candidate c = Make(s);
          // Later co-signers arrive later in the log and in time.
          for (std::size_t k = 1; k < c.signers.size(); ++k) {
            c.signers[k].signature.signed_at = Timestamp(s.signed_at + static_cast<std::int64_t>(k));
            c.signers[k].position = s.position + k;
          }
          out.push_back(std::move(c));
        }
        return out;
      });
}

rc::Gen<LensOptions> GenOptions(const AuthorityTable* weights) {
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange(0, 3), rc::gen::inRange(0, 3), rc::gen::inRange(0, 3), rc::gen::inRange(0, 3),
                     rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 3), rc::gen::arbitrary<bool>()),
      [weights](const std::tuple<int, int, int, int, bool, int, bool>& t) {
        const auto& [threshold, agents, as_of, tolerance, superseded, weighting, _] = t;
        LensOptions o;
        o.min_confidence = static_cast<float>(threshold) * 0.3F;
        if (agents == 1) o.deny_agents = {Agent(2)};
        if (agents == 2) o.allow_agents = std::set<AgentId>{Agent(1), Agent(3), Agent(4)};
        if (as_of == 1) o.as_of_time = Timestamp(1003);
        if (as_of == 2) o.as_of_position = 3;
        o.number_tolerance = tolerance == 0 ? 0.0 : tolerance == 1 ? 0.05 : 1.5;
        o.include_superseded = superseded;
        if (weighting != 0) o.weights = weights;
        o.explain = true;
        return o;
      });
}

void ExpectSameResolution(const Resolution& got, const Resolution& want) {
  RC_ASSERT(got.value == want.value);
  RC_ASSERT(got.confidence == want.confidence);
  RC_ASSERT(got.support == want.support);
  RC_ASSERT(got.explanation.lens == want.explanation.lens);
  RC_ASSERT(got.explanation.candidates.size() == want.explanation.candidates.size());
  for (std::size_t i = 0; i < got.explanation.candidates.size(); ++i) {
    const CandidateExplanation& g = got.explanation.candidates[i];
    const CandidateExplanation& w = want.explanation.candidates[i];
    RC_ASSERT(g.id == w.id);
    RC_ASSERT(g.value == w.value);
    RC_ASSERT(g.confidence == w.confidence);
    RC_ASSERT(g.source_hash == w.source_hash);
    RC_ASSERT(g.verdict == w.verdict);
    RC_ASSERT(g.reason == w.reason);
    RC_ASSERT(g.superseded_by == w.superseded_by);
    RC_ASSERT(g.signers.size() == w.signers.size());
    for (std::size_t k = 0; k < g.signers.size(); ++k) {
      RC_ASSERT(g.signers[k].agent == w.signers[k].agent);
      RC_ASSERT(g.signers[k].signed_at == w.signers[k].signed_at);
      RC_ASSERT(g.signers[k].position == w.signers[k].position);
      RC_ASSERT(g.signers[k].eligible == w.signers[k].eligible);
      RC_ASSERT(g.signers[k].weight == w.signers[k].weight);
      RC_ASSERT(g.signers[k].contribution == w.signers[k].contribution);
      RC_ASSERT(g.signers[k].counted == w.signers[k].counted);
      RC_ASSERT(g.signers[k].note == w.signers[k].note);
    }
  }
  RC_ASSERT(got.explanation.groups.size() == want.explanation.groups.size());
  for (std::size_t i = 0; i < got.explanation.groups.size(); ++i) {
    RC_ASSERT(got.explanation.groups[i].value == want.explanation.groups[i].value);
    RC_ASSERT(got.explanation.groups[i].total == want.explanation.groups[i].total);
    RC_ASSERT(got.explanation.groups[i].members == want.explanation.groups[i].members);
  }
}

// The lens against the plain implementation it replaced (tests/lens/reference_lens.cc), on every
// rule at once, answer and explanation, to the bit.
RC_GTEST_PROP(LensProperties, AgreesWithTheReferenceImplementation, ()) {
  AuthorityTable weights(0.2);
  for (std::uint16_t a = 1; a <= 6; a += 2) RC_ASSERT(weights.Set(Agent(a), 0.1 * a + 0.3).ok());
  auto candidates = *GenCollidingCandidates();
  std::mt19937 rng(*rc::gen::arbitrary<unsigned>());
  std::shuffle(candidates.begin(), candidates.end(), rng);
  const LensOptions options = *GenOptions(&weights);
  for (LensKind kind : {LensKind::kConsensus, LensKind::kRecency, LensKind::kAuthority}) {
    const Resolution got = Resolve(kind, candidates, options);
    ExpectSameResolution(got, ReferenceResolve(kind, candidates, options));
    RC_ASSERT(got.distinct_values ==
              ReferenceResolve(LensKind::kConsensus, candidates, options).explanation.groups.size());
    LensOptions quiet = options;
    quiet.explain = false;
    const Resolution answer_only = Resolve(kind, candidates, quiet);
    RC_ASSERT(answer_only.value == got.value && answer_only.confidence == got.confidence &&
              answer_only.support == got.support && answer_only.distinct_values == got.distinct_values);
    RC_ASSERT(answer_only.explanation.candidates.empty() && answer_only.explanation.groups.empty());
  }
}

}  // namespace
}  // namespace stemedb::lens
