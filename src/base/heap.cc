#include "stemedb/base/heap.h"

#ifdef STEMEDB_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

namespace stemedb {

// GCC says so with __SANITIZE_*__, clang with __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STEMEDB_SANITIZED_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STEMEDB_SANITIZED_HEAP 1
#endif
#endif

#ifdef STEMEDB_SANITIZED_HEAP

HeapStats ReadHeapStats() noexcept { return {"sanitizer", 0, 0}; }

#elif defined(STEMEDB_WITH_JEMALLOC)

HeapStats ReadHeapStats() noexcept {
  // jemalloc's statistics are a snapshot taken when the epoch advances.
  std::uint64_t epoch = 1;
  std::size_t size = sizeof(epoch);
  mallctl("epoch", &epoch, &size, &epoch, size);
  std::size_t allocated = 0, resident = 0;
  size = sizeof(std::size_t);
  mallctl("stats.allocated", &allocated, &size, nullptr, 0);
  mallctl("stats.resident", &resident, &size, nullptr, 0);
  return {"jemalloc", allocated, resident > allocated ? resident - allocated : 0};
}

#else

HeapStats ReadHeapStats() noexcept {
  const struct mallinfo2 info = ::mallinfo2();  // summed over every arena
  return {"glibc", info.uordblks + info.hblkhd, info.fordblks};
}

#endif

}  // namespace stemedb
