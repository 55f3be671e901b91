// BdbBtreeEditor: changes a Berkeley DB btree file in place (postmap -i and
// -d on btree: tables), keeping its inode, page size, byte order and
// checksum setting, so that Postfix's writer lock (flock LOCK_EX on the .db
// file, held by the caller for the editor's life) keeps every writer, cmap's
// and postmap's, in turn.
//
// Changes are kept in memory until Commit(), which writes a whole new tree
// inside the same file, copy-on-write, and switches to it with one write of
// the meta page (docs/btree-format.md §7):
//
//  1. If the new tree will reuse pages on libdb's free list, the meta page is
//     first written with an empty free list (those pages become unreferenced,
//     never half-used).
//  2. The new tree (BdbBtreeWriter, bottom-up, full pages) goes to pages the
//     old tree does not use: unreferenced and free pages, then new pages at
//     the end of the file.
//  3. The meta page is written with the new root and last page: the commit
//     point. Before it every reader sees the old tree, after it the new one.
//  4. Every page the new tree does not use is written as a free page and
//     chained into libdb's free list, and the meta page is written again.
// fdatasync() follows each step. A failure before step 3 leaves the old tree
// as it was (the file is cut back to its old size); a crash after it can
// leave unreferenced pages, which the next Commit() reuses. The mtime is
// moved on if the clock did not move it.
//
// Cost: a Commit() rewrites the whole tree (O(table) I/O, about as much as a
// rebuild), unlike libdb's in-place page splits; the file settles at about
// twice the tree's size, half of it free pages. A table changed one key at a
// time in a loop should be rebuilt, or kept as lmdb:.
//
// Refused as BdbBtreeReader refuses. Messages never contain key or value
// bytes. Thread safety: none; one editor per file per process.

#ifndef LIBMAPS_SRC_FORMAT_BDB_BTREE_EDITOR_H_
#define LIBMAPS_SRC_FORMAT_BDB_BTREE_EDITOR_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "format/bdb_editor.h"

namespace libmaps::internal {

class BdbBtreeEditor {
 public:
  // Reads and checks the btree file open on `fd`. Errors as
  // BdbBtreeReader::Open, and kUnavailable for I/O.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BdbEditor>> Open(
      int fd, std::string_view display);
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_BTREE_EDITOR_H_
