#include "stemedb/base/blake3.h"

#include <algorithm>

#include "stemedb/base/hex.h"

namespace stemedb {

Result<Hash> Hash::FromHex(std::string_view hex) {
  std::array<std::uint8_t, kSize> out{};
  STEMEDB_RETURN_IF_ERROR(stemedb::FromHex(hex, out));
  return Hash(out);
}

std::string Hash::ToHex() const { return stemedb::ToHex(bytes_); }

Blake3Hasher Blake3Hasher::Keyed(std::span<const std::uint8_t, BLAKE3_KEY_LEN> key) noexcept {
  Blake3Hasher h;
  blake3_hasher_init_keyed(&h.state_, key.data());
  return h;
}

Blake3Hasher Blake3Hasher::DeriveKey(std::string_view context) noexcept {
  Blake3Hasher h;
  blake3_hasher_init_derive_key_raw(&h.state_, context.data(), context.size());
  return h;
}

Hash Blake3Hasher::Finalize() const noexcept {
  std::array<std::uint8_t, Hash::kSize> out{};
  blake3_hasher_finalize(&state_, out.data(), out.size());
  return Hash(out);
}

void Blake3Hasher::FinalizeXof(std::span<std::uint8_t> out) const noexcept {
  blake3_hasher_finalize(&state_, out.data(), out.size());
}

Hash Blake3(std::span<const std::uint8_t> bytes) noexcept { return Blake3Hasher().Update(bytes).Finalize(); }
Hash Blake3(std::string_view text) noexcept { return Blake3Hasher().Update(text).Finalize(); }

}  // namespace stemedb
