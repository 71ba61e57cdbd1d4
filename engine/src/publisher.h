// Publisher: the store's side of an insert, making fully written bodies visible (or
// holding them on probation).
//
// Thread safety: implementations are called concurrently, PublishAll from the store's
// worker threads, HoldOnProbation from the threads that commit.
#pragma once

#include <vector>

#include "cache/probation.h"
#include "edgecache/object.h"
#include "edgecache/status.h"

namespace edgecache {

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Checks, for each entry, that no purge or reclaim overtook its body, then writes the
  // entries that pass in as few index write batches as their keys allow (one when they are
  // all distinct). (*results)[i] is the outcome of (*infos)[i].
  virtual void PublishAll(std::vector<ObjectInfo>* infos, std::vector<Status>* results) = 0;

  // Holds a committed object on probation (cache/probation.h) instead of publishing it,
  // after the checks a publish makes: Aborted when a purge since its insert began removes
  // it.
  virtual Status HoldOnProbation(cache::Probation::Item item) = 0;

  Status Publish(ObjectInfo info) {
    std::vector<ObjectInfo> one;
    one.push_back(std::move(info));
    std::vector<Status> result;
    PublishAll(&one, &result);
    return std::move(result.front());
  }
};

}  // namespace edgecache
