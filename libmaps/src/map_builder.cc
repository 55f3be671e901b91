#include "libmaps/map_builder.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "table_types.h"
#include "string_view_compat.h"
#include "value_files.h"

namespace libmaps {

using internal::ToAbsl;

MapBuilder::~MapBuilder() = default;
MapUpdater::~MapUpdater() = default;

namespace {

// The types Postfix 3.7.11 on Debian knows but cannot create (postconf -m
// of postfix, postfix-lmdb, postfix-cdb and postfix-pcre, less the types
// with a bulk-mode writer). The SQL and LDAP types are known only once
// their package is installed, so Postfix without them gives the "Is the
// package installed?" message; so does cmap.
constexpr std::string_view kPostfixLookupOnlyTypes[] = {
    "cidr",     "environ", "inline",    "internal", "memcache", "nis",
    "pcre",     "pipemap", "randmap",   "regexp",   "socketmap", "static",
    "tcp",      "texthash", "unionmap", "unix",
};

bool PostfixLookupOnly(std::string_view type) {
  return std::find(std::begin(kPostfixLookupOnlyTypes), std::end(kPostfixLookupOnlyTypes),
                   type) != std::end(kPostfixLookupOnlyTypes);
}

absl::Status CannotCreate(const MapSpec& spec, const internal::TableBackend* backend) {
  if (spec.type == "proxy") {
    return absl::InvalidArgumentError("can't create maps via the proxy service");
  }
  if (spec.type == "fail") {
    return absl::InvalidArgumentError(
        absl::StrCat("table fail:", spec.name, ": write error: Application error"));
  }
  if (backend != nullptr || PostfixLookupOnly(spec.type)) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported dictionary type: ", spec.type,
                                                   " does not support bulk-mode creation."));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dictionary type: ", spec.type, ". Is the postfix-",
                   spec.type, " package installed?"));
}

}  // namespace

absl::Status CheckBuildable(std::string_view spec) {
  // Split as postmap's create mode does, without further checks.
  const size_t colon = spec.find(':');
  MapSpec parsed;
  parsed.type = std::string(spec.substr(0, colon));
  if (colon != std::string_view::npos) parsed.name = std::string(spec.substr(colon + 1));
  const internal::TableBackend* backend = internal::FindBackend(parsed.type);
  if (backend == nullptr || backend->build == nullptr) return CannotCreate(parsed, backend);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewMapBuilder(
    std::string_view spec, const BuildOptions& options) {
  absl::StatusOr<MapSpec> parsed = ParseMapSpec(spec);
  if (!parsed.ok()) return parsed.status();
  const internal::TableBackend* backend = internal::FindBackend(parsed->type);
  if (backend == nullptr || backend->build == nullptr) return CannotCreate(*parsed, backend);
  return backend->build(parsed->name, options);
}

absl::StatusOr<std::unique_ptr<MapUpdater>> OpenMapUpdater(
    std::string_view spec, const BuildOptions& options, bool create) {
  absl::StatusOr<MapSpec> parsed = ParseMapSpec(spec);
  if (!parsed.ok()) return parsed.status();
  const internal::TableBackend* backend = internal::FindBackend(parsed->type);
  if (backend == nullptr && !create && PostfixLookupOnly(parsed->type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(parsed->type, ":", parsed->name, " map requires O_RDONLY access mode"));
  }
  if (backend == nullptr) return CannotCreate(*parsed, backend);
  if (backend->update == nullptr) {
    if (backend->no_update.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          parsed->type, ":", parsed->name, " map requires O_RDONLY access mode"));
    }
    return absl::InvalidArgumentError(absl::StrReplaceAll(
        internal::ToAbsl(backend->no_update), {{"%s", parsed->name}}));
  }
  return backend->update(parsed->name, options, create);
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
