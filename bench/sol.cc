#include "sol.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace libmaps::bench {

bool WriteSolTable(const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& pairs) {
  uint64_t slots = 2;
  while (slots < 2 * pairs.size()) slots *= 2;
  const uint64_t mask = slots - 1;
  const uint64_t header = 16;
  std::vector<uint64_t> table(slots, 0);
  std::string records;
  uint64_t offset = header + slots * 8;
  for (const auto& [key, value] : pairs) {
    const uint64_t h = SolHash(key);
    uint64_t i = h & mask;
    while (table[i] != 0) i = (i + 1) & mask;
    table[i] = ((h >> 48) << 48) | (offset + records.size());
    const uint16_t klen = static_cast<uint16_t>(key.size());
    const uint16_t vlen = static_cast<uint16_t>(value.size());
    records.append(reinterpret_cast<const char*>(&klen), 2);
    records.append(reinterpret_cast<const char*>(&vlen), 2);
    records.append(key);
    records.append(value);
  }
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return false;
  const uint64_t head[2] = {kSolMagic, slots};
  bool ok = std::fwrite(head, 8, 2, f) == 2 &&
            std::fwrite(table.data(), 8, table.size(), f) == table.size() &&
            std::fwrite(records.data(), 1, records.size(), f) == records.size();
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

bool SolTable::Open(const std::string& path, bool populate) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size < 16) {
    ::close(fd);
    return false;
  }
  size_ = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size_, PROT_READ,
                   MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return false;
  base_ = static_cast<const uint8_t*>(p);
  uint64_t head[2];
  std::memcpy(head, base_, 16);
  if (head[0] != kSolMagic) return false;
  mask_ = head[1] - 1;
  slots_ = reinterpret_cast<const uint64_t*>(base_ + 16);
  return true;
}

SolTable::~SolTable() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
}

}  // namespace libmaps::bench
