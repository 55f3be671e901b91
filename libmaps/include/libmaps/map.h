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
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libmaps/diagnostics.h"
#include "libmaps/secret.h"
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

// How lookups in a hash: or lmdb: table keep clear of processes that change
// the table file. texthash: reads its file once, at open, and ignores this.
enum class LockPolicy {
  // Postfix's protocol, and the default. Every lookup holds the table's
  // shared lock, exactly as a Postfix daemon does: flock(LOCK_SH) on NAME.db,
  // a whole-file fcntl(F_RDLCK) on NAME.lmdb (with a read transaction of its
  // own). Under the lock, hash: compares the file's meta page (its first
  // bytes, in the mapping) with the one it read at open: every locking
  // writer that changes the table in place changes it, and a changed one
  // sends the lookup to a full check (fstat, and the file opened again if
  // it was rewritten). That full check, and the check for a file replaced
  // by rename (lmdb: too), runs at most once a second, as Postfix's daemons
  // check their tables by elapsed time: a lookup may read the replaced,
  // intact file for up to a second after the rename. Safe with every writer
  // that locks: postmap rebuilding a table in place, postmap -i / -d on
  // hash:, cmap (postmap -i on lmdb: takes no lock at all; see
  // docs/atomic-rebuilds.md); tests/unit/fastpath_test.cc: WriterSafetyTest.
  //
  // The lock lingers: it is not let go at the end of a lookup but up to
  // 1 ms after the last one, by a thread of the library's own (started at
  // the first lookup, all signals blocked, asleep while no lock lingers),
  // and while lookups keep coming it is let go and taken again between two
  // of them every 2 ms. So a burst of lookups pays the lock and unlock
  // once, not per lookup, and a writer waits at most about 2 ms longer
  // than it would for a Postfix daemon; a lookup that takes the lock again
  // checks the file as above. Closing the map lets the lock go at once.
  // kPerLookupStrict below is the same without lingering (two system
  // calls per lookup, no thread).
  //
  // The fcntl locks libmaps takes are open file description locks
  // (F_OFD_SETLKW): Postfix's process-associated fcntl locks and they
  // exclude each other as usual, and closing another descriptor of the
  // file does not drop them. Two maps (or a map and an updater) of one file
  // in one process therefore lock each other out as two processes would: a
  // lookup waits while this process's own updater of the table is open.
  kPerLookup,
  // No lock and no system call per lookup: lookups read the file as it was
  // at one moment (hash: the file as mapped; lmdb: one read transaction,
  // reused), and at most once a second a lookup takes the shared lock as
  // above, checks the file, and moves to the current table (the same file
  // after an in-place commit, or the new file after a rename). So an answer
  // may be up to about a second old.
  //
  // Safe only for tables that are never changed in place, only replaced
  // whole by rename(2): tables built by cmap (hash: and lmdb:), or built by
  // postmap under another name and then moved into place (DATABASE_README's
  // "postmap access.in && mv access.in.db access.db"). rename() leaves the
  // old file whole for as long as it is open, so a lookup that is still
  // reading it reads a complete, unchanging table.
  //
  // NOT safe while something changes the file in place: postmap TYPE:NAME
  // (hash: truncates and rewrites the .db in the same inode; lmdb: commits
  // into the same file), postmap -i / -d, and cmap -i / -d and
  // OpenMapUpdater() on hash: and lmdb: (hash: pages are rewritten in place
  // under Postfix's exclusive flock, which these lookups do not wait for;
  // see docs/atomic-rebuilds.md). A lookup
  // that runs during such a change can return a wrong value or a miss; it
  // cannot crash the process (hash: reads are bounds-checked and a
  // truncated mapping reads as zeros, see OpenMap's kUnavailable; lmdb:
  // reads only pages below the file size it opened), but the answer is not
  // trustworthy. For lmdb:, a read transaction kept across in-place commits
  // by another process is also unsafe after the fact: without LMDB's lock
  // file (Postfix uses MDB_NOLOCK) the writer reuses the pages the reader
  // still looks at from the third commit on.
  kSnapshot,
  // kPerLookup without the lingering lock: the shared lock is taken and let
  // go by every lookup (or LookupEach batch), as a Postfix daemon does; no
  // thread. For a process that must not start one, or where even 2 ms of
  // a writer's wait matters more than two system calls per lookup.
  // C: LIBMAPS_OPEN_NO_LINGER.
  kPerLookupStrict,
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
  // How lookups in hash: and lmdb: tables lock (see LockPolicy).
  LockPolicy lock = LockPolicy::kPerLookup;
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

  // Lookup() without the allocation of a new string per call: on a hit the
  // value is assigned to `*value` (reusing its capacity, so a caller that
  // looks up many keys into one string allocates only when a value is longer
  // than any before) and true is returned; on a miss, false, and `*value` is
  // left unspecified. Same folding, NUL probing, locking, warnings and errors
  // as Lookup(). `value` must not be null.
  [[nodiscard]] virtual absl::StatusOr<bool> LookupInto(std::string_view key,
                                                        std::string* value) const;

