// MappedFile: a read-only memory mapping of a file that does not kill the
// process when the file shrinks underneath it.
//
// The problem. Reading a mapped page whose file bytes no longer exist (the
// file was truncated by another process after it was mapped, or the disk
// returned an I/O error) raises SIGBUS, whose default action ends the
// process. A mail server must not die because an administrator ran
// `cp new.db /etc/postfix/x.db` or `: > x.db` while it had the table open.
//
// The design, in two layers.
//
// 1. Avoidance (callers). Postfix writers hold flock(LOCK_EX) while they
//    rewrite a .db file in place, and readers hold flock(LOCK_SH) around every
//    lookup. A caller that follows that protocol and, while holding the shared
//    lock, checks with fstat() that the file is unchanged before it touches
//    the mapping (HashMap does; it remaps a changed file) never reads past the
//    end of a file that a cooperating writer shrank. This layer costs one
//    fstat() per lookup and needs no signal handling.
//
// 2. Containment (this class), for writers that ignore the lock protocol and
//    for I/O errors. The first Map() installs a process-wide SIGBUS handler
//    (sigaction, SA_SIGINFO). Every live mapping is entered in a lock-free
//    registry of address ranges that the handler can read safely. When a
//    fault address lies inside a registered mapping, the handler replaces the
//    faulting page with an anonymous zero page (mmap MAP_FIXED), counts the
//    fault for that mapping, and returns: the faulting instruction is
//    restarted and reads zeros. Nothing is unwound and no longjmp is needed,
//    so C++ code in the middle of a read (allocations, destructors, locks) is
//    never interrupted in an unsafe place. The reader of the bytes must cope
//    with arbitrary content (BdbHashReader does: it bounds-checks
//    everything), and its caller must discard whatever it read once
//    faults() is nonzero, since some of the bytes may have been zeros.
//    A fault outside every registered mapping is passed on unchanged to the
//    handler that was installed before (or to the default action, which ends
//    the process as if libmaps were not there).
//
// If the handler cannot be installed (or another runtime silently keeps its
// own, as some sanitizer configurations do) or the file cannot be mapped
// (a file system without mmap support), Map() reads the file into memory
// instead; such a copy is immune to truncation, at the cost of memory and of
// reading the whole file at open.
//
// Limits.
//  * The handler is process-wide. A program that installs its own SIGBUS
//    handler after libmaps has mapped a file replaces it; unless that handler
//    passes faults it does not recognise on to the handler it replaced (as
//    libmaps does), truncation is fatal again. A runtime that installed its
//    handler first (AddressSanitizer does) simply becomes the one libmaps
//    passes foreign faults to.
//  * mmap() is not on POSIX's list of async-signal-safe functions. On Linux it
//    is a plain system call and is safe in a handler; if it fails (address
//    space or map count exhausted), the fault is passed on as above.
//  * Once a page has been replaced the mapping stays zero there: it no longer
//    reflects the file and must be dropped (faults() stays nonzero).
//  * A file rewritten in place at the same or a larger size raises no fault:
//    the shared mapping simply shows the new bytes. Detecting that (and
//    remapping) is layer 1's job, done under the lock.
//  * Bytes past the mapped size (a file that grew) are not visible.
//
// Thread safety: Map() may be called from any thread. A MappedFile may be read
// from several threads at once; it must outlive every read of bytes().

#ifndef LIBMAPS_SRC_MAPPED_FILE_H_
#define LIBMAPS_SRC_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace libmaps::internal {

// An entry of the SIGBUS handler's registry (defined in mapped_file.cc).
struct MappedRegion;

class MappedFile {
 public:
  // Maps the first `size` bytes (normally the size fstat() reported) of the
  // open file `fd` read-only. `fd` may be closed afterwards. A `size` of 0
  // gives an empty span and maps nothing. `name` is used in messages only.
  // Errors: kUnavailable "read <name>: <strerror>" when neither mapping nor
  // reading the file works; kResourceExhausted when `size` does not fit in
  // the address space.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MappedFile>> Map(
      int fd, uint64_t size, std::string_view name);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The file's bytes; valid for the life of this object.
  [[nodiscard]] std::span<const uint8_t> bytes() const {
    return {data_, size_};
  }

  // How many reads of this mapping found no file bytes behind them and were
  // given zeros (see above). Zero unless the file shrank or could not be
  // read. Anything read from bytes() is trustworthy only if faults() is
  // still 0 after the read.
  [[nodiscard]] uint64_t faults() const;

  // True when the bytes are a mapping of the file, false when they are a
  // copy read into memory (the fallback).
  [[nodiscard]] bool is_mapped() const { return region_ != nullptr; }

 private:
  MappedFile() = default;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_length_ = 0;  // size_ rounded up to whole pages
  MappedRegion* region_ = nullptr;  // null: nothing mapped (copy or empty)
  std::unique_ptr<uint8_t[]> copy_;
  uint64_t copy_faults_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_MAPPED_FILE_H_
