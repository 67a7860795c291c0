#include "stemedb/model/types.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>

#include "stemedb/base/hex.h"

namespace stemedb {

Result<AssertionId> AssertionId::FromHex(std::string_view hex) {
  STEMEDB_ASSIGN_OR_RETURN(Hash hash, Hash::FromHex(hex));
  return AssertionId(hash);
}

Result<AgentId> AgentId::FromHex(std::string_view hex) {
  std::array<std::uint8_t, kSize> key{};
  STEMEDB_RETURN_IF_ERROR(stemedb::FromHex(hex, key));
  return AgentId(key);
}

std::string AgentId::ToHex() const { return stemedb::ToHex(key_); }

Result<PHash> PHash::FromHex(std::string_view hex) {
  std::array<std::uint8_t, 8> bytes{};
  STEMEDB_RETURN_IF_ERROR(stemedb::FromHex(hex, bytes));
  std::uint64_t v = 0;
  for (std::uint8_t b : bytes) v = (v << 8) | b;
  return PHash(v);
}

std::string PHash::ToHex() const { return fmt::format("{:016x}", value_); }

Timestamp Timestamp::Now() noexcept {
  using namespace std::chrono;
  return Timestamp(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

namespace {

// Reads exactly `digits` decimal digits at `pos`.
bool ReadDigits(std::string_view s, std::size_t& pos, int digits, int& out) {
  if (pos + static_cast<std::size_t>(digits) > s.size()) return false;
  out = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = s[pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += static_cast<std::size_t>(digits);
  return true;
}

bool Expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

Status BadTime(std::string_view text, std::string_view why) {
  return Status::InvalidArgument(fmt::format("invalid RFC 3339 timestamp '{}': {}", text, why));
}

}  // namespace

Result<Timestamp> Timestamp::FromRfc3339(std::string_view text) {
  using namespace std::chrono;
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, pos, 4, year) || !Expect(text, pos, '-') || !ReadDigits(text, pos, 2, month) ||
      !Expect(text, pos, '-') || !ReadDigits(text, pos, 2, day)) {
    return BadTime(text, "expected YYYY-MM-DD");
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
    return BadTime(text, "expected 'T' after the date");
  }
  ++pos;
  if (!ReadDigits(text, pos, 2, hour) || !Expect(text, pos, ':') || !ReadDigits(text, pos, 2, minute) ||
      !Expect(text, pos, ':') || !ReadDigits(text, pos, 2, second)) {
    return BadTime(text, "expected hh:mm:ss");
  }
  std::int64_t fraction_micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits == 6) return BadTime(text, "more than 6 fractional digits (microsecond precision)");
      fraction_micros = fraction_micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return BadTime(text, "empty fraction");
    for (int i = digits; i < 6; ++i) fraction_micros *= 10;
  }
  int offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!ReadDigits(text, pos, 2, oh) || !Expect(text, pos, ':') || !ReadDigits(text, pos, 2, om) || oh > 23 ||
        om > 59) {
      return BadTime(text, "bad UTC offset (expected +hh:mm)");
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return BadTime(text, "missing time zone ('Z' or +hh:mm)");
  }
  if (pos != text.size()) return BadTime(text, "trailing characters");
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (year < 1 || !ymd.ok()) return BadTime(text, "no such date");
  // A leap second (:60) is not representable in Unix time; refuse rather than shift it.
  if (hour > 23 || minute > 59 || second > 59) return BadTime(text, "time of day out of range");
  const std::int64_t days = sys_days(ymd).time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second -
                               static_cast<std::int64_t>(offset_minutes) * 60;
  Timestamp t(seconds * 1000000 + fraction_micros);
  if (!t.InRange()) return BadTime(text, "outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z in UTC");
  return t;
}

std::string Timestamp::ToRfc3339() const {
  using namespace std::chrono;
  const sys_time<microseconds> tp{microseconds{micros_}};
  const sys_days day_point = floor<days>(tp);
  const year_month_day ymd{day_point};
  const std::int64_t in_day = (tp - day_point).count();  // microseconds since midnight
  const std::int64_t secs = in_day / 1000000;
  std::int64_t frac = in_day % 1000000;
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), secs / 3600,
                                (secs / 60) % 60, secs % 60);
  if (frac != 0) {
    int digits = 6;
    while (frac % 10 == 0) {
      frac /= 10;
      --digits;
    }
    out += fmt::format(".{:0{}}", frac, digits);
  }
  out += 'Z';
  return out;
}

}  // namespace stemedb
