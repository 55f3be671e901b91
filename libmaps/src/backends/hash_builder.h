// hash: and btree: building and changing Postfix's Berkeley DB tables natively
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
// for its whole run) and changes the file in place through BdbHashEditor
// (format/bdb_hash_editor.h): Add() and Delete() read only the pages of the
// key's bucket, and Commit() writes only the pages that changed, still under
// the lock; the file keeps its inode, page size and byte order, so every
// writer that waits for Postfix's lock (postmap -i included) finds the
// changes of the one before. A Commit() with no change writes nothing.
// Delete() probes key+NUL, then key, as Postfix's readers do (NulProbe). A
// table that does not exist is created empty with create = true (written
// beside it and put in place with link(2), which never replaces a table
// another writer made meanwhile) and is kNotFound `open database NAME.db: No
// such file or directory` otherwise; a zero-length file gets an empty table
// written into it after the warning above with create = true and is
// kDataLoss `open database NAME.db: Invalid argument` otherwise, as with
// postmap. A file that is not a readable hash table is kDataLoss `open
// database NAME.db: Invalid argument` (the reason goes to the diagnostic
// sink as an error), kFailedPrecondition for a hash file the editor refuses
// (encrypted, duplicates, a custom hash function, ...), and damage met on
// the way is kDataLoss `database NAME.db is corrupt: page N: ...`.
//
// flock() locks of two descriptors conflict even within one process, so
// updaters of one file in a process (postmap -d KEY hash:x hash:x, or two
// names of one file) share the lock and one editor: each sees the others'
// changes, and the last of them to commit writes them. A builder that
// commits while an updater of its table is open in the same process fails
// with kFailedPrecondition instead of waiting for itself.
//
// Errors of Commit(): kUnavailable (I/O, no space, lock: the old table is
// still whole), kPermissionDenied (the directory or NAME.db is not writable).
// No message contains a value.

#ifndef LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_
#define LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "format/bdb_hash_format.h"
#include "format/bdb_hash_writer.h"
#include "libmaps/map_builder.h"
#include "record_set.h"

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

// btree: everything above holds, with a btree file (format/bdb_btree_writer.h:
// records in key order, full pages) for the hash file, and
// format/bdb_btree_editor.h for the in-place changes (copy-on-write of the
// whole tree inside the same inode, still under Postfix's lock).
[[nodiscard]] absl::StatusOr<std::unique_ptr<MapBuilder>> NewBtreeBuilder(
    std::string_view name, const BuildOptions& options);
[[nodiscard]] absl::StatusOr<std::unique_ptr<MapUpdater>> OpenBtreeUpdater(
    std::string_view name, const BuildOptions& options, bool create);

// Test-only: the settings NewHashBuilder(name, options) and updaters that
// create a table use from now on in this process (instead of the defaults).
// Used by tests/compat/hash_write_driver.cc to run cmap with other page sizes
// and byte orders.
void SetHashWriteSettingsForTesting(const HashWriteSettings& settings);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_HASH_BUILDER_H_
