// Fuzz target: the decoders of stored records (the bytes the WAL and the store hand back).
// Properties: no crash and no unbounded allocation on any input, and a record that decodes
// re-encodes to exactly the same bytes (one claim, one encoding, one ID).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_util.h"
#include "stemedb/model/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stemedb;
  // Records are read in place from 8-byte aligned memory.
  std::vector<std::uint64_t> words((size + 7) / 8);
  if (size > 0) std::memcpy(words.data(), data, size);
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(words.data()), size);

  if (auto record = DecodeRecord(bytes); record.ok()) {
    auto again = EncodeRecord(*record);
    if (!again.ok()) {
      std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
      fuzz::Fail("a decoded record does not encode");
    }
    const auto b = again->bytes();
    if (b.size() != size || !std::equal(b.begin(), b.end(), bytes.begin())) {
      fuzz::Fail("a decoded record re-encodes to other bytes");
    }
  }
  if (auto view = SignedClaimView::Open(bytes); view.ok()) {
    (void)view->subject();
    (void)view->ToOwnedAssertion();
    (void)view->Verify();
  }
  // The ingestor's way with records of its own process: no layout walk, every field still read.
  DecodeLimits trusted;
  trusted.require_exact_encoding = false;
  trusted.trusted_layout = true;
  if (auto view = SignedClaimView::Open(bytes, trusted); view.ok()) {
    (void)view->ToOwnedAssertion();
    for (std::size_t i = 0; i < view->signature_count(); ++i) (void)view->signature(i);
  }
  if (auto claim = DecodeClaim(bytes); claim.ok()) {
    auto id = ComputeAssertionId(*claim);
    if (!id.ok()) fuzz::Fail("a decoded claim has no ID");
  }
  if (auto cosignatures = DecodeCoSignatures(bytes); cosignatures.ok()) {
    auto again = EncodeCoSignatures(*cosignatures);
    if (!again.ok()) fuzz::Fail("decoded co-signatures do not encode");
  }
  return 0;
}
