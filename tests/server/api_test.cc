// The HTTP API in process: every route, every class of bad input, and that a rejected request
// writes nothing.
#include "stemedb/server/api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "db/db_test_util.h"
#include "stemedb/base/heap.h"
#include "stemedb/model/json.h"
#include "support/temp_dir.h"

namespace stemedb::server {
namespace {

using db::testing::Key;
using db::testing::SignedFor;
using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = db::Database::Open(dir_.path());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    database_ = std::move(*opened);
    api_ = std::make_unique<Api>(*database_);
  }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::string content_type = "application/json") {
    HttpRequest r;
    r.method = std::move(method);
    const auto q = path.find('?');
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      path.resize(q);
      std::size_t i = 0;
      while (i <= query.size()) {
        const std::size_t amp = std::min(query.find('&', i), query.size());
        const std::string pair = query.substr(i, amp - i);
        const auto eq = pair.find('=');
        r.params.emplace(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
        i = amp + 1;
      }
    }
    r.path = std::move(path);
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    return api_->Handle(r);
  }

  static json Body(const HttpResponse& r) {
    auto parsed = ParseJson(r.body);
    EXPECT_TRUE(parsed.ok()) << r.body;
    return parsed.ok() ? *parsed : json();
  }

  // Posts envelopes and returns the response, checking nothing.
  HttpResponse Post(const json& body) { return Call("POST", "/v1/assertions", body.dump()); }

  wal::LogPosition Durable() { return database_->stats().durable_position; }

  stemedb::testing::TempDir dir_;
  std::unique_ptr<db::Database> database_;
  std::unique_ptr<Api> api_;
};

json EnvelopeJson(std::uint64_t key, std::initializer_list<std::uint8_t> signers = {1}) {
  return EnvelopeToJson(SignedFor(key, signers));
}

TEST_F(ApiTest, PostOneEnvelopeThenReadItBack) {
  const SignedAssertion s = SignedFor(7);
  HttpResponse r = Post(EnvelopeToJson(s));
  ASSERT_EQ(r.status, 201) << r.body;
  json body = Body(r);
  ASSERT_EQ(body["ids"].size(), 1U);
  EXPECT_EQ(body["ids"][0], s.id.ToHex());
  const std::uint64_t position = body["position"];
  EXPECT_GT(position, 0U);
  EXPECT_LE(position, Durable());

  HttpResponse got = Call("GET", "/v1/assertions/" + s.id.ToHex() + "?must_see=" + std::to_string(position));
  ASSERT_EQ(got.status, 200) << got.body;
  auto envelope = EnvelopeFromJson(Body(got));
  ASSERT_TRUE(envelope.ok()) << envelope.status().ToString();
  EXPECT_EQ(envelope->signed_assertion.id, s.id);
  EXPECT_EQ(envelope->signed_assertion.signatures.size(), 1U);

  // The same envelope again: idempotent, 200, nothing new written.
  const auto before = Durable();
  HttpResponse again = Post(EnvelopeToJson(s));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["ids"][0], s.id.ToHex());
  EXPECT_EQ(Durable(), before);
}

TEST_F(ApiTest, BatchIsAllOrNothing) {
  json batch = json::array({EnvelopeJson(1), EnvelopeJson(2), EnvelopeJson(3)});
  // Envelope 2's signature is flipped: the whole batch is refused and nothing is written.
  std::string sig = batch[2]["signatures"][0]["signature"];
  sig[0] = sig[0] == '0' ? '1' : '0';
  batch[2]["signatures"][0]["signature"] = sig;
  const auto before = Durable();
  HttpResponse r = Post(batch);
  EXPECT_EQ(r.status, 422) << r.body;
  const json error = Body(r)["error"];
  EXPECT_NE(error["message"].get<std::string>().find("envelope 2"), std::string::npos) << r.body;
  EXPECT_EQ(error["field"], "signatures[0].signature") << r.body;
  EXPECT_EQ(Durable(), before);
  EXPECT_EQ(Call("GET", "/v1/assertions/" + SignedFor(1).id.ToHex()).status, 404);

  batch[2] = EnvelopeJson(3);
  HttpResponse ok = Post(batch);
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(Body(ok)["ids"].size(), 3U);
}

