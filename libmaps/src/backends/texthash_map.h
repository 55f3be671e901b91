// texthash: a source file parsed into memory when the map is opened.
//
// The file is parsed straight from a mapping of it (a regular file; other
// files are read). Entries go to one arena (lengths, folded key, value) in
// source order, indexed by an open-addressing table of 64-bit slots (a hash
// tag and the record's offset) kept at most half full and sized from the
// file's line count (the index in transparent huge pages where the system
// allows them). A lookup folds the key (ASCII on the stack), reads one slot
// and one record. The parser runs a few entries ahead of the inserts so
// that index slots are fetched early; its messages are held back so that
// all messages keep source order.

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
