// Status propagation macros (the packaged abseil predates its own).
//
//   RETURN_IF_ERROR(expr);            returns expr's status if it is not OK.
//   ASSIGN_OR_RETURN(lhs, expr);      evaluates an absl::StatusOr<T>; on error returns its
//                                     status, otherwise moves the value into lhs (which may
//                                     be a declaration such as `auto x`).
// Thread-safety: macros only; no state.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RAFTKV_CONCAT_INNER(a, b) a##b
#define RAFTKV_CONCAT(a, b) RAFTKV_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status raftkv_status_ = (expr);          \
    if (!raftkv_status_.ok()) return raftkv_status_; \
  } while (0)

#define RAFTKV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  RAFTKV_ASSIGN_OR_RETURN_IMPL(RAFTKV_CONCAT(raftkv_statusor_, __LINE__), lhs, expr)

// Crashes the process with a message when an invariant does not hold. Used for
// broken invariants only; anything a user or a peer can cause returns a status.
#define RAFTKV_CHECK(cond)                                             \
  do {                                                                 \
    if (!(cond)) ::raftkv::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define RAFTKV_CHECK_MSG(cond, msg)                                       \
  do {                                                                    \
    if (!(cond)) ::raftkv::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

namespace raftkv {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace raftkv