TEST_F(ApiTest, MalformedRequestsAreRefusedAndWriteNothing) {
  const auto before = Durable();
  struct Case {
    std::string body, content_type;
    int status;
    std::string expect;  // in the message
  };
  const std::string good = EnvelopeJson(1).dump();
  const std::vector<Case> cases = {
      {"{", "application/json", 400, "malformed JSON"},
      {"", "application/json", 400, "malformed JSON"},
      {good, "text/plain", 415, "Content-Type"},
      {good, "", 415, "Content-Type"},
      {std::string(100, '[') + std::string(100, ']'), "application/json", 400, "nested deeper"},
      {"{\"assertion\": \"\xff\xfe\"}", "application/json", 400, "UTF-8"},
      {"[1e400]", "application/json", 400, "malformed JSON"},
      {"42", "application/json", 422, "signed envelope or an array"},
      {"[]", "application/json", 422, "empty"},
      {"{\"assertion\": {}}", "application/json", 422, ""},
      {"{\"assertion\": {}, \"signatures\": [], \"bogus\": 1}", "application/json", 422, "bogus"},
  };
  for (const Case& c : cases) {
    HttpResponse r = Call("POST", "/v1/assertions", c.body, c.content_type);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 60) << " -> " << r.body;
    const json error = Body(r)["error"];
    EXPECT_EQ(error["status"], c.status);
    EXPECT_NE(error["message"].get<std::string>().find(c.expect), std::string::npos) << r.body;
  }
  // Charset parameters and case are fine.
  EXPECT_EQ(Call("POST", "/v1/assertions", good, "Application/JSON; charset=utf-8").status, 201);
  EXPECT_GT(Durable(), before);
}

TEST_F(ApiTest, HostileEnvelopesAreRefusedWithTheFieldNamed) {
  const auto before = Durable();
  // A signature made by key 1, presented under key 2's agent ID.
  json impostor = EnvelopeJson(1);
  impostor["signatures"][0]["agent"] = Key(2).agent().ToHex();
  // A valid signature of one claim replayed on another.
  json replayed = EnvelopeJson(2);
  replayed["signatures"][0] = EnvelopeJson(3)["signatures"][0];
  // No signature at all.
  json unsigned_envelope = EnvelopeJson(4);
  unsigned_envelope["signatures"] = json::array();
  // Out-of-range values.
  json confidence = EnvelopeJson(5);
  confidence["assertion"]["confidence"] = 1.5;
  json huge_subject = EnvelopeJson(6);
  huge_subject["assertion"]["subject"] = std::string(1 << 20, 'x');
  huge_subject.erase("id");
  json wrong_id = EnvelopeJson(7);
  wrong_id["id"] = SignedFor(8).id.ToHex();
  // Evidence text whose hash is not the claim's source_hash.
  json evidence = EnvelopeJson(9);
  evidence["evidence"] = "not the evidence that was hashed";

  const std::vector<std::pair<json, std::string>> cases = {
      {impostor, "signatures[0].signature"},
      {replayed, "signatures[0].signature"},
      {unsigned_envelope, "signatures"},
      {confidence, "assertion.confidence"},
      {huge_subject, "assertion.subject"},
      {wrong_id, "id"},
      {evidence, "evidence"},
  };
  for (const auto& [envelope, field] : cases) {
    HttpResponse r = Post(envelope);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(Body(r)["error"]["field"], field) << r.body.substr(0, 300);
  }
  EXPECT_EQ(Durable(), before);
}

