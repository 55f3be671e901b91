// Small POSIX file helpers with errno-accurate messages.

#ifndef LIBMAPS_SRC_FILE_UTIL_H_
#define LIBMAPS_SRC_FILE_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace libmaps::internal {

// Reads the whole file at `path`. On failure returns kNotFound (ENOENT) or
// kUnavailable with the text "<what> <path>: <strerror>", where <what> is
// `open_what` for open errors and "read" for read errors.
[[nodiscard]] absl::StatusOr<std::string> ReadWholeFile(
    const std::string& path, std::string_view open_what = "open");

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A whole-file fcntl lock, waiting for it: F_RDLCK, F_WRLCK or F_UNLCK.
// Postfix locks lmdb files with fcntl(F_SETLKW) (and BDB files with flock).
// This takes an open file description lock (F_OFD_SETLKW), which conflicts
// with Postfix's process-associated fcntl locks exactly as they conflict
// with each other, but belongs to the descriptor's open file description,
// not to the process: closing some other descriptor of the same file
// (liblmdb's own, a check's) does not drop it, as it would drop a classic
// fcntl lock. Two descriptors opened separately in one process therefore
// conflict with each other too, as two processes would. Retries on EINTR.
// Errors name `path`: "lock database PATH: ...".
[[nodiscard]] absl::Status LockWholeFile(int fd, short type, std::string_view path);

// pread(2) of `n` bytes at `at`, continued after short reads and retried
// when a signal interrupts it. Returns the bytes read (fewer than `n` only
// at the end of the file) or -1 (errno says why).
ssize_t PreadFull(int fd, void* buf, size_t n, off_t at);

// flock(2) (Postfix's lock on .db files), retried when a signal interrupts
// it. Returns flock's result; errno tells why on -1.
int FlockRetry(int fd, int op);

// The directory part of `path` ("." when it has none).
[[nodiscard]] std::string DirName(const std::string& path);

// Creates a new empty file, mode 0600, in the directory of `target`, named
// after it (".BASE.cmap-XXXXXX"), and returns its path; *fd receives it open
// for writing, with flock(LOCK_EX) held on it until ReplaceFile() or until
// *fd is closed: the mark of a live build. Temporary files of `target` that
// no process holds so, left by a build that was killed, are removed first
// (regular files of this user, untouched for a few seconds).
// Errors (kPermissionDenied, kUnavailable) read "open database TARGET: ...".
[[nodiscard]] absl::StatusOr<std::string> CreateTempFileNear(
    const std::string& target, UniqueFd* fd);

// Gives the temporary file `fd` the mode and owner that `target` will have:
// an existing target's mode and owner (owner only when we are allowed to set
// it), else `new_mode`. One exception to postmap, which keeps an existing
// table's mode: read or write permission for other users (the 0006 bits)
// that `new_mode` does not grant is dropped, so a table once built from a
// world-readable source does not keep its passwords readable by every user
// after its source was made private. `*narrowed` (if not null) is set to
// the old mode when that happens, else to 0.
[[nodiscard]] absl::Status MatchTargetModeAndOwner(int fd,
                                                   const std::string& target,
                                                   mode_t new_mode,
                                                   mode_t* narrowed = nullptr);

// The warning for a table whose mode MatchTargetModeAndOwner narrowed from
// `old_mode` (the target's name, no contents).
[[nodiscard]] std::string NarrowedModeWarning(std::string_view target, mode_t old_mode,
                                              mode_t new_mode);

// fsync(2) of `path`'s file and of its directory.
[[nodiscard]] absl::Status SyncFile(int fd, const std::string& path);
[[nodiscard]] absl::Status SyncDirectoryOf(const std::string& path);

// The file a rebuild must replace: `path` itself, or where it points when it
// is a symbolic link (so the link survives the rebuild).
[[nodiscard]] std::string ResolveTarget(const std::string& path);

// rename(tmp, target), then fsync of the directory. `tmp_fd`, if given, is
// the descriptor from CreateTempFileNear(): its lock is released once the
// file is the table (so Postfix's readers of a .db, which take flock
// LOCK_SH, do not wait for our descriptor to close).
[[nodiscard]] absl::Status ReplaceFile(const std::string& tmp,
                                       const std::string& target, int tmp_fd = -1);

// pwrite(2) of all of `bytes` at `offset`, retried on EINTR and short
// writes. Errors: kUnavailable "write database DISPLAY: <strerror>".
[[nodiscard]] absl::Status PwriteAll(int fd, uint64_t offset, std::span<const uint8_t> bytes,
                                     std::string_view display);

// The one commit-and-rename path of every table builder (hash:, btree:,
// lmdb:, cdb:): creates the temporary file beside `target`
// (CreateTempFileNear), calls `write(fd, tmp_path)` to fill it, gives it the
// target's mode and owner (MatchTargetModeAndOwner; a narrowed mode is
// reported to `warn` with NarrowedModeWarning(display, ...)), syncs it, calls
// `lock_target()` (which takes the type's writer lock on the old table, if
// any, and must keep it until this returns: flock for a .db, fcntl for a
// .lmdb, nothing for a .cdb), and renames it over `target` (ReplaceFile).
// On any error the temporary file is removed and the old table is untouched.
[[nodiscard]] absl::Status CommitNewFile(
    const std::string& target, std::string_view display, mode_t new_file_mode,
    absl::FunctionRef<void(std::string_view warning)> warn,
    absl::FunctionRef<absl::Status(int fd, const std::string& tmp)> write,
    absl::FunctionRef<absl::Status()> lock_target);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FILE_UTIL_H_
