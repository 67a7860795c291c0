// Micro-benchmarks of the model's primitives: BLAKE3 at record sizes, canonical encoding and ID,
// record decoding in place, Ed25519 signing and verification (one core; the all-core rate is
// the per-core rate times the cores when verification is spread, as Database::SubmitBatch does).
#include <benchmark/benchmark.h>

#include <vector>

#include "stemedb/base/blake3.h"
#include "stemedb/model/codec.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"

namespace stemedb::bench {
namespace {

Assertion Sample() {
  Assertion a;
  a.subject = EntityId("http://www.wikidata.org/entity/Q478214");
  a.predicate = RelationId("http://www.wikidata.org/prop/direct/P2139");
  a.object = ObjectValue::Number(96.77e9);
  a.confidence = 0.9F;
  a.source_hash = Blake3("Form 10-K 2023");
  return a;
}

KeyPair Key() {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(7);
  return std::move(KeyPair::FromSeed(seed)).value();
}

// Sample(), signed by Key().
SignedAssertion SignedSample() {
  const KeyPair key = Key();
  const KeyPair* keys[] = {&key};
  return std::move(SignAssertion(Sample(), keys, Timestamp(1700000000000000))).value();
}

void BM_Blake3(benchmark::State& state) {
  const std::vector<std::uint8_t> input(static_cast<std::size_t>(state.range(0)), 0x5A);
  for (auto _ : state) benchmark::DoNotOptimize(Blake3(input));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Blake3)->Arg(64)->Arg(256)->Arg(4096)->Arg(1 << 20);

void BM_ComputeAssertionId(benchmark::State& state) {
  const Assertion a = Sample();
  for (auto _ : state) benchmark::DoNotOptimize(ComputeAssertionId(a));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ComputeAssertionId);

void BM_EncodeRecord(benchmark::State& state) {
  const SignedAssertion s = SignedSample();
  for (auto _ : state) benchmark::DoNotOptimize(EncodeRecord(s));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeRecord);

void BM_OpenRecordView(benchmark::State& state) {
  const auto record = *EncodeRecord(SignedSample());
  for (auto _ : state) {
    auto view = SignedClaimView::Open(record.bytes());
    benchmark::DoNotOptimize(view->subject());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OpenRecordView);

// Opens of records checked before: a stored record, read back from the indexes (layout walk, no
// exactness check), and one the ingestor's own process encoded and validated (neither).
void BM_OpenCheckedRecordView(benchmark::State& state, bool trusted_layout) {
  const auto record = *EncodeRecord(SignedSample());
  DecodeLimits limits;
  limits.require_exact_encoding = false;
  limits.trusted_layout = trusted_layout;
  for (auto _ : state) {
    auto view = SignedClaimView::Open(record.bytes(), limits);
    benchmark::DoNotOptimize(view->subject());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_OpenCheckedRecordView, stored, false);
BENCHMARK_CAPTURE(BM_OpenCheckedRecordView, trusted, true);

void BM_DecodeRecordVerified(benchmark::State& state) {
  const auto record = *EncodeRecord(SignedSample());
  for (auto _ : state) benchmark::DoNotOptimize(DecodeRecord(record.bytes()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeRecordVerified);

void BM_Ed25519Sign(benchmark::State& state) {
  const KeyPair key = Key();
  const AssertionId id = *ComputeAssertionId(Sample());
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(id, Timestamp(1)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const KeyPair key = Key();
  const AssertionId id = *ComputeAssertionId(Sample());
  const SignatureEntry entry = key.Sign(id, Timestamp(1));
  for (auto _ : state) benchmark::DoNotOptimize(VerifySignature(id, entry));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Verify)->ThreadRange(1, 2)->UseRealTime();

void BM_ValidateSignedAssertion(benchmark::State& state) {
  const SignedAssertion s = SignedSample();
  for (auto _ : state) benchmark::DoNotOptimize(ValidateSignedAssertion(s));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateSignedAssertion);

// What a submission costs besides verifying its signatures (Database::SubmitBatch): the checks
// with the ID, then the record.
void BM_ValidateExceptSignaturesThenEncode(benchmark::State& state) {
  const SignedAssertion s = SignedSample();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ValidateSignedAssertionExceptSignatures(s));
    benchmark::DoNotOptimize(EncodeRecord(s));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateExceptSignaturesThenEncode);

}  // namespace
}  // namespace stemedb::bench

BENCHMARK_MAIN();
