// BdbEditor: what the hash: and btree: updaters (backends/hash_builder.cc)
// need of an in-place editor of a Berkeley DB file: the caller opens the file
// O_RDWR, holds Postfix's writer lock (flock LOCK_EX) on it for the editor's
// life, and makes changes that Commit() writes into the same inode, so that
// every writer waiting for the lock (postmap -i included) sees them.
// Implementations: BdbHashEditor (format/bdb_hash_editor.h) and
// BdbBtreeEditor (format/bdb_btree_editor.h).

#ifndef LIBMAPS_SRC_FORMAT_BDB_EDITOR_H_
#define LIBMAPS_SRC_FORMAT_BDB_EDITOR_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace libmaps::internal {

class BdbEditor {
 public:
  virtual ~BdbEditor() = default;
  // The stored value of the stored key `key` (exact bytes), as changed so far.
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> Find(
      std::string_view key) = 0;
  // Stores `value` under `key`, replacing the value if the key is there.
  [[nodiscard]] virtual absl::Status Put(std::string_view key, std::string_view value) = 0;
  // Removes `key`; false if it was not there.
  [[nodiscard]] virtual absl::StatusOr<bool> Delete(std::string_view key) = 0;
  // Whether anything is waiting for Commit().
  [[nodiscard]] virtual bool changed() const = 0;
  // Writes the changes. After an error the editor must not be used again.
  [[nodiscard]] virtual absl::Status Commit() = 0;
  // What the last Commit() wrote, for a verbose log line.
  [[nodiscard]] virtual std::string Summary() const = 0;
};

// If the file's mtime is still `before` (a coarse clock tick), moves it on by
// a nanosecond, so that every reader that compares mtimes notices a change.
void NudgeMtime(int fd, const struct timespec& before);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_EDITOR_H_
