#include "libmaps/map.h"

#include "absl/strings/str_cat.h"
#include "table_types.h"
#include "string_view_compat.h"

namespace libmaps {

using internal::ToAbsl;
using internal::ToStd;
Map::~Map() = default;

absl::StatusOr<MapSpec> ParseMapSpec(std::string_view spec,
                                     std::string_view default_type) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos) {
    if (default_type.empty() || spec.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "open dictionary: expecting \"type:name\" form instead of \"",
          ToAbsl(spec), "\""));
    }
    return MapSpec{std::string(default_type), std::string(spec)};
  }
  if (colon == 0 || colon + 1 == spec.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "open dictionary: expecting \"type:name\" form instead of \"",
        ToAbsl(spec), "\""));
  }
  return MapSpec{std::string(spec.substr(0, colon)),
                 std::string(spec.substr(colon + 1))};
}

absl::StatusOr<std::unique_ptr<Map>> OpenMap(std::string_view spec,
                                             const OpenOptions& options) {
  absl::StatusOr<MapSpec> parsed = ParseMapSpec(spec);
  if (!parsed.ok()) return parsed.status();
  if (parsed->type == "proxy") {
    // Postfix reads these through its proxymap(8) service, a running mail
    // system's; the table itself can be read directly.
    return absl::InvalidArgumentError(absl::StrCat(
        "table proxy:", parsed->name, ": libmaps does not read tables through Postfix's "
        "proxymap service; open ", parsed->name, " directly"));
  }
  const internal::TableBackend* backend = internal::FindBackend(parsed->type);
  if (backend == nullptr || backend->open == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported dictionary type: ", parsed->type));
  }
  return backend->open(parsed->name, options);
}

}  // namespace libmaps
