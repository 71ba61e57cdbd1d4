// `edgecachectl top`: a live view of a node, refreshed every interval, like varnishstat or
// htop: rates between two reads of /api/v1/stats, and /api/v1/top's URLs. `q` (or
// Ctrl-C) quits and gives the terminal back as it was.
//
// Thread safety: runs on the calling thread; one at a time (it owns the terminal).
#pragma once

#include "target.h"

namespace edgecache::ctl {

struct TopOptions {
  double interval_seconds = 1;
  size_t urls = 10;   // top URLs shown
  bool once = false;  // one frame (two reads one interval apart), plain text, then exit
};

// Returns the exit code: kOk, or the target's error.
int RunTop(Target& target, const std::string& node, const TopOptions& options);

}  // namespace edgecache::ctl