TEST_F(ApiTest, RoutingAndQueryParameterErrors) {
  EXPECT_EQ(Call("GET", "/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v1/assertions").status, 405);
  EXPECT_EQ(Call("DELETE", "/v1/assertions/" + SignedFor(1).id.ToHex()).status, 405);
  EXPECT_EQ(Call("GET", "/v1/assertions/xyz").status, 400);
  EXPECT_EQ(Body(Call("GET", "/v1/assertions/xyz"))["error"]["field"], "id");
  EXPECT_EQ(Call("GET", "/v1/assertions/" + SignedFor(1).id.ToHex()).status, 404);

  HttpResponse unknown = Call("GET", "/v1/resolve?subject=a&predicate=b&lense=recency");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Body(unknown)["error"]["field"], "lense");
  EXPECT_EQ(Call("GET", "/v1/resolve?subject=a&predicate=b&predicate=c").status, 400);
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?predicate=b"))["error"]["field"], "subject");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&lens=vote"))["error"]["field"], "lens");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&min_confidence=2"))["error"]["field"],
            "min_confidence");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&min_confidence=nan"))["error"]["field"],
            "min_confidence");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&explain=maybe"))["error"]["field"], "explain");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&as_of=yesterday"))["error"]["field"], "as_of");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&as_of=99999999999999999999999"))["error"]["field"],
            "as_of");
  EXPECT_EQ(Body(Call("GET", "/v1/resolve?subject=a&predicate=b&must_see=-1"))["error"]["field"], "must_see");
  // A position beyond the log can never be seen: refused at once rather than waited for.
  EXPECT_EQ(Call("GET", "/v1/resolve?subject=a&predicate=b&must_see=999999").status, 422);
  EXPECT_EQ(Call("GET", "/v1/conflicts?limit=0").status, 400);
  // A NUL separates names in the key schema: a name holding one must not match other names' keys.
  HttpRequest nul;
  nul.method = "GET";
  nul.path = "/v1/resolve";
  nul.params = {{"subject", std::string("entity_1\0predicate_1", 20)}, {"predicate", "x"}};
  HttpResponse refused = api_->Handle(nul);
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(Body(refused)["error"]["field"], "subject");
  nul.path = std::string("/v1/entities/entity_1\0predicate_1", 33);
  nul.params.clear();
  EXPECT_EQ(api_->Handle(nul).status, 422);
  EXPECT_EQ(Call("GET", "/v1/evidence/00").status, 400);
}

// Three agents disagree; each lens answers, and explains.
TEST_F(ApiTest, ResolveThreeWaysWithExplanation) {
  auto claim = [](double value, float confidence, std::uint8_t signer, std::int64_t at) {
    Assertion a;
    a.subject = EntityId("http://example.org/Tesla");
    a.predicate = RelationId("revenue");
    a.object = ObjectValue::Number(value);
    a.confidence = confidence;
    const KeyPair key = Key(signer);
    const KeyPair* keys[] = {&key};
    return EnvelopeToJson(SignAssertion(a, keys, Timestamp(at)).value());
  };
  json batch = json::array({claim(96.77, 0.9F, 1, 1000), claim(96.77, 0.6F, 2, 2000), claim(81.5, 0.4F, 3, 3000)});
  HttpResponse posted = Post(batch);
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string must_see = "&must_see=" + std::to_string(Body(posted)["position"].get<std::uint64_t>());
  const std::string key = "/v1/resolve?subject=http://example.org/Tesla&predicate=revenue";

  HttpResponse consensus = Call("GET", key + "&explain=true" + must_see);
  ASSERT_EQ(consensus.status, 200) << consensus.body;
  json c = Body(consensus);
  EXPECT_EQ(c["value"], json({{"number", 96.77}}));
  EXPECT_NEAR(c["confidence"].get<double>(), 1.5 / 1.9, 1e-6);
  EXPECT_EQ(c["support"].size(), 2U);
  ASSERT_TRUE(c.contains("explanation")) << consensus.body;
  EXPECT_EQ(c["explanation"]["candidates"].size(), 3U);

  json recency = Body(Call("GET", key + "&lens=recency" + must_see));
  EXPECT_EQ(recency["value"], json({{"number", 81.5}}));
  EXPECT_FALSE(recency.contains("explanation"));

  // Below the threshold nothing is live: 404, with the explanation of why.
  HttpResponse none = Call("GET", key + "&min_confidence=0.95&explain=1");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(Body(none)["error"]["code"], "not_found");
  EXPECT_EQ(Body(none)["explanation"]["candidates"].size(), 3U);
  EXPECT_EQ(Call("GET", "/v1/resolve?subject=nobody&predicate=revenue").status, 404);

  // The entity card, with a subject that contains slashes.
  HttpResponse card = Call("GET", "/v1/entities/http://example.org/Tesla?lens=recency");
  ASSERT_EQ(card.status, 200) << card.body;
  EXPECT_EQ(Body(card)["predicates"]["revenue"]["value"], json({{"number", 81.5}}));
  EXPECT_EQ(Call("GET", "/v1/entities/nobody").status, 404);

  json conflicts = Body(Call("GET", "/v1/conflicts"));
  ASSERT_EQ(conflicts["conflicts"].size(), 1U);
  EXPECT_EQ(conflicts["conflicts"][0]["live_values"], 2);
}

