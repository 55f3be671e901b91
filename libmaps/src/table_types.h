// The table of types: each table type libmaps knows, what it can do, its
// file suffix and its functions, in the manner of Postfix's dict_open_info[]
// and mkmap_types[]. OpenMap, NewMapBuilder, OpenMapUpdater and cmap find a
// type here and nowhere else, so a new type is its backend file, one row in
// table_types.cc, its meson.build line and its tests.

#ifndef LIBMAPS_SRC_TABLE_TYPES_H_
#define LIBMAPS_SRC_TABLE_TYPES_H_

#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace libmaps::internal {

// Each takes the table's name as written after "type:".
using OpenFn = absl::StatusOr<std::unique_ptr<Map>> (*)(std::string_view name,
                                                        const OpenOptions& options);
using BuildFn = absl::StatusOr<std::unique_ptr<MapBuilder>> (*)(
    std::string_view name, const BuildOptions& options);
using UpdateFn = absl::StatusOr<std::unique_ptr<MapUpdater>> (*)(
    std::string_view name, const BuildOptions& options, bool create);

struct TableBackend {
  TableTypeInfo info;
  OpenFn open = nullptr;      // null: lookups unsupported
  BuildFn build = nullptr;    // null: "does not support bulk-mode creation"
  UpdateFn update = nullptr;  // null: `no_update`
  // Postfix's refusal of -i and -d for this type; "%s" stands for the
  // table's name. Empty: "TYPE:NAME map requires O_RDONLY access mode".
  std::string_view no_update;
};

// The row for `type`, or null.
[[nodiscard]] const TableBackend* FindBackend(std::string_view type);
[[nodiscard]] std::span<const TableBackend> Backends();

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_TABLE_TYPES_H_
