#include "format/bdb_hash_format.h"

namespace libmaps::internal::bdb {

uint32_t Hash(std::span<const uint8_t> key) {
  uint32_t h = 0;
  for (uint8_t c : key) {
    h *= 16777619u;
    h ^= c;
  }
  return h;
}

uint32_t Checksum(std::span<const uint8_t> bytes) {
  uint32_t h = 0;
  for (uint8_t c : bytes) h = h * 33u + c;
  return h;
}

uint32_t PageChecksum(std::span<const uint8_t> page, bool is_meta) {
  // The stored checksum is computed with its own four bytes zeroed: hash the
  // bytes before it, four zero bytes, and the bytes after it.
  const size_t at = is_meta ? kMetaChecksum : kPageChecksum;
  const size_t end = is_meta ? kMetaSize : page.size();
  uint32_t h = Checksum(page.first(at));
  for (int i = 0; i < 4; ++i) h *= 33u;
  for (uint8_t c : page.subspan(at + 4, end - at - 4)) h = h * 33u + c;
  return h;
}

uint32_t CeilLog2(uint32_t n) {
  uint32_t i = 0;
  while (i < 32 && (uint64_t{1} << i) < n) ++i;
  return i;
}

}  // namespace libmaps::internal::bdb
