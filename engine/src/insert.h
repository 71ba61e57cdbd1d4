// Streaming inserts (InsertHandle's implementation, insert.cc). An insert writes its body
// into segments on its own and needs its store for two things only: its version, from the
// version clock, and publishing the finished entry (directly, or through the group commit
// when the body is one small record), or holding it on probation.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "edgecache/io_backend.h"
#include "edgecache/options.h"
#include "edgecache/store.h"
#include "group_commit.h"
#include "index/version_clock.h"
#include "io/inflight.h"
#include "publisher.h"
#include "segment/segment_manager.h"

namespace edgecache {

// What inserts use; owned by the store, which outlives every insert.
struct InsertParts {
  const StoreOptions& options;
  IoBackend& io;
  InflightIo& inflight;
  segment::SegmentManager& segments;
  boost::asio::thread_pool& workers;  // chunk writes and commits run here
  index::VersionClock& clock;
  Publisher& publisher;
  GroupCommit& group;  // small inserts' commits
  // Admission::kProbation's queue; null under Admission::kAll.
  cache::Probation* probation = nullptr;
};

// Starts an insert of a validated key. Its version is taken from the clock now and stays
// "in flight" until the insert commits or is abandoned (or, held on probation, until it is
// promoted or dropped). With `probation`, a body small enough for parts.probation is held
// there at commit instead of being written.
std::unique_ptr<InsertHandle> NewInsert(const InsertParts& parts, ObjectKey key, ObjectMeta meta,
                                        bool probation);

}  // namespace edgecache
