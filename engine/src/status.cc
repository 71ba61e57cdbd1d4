#include "edgecache/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace edgecache {

Status& Status::operator=(const Status& other) {
  if (this != &other) {
    Checked();  // overwriting an unchecked error is a caller's decision, not a leak
    code_ = other.code_;
    message_ = other.message_;
    other.Checked();
#ifndef NDEBUG
    checked_ = false;
#endif
  }
  return *this;
}

Status& Status::operator=(Status&& other) noexcept {
  if (this != &other) {
    code_ = other.code_;
    message_ = std::move(other.message_);
    other.Checked();
#ifndef NDEBUG
    checked_ = false;
#endif
  }
  return *this;
}

Status::~Status() {
#ifndef NDEBUG
  // Only an error that nobody looked at is a bug: an unread OK is harmless.
  if (!checked_ && code_ != Code::kOk) {
    std::fprintf(stderr, "edgecache: unchecked error status destroyed: %s: %s\n",
                 std::string(CodeName(code_)).c_str(), message_.c_str());
    std::abort();
  }
#endif
}

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return NoSpace(msg);
  return IOError(msg);
}

std::string Status::ToString() const {
  Checked();
  if (code_ == Code::kOk) return "OK";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kNoSpace:
      return "NoSpace";
    case Status::Code::kBusy:
      return "Busy";
    case Status::Code::kAborted:
      return "Aborted";
    case Status::Code::kNotSupported:
      return "NotSupported";
    case Status::Code::kIncompatible:
      return "Incompatible";
  }
  return "Unknown";
}

}  // namespace edgecache
