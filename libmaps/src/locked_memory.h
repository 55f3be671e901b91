// Memory for secrets: locked into RAM (mlock: never written to swap),
// left out of core dumps (MADV_DONTDUMP), zeroed when released.
//
// Small blocks (up to kLockedSlot bytes, which covers every credential seen
// in practice, with the key and table name it was found under) come from a process-wide pool of locked pages carved into
// slots: taking and returning one is a mutex and a memset, no system call,
// so a credential lookup costs what a plain one does. Larger blocks use
// libsodium's guarded allocation (sodium_malloc: locked, guard pages). The
// pool's pages are mapped once and never returned to the system; a released
// slot is zero until it is handed out again.

#ifndef LIBMAPS_SRC_LOCKED_MEMORY_H_
#define LIBMAPS_SRC_LOCKED_MEMORY_H_

#include <cstddef>

namespace libmaps::internal {

inline constexpr size_t kLockedSlot = 512;

struct LockedBlock {
  char* data = nullptr;
  size_t size = 0;  // usable bytes
};

// A block of at least `size` bytes, zeroed; {nullptr, 0} when memory is
// exhausted.
[[nodiscard]] LockedBlock AllocateLocked(size_t size) noexcept;

// Zeroes and releases `block` (null data is allowed).
void ReleaseLocked(LockedBlock block) noexcept;

// Whether the pool's pages are locked (false where RLIMIT_MEMLOCK refused
// it: the memory is then still excluded from core dumps and wiped).
[[nodiscard]] bool LockedPoolIsLocked() noexcept;

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_LOCKED_MEMORY_H_
