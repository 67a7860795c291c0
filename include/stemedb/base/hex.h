// Lower-case hexadecimal encoding of byte strings.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stemedb/base/status.h"

namespace stemedb {

// Lower-case hex of `bytes`, two characters per byte.
std::string ToHex(std::span<const std::uint8_t> bytes);

// Decodes exactly out.size() bytes from `hex` (upper or lower case).
// Errors: InvalidArgument when the length is not 2 × out.size() or a character is not hex.
Status FromHex(std::string_view hex, std::span<std::uint8_t> out);

}  // namespace stemedb