TEST_F(ApiTest, AuthorityTableWeighsTheLenses) {
  lens::AuthorityTable table(0.1);
  ASSERT_TRUE(table.Set(Key(3).agent(), 0.9).ok());
  ApiOptions options;
  options.authority = table;
  Api weighted(*database_, options);
  // Agents 1 and 2 say 1; agent 3, the trusted one, says 2.
  auto claim = [](std::int64_t value, std::uint8_t signer) {
    Assertion a;
    a.subject = EntityId("x");
    a.predicate = RelationId("p");
    a.object = ObjectValue::Integer(value);
    a.confidence = 0.8F;
    const KeyPair key = Key(signer);
    const KeyPair* keys[] = {&key};
    return EnvelopeToJson(SignAssertion(a, keys, Timestamp(1)).value());
  };
  HttpResponse posted = Post(json::array({claim(1, 1), claim(1, 2), claim(2, 3)}));
  ASSERT_EQ(posted.status, 201) << posted.body;
  ASSERT_TRUE(database_->WaitForApplied(Body(posted)["position"]).ok());
  HttpRequest r;
  r.method = "GET";
  r.path = "/v1/resolve";
  r.params = {{"subject", "x"}, {"predicate", "p"}, {"lens", "authority"}};
  EXPECT_EQ(Body(weighted.Handle(r))["value"], json({{"integer", 2}}));
  EXPECT_EQ(Body(api_->Handle(r))["value"], json({{"integer", 1}}));  // unweighted: a tie, broken by value
}

TEST_F(ApiTest, CoSignaturesAccumulate) {
  const SignedAssertion s = SignedFor(11, {1});
  ASSERT_EQ(Post(EnvelopeToJson(s)).status, 201);
  const json second = EnvelopeToJson(SignedFor(11, {2}))["signatures"];
  const std::string path = "/v1/assertions/" + s.id.ToHex() + "/signatures";

  HttpResponse added = Call("POST", path, json({{"signatures", second}}).dump());
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(Body(added)["new_signatures"], 1);
  // Once indexed, the same signature again is nothing new. (Before it is indexed it may be
  // written a second time; indexing is idempotent, docs/api.md.)
  ASSERT_TRUE(database_->WaitForApplied(Body(added)["position"]).ok());
  HttpResponse again = Call("POST", path, json({{"signatures", second}}).dump());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["new_signatures"], 0);

  const auto before = Durable();
  // A signature over a different claim, and a signature for an assertion that is not stored.
  HttpResponse forged =
      Call("POST", path, json({{"signatures", EnvelopeToJson(SignedFor(12, {3}))["signatures"]}}).dump());
  EXPECT_EQ(forged.status, 422) << forged.body;
  EXPECT_EQ(
      Call("POST", "/v1/assertions/" + SignedFor(13).id.ToHex() + "/signatures", json({{"signatures", second}}).dump())
          .status,
      404);
  EXPECT_EQ(Call("POST", path, "{\"sigs\": []}").status, 422);
  EXPECT_EQ(Durable(), before);

  HttpResponse got = Call("GET", "/v1/assertions/" + s.id.ToHex() + "?must_see=" + std::to_string(Durable()));
  EXPECT_EQ(Body(got)["signatures"].size(), 2U) << got.body;
}

