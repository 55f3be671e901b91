// LIBMAPS_RETURN_IF_ERROR / LIBMAPS_ASSIGN_OR_RETURN: Debian 12's Abseil has
// no status macros of its own.

#ifndef LIBMAPS_SRC_STATUS_MACROS_H_
#define LIBMAPS_SRC_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LIBMAPS_RETURN_IF_ERROR(expr)                \
  do {                                               \
    if (absl::Status libmaps_s_ = (expr); !libmaps_s_.ok()) { \
      return libmaps_s_;                             \
    }                                                \
  } while (0)

#define LIBMAPS_CONCAT_INNER_(a, b) a##b
#define LIBMAPS_CONCAT_(a, b) LIBMAPS_CONCAT_INNER_(a, b)

#define LIBMAPS_ASSIGN_OR_RETURN(lhs, expr) \
  LIBMAPS_ASSIGN_OR_RETURN_IMPL_(LIBMAPS_CONCAT_(libmaps_sor_, __LINE__), lhs, expr)

#define LIBMAPS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = *std::move(tmp)

#endif  // LIBMAPS_SRC_STATUS_MACROS_H_
