// Reloading a node's configuration (SIGHUP, or POST /api/v1/reload).
//
// LiveConfig holds the configuration the node runs on; a reload replaces it whole. A request
// takes a snapshot when it starts and keeps it to its end, so requests in flight finish
// under the settings they began with and the next ones get the new settings.
//
// PlanReload says what a new configuration changes. Most keys apply live; the ones a
// running node cannot change (listeners, threads, the store) keep their running values and
// are listed, so the reload can say a restart is needed for them.
//
// Thread safety: LiveConfig's members may be called from any thread; PlanReload is a pure
// function.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace edgecache::config {

class LiveConfig {
 public:
  explicit LiveConfig(NodeConfig initial)
      : current_(std::make_shared<const NodeConfig>(std::move(initial))) {}
  std::shared_ptr<const NodeConfig> Get() const { return current_.load(); }
  void Set(std::shared_ptr<const NodeConfig> next) { current_.store(std::move(next)); }

 private:
  std::atomic<std::shared_ptr<const NodeConfig>> current_;
};

struct ReloadPlan {
  std::vector<std::string> applied;       // keys whose new values take effect now
  std::vector<std::string> need_restart;  // keys that differ but keep their running values
};

// What a reload did: status not OK (naming the key and the reason) when the new
// configuration could not be loaded, and then nothing changed.
struct ReloadResult {
  Status status;
  ReloadPlan plan;
};

// Compares `running` with `*next` key by key. Keys that cannot change live get their running
// values back in *next and are listed in need_restart; the others that differ in applied.
ReloadPlan PlanReload(const NodeConfig& running, NodeConfig* next);

}  // namespace edgecache::config
