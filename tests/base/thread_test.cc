#include "stemedb/base/thread.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <string>
#include <thread>

namespace stemedb {
namespace {

std::string CommOfThisThread() {
  std::ifstream in("/proc/thread-self/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(CoreCount, IsTheHardwareConcurrencyAndAtLeastOne) {
  EXPECT_EQ(CoreCount(), std::max(1U, std::thread::hardware_concurrency()));
  EXPECT_EQ(CoreCount(), CoreCount());
}

TEST(ThreadName, NamesTheCallingThreadAndCutsLongNamesAt15Bytes) {
  std::string named, cut;
  std::thread([&] {
    SetThreadName("stemedb-test");
    named = CommOfThisThread();
    SetThreadName("stemedb-a-name-far-too-long");
    cut = CommOfThisThread();
  }).join();
  EXPECT_EQ(named, "stemedb-test");
  EXPECT_EQ(cut, "stemedb-a-name-");
}

TEST(ThreadName, NamesAnotherThreadBeforeItLooks) {
  std::promise<void> named;
  std::future<void> go = named.get_future();
  std::string seen;
  std::thread t([&] {
    go.wait();
    seen = CommOfThisThread();
  });
  SetThreadName(t, "stemedb-other");
  named.set_value();
  t.join();
  EXPECT_EQ(seen, "stemedb-other");
}

}  // namespace
}  // namespace stemedb