// What an agent signed: its first signatures and its co-signatures, in log order, paged with
// `after` and `next`, each with its claim when asked; bad parameters are 400s.
TEST_F(ApiTest, SignaturesByAnAgentPageInLogOrder) {
  std::vector<std::string> ids;
  for (std::uint64_t k = 0; k < 5; ++k) {
    const HttpResponse r = Post(EnvelopeJson(100 + k, {1, 2}));
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(Body(r)["ids"][0]);
  }
  // Agent 3 co-signs the second claim: it is listed under agent 3 at the co-signature's position.
  const json co = EnvelopeToJson(SignedFor(101, {3}))["signatures"];
  const HttpResponse joined =
      Call("POST", "/v1/assertions/" + ids[1] + "/signatures", json({{"signatures", co}}).dump());
  ASSERT_EQ(joined.status, 201) << joined.body;
  const std::string must_see = "must_see=" + std::to_string(Durable());
  const std::string agent1 = "/v1/agents/" + Key(1).agent().ToHex() + "/signatures";

  HttpResponse first = Call("GET", agent1 + "?limit=2&" + must_see);
  ASSERT_EQ(first.status, 200) << first.body;
  json page = Body(first);
  EXPECT_EQ(page["agent"], Key(1).agent().ToHex());
  ASSERT_EQ(page["signatures"].size(), 2U);
  EXPECT_EQ(page["signatures"][0]["id"], ids[0]);
  EXPECT_EQ(page["signatures"][1]["id"], ids[1]);
  EXPECT_FALSE(page["signatures"][0].contains("assertion"));
  std::vector<std::string> listed;
  wal::LogPosition previous = 0;
  for (;;) {
    for (const auto& e : page["signatures"]) {
      listed.push_back(e["id"]);
      EXPECT_GT(e["position"].get<wal::LogPosition>(), previous);
      previous = e["position"];
      EXPECT_EQ(e["signed_at"], SignedFor(100 + listed.size() - 1).signatures[0].signed_at.ToRfc3339());
    }
    if (page["next"].is_null()) break;
    page = Body(Call("GET", agent1 + "?limit=2&after=" + std::to_string(page["next"].get<wal::LogPosition>())));
  }
  EXPECT_EQ(listed, ids);

  HttpResponse cosigner = Call("GET", "/v1/agents/" + Key(3).agent().ToHex() + "/signatures?assertions=true");
  ASSERT_EQ(cosigner.status, 200) << cosigner.body;
  const json only = Body(cosigner)["signatures"];
  ASSERT_EQ(only.size(), 1U);
  EXPECT_EQ(only[0]["id"], ids[1]);
  EXPECT_EQ(only[0]["position"], Body(joined)["position"]);
  EXPECT_EQ(only[0]["assertion"], AssertionToJson(SignedFor(101).assertion));
  EXPECT_TRUE(Body(cosigner)["next"].is_null());

  // as_of, read as resolve reads it: a log position ends the list there, a time keeps what was
  // signed at or before it (SignedFor(100 + k) was signed at a base time + k microseconds).
  const json through_third = Body(Call("GET", agent1 + "?as_of=" + Body(first)["signatures"][1]["position"].dump()));
  ASSERT_EQ(through_third["signatures"].size(), 2U) << through_third.dump();
  EXPECT_EQ(through_third["signatures"][1]["id"], ids[1]);
  EXPECT_TRUE(through_third["next"].is_null());
  const std::string third_signed = SignedFor(102).signatures[0].signed_at.ToRfc3339();
  const json by_time = Body(Call("GET", agent1 + "?as_of=" + third_signed));
  ASSERT_EQ(by_time["signatures"].size(), 3U) << by_time.dump();
  EXPECT_EQ(by_time["signatures"][2]["id"], ids[2]);
  EXPECT_EQ(Body(Call("GET", agent1 + "?as_of=yesterday"))["error"]["field"], "as_of");
  EXPECT_EQ(Call("GET", agent1 + "?as_of=yesterday").status, 400);

  // An agent that signed nothing: an empty list, not an error.
  const json none = Body(Call("GET", "/v1/agents/" + Key(9).agent().ToHex() + "/signatures"));
  EXPECT_TRUE(none["signatures"].empty());
  EXPECT_TRUE(none["next"].is_null());

  EXPECT_EQ(Body(Call("GET", "/v1/agents/xyz/signatures"))["error"]["field"], "agent");
  EXPECT_EQ(Body(Call("GET", agent1 + "?limit=0"))["error"]["field"], "limit");
  EXPECT_EQ(Body(Call("GET", agent1 + "?limit=10001"))["error"]["field"], "limit");
  EXPECT_EQ(Body(Call("GET", agent1 + "?after=-1"))["error"]["field"], "after");
  EXPECT_EQ(Body(Call("GET", agent1 + "?assertions=maybe"))["error"]["field"], "assertions");
  EXPECT_EQ(Body(Call("GET", agent1 + "?afterwards=1"))["error"]["field"], "afterwards");
  EXPECT_EQ(Call("GET", agent1 + "?must_see=999999").status, 422);
  EXPECT_EQ(Call("POST", agent1, "{}").status, 405);
}

