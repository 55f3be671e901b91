// Debian 12's Abseil is built with its own absl::string_view (not an alias of
// std::string_view). libmaps' signatures use std::string_view; these convert
// at the boundary.

#ifndef LIBMAPS_SRC_STRING_VIEW_COMPAT_H_
#define LIBMAPS_SRC_STRING_VIEW_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace libmaps::internal {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_STRING_VIEW_COMPAT_H_
