// The event loop asio runs on. A build fixes it for all its binaries (EDGECACHE_EVENT_LOOP):
// io_uring, where a pass of the loop submits every pending send and receive in one system
// call, or epoll, one call per send and receive (docs/performance.md). An io_uring build
// also makes each binary's twin on epoll, `edgecache-epoll` and `edgecachectl-epoll`, and
// a binary replaces itself with its twin where io_uring cannot be set up (a container whose
// seccomp profile refuses it, a kernel without it) or when `event_loop = "epoll"` asks.
//
// Thread safety: UseEventLoop is for main(), before any thread or io_context exists.
#pragma once

#include "edgecache/status.h"

namespace edgecache::util {

enum class EventLoop { kAuto, kIoUring, kEpoll };

// "io_uring" or "epoll": what this binary's asio runs on.
const char* BuiltEventLoop();

// OK when this process can set up the event loop it is built on (for io_uring, asio's own
// ring, made and closed at once); otherwise why not.
Status ProbeEventLoop();

// OK when this binary runs the loop `wanted` names (auto: io_uring where it can be set
// up, else epoll). Otherwise, from an io_uring build, replaces this process with
// `<program>-epoll` from this binary's directory, with the same arguments, and returns
// only when that fails; or says why this binary cannot run as asked.
Status UseEventLoop(EventLoop wanted, const char* program, char** argv);

}  // namespace edgecache::util
