// ChildProcess: runs a real binary (edgecache, origin-sim) for integration tests, reads its
// stdout line by line, and stops it (SIGTERM, then SIGKILL after a bounded wait) when the
// test ends, so no server outlives its test. ThreadNames, ThreadNiceValues, ThreadPolicies
// and ThreadSlices: what `top -H` and /proc show of a process's threads.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace edgecache::testing {

class ChildProcess {
 public:
  // With merge_stderr, the child's stderr goes to the same pipe as its stdout.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               bool merge_stderr = false) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> argv_storage{binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) throw std::runtime_error("cannot start " + binary + ": " + std::strerror(rc));
  }
  ~ChildProcess() {
    Stop();
    if (out_ >= 0) ::close(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next stdout line that starts with `prefix`, or "" after `timeout`.
  std::string WaitForLine(const std::string& prefix,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t nl;
      while ((nl = pending_.find('\n')) != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof(buf));
      if (n <= 0) return "";
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // Everything the child writes to stdout until it closes it (usually: exits), or until
  // `timeout`.
  std::string ReadAll(std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out = std::move(pending_);
    pending_.clear();
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof(buf));
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  // The port in a "...listening on ADDRESS:PORT" style line.
  uint16_t WaitForPort(const std::string& prefix) {
    std::string line = WaitForLine(prefix);
    size_t colon = line.rfind(':');
    if (line.empty() || colon == std::string::npos) return 0;
    return static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }

  // Sends SIGTERM and waits up to `grace` for the exit; SIGKILL after. Returns the wait status.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(15)) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    return Wait(grace);
  }

  int Wait(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return status_;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = 0;
  std::string pending_;
};

// Calls visit(task directory, thread name) for each thread of process `pid` ("self": this
// one), the name from /proc/PID/task/*/comm ("" for a thread that ended meanwhile).
template <typename Visit>
void ForEachThread(const std::string& pid, const Visit& visit) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task")) {
    std::ifstream in(task.path() / "comm");
    std::string name;
    std::getline(in, name);
    visit(task.path(), name);
  }
}

// The names of the threads of process `pid`.
inline std::multiset<std::string> ThreadNames(const std::string& pid) {
  std::multiset<std::string> names;
  ForEachThread(pid,
                [&](const std::filesystem::path&, const std::string& name) { names.insert(name); });
  return names;
}

// Field `number` (proc(5), counted from 1; at least 3) of /proc/PID/task/*/stat for
// process `pid`'s threads named `name`, as integers.
inline std::vector<int> ThreadStatFields(const std::string& pid, const std::string& name,
                                         int number) {
  std::vector<int> values;
  ForEachThread(pid, [&](const std::filesystem::path& task, const std::string& thread) {
    if (thread != name) return;
    std::ifstream stat(task / "stat");
    std::string line;
    if (!std::getline(stat, line)) return;  // the thread ended meanwhile
    // After "PID (comm) " comes field 3 (the state).
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= number; ++i) fields >> field;  // stops at field `number`
    values.push_back(std::stoi(field));
  });
  return values;
}

// The nice values (field 19) of process `pid`'s threads named `name`.
inline std::vector<int> ThreadNiceValues(const std::string& pid, const std::string& name) {
  return ThreadStatFields(pid, name, 19);
}

// The scheduling policies (SCHED_OTHER, SCHED_IDLE …; field 41) of process `pid`'s threads
// named `name`.
inline std::vector<int> ThreadPolicies(const std::string& pid, const std::string& name) {
  return ThreadStatFields(pid, name, 41);
}

// The scheduler slices (ns, "se.slice" in /proc/PID/task/*/sched) of process `pid`'s
// threads named `name`.
inline std::vector<uint64_t> ThreadSlices(const std::string& pid, const std::string& name) {
  std::vector<uint64_t> values;
  ForEachThread(pid, [&](const std::filesystem::path& task, const std::string& thread) {
    if (thread != name) return;
    std::ifstream sched(task / "sched");
    for (std::string line; std::getline(sched, line);) {
      if (line.starts_with("se.slice")) {
        values.push_back(std::stoull(line.substr(line.find(':') + 1)));
        return;
      }
    }
  });
  return values;
}

// Whether this kernel lets a thread ask for its own scheduler slice (Linux 6.12).
inline bool KernelHasCustomSlices() {
  utsname u{};
  int major = 0, minor = 0;
  return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
         (major > 6 || (major == 6 && minor >= 12));
}

}  // namespace edgecache::testing
