// BdbHashEditor: changes a Berkeley DB hash file (hash versions 7 to 9) in
// place, a few pairs at a time, as libdb's own writers do, without libdb and
// without reading the whole file. It serves `postmap -i` and `-d` semantics:
// the file keeps its inode, so Postfix's writer lock, flock(LOCK_EX) on the
// .db file, keeps every writer (cmap's and postmap's) in turn.
//
// The caller opens the file O_RDWR and holds flock(LOCK_EX) on it for the
// editor's whole life. The editor reads only the pages it needs (the meta
// page, the chains of the buckets it touches, the overflow pages of big items
// it compares or frees), keeps its changes in memory, and Commit() writes
// them (docs/hash-format.md §15 has the layout rules):
//
//  1. Pages appended after the old end of the file (chained bucket pages,
//     overflow pages of big items). Nothing refers to them yet; on failure
//     the file is cut back to its old size.
//  2. The meta page (new last page number, element count). A crash from here
//     on can at worst leave unreferenced pages behind, never a broken chain.
//  3. The changed existing pages, each a single page write, ordered so that
//     a pair moved to another page is written there before it is removed
//     from the page it left. After any prefix of these writes every key reads
//     as its old or its new value.
//  4. Overflow pages no longer referenced are put on libdb's free list
//     (written as free pages, then the meta page again).
// fdatasync() follows each step that wrote. If a write fails in step 3 or 4
// the pages already written are written back as they were (best effort) and
// the error is returned. Finally, if the kernel left the file's mtime as it
// was (a coarse clock tick), it is moved on by a nanosecond so that every
// reader that compares mtimes notices the change.
//
// Layout rules (those of libdb): a new pair goes to the first page of its
// bucket's chain with room for it, at its sorted place on a sorted page
// (type 13) or at the end of an unsorted one (type 2); if no page has room, a
// new page is chained after the last. Keys and values longer than a quarter
// of the page go to overflow pages. Buckets are never split: a table that
// grows a lot through in-place changes gets longer chains (lookups read more
// pages) until it is rebuilt. Pages are never taken from the free list (new
// pages are always appended), so no crash can leave the free list pointing
// into use. A chained page emptied by deletes stays in its chain, empty, and
// is reused by later inserts into the bucket.
//
// Refused with kFailedPrecondition: what BdbHashReader refuses, and files made
// with a custom hash function (keys could not be placed). Damage met on the
// way is kDataLoss naming the page. Messages never contain key or value bytes.
//
// Thread safety: none; one editor per file per process (hash_builder.cc
// shares one between the updaters of a file).

#ifndef LIBMAPS_SRC_FORMAT_BDB_HASH_EDITOR_H_
#define LIBMAPS_SRC_FORMAT_BDB_HASH_EDITOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/bdb_editor.h"

namespace libmaps::internal {

struct BdbHashEditStats {
  uint32_t pages_written = 0;   // existing pages rewritten, meta included
  uint32_t pages_appended = 0;  // new pages at the end of the file
  uint32_t pages_freed = 0;     // overflow pages put on the free list
};

class BdbHashEditor final : public BdbEditor {
 public:
  // Reads and checks the meta page of the hash file open on `fd` (which the
  // caller keeps open and locked). Errors as BdbHashReader::Open, plus
  // kFailedPrecondition for a custom hash function and kUnavailable for I/O
  // ("write database DISPLAY: No space left on device"; `display` names the
  // file in such messages).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BdbHashEditor>> Open(
      int fd, std::string_view display);

  ~BdbHashEditor() override;
  BdbHashEditor(const BdbHashEditor&) = delete;
  BdbHashEditor& operator=(const BdbHashEditor&) = delete;

  // The stored value of the stored key `key` (exact bytes), as changed so far.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Find(std::string_view key) override;

  // Stores `value` under `key`, replacing the value if the key is there.
  [[nodiscard]] absl::Status Put(std::string_view key, std::string_view value) override;

  // Removes `key`; false if it was not there.
  [[nodiscard]] absl::StatusOr<bool> Delete(std::string_view key) override;

  // Whether anything is waiting for Commit().
  [[nodiscard]] bool changed() const override;

  // Writes the changes as described above. After an error the editor must
  // not be used again.
  [[nodiscard]] absl::Status Commit() override;

  [[nodiscard]] std::string Summary() const override;
  [[nodiscard]] const BdbHashEditStats& stats() const;
  [[nodiscard]] uint32_t page_size() const;

 private:
  class Impl;
  explicit BdbHashEditor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_HASH_EDITOR_H_
