// Small POSIX file helpers with errno-accurate messages.

#ifndef LIBMAPS_SRC_FILE_UTIL_H_
#define LIBMAPS_SRC_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace libmaps::internal {

// Reads the whole file at `path`. On failure returns kNotFound (ENOENT) or
// kUnavailable with the text "<what> <path>: <strerror>", where <what> is
// `open_what` for open errors and "read" for read errors.
[[nodiscard]] absl::StatusOr<std::string> ReadWholeFile(
    const std::string& path, std::string_view open_what = "open");

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FILE_UTIL_H_
