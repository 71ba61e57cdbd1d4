// NodeFixture: an origin-sim and an edgecache node on free loopback ports, each a real
// binary started for the test and stopped with it; the store in a temp directory.
// REQUIRES: EDGECACHE_BIN and ORIGIN_SIM_BIN defined as the binaries' paths.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace edgecache::testing {

class NodeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    StartOrigin();
    StartNode();
  }
  void StartOrigin() {
    origin_ = std::make_unique<ChildProcess>(ORIGIN_SIM_BIN,
                                             std::vector<std::string>{"--listen", "127.0.0.1:0"});
    origin_port_ = origin_->WaitForPort("origin-sim: listening on");
    ASSERT_NE(origin_port_, 0) << "origin-sim did not start";
  }

  // `admin`: the admin listener, ADDRESS:PORT or unix:/PATH (admin_port_ is set for TCP).
  void StartNode(std::vector<std::string> extra = {}, bool default_origin = true,
                 const std::string& admin = "127.0.0.1:0") {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0",     "--admin",     admin,
                                     "--store",  dir_.Sub("store"), "--log-level", "error"};
    // Two network threads unless the test asks for another number.
    if (std::find(extra.begin(), extra.end(), "--threads") == extra.end()) {
      args.push_back("--threads");
      args.push_back("2");
    }
    if (default_origin) {
      args.push_back("--origin");
      args.push_back(OriginUrl());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    if (node_wrapper_.empty()) {
      node_ = std::make_unique<ChildProcess>(EDGECACHE_BIN, args);
    } else {
      args.insert(args.begin(), EDGECACHE_BIN);
      node_ = std::make_unique<ChildProcess>(node_wrapper_, args);
    }
    port_ = node_->WaitForPort("edgecache: listening on");
    if (!admin.starts_with("unix:")) admin_port_ = node_->WaitForPort("edgecache: admin on");
    ASSERT_NE(port_, 0) << "edgecache did not start";
  }

  std::string OriginUrl() const { return "http://127.0.0.1:" + std::to_string(origin_port_); }

  HttpResponse Get(const std::string& target,
                   const std::map<std::string, std::string>& headers = {}) {
    return Fetch(port_, "GET", target, headers);
  }

  // The node's store counters, from the admin API (docs/admin-api.md, "Stats").
  boost::json::object StoreStats() {
    HttpResponse r = Fetch(admin_port_, "GET", "/api/v1/stats");
    return boost::json::parse(r.body).as_object().at("store").as_object();
  }

  int64_t OriginCount(const std::string& path, const char* what = "requests") {
    HttpResponse r = Fetch(origin_port_, "GET", "/__stats?path=" + path);
    return boost::json::parse(r.body).as_object().at(what).as_int64();
  }

  TempDir dir_;
  std::string node_wrapper_;  // a program StartNode runs the node through, if any
  std::unique_ptr<ChildProcess> origin_;
  std::unique_ptr<ChildProcess> node_;
  uint16_t origin_port_ = 0, port_ = 0, admin_port_ = 0;
};

}  // namespace edgecache::testing
