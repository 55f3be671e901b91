// hash: and btree: Postfix's Berkeley DB tables, read natively (no libdb).
//
// OpenHashMap("/etc/postfix/access", options) reads /etc/postfix/access.db,
// a file written by postmap (or any libdb 3.1 - 5.3 program: see
// format/bdb_hash_reader.h for what is read and what is refused), and looks
// keys up the way Postfix's dict_db does:
//
//  * Keys are folded as the map was opened (OpenOptions::fold_case, utf8),
//    exactly as texthash does it. In UTF-8 mode a query key that is not
//    valid UTF-8 is a miss, with the warning
//    `hash:NAME.db: non-UTF-8 key "KEY": malformed UTF-8 or invalid codepoint`.
//  * NUL probing (OpenOptions::nul): with kProbe, key+NUL is tried first, then
//    the key without NUL; the first hit fixes the choice for the life of the
//    map (atomically, so concurrent first lookups agree).
//  * A value is what Postfix sees: the stored bytes up to the first NUL (so
//    the trailing NUL that postmap stores is dropped). In UTF-8 mode a value
//    that is not valid UTF-8 is an error (kFailedPrecondition,
//    `table hash:NAME.db: query error`) after a warning that names the key
//    but not the value.
//  * Locking (OpenOptions::lock): by default (kPerLookup) flock(LOCK_SH) on
//    the .db file while it is opened and around every lookup, as Postfix
//    readers do, so a postmap rebuild (which holds LOCK_EX) is never seen
//    half done. Under that lock each lookup checks with fstat() that the
//    file is the one that was mapped; a file rewritten in place or replaced
//    by rename is mapped afresh. LookupEach() takes the lock and makes the
//    check once for all its keys. With kSnapshot, lookups use the mapping
//    without lock or system call, and the first lookup a second or more
//    after the last check makes that check (under the lock) again; see
//    LockPolicy in libmaps/map.h for when that is safe. A file truncated
//    without the lock cannot kill the process (see mapped_file.h): the
//    lookup fails with kUnavailable instead (with kSnapshot, the next
//    lookup checks the file at once).
//  * Speed: the reader's fast path (format/bdb_hash_reader.h, FindView)
//    binary-searches the sorted pages it has checked; LookupEach() also
//    fetches the pages of the next keys while it looks one up, and maps the
//    whole file into the page tables first when it has many keys.
//  * At open, `database NAME.db is older than source file NAME` is reported
//    to the diagnostic sink when the source file NAME exists, is newer than
//    the .db and was last changed more than 100 seconds ago.
//
// ForEach() walks the file in Berkeley DB's order (what postmap -s prints),
// giving keys and values up to their first NUL. It holds the shared lock
// while it reads, not while it calls the callback: records are read in
// groups of buckets, and the lock is released before the group is handed
// out. If the file changes between groups, ForEach fails with kUnavailable.
//
// Errors of OpenHashMap, all prefixed `open database NAME.db: `:
//   kNotFound            No such file or directory
//   kUnavailable         any other open, lock or read error (strerror text)
//   kDataLoss            `Invalid argument` for an empty file or one that is
//                        not a hash database (postmap's words; the reason
//                        goes to the diagnostic sink as an error), or the
//                        reader's message for a damaged meta page
//   kFailedPrecondition  a hash file that is refused (encrypted, duplicates,
//                        version 10, ...), with the reason
// Errors of Lookup and ForEach: kDataLoss `database NAME.db is corrupt:
// page N: ...`; kUnavailable when the file vanished, shrank or could not be
// read or locked; kFailedPrecondition as above.
//
// Thread safety: as Map. Lookups from many threads share one open file
// description; its flock is taken by the first concurrent reader and
// released by the last.

#ifndef LIBMAPS_SRC_BACKENDS_HASH_MAP_H_
#define LIBMAPS_SRC_BACKENDS_HASH_MAP_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libmaps/map.h"

namespace libmaps::internal {

// Opens hash:`name`, i.e. the file `name`.db. See above.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenHashMap(
    std::string_view name, const OpenOptions& options);

// Opens btree:`name`, the Berkeley DB btree file `name`.db
// (format/bdb_btree_reader.h), with everything above the same: folding,
// NUL probing, locking, checks for a replaced or changed file, messages
// (with "btree:" for "hash:"). Lookups descend the tree; ForEach() lists the
// pairs in key order, as postmap -s does.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Map>> OpenBtreeMap(
    std::string_view name, const OpenOptions& options);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_BACKENDS_HASH_MAP_H_
