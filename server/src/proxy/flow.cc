#include "proxy/flow.h"

namespace edgecache::proxy::flow {

std::string_view StateName(State state) {
  switch (state) {
    case State::kLookup:
      return "lookup";
    case State::kServeFresh:
      return "serve fresh";
    case State::kServeWhileRevalidating:
      return "serve while revalidating";
    case State::kRefuse:
      return "refuse";
    case State::kCollapse:
      return "collapse";
    case State::kRevalidate:
      return "revalidate";
    case State::kFetch:
      return "fetch";
    case State::kCompletePart:
      return "complete part";
    case State::kPass:
      return "pass";
    case State::kRefresh:
      return "refresh";
    case State::kServeStale:
      return "serve stale";
    case State::kError:
      return "error";
    case State::kRelay:
      return "relay";
  }
  return "?";
}

State AfterLookup(const Found& found) {
  if (!found.stored) return found.only_if_cached ? State::kRefuse : State::kCollapse;
  // Whatever the store cannot answer needs the origin, which an only-if-cached request
  // forbids (RFC 9111 §5.2.1.7): a stored response that must be revalidated is refused too.
  const State needs_origin = found.only_if_cached ? State::kRefuse : State::kCollapse;
  if (found.partial) {
    // A range wholly inside a usable stored part is answered from it (RFC 9111 §3.3).
    return found.decision.usable && found.range_inside_part ? State::kServeFresh : needs_origin;
  }
  if (found.decision.usable) return State::kServeFresh;
  if (found.decision.reason == policy::ServeDecision::Reason::kStale && found.within_swr) {
    return State::kServeWhileRevalidating;  // RFC 5861
  }
  return needs_origin;
}

State Lead(const Found& found) {
  if (!found.stored) return State::kFetch;
  if (found.partial) {
    // A fresh stored prefix is completed by asking for the rest only (§3.4); any other
    // part is fetched again like a miss, and what comes back replaces it.
    return found.decision.usable && found.completable ? State::kCompletePart : State::kFetch;
  }
  return State::kRevalidate;
}

State AfterOrigin(const Answer& answer) {
  if (answer.failed) return answer.stale_if_error ? State::kServeStale : State::kError;
  if (answer.bad_completion) return State::kError;
  if (answer.revalidating && answer.status == 304) return State::kRefresh;
  if (answer.head_revalidation && answer.status == 200 && answer.head_matches) {
    return State::kRefresh;
  }
  if (answer.revalidating && answer.status >= 500 && answer.stale_if_error) {
    return State::kServeStale;
  }
  return State::kRelay;
}

}  // namespace edgecache::proxy::flow
