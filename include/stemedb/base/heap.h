// What the process's memory allocator holds, for /metrics and the load test.
//
// The server is linked with jemalloc (CMake option STEMEDB_JEMALLOC, on by default outside
// sanitizer and fuzzing builds): RocksDB's block cache frees and allocates blocks of many sizes
// from many threads, and glibc's malloc keeps the freed memory in per-thread arenas — resident
// and growing — where jemalloc returns it to the system (docs/reliability.md, "Load", has the
// measurements). Thread-safety: safe to call from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace stemedb {

struct HeapStats {
  // "jemalloc", "glibc", or "sanitizer" (ASan and TSan allocate themselves and report nothing
  // here: both figures are 0).
  std::string_view allocator;
  std::uint64_t in_use_bytes = 0;  // allocated by the program and not freed
  std::uint64_t free_bytes = 0;    // resident, held by the allocator for reuse (fragmentation)
};

HeapStats ReadHeapStats() noexcept;

}  // namespace stemedb
