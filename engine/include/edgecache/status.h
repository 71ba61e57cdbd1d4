// Status: the result of every engine operation that can fail.
//
// The engine never throws across its public API; every fallible call returns a Status
// (or delivers one to a completion callback). A Status is a code plus a human-readable
// message naming what failed and why.
//
// In debug builds (!NDEBUG) an error Status that is destroyed without having been
// inspected (ok(), code(), ToString(), ...) aborts the process with its message, so an
// ignored error is caught by the tests instead of silently dropped. Call IgnoreError() where
// dropping a status is deliberate.
//
// Thread safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace edgecache {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,         // no such object / key
    kInvalidArgument,  // the caller passed something malformed
    kCorruption,       // on-disk data failed a checksum or format check
    kIOError,          // the operating system reported an I/O error
    kNoSpace,          // the disk (or the configured capacity) cannot take the write
    kBusy,             // the resource is held elsewhere (e.g. the store lock)
    kAborted,          // the operation was cancelled (abort, purge during insert, shutdown)
    kNotSupported,     // the requested feature or backend is unavailable here
    kIncompatible,     // the store was written by another format version
  };

  Status() noexcept = default;  // OK
  Status(const Status& other) : code_(other.code_), message_(other.message_) { other.Checked(); }
  Status(Status&& other) noexcept : code_(other.code_), message_(std::move(other.message_)) {
    other.Checked();
  }
  Status& operator=(const Status& other);
  Status& operator=(Status&& other) noexcept;
  ~Status();

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return {Code::kNotFound, msg}; }
  static Status InvalidArgument(std::string_view msg) { return {Code::kInvalidArgument, msg}; }
  static Status Corruption(std::string_view msg) { return {Code::kCorruption, msg}; }
  static Status IOError(std::string_view msg) { return {Code::kIOError, msg}; }
  // An I/O error from an errno value: ENOSPC/EDQUOT become kNoSpace, anything else kIOError.
  static Status FromErrno(int err, std::string_view context);
  static Status NoSpace(std::string_view msg) { return {Code::kNoSpace, msg}; }
  static Status Busy(std::string_view msg) { return {Code::kBusy, msg}; }
  static Status Aborted(std::string_view msg) { return {Code::kAborted, msg}; }
  static Status NotSupported(std::string_view msg) { return {Code::kNotSupported, msg}; }
  static Status Incompatible(std::string_view msg) { return {Code::kIncompatible, msg}; }

  bool ok() const { return Checked(), code_ == Code::kOk; }
  Code code() const { return Checked(), code_; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsNoSpace() const { return code() == Code::kNoSpace; }
  bool IsAborted() const { return code() == Code::kAborted; }
  const std::string& message() const { return Checked(), message_; }
  // "NotFound: <message>", or "OK".
  std::string ToString() const;
  // Marks the status as inspected without looking at it.
  void IgnoreError() const { Checked(); }

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}
  void Checked() const {
#ifndef NDEBUG
    checked_ = true;
#endif
  }

  Code code_ = Code::kOk;
  std::string message_;
#ifndef NDEBUG
  mutable bool checked_ = false;
#endif
};

std::string_view CodeName(Status::Code code);

}  // namespace edgecache
