#include "libmaps/map.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "backends/hash_map.h"
#include "backends/lmdb_map.h"
#include "backends/texthash_map.h"
#include "string_view_compat.h"

namespace libmaps {

using internal::ToAbsl;
using internal::ToStd;
namespace {

using OpenFn = absl::StatusOr<std::unique_ptr<Map>> (*)(std::string_view,
                                                        const OpenOptions&);

// The backend registry, in the manner of Postfix's dict_open_info[]. A null
// open function marks a Postfix type that libmaps does not read yet.
struct BackendInfo {
  std::string_view type;
  OpenFn open;
};

constexpr std::array<BackendInfo, 3> kBackends = {{
    {"texthash", &internal::OpenTexthashMap},
    {"hash", &internal::OpenHashMap},
    {"lmdb", &internal::OpenLmdbMap},
}};

}  // namespace

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
  for (const BackendInfo& backend : kBackends) {
    if (backend.type != parsed->type) continue;
    if (backend.open == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          "unsupported dictionary type: ", parsed->type,
          " (libmaps does not read this type yet)"));
    }
    return backend.open(parsed->name, options);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dictionary type: ", parsed->type));
}

}  // namespace libmaps
