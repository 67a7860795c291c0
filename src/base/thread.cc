#include "stemedb/base/thread.h"

#include <pthread.h>

#include <algorithm>
#include <array>

namespace stemedb {

namespace {

constexpr std::size_t kMaxNameBytes = 15;  // the kernel's limit, without the terminating NUL

void Name(pthread_t thread, std::string_view name) noexcept {
  std::array<char, kMaxNameBytes + 1> buf{};
  std::copy_n(name.data(), std::min(name.size(), kMaxNameBytes), buf.data());
  (void)pthread_setname_np(thread, buf.data());
}

}  // namespace

unsigned CoreCount() noexcept {
  static const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  return cores;
}

void SetThreadName(std::string_view name) noexcept { Name(pthread_self(), name); }

void SetThreadName(std::thread& thread, std::string_view name) noexcept { Name(thread.native_handle(), name); }

}  // namespace stemedb
