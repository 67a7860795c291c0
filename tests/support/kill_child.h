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

// A child that says `ready_line` (on a line of its own, before anything else) once it is set up
// has that line left out of what is returned. Unless `from_start`, `run_for` starts once it has
// said it, not when it was started: opening a database under a sanitizer on a busy machine takes
// longer than a run, so a kill timed from the start would often find nothing acknowledged.
inline std::string RunChildAndKill(const std::string& binary, const std::vector<std::string>& args,
                                   std::chrono::milliseconds run_for, const std::string& ready_line = "",
                                   bool from_start = false) {
  ChildProcess child(binary, args, /*stderr_path=*/"");
  if (!ready_line.empty() && !from_start) {
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
  if (!ready_line.empty() && from_start && data.starts_with(ready_line + "\n")) data.erase(0, ready_line.size() + 1);
  return data;
}

}  // namespace stemedb::testing
