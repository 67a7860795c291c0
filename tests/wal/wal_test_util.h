#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "stemedb/wal/wal.h"

namespace stemedb::wal::testing {

// A deterministic payload for `key`: its length varies from 0 to ~600 bytes and its bytes depend
// on the key, so a record read back can be checked against what was appended.
inline std::vector<std::uint8_t> Payload(std::uint64_t key, std::size_t max_len = 600) {
  std::uint64_t x = key * 0x9E3779B97F4A7C15ULL + 1;
  const std::size_t len = static_cast<std::size_t>(x % (max_len + 1));
  std::vector<std::uint8_t> out(len);
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::uint8_t>(x);
  }
  return out;
}

// Every visible record from position `from`, as (position, payload).
inline std::vector<std::pair<LogPosition, std::vector<std::uint8_t>>> ReadAll(const Wal& wal, LogPosition from = 1) {
  std::vector<std::pair<LogPosition, std::vector<std::uint8_t>>> out;
  auto reader = wal.NewReader(from);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  for (;;) {
    auto record = (*reader)->Next();
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    if (!record.ok() || !*record) break;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>((*record)->payload.data()) % 8, 0U) << "payload not 8-byte aligned";
    out.emplace_back((*record)->position,
                     std::vector<std::uint8_t>((*record)->payload.begin(), (*record)->payload.end()));
  }
  return out;
}

}  // namespace stemedb::wal::testing
