// RunCtl: runs the real edgecachectl binary to its exit and keeps what it printed.
// REQUIRES: EDGECACHECTL_BIN defined as the binary's path.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"

namespace edgecache::testing {

struct CtlRun {
  int exit = -1;
  std::string out;  // stdout, and stderr unless the run asked for --json
  boost::json::object Json() const {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(out, ec);
    EXPECT_FALSE(ec) << out;
    return ec || !v.is_object() ? boost::json::object{} : v.as_object();
  }
};

inline CtlRun RunCtl(const std::vector<std::string>& args) {
  const bool json_out = std::find(args.begin(), args.end(), "--json") != args.end();
  ChildProcess ctl(EDGECACHECTL_BIN, args, /*merge_stderr=*/!json_out);
  CtlRun run;
  run.out = ctl.ReadAll();
  const int status = ctl.Wait(std::chrono::seconds(60));
  run.exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace edgecache::testing
