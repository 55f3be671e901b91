// hash: building and changing Postfix's Berkeley DB hash tables natively
// (format/bdb_hash_writer.h writes the file; libdb is never used).
//
// NewHashBuilder("/etc/postfix/access", options) collects records and, on
// Commit(), writes a whole new /etc/postfix/access.db:
//
//  * Records are stored as Postfix's dict_db stores them: the key folded as
//    the options say, key and value with a trailing NUL unless
//    options.nul == kWithout. Duplicates follow options.duplicates, reported
//    as `NAME.db: duplicate entry: "KEY"` (postmap's hash wording: the file
//    name, no type).
//  * The file is written to a temporary file in the table's directory
//    (`.NAME.db.cmap-XXXXXX`), given the mode and owner of the table it
//    replaces (options.new_file_mode for a new table), fsync'ed, and renamed
//    over NAME.db (or over the file a symbolic link NAME.db points to); then
//    the directory is fsync'ed. The rename happens while holding
//    flock(LOCK_EX) on the old NAME.db, the lock Postfix's own writers take
//    and its readers wait for with LOCK_SH, so no Postfix process is inside a
//    lookup at that moment, and a process that reopens the table sees the old
//    file or the new one, whole. A crash at any point leaves the old table
//    whole (at worst with a stray temporary file).
//  * Page size: what libdb would choose for the new file (its file system's
//    preferred I/O size, 4096 on ext4), little-endian.
//  * An existing zero-length NAME.db gets Postfix's warning
//    `removing zero-length database file: NAME.db` when the builder is made;
//    the rename replaces it.
//
// OpenHashUpdater(name, options, create) serves postmap -i (create = true)
// and -d: it opens NAME.db, takes flock(LOCK_EX) on it (as postmap -i does,
// for its whole run), reads every record into memory, applies Add() and
// Delete() there, and Commit() rewrites the whole file as above, still under
// the lock, keeping the file's page size and byte order. A Commit() with no
// change leaves the file untouched. Delete() probes key+NUL, then key, as
// Postfix's readers do (NulProbe). A table that does not exist is created
// with create = true (an empty one if nothing is added) and is kNotFound
// `open database NAME.db: No such file or directory` otherwise; a
// zero-length file is treated as an empty table after the warning above with
// create = true and is kDataLoss `open database NAME.db: Invalid argument`
// otherwise, as with postmap. A file that is not a readable hash table is
// kDataLoss `open database NAME.db: Invalid argument` (the reason goes to the
// diagnostic sink as an error), or kFailedPrecondition for a hash file the
// reader refuses (encrypted, duplicates, ...).
//
// flock() locks of two descriptors conflict even within one process, so
// updaters of one file in a process (postmap -d KEY hash:x hash:x, or two
// names of one file) share the lock and one copy of the records: each sees
// the others' changes, and the last of them to commit writes the file. A
// builder that commits while an updater of its table is open in the same
// process fails with kFailedPrecondition instead of waiting for itself.
//
// If a table that did not exist when an updater opened it is created by
// someone else before the updater commits, the updater's file replaces it.
//
// Errors of Commit(): kUnavailable (I/O, no space, lock: the old table is
// still whole), kPermissionDenied (the directory or NAME.db is not writable).
// No message contains a value.

#ifndef LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_
#define LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map_builder.h"

namespace libmaps::internal {

// How a new hash file is laid out.
struct HashWriteSettings {
  // 0: what libdb would choose for the new file (see
  // BdbPageSizeForBlockSize); else a power of two from 512 to 65536.
  uint32_t page_size = 0;
  bool big_endian = false;
};

[[nodiscard]] absl::StatusOr<std::unique_ptr<MapBuilder>> NewHashBuilder(
    std::string_view name, const BuildOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<MapBuilder>> NewHashBuilder(
    std::string_view name, const BuildOptions& options,
    const HashWriteSettings& settings);

[[nodiscard]] absl::StatusOr<std::unique_ptr<MapUpdater>> OpenHashUpdater(
    std::string_view name, const BuildOptions& options, bool create);

// Test-only: the settings NewHashBuilder(name, options) and updaters that
// create a table use from now on in this process (instead of the defaults).
// Used by tests/compat/hash_write_driver.cc to run cmap with other page sizes
// and byte orders.
void SetHashWriteSettingsForTesting(const HashWriteSettings& settings);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_
