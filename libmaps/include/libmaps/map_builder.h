// libmaps/map_builder.h: building and updating tables (postmap's create,
// -i and -d modes).
//
// A MapBuilder collects records and writes a whole new table on Commit():
// into a temporary file in the table's directory, synced, then renamed over
// the old table, and the directory synced. Until Commit() returns, readers
// see the old table whole; a crash leaves the old table whole.
//
// Thread safety: a MapBuilder is used from one thread at a time.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_MAP_BUILDER_H_
#define LIBMAPS_INCLUDE_LIBMAPS_MAP_BUILDER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libmaps/diagnostics.h"
#include "libmaps/export.h"
#include "libmaps/map.h"
#include "libmaps/source_parser.h"

namespace libmaps {

struct BuildOptions {
  bool fold_case = true;      // postmap without -f
  bool utf8 = true;           // UTF-8 mode (see OpenOptions::utf8)
  bool utf8_messages = true;  // smtputf8_enable, for rendering messages
  // postmap's default: the first value wins and each duplicate is reported.
  DuplicatePolicy duplicates = DuplicatePolicy::kWarn;
  NulPolicy nul = NulPolicy::kProbe;  // kProbe writes the NUL, as Postfix
  // Initial LMDB map size (main.cf lmdb_map_size); it doubles when full.
  uint64_t lmdb_map_size = 16777216;
  // Permission bits for a table that does not exist yet. An existing table
  // keeps its mode and owner.
  mode_t new_file_mode = 0644;
  // Commit() refuses to replace a file of another type that has the table's
  // file name (a btree .db under hash:NAME, as postmap does). With this set
  // it replaces a Berkeley DB file of the other kind: cmap --convert between
  // hash: and btree:, which share the .db suffix.
  bool replace_other_bdb_type = false;
  DiagnosticSink diagnostics;
};

// How one record is stored where it differs from the BuildOptions:
// postalias's bookkeeping records (YP_LAST_MODIFIED, YP_MASTER_NAME) are
// neither folded nor NUL-terminated, and postalias -i replaces all three.
struct RecordOptions {
  bool fold_case = true;
  NulPolicy nul = NulPolicy::kProbe;
  DuplicatePolicy duplicates = DuplicatePolicy::kWarn;
};

// The RecordOptions a builder's own BuildOptions imply.
inline RecordOptions RecordOptionsOf(const BuildOptions& options) {
  return RecordOptions{options.fold_case, options.nul, options.duplicates};
}

class LIBMAPS_EXPORT MapBuilder {
 public:
  virtual ~MapBuilder();  // without Commit(): the old table is untouched
  MapBuilder(const MapBuilder&) = delete;
  MapBuilder& operator=(const MapBuilder&) = delete;

  // Adds a record. `key` is folded as the options say. A duplicate of an
  // earlier key follows BuildOptions::duplicates (reported with Postfix's
  // wording, e.g. `lmdb:NAME: duplicate entry: "key"`). A key that is not
  // valid UTF-8 in UTF-8 mode is skipped with a warning.
  // Errors: kInvalidArgument when the backend cannot store the record (an
  // lmdb key longer than 511 bytes); the caller names the source line.
  [[nodiscard]] virtual absl::Status Add(std::string_view key,
                                         std::string_view value) = 0;
  // Add() with this record's own folding, NUL and duplicate settings.
  [[nodiscard]] virtual absl::Status AddWith(std::string_view key, std::string_view value,
                                             const RecordOptions& record) = 0;

  // Writes the table and replaces the old one atomically. Errors:
  // kUnavailable (I/O, no space: the old table is still whole),
  // kPermissionDenied.
  [[nodiscard]] virtual absl::Status Commit() = 0;

  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

 protected:
  MapBuilder(std::string type, std::string name)
      : type_(std::move(type)), name_(std::move(name)) {}