TEST_F(ApiTest, EvidenceIsStoredByHash) {
  // Bytes that are not text: a NUL, a control character, and a byte that is not UTF-8.
  const std::string blob = std::string("\x00\x01", 2) + "binary evidence" + "\xff";
  HttpResponse put = Call("POST", "/v1/evidence", blob, "application/octet-stream");
  ASSERT_EQ(put.status, 201) << put.body;
  const std::string hash = Body(put)["hash"];
  EXPECT_EQ(hash, Blake3(blob).ToHex());
  HttpResponse got = Call("GET", "/v1/evidence/" + hash + "?must_see=" + std::to_string(Durable()));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.content_type, "application/octet-stream");
  EXPECT_EQ(got.body, blob);
  EXPECT_EQ(Call("GET", "/v1/evidence/" + Blake3("other").ToHex()).status, 404);

  // Evidence that travels inside an envelope is stored too.
  Assertion a = db::testing::ClaimFor(20);
  a.source_hash = Blake3("the filing, page 3");
  const KeyPair key = Key(1);
  const KeyPair* keys[] = {&key};
  HttpResponse posted = Post(EnvelopeToJson(SignAssertion(a, keys, Timestamp(5)).value(), "the filing, page 3"));
  ASSERT_EQ(posted.status, 201) << posted.body;
  HttpResponse text = Call("GET", "/v1/evidence/" + a.source_hash.ToHex() +
                                      "?must_see=" + std::to_string(Body(posted)["position"].get<std::uint64_t>()));
  EXPECT_EQ(text.body, "the filing, page 3");
}

TEST_F(ApiTest, HistoryFollowsSupersession) {
  const SignedAssertion first = SignedFor(30, {1});
  Assertion next = db::testing::ClaimFor(31);
  next.subject = first.assertion.subject;
  next.predicate = first.assertion.predicate;
  next.parent = first.id;
  const KeyPair key = Key(1);
  const KeyPair* keys[] = {&key};
  const SignedAssertion second = SignAssertion(next, keys, Timestamp(9)).value();
  HttpResponse posted = Post(json::array({EnvelopeToJson(first), EnvelopeToJson(second)}));
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string must_see = "?must_see=" + std::to_string(Body(posted)["position"].get<std::uint64_t>());
  json h = Body(Call("GET", "/v1/assertions/" + first.id.ToHex() + "/history" + must_see));
  ASSERT_EQ(h["descendants"].size(), 1U);
  EXPECT_EQ(h["descendants"][0]["id"], second.id.ToHex());
  json back = Body(Call("GET", "/v1/assertions/" + second.id.ToHex() + "/history"));
  EXPECT_EQ(back["ancestors"].size(), 2U);
}

