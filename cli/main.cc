// edgecachectl: the admin CLI. A thin main over cli/src (ctl.h).
#include <cstdio>

#include "ctl.h"
#include "util/event_loop.h"

int main(int argc, char** argv) {
  // Before any io_context: this may become edgecachectl-epoll (util/event_loop.h).
  edgecache::Status s =
      edgecache::util::UseEventLoop(edgecache::util::EventLoop::kAuto, "edgecachectl", argv);
  if (!s.ok()) {
    std::fprintf(stderr, "edgecachectl: %s\n", s.ToString().c_str());
    return 1;
  }
  return edgecache::ctl::Main(argc, argv);
}
