#include "libmaps/map_builder.h"

#include "absl/strings/str_cat.h"
#include "backends/hash_builder.h"
#include "backends/lmdb_map.h"
#include "string_view_compat.h"
#include "value_files.h"

namespace libmaps {

using internal::ToAbsl;

MapBuilder::~MapBuilder() = default;
MapUpdater::~MapUpdater() = default;

namespace {

absl::Status CannotCreate(const MapSpec& spec) {
  if (spec.type == "texthash") {
    return absl::InvalidArgumentError(
        "unsupported dictionary type: texthash does not support bulk-mode "
        "creation.");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dictionary type: ", spec.type, ". Is the postfix-",
                   spec.type, " package installed?"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MapBuilder>> NewMapBuilder(
    std::string_view spec, const BuildOptions& options) {
  absl::StatusOr<MapSpec> parsed = ParseMapSpec(spec);
  if (!parsed.ok()) return parsed.status();
  if (parsed->type == "lmdb") return internal::NewLmdbBuilder(parsed->name, options);
  if (parsed->type == "hash") return internal::NewHashBuilder(parsed->name, options);
  return CannotCreate(*parsed);
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenMapUpdater(
    std::string_view spec, const BuildOptions& options, bool create) {
  absl::StatusOr<MapSpec> parsed = ParseMapSpec(spec);
  if (!parsed.ok()) return parsed.status();
  if (parsed->type == "lmdb") {
    return internal::OpenLmdbUpdater(parsed->name, options, create);
  }
  if (parsed->type == "hash") {
    return internal::OpenHashUpdater(parsed->name, options, create);
  }
  if (parsed->type == "texthash") {
    return absl::InvalidArgumentError(absl::StrCat(
        "texthash:", parsed->name, " map requires O_RDONLY access mode"));
  }
  return CannotCreate(*parsed);
}

absl::Status AddSource(std::string_view text, std::string_view path,
                       bool values_are_files, const BuildOptions& options,
                       const std::function<absl::Status(std::string_view,
                                                        std::string_view)>& add) {
  SourceParser parser(text, std::string(path),
                      {.utf8 = options.utf8, .utf8_messages = options.utf8_messages},
                      options.diagnostics);
  SourceEntry entry;
  while (parser.Next(&entry)) {
    std::string encoded;
    std::string_view value = entry.value;
    if (values_are_files) {
      absl::StatusOr<std::string> loaded = internal::LoadValueFiles(entry.value);
      if (!loaded.ok()) {
        if (options.diagnostics) {
          options.diagnostics(
              Severity::kWarning,
              absl::StrCat(ToAbsl(path), ", line ", entry.line, ": ",
                           loaded.status().message(), ": skipping this entry"));
        }
        continue;
      }
      encoded = *std::move(loaded);
      value = encoded;
    }
    if (absl::Status s = add(entry.key, value); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(ToAbsl(path), ", line ", entry.line,
                                                 ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace libmaps
