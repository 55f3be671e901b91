// Helpers for bench/compare.py, which times whole processes:
//
//   bench_tool generate N...            make sure the data sets exist
//   bench_tool path N                   print the data set's directory
//   bench_tool keys N COUNT OUT         write COUNT query keys (90 % hits in
//                                       random order), one a line, to OUT
//   bench_tool floor SRC OUT BYTES      the floor of a build: read SRC through
//                                       a 1 MiB buffer finding each line's key
//                                       and value, write BYTES to OUT.tmp in
//                                       1 MiB writes, fdatasync, rename to OUT

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bench_data.h"

namespace {

int Floor(const char* src, const char* out, uint64_t bytes) {
  constexpr size_t kBuf = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  int fd = ::open(src, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 2;
  size_t lines = 0, carry = 0;
  ssize_t n;
  while ((n = ::read(fd, buf.get() + carry, kBuf - carry)) > 0) {
    const char* p = buf.get();
    const char* end = p + carry + n;
    for (;;) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) break;
      if (std::memchr(p, ' ', nl - p) != nullptr) ++lines;
      p = nl + 1;
    }
    carry = static_cast<size_t>(end - p);
    std::memmove(buf.get(), p, carry);
  }
  ::close(fd);
  std::memset(buf.get(), 'x', kBuf);
  const std::string tmp = std::string(out) + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return 2;
  for (uint64_t done = 0; done < bytes;) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(kBuf, bytes - done));
    if (::write(fd, buf.get(), k) != static_cast<ssize_t>(k)) return 2;
    done += k;
  }
  if (::fdatasync(fd) != 0 || ::close(fd) != 0) return 2;
  if (::rename(tmp.c_str(), out) != 0) return 2;
  return lines > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace libmaps::bench;
  if (argc >= 3 && std::strcmp(argv[1], "generate") == 0) {
    for (int i = 2; i < argc; ++i) GetDataSet(std::strtoull(argv[i], nullptr, 10));
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "path") == 0) {
    std::printf("%s\n", GetDataSet(std::strtoull(argv[2], nullptr, 10)).dir.c_str());
    return 0;
  }
  if (argc == 5 && std::strcmp(argv[1], "keys") == 0) {
    Queries q = MakeQueries(std::strtoull(argv[2], nullptr, 10),
                            std::strtoull(argv[3], nullptr, 10), 20240602);
    FILE* f = std::fopen(argv[4], "w");
    if (f == nullptr) return 2;
    for (std::string_view k : q.keys) std::fprintf(f, "%.*s\n", static_cast<int>(k.size()), k.data());
    std::printf("%zu\n", q.expected_hits);
    return std::fclose(f) == 0 ? 0 : 2;
  }
  if (argc == 5 && std::strcmp(argv[1], "floor") == 0) {
    return Floor(argv[2], argv[3], std::strtoull(argv[4], nullptr, 10));
  }
  std::fprintf(stderr,
               "usage: bench_tool generate N... | path N | keys N COUNT OUT | "
               "floor SRC OUT BYTES\n");
  return 2;
}
