// The lookup-only types that hold no file of their own, with Postfix 3.7's
// syntax and messages (checked against real postmap, tests/compat/
// composite_diff.py):
//   static:TEXT, static:{ TEXT }   every key finds TEXT
//   inline:{ k=v, { k = v w } }    a table written in place; keys folded,
//                                  the last of a repeated key wins
//   fail:NAME                      every lookup fails ("Application error")
//   environ:NAME                   the process environment
//   unionmap:{ t1, t2, ... }       every table's result, joined with ','
//   pipemap:{ t1, t2, ... }        each result is the next table's key
// Components of unionmap: and pipemap: are opened with OpenMap and the same
// options, so they nest. Braces protect commas and blanks: a list is split
// at commas and blanks outside { }.

#ifndef LIBMAPS_SRC_BACKENDS_COMPOSITE_MAPS_H_
#define LIBMAPS_SRC_BACKENDS_COMPOSITE_MAPS_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenStaticMap(std::string_view name,
                                                                 const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenInlineMap(std::string_view name,
                                                                 const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenFailMap(std::string_view name,
                                                               const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenEnvironMap(std::string_view name,
                                                                  const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenUnionMap(std::string_view name,
                                                                const OpenOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenPipeMap(std::string_view name,
                                                               const OpenOptions& options);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_COMPOSITE_MAPS_H_
