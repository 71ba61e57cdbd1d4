// The life of one request, as an explicit state machine. Proxy::Run (proxy.cc) drives it
// from one loop; each state's work is a coroutine in the file named beside it; and which
// state comes next is decided here, by pure functions of what the last state found, so the
// transitions are tested on their own (tests/server/flow_test.cc).
//
//   kLookup ─┬─ kServeFresh ──────────────── a usable stored response (or a range inside a
//            │                               stored part): answered from the store
//            ├─ kServeWhileRevalidating ──── stale within stale-while-revalidate: answered
//            │                               from the store, refreshed in the background
//            ├─ kRefuse ──────────────────── only-if-cached and nothing the store can
//            │                               answer without the origin: 504
//            └─ kCollapse ─┬─ kFollow ────── another request is fetching the key: take its
//                          │                 response as it arrives, or kLookup again
//                          └─ (leading) ──── kRevalidate | kFetch | kCompletePart
//   kRevalidate | kFetch | kCompletePart | kPass ── the origin (upstream.cc) answers ──┐
//     ┌───────────────────────────────────────────────────────────────────────────────┘
//     ├─ kRefresh ────── 304 (or a matching 200 to HEAD): the stored response, updated
//     ├─ kServeStale ─── the origin failed and stale-if-error allows the stored response
//     ├─ kError ──────── 502 / 504
//     └─ kRelay ──────── the origin's response to the client, the store and followers
//                        (relay.cc)
//   Every state that answers from the store (serve.cc) falls back to kFetch (kRefuse
//   under only-if-cached) when the stored body turns out unreadable before a byte of it
//   was sent.
#pragma once

#include <string_view>

#include "policy/cache_policy.h"

namespace edgecache::proxy::flow {

enum class State {
  kLookup,
  kServeFresh,
  kServeWhileRevalidating,
  kRefuse,
  kCollapse,
  kRevalidate,
  kFetch,
  kCompletePart,
  kPass,
  kRefresh,
  kServeStale,
  kError,
  kRelay,
};

std::string_view StateName(State state);

// What a look-up found.
struct Found {
  bool stored = false;             // a response is stored for the request's variant
  policy::ServeDecision decision;  // whether it may answer the request (when stored)
  bool partial = false;            // it is a stored 206 part
  bool range_inside_part = false;  // the request asks only for bytes inside the part
  bool completable = false;        // a part from byte 0 with a strong validator
  bool within_swr = false;         // stale, but within its stale-while-revalidate window
  bool only_if_cached = false;     // the request has Cache-Control: only-if-cached
};

// kServeFresh, kServeWhileRevalidating, kRefuse or kCollapse.
State AfterLookup(const Found& found);

// What a request that leads a collapsed fetch does: kRevalidate, kFetch or kCompletePart.
State Lead(const Found& found);

// What the origin answered a fetch.
struct Answer {
  bool failed = false;          // no final response header: unreachable, reset, timeout
  bool bad_completion = false;  // a completion answered with another range than the rest
  unsigned status = 0;
  bool revalidating = false;       // the request carried a stored response's validators
  bool head_revalidation = false;  // ... and was a HEAD (RFC 9111 §4.3.5)
  bool head_matches = false;       // the 200 to that HEAD matches the stored response
  bool stale_if_error = false;     // the stored response may be served if the origin fails
};

// kRefresh, kServeStale, kError or kRelay.
State AfterOrigin(const Answer& answer);

}  // namespace edgecache::proxy::flow
