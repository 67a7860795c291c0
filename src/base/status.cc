#include "stemedb/base/status.h"

#include <array>
#include <cerrno>
#include <cstring>

namespace stemedb {

std::string_view StatusCodeName(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kPermissionDenied: return "permission_denied";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kResourceExhausted: return "resource_exhausted";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message)
    : rep_(code == StatusCode::kOk ? nullptr : std::make_unique<Rep>(Rep{code, std::move(message), {}, {}})) {}

const std::string& Status::EmptyString() noexcept {
  static const std::string empty;
  return empty;
}

const std::vector<std::string>& Status::EmptyContext() noexcept {
  static const std::vector<std::string> empty;
  return empty;
}

Status Status::FromErrno(std::string_view what, int errno_value) {
  std::string message(what);
  message += ": ";
  // strerror's buffer is shared between threads; the GNU strerror_r returns the text (in `buffer`
  // or a static string). The XSI one returns an int, which would not convert here.
  std::array<char, 256> buffer{};
  const char* text = ::strerror_r(errno_value, buffer.data(), buffer.size());
  message += text;
  StatusCode code = StatusCode::kIoError;
  if (errno_value == ENOSPC || errno_value == EDQUOT) code = StatusCode::kResourceExhausted;
  if (errno_value == EACCES || errno_value == EPERM) code = StatusCode::kPermissionDenied;
  if (errno_value == ENOENT) code = StatusCode::kNotFound;
  if (errno_value == EEXIST) code = StatusCode::kAlreadyExists;
  return {code, std::move(message)};
}

Status& Status::with_context(std::string context) & {
  if (!ok()) rep_->context.push_back(std::move(context));
  return *this;
}
Status&& Status::with_context(std::string context) && {
  if (!ok()) rep_->context.push_back(std::move(context));
  return std::move(*this);
}
Status& Status::with_field(std::string field) & {
  if (!ok()) rep_->field = std::move(field);
  return *this;
}
Status&& Status::with_field(std::string field) && {
  if (!ok()) rep_->field = std::move(field);
  return std::move(*this);
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(rep_->code));
  out += ": ";
  for (auto it = rep_->context.rbegin(); it != rep_->context.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  out += rep_->message;
  return out;
}

}  // namespace stemedb
