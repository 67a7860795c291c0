// What a lens reads: candidate assertions already fetched by the database, with their signers.
#pragma once

#include <cstdint>
#include <vector>

#include "stemedb/model/assertion.h"

namespace stemedb::lens {

// One signature on a candidate, with the WAL position of the record that brought it (0 when
// unknown), so that "as of position P" can be answered.
struct Signer {
  SignatureEntry signature;
  std::uint64_t position = 0;
  friend bool operator==(const Signer&, const Signer&) = default;
};

struct Candidate {
  AssertionId id;
  Assertion assertion;
  std::vector<Signer> signers;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

}  // namespace stemedb::lens
