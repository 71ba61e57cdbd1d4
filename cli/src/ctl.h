// edgecachectl: the admin CLI (CLI11). Commands inspect, list, stats, purge, warm and
// verify run against a running node's admin API (--node) or a store directory (--store);
// docs/cli.md is the reference and `edgecachectl COMMAND --help` says the same.
#pragma once

namespace edgecache::ctl {

// Parses the command line, runs the command, prints its result (tables, or JSON with
// --json) and returns the exit code (target.h: 0 ok, 1 not found, 2 usage, 3 node
// unreachable, 4 token refused, 5 store unavailable, 6 check failed, 7 other failure).
int Main(int argc, char** argv);

}  // namespace edgecache::ctl
