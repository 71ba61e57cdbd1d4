// The request state machine's transitions (proxy/flow.h) on their own: what follows a
// look-up, what a request that leads a collapsed fetch does, and what follows the
// origin's answer. Each case is the rule it encodes, from RFC 9111 / RFC 5861.
#include "proxy/flow.h"

#include <gtest/gtest.h>

namespace edgecache::proxy::flow {
namespace {

using Reason = policy::ServeDecision::Reason;

Found Stored(bool usable, Reason reason = Reason::kUsable) {
  Found f;
  f.stored = true;
  f.decision.usable = usable;
  f.decision.reason = usable ? Reason::kUsable : reason;
  return f;
}

TEST(FlowTest, NothingStoredIsFetchedUnlessOnlyIfCached) {
  Found miss;
  EXPECT_EQ(AfterLookup(miss), State::kCollapse);
  EXPECT_EQ(Lead(miss), State::kFetch);
  miss.only_if_cached = true;  // RFC 9111 §5.2.1.7
  EXPECT_EQ(AfterLookup(miss), State::kRefuse);
}

TEST(FlowTest, OnlyIfCachedRefusesWhatOnlyTheOriginCouldAnswer) {
  // RFC 9111 §5.2.1.7: "respond with either a stored response consistent with the other
  // constraints of the request or a 504 (Gateway Timeout)".
  for (Reason r : {Reason::kStale, Reason::kNoCache, Reason::kRequestMaxAge}) {
    Found f = Stored(false, r);
    f.only_if_cached = true;
    EXPECT_EQ(AfterLookup(f), State::kRefuse) << static_cast<int>(r);
  }
  Found fresh = Stored(true);
  fresh.only_if_cached = true;
  EXPECT_EQ(AfterLookup(fresh), State::kServeFresh);
  Found part = Stored(true);
  part.partial = true;
  part.only_if_cached = true;
  EXPECT_EQ(AfterLookup(part), State::kRefuse);  // the range lies outside the stored part
  part.range_inside_part = true;
  EXPECT_EQ(AfterLookup(part), State::kServeFresh);
}

TEST(FlowTest, AUsableStoredResponseIsServedAndAnUnusableOneRevalidated) {
  EXPECT_EQ(AfterLookup(Stored(true)), State::kServeFresh);
  for (Reason r : {Reason::kStale, Reason::kPurged, Reason::kNoCache, Reason::kRequestNoCache,
                   Reason::kRequestMaxAge, Reason::kRequestMinFresh}) {
    const Found f = Stored(false, r);
    EXPECT_EQ(AfterLookup(f), State::kCollapse) << static_cast<int>(r);
    EXPECT_EQ(Lead(f), State::kRevalidate) << static_cast<int>(r);
  }
}

TEST(FlowTest, StaleWhileRevalidateServesOnlyWhatIsMerelyStale) {
  Found f = Stored(false, Reason::kStale);
  f.within_swr = true;
  EXPECT_EQ(AfterLookup(f), State::kServeWhileRevalidating);
  // A client's no-cache, or a purge, is never answered from the store unrevalidated.
  for (Reason r : {Reason::kPurged, Reason::kNoCache, Reason::kRequestNoCache}) {
    Found g = Stored(false, r);
    g.within_swr = true;
    EXPECT_EQ(AfterLookup(g), State::kCollapse) << static_cast<int>(r);
  }
}

TEST(FlowTest, AStoredPartAnswersRangesInsideItAndIsCompletedOrReplaced) {
  Found part = Stored(true);
  part.partial = true;
  EXPECT_EQ(AfterLookup(part), State::kCollapse);  // the whole, or a range outside it
  EXPECT_EQ(Lead(part), State::kFetch);            // no strong validator: fetched again
  part.completable = true;
  EXPECT_EQ(Lead(part), State::kCompletePart);  // RFC 9111 §3.4
  part.range_inside_part = true;
  EXPECT_EQ(AfterLookup(part), State::kServeFresh);  // RFC 9111 §3.3
  // A stale part is never completed or served: fetched again like a miss.
  Found stale = part;
  stale.decision.usable = false;
  stale.decision.reason = Reason::kStale;
  stale.within_swr = true;
  EXPECT_EQ(AfterLookup(stale), State::kCollapse);
  EXPECT_EQ(Lead(stale), State::kFetch);
}

TEST(FlowTest, TheOriginsAnswerDecidesWhatTheClientGets) {
  Answer a;
  a.status = 200;
  EXPECT_EQ(AfterOrigin(a), State::kRelay);
  a.failed = true;
  EXPECT_EQ(AfterOrigin(a), State::kError);
  a.stale_if_error = true;  // RFC 5861 §4
  EXPECT_EQ(AfterOrigin(a), State::kServeStale);

  Answer reval;
  reval.revalidating = true;
  reval.status = 304;  // RFC 9111 §4.3.3
  EXPECT_EQ(AfterOrigin(reval), State::kRefresh);
  reval.status = 200;  // a new representation replaces the stored one
  EXPECT_EQ(AfterOrigin(reval), State::kRelay);
  reval.status = 503;
  EXPECT_EQ(AfterOrigin(reval), State::kRelay);
  reval.stale_if_error = true;
  EXPECT_EQ(AfterOrigin(reval), State::kServeStale);

  Answer head;  // RFC 9111 §4.3.5
  head.revalidating = head.head_revalidation = true;
  head.status = 200;
  EXPECT_EQ(AfterOrigin(head), State::kRelay);
  head.head_matches = true;
  EXPECT_EQ(AfterOrigin(head), State::kRefresh);

  Answer completion;
  completion.status = 206;
  completion.bad_completion = true;
  EXPECT_EQ(AfterOrigin(completion), State::kError);
  // A 304 the request did not ask for (no stored response) is relayed as it is.
  Answer unasked;
  unasked.status = 304;
  EXPECT_EQ(AfterOrigin(unasked), State::kRelay);
}

TEST(FlowTest, EveryStateHasAName) {
  for (int s = static_cast<int>(State::kLookup); s <= static_cast<int>(State::kRelay); ++s) {
    EXPECT_NE(StateName(static_cast<State>(s)), "?");
  }
}

}  // namespace
}  // namespace edgecache::proxy::flow
