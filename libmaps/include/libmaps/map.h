// libmaps/map.h: the lookup-table interface shared by every backend.
//
// A Map is what Postfix calls a dictionary: an exact-match table from a key to
// a value, opened from a "type:name" specification such as
// "texthash:/etc/postfix/sasl_passwd". The type names are exactly Postfix's.
// Supported types:
//   hash      NAME.db, a Berkeley DB 5.3 hash file, read natively (no libdb)
//   lmdb      NAME.lmdb, an LMDB file as Postfix keeps it
//   texthash  the source file NAME itself, parsed into memory at open
//
// Keys are folded the way the map was opened (OpenOptions::fold_case and
// OpenOptions::utf8), exactly as Postfix folds them, so a caller passes keys as
// they appear in mail (e.g. "[Relay.Example.JP]:587") and never folds itself.
//
// Thread safety: a Map may be used from several threads at once through its
// const methods. Opening and closing are not synchronised with lookups.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_MAP_H_
#define LIBMAPS_INCLUDE_LIBMAPS_MAP_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libmaps/diagnostics.h"
#include "libmaps/export.h"

namespace libmaps {

// What happens when a source file names the same (folded) key twice.
enum class DuplicatePolicy {
  // The whole table fails to open. This is what Postfix daemons get, because
  // they open tables without a duplicate flag.
  kFail,
  // The first value is kept and a warning is reported (postmap's default).
  kWarn,
  // The first value is kept silently (postmap -w).
  kIgnore,
  // The last value wins, silently (postmap -r).
  kReplace,
};

// Whether stored keys and values end in a NUL byte (Postfix's convention for
// hash: and lmdb:; texthash: has no stored form and ignores this).
enum class NulPolicy {
  // Reading: try key+NUL, then key without; the first hit fixes the choice
  // for the life of the map, as Postfix does. Writing: append the NUL.
  kProbe,
  kWith,     // postmap -N
  kWithout,  // postmap -n
};

// How a map is opened. The defaults are those of a Postfix daemon in UTF-8
// mode (smtputf8_enable = yes), which is what Debian 12 configures.
struct OpenOptions {
  // Fold keys to lower case when building and looking up (postmap without -f).
  bool fold_case = true;
  // UTF-8 mode: full Unicode case folding (ICU, as Postfix), source lines that
  // are not valid UTF-8 are skipped, invalid query keys are misses. False is
  // Postfix's smtputf8_enable = no, or postmap -u: ASCII-only folding and any
  // bytes accepted.
  bool utf8 = true;
  // Whether messages may show UTF-8 text (Postfix's smtputf8_enable). Only
  // affects how non-printable bytes in diagnostics are rendered as '?'.
  bool utf8_messages = true;
  DuplicatePolicy duplicates = DuplicatePolicy::kFail;
  NulPolicy nul = NulPolicy::kProbe;
  // postmap -F: each source value names files whose contents, joined by a
  // newline, are stored base64-encoded. Relative names are taken from the
  // current directory.
  bool values_are_files = false;
  // Receives warnings. May be empty, in which case warnings are dropped.
  DiagnosticSink diagnostics;
};

// A read-only lookup table.
class LIBMAPS_EXPORT Map {
 public:
  virtual ~Map();
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  // Returns the value stored for `key` (folded as the map was opened), or
  // std::nullopt when there is none. A key that is not valid UTF-8 in UTF-8
  // mode is a miss, with a warning to the diagnostic sink, as in Postfix.
  // Errors:
  //   kUnavailable  transient (I/O error, lock): the caller should defer
  //   kDataLoss     the file failed format checks
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const = 0;

  // Calls `fn` for every record, in the backend's order (texthash: source
  // order), until `fn` returns false. Keys are as stored (folded).
  [[nodiscard]] virtual absl::Status ForEach(
      const std::function<bool(std::string_view key, std::string_view value)>&
          fn) const = 0;

  // Postfix's type name ("texthash") and the map name (the path as given).
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

 protected:
  Map(std::string type, std::string name)
      : type_(std::move(type)), name_(std::move(name)) {}

 private:
  std::string type_;
  std::string name_;
};

// A parsed "type:name" specification.
struct MapSpec {
  std::string type;
  std::string name;
};

// Splits `spec` at its first ':' as Postfix does. `default_type` is used when
// there is no ':' (postmap uses default_database_type); with an empty
// default_type a spec without ':' is an error. Errors: kInvalidArgument with
// Postfix's text `open dictionary: expecting "type:name" form instead of "x"`.
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<MapSpec> ParseMapSpec(
    std::string_view spec, std::string_view default_type = {});

// Opens the map named by `spec` ("type:name"). Errors:
//   kInvalidArgument    malformed spec; unsupported dictionary type: <type>
//   kNotFound           the file does not exist
//   kDataLoss           the file is not a valid table of its type (corrupt,
//                       truncated, zero-length); the message names the page
//   kFailedPrecondition a duplicate key under DuplicatePolicy::kFail; a hash
//                       file that is encrypted, allows duplicate keys or has
//                       an unsupported version
//   kUnavailable        any other I/O error
// Messages follow Postfix's wording ("open database NAME.db: ...").
[[nodiscard]] LIBMAPS_EXPORT absl::StatusOr<std::unique_ptr<Map>> OpenMap(
    std::string_view spec, const OpenOptions& options = {});

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_MAP_H_
