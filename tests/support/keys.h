// Deterministic test keys: the key pair whose 32-byte seed is `n` repeated.
#pragma once

#include <array>
#include <cstdint>

#include "stemedb/model/signing.h"

namespace stemedb::testing {

inline KeyPair TestKey(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  return std::move(KeyPair::FromSeed(seed)).value();
}

}  // namespace stemedb::testing