// A write the ingestor cannot make room for in time (backpressure, database.h) gets 503 with the
// reason, and nothing is written: here the ingestor is rebuilding 12,000 claims on one thread and
// a write may wait 1 ms while another is unapplied.
TEST_F(ApiTest, AWriteHeldBackByTheIngestorGets503AndWritesNothing) {
  constexpr std::uint64_t kOld = 12000;
  api_.reset();
  database_.reset();
  std::vector<Envelope> old;
  for (std::uint64_t k = 0; k < kOld; ++k) old.push_back({SignedFor(k), std::nullopt});
  ASSERT_TRUE(db::Database::Open(dir_.path()).value()->SubmitBatch(old).ok());
  std::filesystem::remove_all(dir_ / "kv");
  db::DatabaseOptions options;
  options.ingest.verify_threads = 1;
  options.ingest.max_batch_records = 50;
  options.max_unapplied_bytes = 1;
  options.backpressure_timeout = std::chrono::milliseconds(1);
  auto opened = db::Database::Open(dir_.path(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  database_ = std::move(*opened);
  api_ = std::make_unique<Api>(*database_);

  ASSERT_EQ(Post(EnvelopeJson(100000)).status, 201);
  ASSERT_LT(database_->stats().applied_position, kOld) << "the rebuild ended too soon for this test";
  const HttpResponse refused = Post(json::array({EnvelopeJson(100001), EnvelopeJson(100002)}));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.retry_after_seconds, 1U);
  EXPECT_NE(refused.body.find("nothing was written, retry later"), std::string::npos) << refused.body;
  EXPECT_EQ(Durable(), kOld + 1);
}

TEST_F(ApiTest, HealthStatsAndMetrics) {
  ASSERT_EQ(Post(EnvelopeJson(1)).status, 201);
  EXPECT_EQ(Call("POST", "/v1/assertions", "{").status, 400);
  json health = Body(Call("GET", "/healthz"));
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["durable_position"], Durable());
  json stats = Body(Call("GET", "/v1/stats"));
  for (const char* field : {"unapplied_bytes", "backpressure_waits", "backpressure_wait_seconds", "kv_sorted_runs"}) {
    EXPECT_TRUE(stats.contains(field)) << field << "\n" << stats.dump();
  }
  // A resolve is a narrow scan: its finished iterator is kept for the next (no flush in between).
  Call("GET", "/v1/resolve?subject=a&predicate=b");
  HttpResponse metrics = Call("GET", "/metrics");
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  for (const std::string& expected :
       std::vector<std::string>{"stemedb_http_requests_total{route=\"/v1/assertions\",status=\"201\"} 1",
                                "stemedb_http_requests_total{route=\"/v1/assertions\",status=\"400\"} 1",
                                "stemedb_http_request_duration_seconds_count{route=\"/v1/assertions\"} 2",
                                "stemedb_wal_durable_position " + std::to_string(Durable()), "stemedb_ingest_lag "}) {
    EXPECT_NE(metrics.body.find(expected), std::string::npos) << expected << "\n" << metrics.body;
  }
  // Where the memory goes: every gauge present, and the process's own figures plausible.
  auto gauge = [&](const std::string& name) -> std::optional<double> {
    const std::size_t at = metrics.body.find("\n" + name + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(metrics.body.substr(at + name.size() + 2));
  };
  for (const char* name :
       {"stemedb_kv_memtable_bytes", "stemedb_kv_block_cache_bytes", "stemedb_kv_table_reader_bytes",
        "stemedb_kv_kept_iterators", "stemedb_heap_free_bytes", "stemedb_ingest_unapplied_bytes",
        "stemedb_backpressure_waits_total", "stemedb_backpressure_wait_seconds_total", "stemedb_kv_sorted_runs"}) {
    EXPECT_TRUE(gauge(name).has_value()) << name << "\n" << metrics.body;
  }
  EXPECT_GT(gauge("stemedb_process_resident_bytes").value_or(0), 1 << 20);
  const std::string allocator(ReadHeapStats().allocator);
  EXPECT_NE(metrics.body.find("stemedb_heap_allocator{allocator=\"" + allocator + "\"} 1"), std::string::npos);
  if (allocator != "sanitizer") {
    EXPECT_GT(gauge("stemedb_heap_in_use_bytes").value_or(0), 0);
  }
  EXPECT_GT(gauge("stemedb_kv_memtable_bytes").value_or(0), 0) << "a write was stored: its memtable holds it";
  EXPECT_GE(gauge("stemedb_kv_kept_iterators").value_or(0), 1) << "the resolve's iterator was kept";
}

}  // namespace
}  // namespace stemedb::server

namespace stemedb::server {
namespace {

// Writers and readers through one Api at once (run under ThreadSanitizer by make sanitize-thread).
TEST_F(ApiTest, ConcurrentWritersAndReaders) {
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t k = 0; k < 25; ++k) {
        if (Post(EnvelopeJson(static_cast<std::uint64_t>(t) * 1000 + k, {static_cast<std::uint8_t>(t + 1)})).status ==
            201) {
          ++created;
        }
      }
    });
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        const int status = Call("GET", "/v1/resolve?subject=entity_1&predicate=predicate_1&explain=true").status;
        EXPECT_TRUE(status == 200 || status == 404) << status;
        EXPECT_EQ(Call("GET", "/metrics").status, 200);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 100);
  ASSERT_TRUE(database_->WaitForApplied(Durable()).ok());
  EXPECT_NE(Call("GET", "/metrics").body.find("route=\"/v1/assertions\",status=\"201\"} 100"), std::string::npos);
}

}  // namespace
}  // namespace stemedb::server
