// Runs a child program, lets it work for a while, kills it with SIGKILL and returns everything it
// wrote on stdout. The crash tests use it: the child reports what was acknowledged, line by line,
// and the parent checks that all of it survived the kill.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace stemedb::testing {

inline std::string RunChildAndKill(const std::string& binary, const std::vector<std::string>& args,
                                   std::chrono::milliseconds run_for) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe";
    return {};
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string data;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + run_for;
  bool killed = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && now >= deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int wait_ms =
        killed ? 1000 : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (::poll(&p, 1, std::max(0, wait_ms)) > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;  // the child is gone and the pipe is drained
      data.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << binary << " exited on its own with status " << WEXITSTATUS(status);
  return data;
}

}  // namespace stemedb::testing
