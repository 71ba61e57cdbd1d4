#include "top.h"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "render.h"

namespace edgecache::ctl {
namespace {

volatile sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

// Keys read one at a time without echo while top runs; the terminal as it was afterwards.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG stays: Ctrl-C works
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    std::fputs("\033[?1049h\033[?25l", stdout);  // the alternate screen, no cursor
  }
  ~RawTerminal() {
    if (!active_) return;
    std::fputs("\033[?25h\033[?1049l", stdout);
    std::fflush(stdout);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  // Waits up to `ms` for a key; true when it asks to quit.
  bool WaitForQuit(int ms) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&p, 1, ms);  // EINTR on Ctrl-C
    if (interrupted) return true;
    if (ready == 1 && (p.revents & POLLIN)) {
      char key = 0;
      const ssize_t n = ::read(STDIN_FILENO, &key, 1);
      if (n == 0 && !active_) return false;  // stdin at its end: not a terminal
      if (n == 1 && (key == 'q' || key == 'Q')) return true;
    }
    return false;
  }

 private:
  termios saved_{};
  bool active_ = false;
};

std::string Clock() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return buf;
}

}  // namespace

int RunTop(Target& target, const std::string& node, const TopOptions& options) {
  using Clock_ = std::chrono::steady_clock;
  const int interval_ms = static_cast<int>(options.interval_seconds * 1000);
  Result before = target.Stats();
  if (!before.ok())
    return (std::fprintf(stderr, "edgecachectl: %s\n", before.error.c_str()), before.exit);
  auto taken = Clock_::now();
  auto frame = [&](std::string* out) -> int {
    Result after = target.Stats();
    if (!after.ok()) {
      *out = after.error;
      return after.exit;
    }
    const auto now = Clock_::now();
    Result top = target.Top(options.urls);
    if (!top.ok()) {
      *out = top.error;
      return top.exit;
    }
    const double seconds = std::chrono::duration<double>(now - taken).count();
    *out = "edgecache top   " + node + "   " + Clock() + "   (every " +
           std::to_string(interval_ms) + " ms" + (options.once ? "" : "; q quits") + ")\n\n" +
           RenderTop(before.doc, after.doc, seconds, top.doc);
    before = std::move(after);
    taken = now;
    return kOk;
  };

  std::string text;
  if (options.once) {
    ::usleep(static_cast<useconds_t>(interval_ms) * 1000);
    const int rc = frame(&text);
    if (rc != kOk) return (std::fprintf(stderr, "edgecachectl: %s\n", text.c_str()), rc);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kOk;
  }
  struct sigaction action {};
  action.sa_handler = OnInterrupt;  // no SA_RESTART: poll returns at once
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  int rc = kOk;
  {
    RawTerminal terminal;
    while (!terminal.WaitForQuit(interval_ms)) {
      rc = frame(&text);
      if (rc != kOk) break;
      std::fputs("\033[H\033[2J", stdout);  // home, clear
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
  }
  if (rc != kOk) std::fprintf(stderr, "edgecachectl: %s\n", text.c_str());
  return rc;
}

}  // namespace edgecache::ctl
