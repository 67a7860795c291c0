// Status and Result<T>: errors as values.
//
// Every fallible StemeDB call returns a Status or a Result<T>. A Status carries a code, a message
// naming the cause, an optional field (the input field at fault, for validation errors) and a
// chain of context strings added by each caller on the way up ("open WAL segment 000042: ...").
// Nothing in StemeDB throws across a module boundary; third-party code that throws is wrapped at
// the edge and its exception mapped to a code.
//
// Thread-safety: Status and Result are values; distinct objects may be used from distinct
// threads freely, a shared one only for reading.
//
// Cost: an OK Status is one null pointer, so making, moving and dropping one is free; hot paths
// return one per record or per index entry. An error allocates its details once.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace stemedb {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed or out of bounds
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // a create would overwrite something that exists
  kCorruption,          // bytes read back (disk, record) are not what was written
  kIoError,             // the operating system refused or failed an I/O call
  kPermissionDenied,    // e.g. a secret key file readable by others
  kFailedPrecondition,  // the object is in a state that forbids the call (e.g. WAL after fsync error)
  kResourceExhausted,   // a limit was hit (disk full, size limit)
  kUnavailable,         // shutting down or not yet open
  kInternal,            // a bug: an invariant of StemeDB itself did not hold
};

// Returns a stable lower-case name for `code` ("invalid_argument", "corruption", ...).
std::string_view StatusCodeName(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK

  static Status Ok() noexcept { return {}; }
  static Status InvalidArgument(std::string message) { return {StatusCode::kInvalidArgument, std::move(message)}; }
  static Status NotFound(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
  static Status AlreadyExists(std::string message) { return {StatusCode::kAlreadyExists, std::move(message)}; }
  static Status Corruption(std::string message) { return {StatusCode::kCorruption, std::move(message)}; }
  static Status IoError(std::string message) { return {StatusCode::kIoError, std::move(message)}; }
  // An I/O error from a failed system call: appends strerror(errno_value).
  static Status FromErrno(std::string_view what, int errno_value);
  static Status PermissionDenied(std::string message) { return {StatusCode::kPermissionDenied, std::move(message)}; }
  static Status FailedPrecondition(std::string message) {
    return {StatusCode::kFailedPrecondition, std::move(message)};
  }
  static Status ResourceExhausted(std::string message) { return {StatusCode::kResourceExhausted, std::move(message)}; }
  static Status Unavailable(std::string message) { return {StatusCode::kUnavailable, std::move(message)}; }
  static Status Internal(std::string message) { return {StatusCode::kInternal, std::move(message)}; }

  // With code kOk this is an OK status and `message` is dropped.
  Status(StatusCode code, std::string message);

  // Copies duplicate the details; a moved-from Status is OK.
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  bool ok() const noexcept { return rep_ == nullptr; }
  StatusCode code() const noexcept { return rep_ ? rep_->code : StatusCode::kOk; }
  // The innermost cause, without context.
  const std::string& message() const noexcept { return rep_ ? rep_->message : EmptyString(); }
  // The input field at fault ("confidence", "object.lang", "signatures[1].signature"), or empty.
  const std::string& field() const noexcept { return rep_ ? rep_->field : EmptyString(); }
  // Context strings, innermost first.
  const std::vector<std::string>& context() const noexcept { return rep_ ? rep_->context : EmptyContext(); }

  // Adds an outer context ("while opening segment 7"); a no-op on OK.
  Status& with_context(std::string context) &;
  Status&& with_context(std::string context) &&;
  Status& with_field(std::string field) &;
  Status&& with_field(std::string field) &&;

  // "corruption: open WAL: segment 000042 offset 96: checksum mismatch" (outermost context first).
  std::string ToString() const;

  // Drops a status on purpose; greppable, unlike a silent (void) cast.
  void IgnoreError() const noexcept {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::string field;
    std::vector<std::string> context;
  };
  static const std::string& EmptyString() noexcept;
  static const std::vector<std::string>& EmptyContext() noexcept;

  std::unique_ptr<Rep> rep_;  // null when OK
};

// Result<T>: a T or a non-OK Status. Shaped like std::expected so it can become an alias later.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "use Status directly");

 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "a Result cannot hold an OK status without a value");
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from an OK status");
  }

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  explicit operator bool() const noexcept { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // OK when a value is held.
  Status status() const& { return ok() ? Status::Ok() : std::get<Status>(v_); }
  Status status() && { return ok() ? Status::Ok() : std::get<Status>(std::move(v_)); }

  Result& with_context(std::string context) & {
    if (!ok()) std::get<Status>(v_).with_context(std::move(context));
    return *this;
  }
  Result&& with_context(std::string context) && {
    if (!ok()) std::get<Status>(v_).with_context(std::move(context));
    return std::move(*this);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace stemedb

// Propagation helpers. STEMEDB_RETURN_IF_ERROR(expr) returns the status of `expr` when it is not OK.
// STEMEDB_ASSIGN_OR_RETURN(lhs, expr) evaluates a Result, returns its status on error, otherwise
// moves the value into `lhs` (which may be a declaration: `auto x`).
#define STEMEDB_CONCAT_INNER(a, b) a##b
#define STEMEDB_CONCAT(a, b) STEMEDB_CONCAT_INNER(a, b)

#define STEMEDB_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::stemedb::Status stemedb_status_ = (expr);        \
    if (!stemedb_status_.ok()) return stemedb_status_; \
  } while (0)

#define STEMEDB_ASSIGN_OR_RETURN(lhs, expr) \
  STEMEDB_ASSIGN_OR_RETURN_IMPL(STEMEDB_CONCAT(stemedb_result_, __LINE__), lhs, expr)
// `lhs` is not parenthesized: it may be a declaration ("auto x").
// NOLINTBEGIN(bugprone-macro-parentheses)
#define STEMEDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
