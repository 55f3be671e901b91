// The C API on a fuzzer-written texthash file: open with the flags taken
// from the first byte, then look up every line of the input as a key.
// The file lives in memory (memfd), named through /proc/self/fd.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "libmaps/libmaps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > libmaps::fuzz::kMaxInput) return 0;
  unsigned flags = data[0] & 0x1f & ~LIBMAPS_OPEN_VALUES_ARE_FILES;
  std::string_view text = libmaps::fuzz::AsText(data + 1, size - 1);
  int fd = memfd_create("libmaps-fuzz", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (!text.empty() && write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::abort();
  }
  std::string spec = "texthash:/proc/self/fd/" + std::to_string(fd);
  libmaps_map* map = nullptr;
  char* err = nullptr;
  int rc = libmaps_open(spec.c_str(), flags, &map, &err);
  if (rc == LIBMAPS_OK) {
    if (map == nullptr) std::abort();
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view key = text.substr(pos, nl == text.npos ? text.npos : nl - pos);
      char* value = nullptr;
      size_t len = 0;
      int lrc = libmaps_lookup(map, key.data(), key.size(), &value, &len, &err);
      if (lrc == LIBMAPS_OK && (value == nullptr || value[len] != '\0')) std::abort();
      if (lrc != LIBMAPS_OK && lrc != LIBMAPS_NOTFOUND) std::abort();
      libmaps_free(value);
      if (nl == text.npos) break;
      pos = nl + 1;
    }
    libmaps_close(map);
  } else if (rc != LIBMAPS_ERR_CONFIG || err == nullptr) {
    std::abort();  // only a duplicate key can fail this open
  }
  libmaps_free(err);
  close(fd);
  return 0;
}
