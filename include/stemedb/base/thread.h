// Threads: how many cores there are to spread work over, and names for StemeDB's threads, so that
// `top -H`, `perf` and debuggers tell them apart (stemedb-wal, stemedb-ingest, stemedb-verify)
// from each other and from RocksDB's.
#pragma once

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace stemedb {

// The number of cores (std::thread::hardware_concurrency, at least 1), read once per process: glibc
// answers each call by opening and reading /sys/devices/system/cpu/online, three system calls that
// a Submit of one claim paid every time. Thread-safe.
unsigned CoreCount() noexcept;

// Names the calling thread. Linux keeps at most 15 bytes of a name: a longer one is cut there.
// Naming is a diagnostic aid: a failure is ignored.
void SetThreadName(std::string_view name) noexcept;
// Names `thread` (joinable), e.g. right after starting it, so that it has its name before it runs.
void SetThreadName(std::thread& thread, std::string_view name) noexcept;

// Starts `body` on a new thread that first names itself `name`: for short-lived helpers.
template <typename Body>
std::jthread StartNamedThread(std::string_view name, Body&& body) {
  return std::jthread([name = std::string(name), body = std::forward<Body>(body)]() mutable {
    SetThreadName(name);
    body();
  });
}

}  // namespace stemedb
