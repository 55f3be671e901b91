// texthash: a source file parsed into memory when the map is opened.

#ifndef LIBMAPS_SRC_BACKENDS_TEXTHASH_MAP_H_
#define LIBMAPS_SRC_BACKENDS_TEXTHASH_MAP_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

// Opens texthash:`name` (a source file path). See OpenMap for the errors.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenTexthashMap(
    std::string_view name, const OpenOptions& options);

// Builds a texthash map from source text already in memory; `name` is used
// in messages only. Used by tests and fuzzers.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> TexthashMapFromText(
    std::string_view text, std::string_view name, const OpenOptions& options);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_TEXTHASH_MAP_H_
