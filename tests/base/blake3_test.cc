// BLAKE3 is checked against two independent references: the official test vectors (when
// ../shared/data/blake3/test_vectors.json is present) and the b3sum command, a separate (Rust)
// implementation, over the official vectors' inputs in all three modes with extended output.
#include "stemedb/base/blake3.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <compare>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "stemedb/base/hex.h"

namespace stemedb {
namespace {

// The official vectors' key and context strings, and their input lengths.
constexpr std::string_view kVectorKey = "whats the Elvish word for friend";
constexpr std::string_view kVectorContext = "BLAKE3 2019-12-27 16:29:52 test vectors context";
constexpr std::size_t kVectorLengths[] = {0,    1,    2,    3,    4,    5,    6,    7,    8,     63,    64,    65,
                                          127,  128,  129,  1023, 1024, 1025, 2048, 2049, 3072,  3073,  4096,  4097,
                                          5120, 5121, 6144, 6145, 7168, 7169, 8192, 8193, 16384, 31744, 102400};
constexpr std::size_t kExtendedLength = 131;

// The vectors' input: byte i is i mod 251.
std::vector<std::uint8_t> VectorInput(std::size_t n) {
  std::vector<std::uint8_t> input(n);
  for (std::size_t i = 0; i < n; ++i) input[i] = static_cast<std::uint8_t>(i % 251);
  return input;
}

std::string Xof(const Blake3Hasher& hasher, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  hasher.FinalizeXof(out);
  return ToHex(out);
}

std::array<std::uint8_t, 32> VectorKey() {
  std::array<std::uint8_t, 32> key{};
  std::copy(kVectorKey.begin(), kVectorKey.end(), key.begin());
  return key;
}

// Runs a shell command and returns its standard output.
std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  EXPECT_EQ(::pclose(pipe), 0) << command;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

TEST(Blake3, EmptyInputKnownAnswer) {
  // BLAKE3("") is quoted in the BLAKE3 specification.
  EXPECT_EQ(Blake3(std::string_view{}).ToHex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

TEST(Blake3, IncrementalEqualsOneShot) {
  const auto input = VectorInput(10000);
  Blake3Hasher h;
  for (std::size_t i = 0; i < input.size(); i += 777) {
    h.Update(std::span<const std::uint8_t>(input).subspan(i, std::min<std::size_t>(777, input.size() - i)));
  }
  EXPECT_EQ(h.Finalize(), Blake3(input));
}

TEST(Blake3, AgreesWithB3sumOnOfficialInputsInAllModes) {
  if (std::system("command -v b3sum > /dev/null 2>&1") != 0) GTEST_FAIL() << "b3sum is not installed (make deps)";
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("stemedb-b3-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto key_file = dir / "key";
  std::ofstream(key_file, std::ios::binary) << kVectorKey;
  for (std::size_t n : kVectorLengths) {
    SCOPED_TRACE(n);
    const auto input = VectorInput(n);
    const auto file = dir / fmt::format("in{}", n);
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
    const std::string base = fmt::format("b3sum --no-names --length {} ", kExtendedLength);
    EXPECT_EQ(Xof(Blake3Hasher().Update(input), kExtendedLength), RunCommand(base + file.string()));
    EXPECT_EQ(Xof(Blake3Hasher::Keyed(VectorKey()).Update(input), kExtendedLength),
              RunCommand(base + "--keyed " + file.string() + " < " + key_file.string()));
    EXPECT_EQ(Xof(Blake3Hasher::DeriveKey(kVectorContext).Update(input), kExtendedLength),
              RunCommand(fmt::format("{}--derive-key '{}' {}", base, kVectorContext, file.string())));
    // The default 32-byte output is the prefix of the extended output.
    EXPECT_EQ(Blake3(input).ToHex(), Xof(Blake3Hasher().Update(input), kExtendedLength).substr(0, 64));
  }
  std::filesystem::remove_all(dir);
}

TEST(Blake3, OfficialTestVectorsFile) {
  const std::filesystem::path path = std::filesystem::path(STEMEDB_SHARED_DATA_DIR) / "blake3" / "test_vectors.json";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is not present; the b3sum cross-check above covers the same inputs";
  }
  std::ifstream in(path);
  const nlohmann::json vectors = nlohmann::json::parse(in);
  ASSERT_EQ(vectors.at("key").get<std::string>(), kVectorKey);
  ASSERT_EQ(vectors.at("context_string").get<std::string>(), kVectorContext);
  std::size_t checked = 0;
  for (const auto& c : vectors.at("cases")) {
    const auto n = c.at("input_len").get<std::size_t>();
    SCOPED_TRACE(n);
    const auto input = VectorInput(n);
    const auto expect = [&](const char* name, const Blake3Hasher& h) {
      const auto want = c.at(name).get<std::string>();
      EXPECT_EQ(Xof(h, want.size() / 2), want) << name;
    };
    expect("hash", Blake3Hasher().Update(input));
    expect("keyed_hash", Blake3Hasher::Keyed(VectorKey()).Update(input));
    expect("derive_key", Blake3Hasher::DeriveKey(kVectorContext).Update(input));
    ++checked;
  }
  EXPECT_GT(checked, 30U);
}

TEST(Hash, EqualityLooksAtEveryByte) {
  const Hash base = Blake3("equality");
  EXPECT_EQ(base, Hash(base.bytes()));
  for (std::size_t i = 0; i < Hash::kSize; ++i) {
    std::array<std::uint8_t, Hash::kSize> bytes = base.bytes();
    bytes[i] ^= 0x80;
    EXPECT_NE(Hash(bytes), base) << "byte " << i;
    EXPECT_NE(Hash(bytes) < base, base < Hash(bytes)) << "byte " << i;
  }
  static_assert(Hash() == Hash(), "equality is usable in constant expressions");
}

// The order is bytewise, first byte most significant, whatever the machine's word order: pairs
// that first differ at each position, by values that a signed or a little-endian compare would
// order the other way.
TEST(Hash, OrderIsBytewise) {
  const std::pair<std::uint8_t, std::uint8_t> differences[] = {{0x00, 0x01}, {0x7F, 0x80}, {0x01, 0xFF}, {0xFE, 0xFF}};
  for (std::size_t i = 0; i < Hash::kSize; ++i) {
    for (const auto& [low, high] : differences) {
      std::array<std::uint8_t, Hash::kSize> a = Blake3("order").bytes();
      std::array<std::uint8_t, Hash::kSize> b = a;
      a[i] = low;
      b[i] = high;
      // The later bytes pull the other way, so only byte i may decide.
      for (std::size_t j = i + 1; j < Hash::kSize; ++j) {
        a[j] = 0xFF;
        b[j] = 0x00;
      }
      EXPECT_TRUE(Hash(a) < Hash(b)) << "byte " << i;
      EXPECT_TRUE(Hash(b) > Hash(a)) << "byte " << i;
      EXPECT_EQ(Hash(a) <=> Hash(a), std::strong_ordering::equal);
      EXPECT_EQ(Hash(a) < Hash(b), std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()));
    }
  }
  static_assert(Hash() <=> Hash() == std::strong_ordering::equal, "order is usable in constant expressions");
}

}  // namespace
}  // namespace stemedb
