#include "locked_memory.h"

#include <sodium.h>
#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <new>
#include <vector>

namespace libmaps::internal {
namespace {

constexpr size_t kChunk = 64 * 1024;  // 128 slots

class Pool {
 public:
  char* Take() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty() && !Grow()) return nullptr;
    char* p = free_.back();
    free_.pop_back();
    return p;
  }
  void Give(char* p) noexcept {
    sodium_memzero(p, kLockedSlot);
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(p);  // capacity reserved in Grow(): cannot throw
  }
  bool locked() const noexcept { return locked_.load(std::memory_order_relaxed); }

 private:
  bool Grow() noexcept {
    void* m = mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return false;
#ifdef MADV_DONTDUMP
    madvise(m, kChunk, MADV_DONTDUMP);
#endif
    const bool locked = mlock(m, kChunk) == 0;
    if (chunks_ == 0) locked_.store(locked, std::memory_order_relaxed);
    if (!locked) locked_.store(false, std::memory_order_relaxed);
    try {
      // Room for every slot there will be, so that Give() never allocates.
      free_.reserve((chunks_ + 1) * (kChunk / kLockedSlot));
    } catch (const std::bad_alloc&) {
      munmap(m, kChunk);
      return false;
    }
    ++chunks_;
    char* base = static_cast<char*>(m);
    for (size_t off = kChunk; off >= kLockedSlot; off -= kLockedSlot) {
      free_.push_back(base + off - kLockedSlot);
    }
    return true;
  }

  std::mutex mu_;
  std::vector<char*> free_;
  size_t chunks_ = 0;
  std::atomic<bool> locked_{false};
};

Pool& ThePool() {
  static Pool* pool = new Pool();  // never destroyed: slots may outlive statics
  return *pool;
}

}  // namespace

LockedBlock AllocateLocked(size_t size) noexcept {
  if (size <= kLockedSlot) {
    char* p = ThePool().Take();
    if (p == nullptr) return {};
    return {p, kLockedSlot};
  }
  if (sodium_init() < 0) return {};
  void* p = sodium_malloc(size);
  if (p == nullptr) return {};
  sodium_memzero(p, size);
  return {static_cast<char*>(p), size};
}

void ReleaseLocked(LockedBlock block) noexcept {
  if (block.data == nullptr) return;
  if (block.size == kLockedSlot) {
    ThePool().Give(block.data);
  } else {
    sodium_free(block.data);  // zeroes before unmapping
  }
}

bool LockedPoolIsLocked() noexcept { return ThePool().locked(); }

}  // namespace libmaps::internal
