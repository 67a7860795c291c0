// Runs a child program, lets it work for a while, kills it with SIGKILL and returns everything it
// wrote on stdout. The crash tests use it: the child reports what was acknowledged, line by line,
// and the parent checks that all of it survived the kill.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace stemedb::testing {

// With `ready_line`, `run_for` starts once the child has written that line (which is not
// returned), not when it was started: opening a database under a sanitizer on a busy machine
// takes longer than a run, so a kill timed from the start would often find nothing acknowledged.
inline std::string RunChildAndKill(const std::string& binary, const std::vector<std::string>& args,
                                   std::chrono::milliseconds run_for, const std::string& ready_line = "") {
  ChildProcess child(binary, args, /*stderr_path=*/"");
  if (!ready_line.empty()) {
    const auto line = child.ReadLine(std::chrono::minutes(2));
    EXPECT_EQ(line.value_or("(nothing)"), ready_line) << binary << " did not say it was ready";
  }
  std::string data = child.ReadFor(run_for);
  child.Signal(SIGKILL);
  // What it wrote before it died is still in the pipe.
  data += child.ReadFor(std::chrono::seconds(10));
  const int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << binary << " exited on its own with status " << WEXITSTATUS(status);
  return data;
}

}  // namespace stemedb::testing
