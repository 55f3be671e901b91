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
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

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

  // Maps every page of the file that is in the page cache into the
  // process's page tables now (madvise(MADV_POPULATE_READ)), rather than one
  // page fault per 64 KiB on first touch; also what lets prefetch hints work
  // on a fresh mapping (a prefetch of an unmapped page does nothing). About
  // 2-3 ms for 134 MB here: worth it before many random lookups, not for
  // one. Errors are ignored (it is only a hint).
  void Populate() const;

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

// A growable array of trivially copyable T in an anonymous mapping of its
// own, for the big arrays of builds and texthash: tables (hundreds of MB for
// a million entries). Unlike std::vector it never copies on growth (mremap
// moves the pages), never initialises what it reserves (fresh pages are
// zero), and can ask for transparent huge pages (madvise(MADV_HUGEPAGE),
// honoured when the system's THP mode is "madvise" or "always"): then random
// reads find their page in TLB reach, and filling takes one fault per 2 MiB
// instead of one per 4 KiB. Allocation failure throws std::bad_alloc, as
// std::vector's does.
class BigBuffer {
 public:
  explicit BigBuffer(bool huge_pages) : huge_pages_(huge_pages) {}
  ~BigBuffer();
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  // Bytes in use.
  size_t size() const { return size_; }
  // Makes room for `bytes` in all without moving again.
  void Reserve(size_t bytes);
  // Drops everything and returns `bytes` zero bytes.
  void AssignZero(size_t bytes);
  void Append(const void* p, size_t n) {
    if (size_ + n > capacity_) Reserve(size_ + n);
    if (n > 0) std::memcpy(data_ + size_, p, n);
    size_ += n;
  }
  // Gives the memory back.
  void Clear();
  void Swap(BigBuffer& other) {
    std::swap(huge_pages_, other.huge_pages_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  bool huge_pages_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

template <typename T>
class BigArray {
 public:
  explicit BigArray(bool huge_pages) : buf_(huge_pages) {}
  T* data() { return reinterpret_cast<T*>(buf_.data()); }
  const T* data() const { return reinterpret_cast<const T*>(buf_.data()); }
  size_t size() const { return buf_.size() / sizeof(T); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  void reserve(size_t n) { buf_.Reserve(n * sizeof(T)); }
  void assign_zero(size_t n) { buf_.AssignZero(n * sizeof(T)); }
  void append(const T* p, size_t n) { buf_.Append(p, n * sizeof(T)); }
  void push_back(const T& v) { buf_.Append(&v, sizeof(T)); }
  void clear() { buf_.Clear(); }
  void swap(BigArray& other) { buf_.Swap(other.buf_); }

 private:
  BigBuffer buf_;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_MAPPED_FILE_H_