 private:
  std::string type_;
  std::string name_;
};

// Whether postmap can build a table of `type` ("type:name"), with
// postmap's refusal otherwise: "unsupported dictionary type: regexp does
// not support bulk-mode creation." for a type Postfix knows only for
// lookups, "can't create maps via the proxy service" for proxy:, and
// Debian's "... Is the postfix-TYPE package installed?" for a type Postfix
// does not know (both as Postfix 3.7.11 on Debian words them).
[[nodiscard]] LIBMAPS_EXPORT absl::Status CheckBuildable(std::string_view spec);

// A builder for the table `spec` ("type:name"; the file is name + ".lmdb"
// or ".db"). Errors: kInvalidArgument for a type that cannot be built
// (texthash: Postfix's "does not support bulk-mode creation").
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<std::unique_ptr<MapBuilder>>
NewMapBuilder(std::string_view spec, const BuildOptions& options);

// Parses source text (see SourceParser) and passes every entry to `add`
// (MapBuilder::Add or MapUpdater::Add). With `values_are_files`, values name
// files as for postmap -F; relative names are taken from the current
// directory. Warnings go to options.diagnostics. An error from `add` stops
// the parse and is returned prefixed with "PATH, line N: ".
[[nodiscard]] LIBMAPS_EXPORT absl::Status AddSource(
    std::string_view text, std::string_view path, bool values_are_files,
    const BuildOptions& options,
    const std::function<absl::Status(std::string_view key,
                                     std::string_view value)>& add);

// Parses an aliases(5) file as postalias(1) does (docs/source-format.md,
// "Alias files") and passes every record to `add`: the name in internal
// (unquoted) form, the value re-quoted as postalias stores it ("|cmd arg"
// as `"|cmd arg"`, a trailing comma as ", "). Lines that are not
// `name: value` with a local name are skipped with postalias's warning.
// postalias's bookkeeping records ("@" and the YP_ pair) are the caller's
// (cmap --alias adds them, see cmap(1)). Errors as AddSource().
[[nodiscard]] LIBMAPS_EXPORT absl::Status AddAliasSource(
    std::string_view text, std::string_view path, const BuildOptions& options,
    const std::function<absl::Status(std::string_view name,
                                     std::string_view value)>& add);

// One logical line of an aliases(5) file: true with the record, or false
// with postalias's warning in *problem ("" for a line with nothing in it).
[[nodiscard]] LIBMAPS_EXPORT bool ParseAliasLine(std::string_view line, std::string* name,
                                                 std::string* value, std::string* problem);

// In-place changes to an existing table (postmap -i and -d), each under the
// table's Postfix lock and in one transaction.
class LIBMAPS_EXPORT MapUpdater {
 public:
  virtual ~MapUpdater();
  MapUpdater(const MapUpdater&) = delete;
  MapUpdater& operator=(const MapUpdater&) = delete;

  // As MapBuilder::Add; an existing key is a duplicate.
  [[nodiscard]] virtual absl::Status Add(std::string_view key,
                                         std::string_view value) = 0;
  // As MapBuilder::AddWith.
  [[nodiscard]] virtual absl::Status AddWith(std::string_view key, std::string_view value,
                                             const RecordOptions& record) = 0;
  // Deletes `key` (folded, NUL probing as a reader). Returns whether a
  // record was deleted.
  [[nodiscard]] virtual absl::StatusOr<bool> Delete(std::string_view key) = 0;
  // Makes the changes durable and releases the lock.
  [[nodiscard]] virtual absl::Status Commit() = 0;

  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

 protected:
  MapUpdater(std::string type, std::string name)
      : type_(std::move(type)), name_(std::move(name)) {}

 private:
  std::string type_;
  std::string name_;
};

// Opens `spec` for in-place changes. With `create`, a missing table is
// created (postmap -i); otherwise it is kNotFound (postmap -d).
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<std::unique_ptr<MapUpdater>>
OpenMapUpdater(std::string_view spec, const BuildOptions& options, bool create);

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_MAP_BUILDER_H_