  // Looks `keys` up in order, exactly as Lookup() would one by one, and
  // calls `fn(i, result)` right after key i's lookup; stops early when `fn`
  // returns false. The result is a view of the value, valid only during the
  // call: for hash:, btree:, cdb:, and lmdb: under kSnapshot, a view of the
  // mapped file (no copy is made); for lmdb: under the per-lookup policies,
  // of a copy wiped after the call, because `postmap -i` rewrites an lmdb:
  // table's pages without taking any lock (each value is copied, then the
  // snapshot it came from is checked, then `fn` is called). Should a writer that ignores Postfix's lock shrink the
  // file while `fn` reads that view (the mapping then reads as zeros), `fn`
  // is called once more for the same key with a kUnavailable error: discard
  // what it read. Warnings and errors are those of Lookup(), key by key and in the
  // same order (an error for one key does not stop the others unless `fn`
  // says so).
  //
  // The safe batch. Under LockPolicy::kPerLookup a hash: or lmdb:
  // table takes its shared lock (and checks its file) once for many keys
  // instead of once per key, so every lookup is still made under the lock
  // at the price of a kSnapshot lookup; the lock is let go (and taken
  // again, with the checks) after at most about 2 ms, between two keys, so
  // a writer waits no longer than that. `fn` runs under the lock: do no
  // blocking I/O in it. Other types and policies simply look each key up.
  // C: libmaps_lookup_each().
  using LookupEachFn = std::function<bool(
      size_t index, const absl::StatusOr<std::optional<std::string_view>>& result)>;
  virtual void LookupEach(std::span<const std::string_view> keys,
                          const LookupEachFn& fn) const;

  // Calls `fn` for every record, in the backend's order (texthash: source
  // order), until `fn` returns false. Keys are as stored (folded).
  [[nodiscard]] virtual absl::Status ForEach(
      const std::function<bool(std::string_view key, std::string_view value)>&
          fn) const = 0;

  // Postfix's type name ("texthash") and the map name (the path as given).
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

 protected:
  // Lookup() in terms of LookupInto(), for a backend whose LookupInto() is
  // the real implementation (each must override one of the two).
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> LookupByLookupInto(
      std::string_view key) const {
    std::string value;
    absl::StatusOr<bool> found = LookupInto(key, &value);
    if (!found.ok()) return found.status();
    if (!*found) return std::nullopt;
    return std::optional<std::string>(std::move(value));
  }

  Map(std::string type, std::string name)
      : type_(std::move(type)), name_(std::move(name)) {}

 private:
  std::string type_;
  std::string name_;
};

inline absl::StatusOr<bool> Map::LookupInto(std::string_view key,
                                            std::string* value) const {
  absl::StatusOr<std::optional<std::string>> found = Lookup(key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return false;
  *value = std::move(**found);
  return true;
}

inline void Map::LookupEach(std::span<const std::string_view> keys,
                            const LookupEachFn& fn) const {
  // The values pass through `value`; it is zeroed on the way out, since
  // they may be passwords (libmaps/sasl_maps.h).
  std::string value;
  ScopedWipe wipe(&value);
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::StatusOr<bool> found = LookupInto(keys[i], &value);
    absl::StatusOr<std::optional<std::string_view>> result =
        !found.ok() ? absl::StatusOr<std::optional<std::string_view>>(found.status())
        : *found    ? std::optional<std::string_view>(value)
                    : std::optional<std::string_view>();
    if (!fn(i, result)) return;
  }
}

// How tables' files are read; process-wide.
//
// kMapWithSigbusHandler (the default): hash:, btree:, lmdb:, cdb: and
// texthash: files are mapped (mmap). Reading a mapped page whose file bytes
// are gone (another process truncated the file, or an I/O error) raises
// SIGBUS, which would end the process; so the first open installs a
// process-wide SIGBUS handler (sigaction, SA_SIGINFO) that replaces such a
// page with zeros, makes the lookup fail with kUnavailable, and passes every
// fault outside libmaps' mappings on to the handler that was there before
// (or to the default action). A program that installs its own SIGBUS handler
// later must pass on faults it does not recognise, or truncation becomes
// fatal again. Across fork() the child inherits the handler and the
// mappings, and its maps keep working; exec() resets the handler.
//
// kReadIntoMemory: files are read whole into memory at open (and when a
// changed file is opened again); nothing is mapped and no signal handler is
// ever installed. Costs the file's size in memory per open map and the time
// to read it. Set it before the first map is opened: a handler already
// installed stays (it only acts on libmaps' own mappings). Updaters (-i, -d)
// use the same setting; liblmdb, which libmaps uses to write lmdb: tables,
// maps the file it writes itself.
enum class FileAccess { kMapWithSigbusHandler, kReadIntoMemory };
LIBMAPS_EXPORT void SetFileAccess(FileAccess access) noexcept;

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

// What libmaps can do with one table type: a row of its table of types (as
// Postfix's dict_open table), the same for the library and cmap.
struct TableTypeInfo {
  std::string_view type;    // "hash"
  // Appended to a table's name to give its file ("hash:/etc/postfix/access"
  // is /etc/postfix/access.db); empty when the name is the file itself
  // (texthash:) or there is no file.
  std::string_view suffix;
  bool can_read = false;    // OpenMap: -q, -q -
  bool can_list = false;    // Map::ForEach: -s, a source for --convert
  bool can_build = false;   // NewMapBuilder: postmap TYPE:NAME
  bool can_update = false;  // OpenMapUpdater: -i, -d
  // Postfix's messages name the table by its file ("table hash:x.db: ..."),
  // not by the name as given.
  bool messages_name_file = false;
  // The name is a file (with `suffix` appended); false for the types whose
  // name is the table itself (static:TEXT, inline:{...}, unionmap:{...}).
  bool has_file = true;
};

// The row for `type`, or null for a type libmaps does not know.
[[nodiscard]] LIBMAPS_EXPORT const TableTypeInfo* FindTableType(std::string_view type);
// Every row, in a fixed order.
[[nodiscard]] LIBMAPS_EXPORT std::span<const TableTypeInfo> TableTypes();

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
