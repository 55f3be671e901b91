// The speed-of-light reference: the least a file-backed exact-match table can
// do per lookup. It is a measuring stick, not a proposed format.
//
// File layout (native byte order):
//   u64 magic, u64 slot count (a power of two)
//   slots: u64 each; 0 = empty, else tag (high 16 bits of the key's hash) << 48
//          | offset of the record from the start of the file
//   records: u16 key length, u16 value length, key bytes, value bytes
// Keys are stored as looked up (no NUL), values as returned (no NUL). The
// slot array is half full; collisions probe linearly. A lookup is one hash,
// one slot read (usually one cache line) and one record read: two dependent
// random memory accesses, which is what every design pays at 1,000,000
// entries once neither the slots nor the records fit in the caches.
//
// No duplicate check, no case folding, no locking, no bounds checks on the
// file's contents: the file is trusted.

#ifndef LIBMAPS_BENCH_SOL_H_
#define LIBMAPS_BENCH_SOL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace libmaps::bench {

inline constexpr uint64_t kSolMagic = 0x534f4c5441424c31ull;  // "SOLTABL1"

// A fast 64-bit hash (8 bytes at a time, multiply-xorshift mixing).
inline uint64_t SolHash(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x2545F4914F6CDD1Dull ^ (s.size() * kMul);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

// Writes the table for `pairs` to `path`. Returns false on I/O errors.
bool WriteSolTable(const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& pairs);

// A read-only view of a table file mapped with mmap.
class SolTable {
 public:
  // Maps `path`; `populate` maps every page up front (MAP_POPULATE).
  bool Open(const std::string& path, bool populate);
  ~SolTable();

  // Copies the value of `key` into `*value`; false when there is none.
  bool Find(std::string_view key, std::string* value) const {
    const uint64_t h = SolHash(key);
    const uint64_t tag = h >> 48;
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const uint64_t slot = slots_[i];
      if (slot == 0) return false;
      if ((slot >> 48) != tag) continue;
      const uint8_t* r = base_ + (slot & ((uint64_t{1} << 48) - 1));
      uint16_t klen, vlen;
      std::memcpy(&klen, r, 2);
      std::memcpy(&vlen, r + 2, 2);
      if (klen == key.size() && std::memcmp(r + 4, key.data(), klen) == 0) {
        value->assign(reinterpret_cast<const char*>(r + 4 + klen), vlen);
        return true;
      }
    }
  }

 private:
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  const uint64_t* slots_ = nullptr;
  uint64_t mask_ = 0;
};

}  // namespace libmaps::bench

#endif  // LIBMAPS_BENCH_SOL_H_
