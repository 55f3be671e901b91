// The in-place hash editor on raw file bytes: whatever the file holds, a
// batch of puts (small and big values), replaces and deletes ends in an
// error or a commit, never a crash, a hang or a write outside what the
// editor owns. After a commit that succeeded, a new editor on the file must
// find every key of the batch with the value it was given (or report the
// damage it meets on the way), and BdbHashReader must not crash on it.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "format/bdb_hash_editor.h"
#include "format/bdb_hash_reader.h"
#include "fuzz_util.h"

namespace {

using libmaps::internal::BdbHashEditor;

[[noreturn]] void Die(const char* why) {
  std::fprintf(stderr, "bdb_hash_editor_fuzzer: %s\n", why);
  std::abort();
}

struct Op {
  std::string key;
  std::string value;  // empty: delete
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  const std::string path = libmaps::fuzz::ScratchDir() + "/e.db";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);

  // The batch depends on the input a little, so the fuzzer can steer it.
  const uint8_t seed = size > 0 ? data[size - 1] : 0;
  std::vector<Op> ops = {
      {std::string("key\0", 4), "value"},
      {std::string("big\0", 4), std::string(600 + seed * 40, 'b')},
      {std::string("key\0", 4), std::string(seed, 'r') + "!"},
      {std::string("postmap\0", 8), ""},
      {std::string(700, 'k'), "long key"},
      {std::string("x") + char(seed), "y"},
      {std::string("big\0", 4), "small again"},
  };
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) std::abort();
  auto editor = BdbHashEditor::Open(fd, "e.db");
  if (!editor.ok()) {
    ::close(fd);
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> expect;
  for (const Op& op : ops) {
    if (op.value.empty()) {
      auto deleted = (*editor)->Delete(op.key);
      if (!deleted.ok()) break;
    } else {
      if (!(*editor)->Put(op.key, op.value).ok()) break;
      expect.emplace_back(op.key, op.value);
    }
    auto found = (*editor)->Find(op.key);
    if (found.ok() && !op.value.empty() && (!found->has_value() || **found != op.value)) {
      Die("the editor lost its own change");
    }
  }
  const bool committed = (*editor)->Commit().ok();
  editor->reset();
  ::close(fd);
  if (!committed) return 0;

  fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) std::abort();
  auto again = BdbHashEditor::Open(fd, "e.db");
  if (again.ok()) {
    for (auto it = expect.rbegin(); it != expect.rend(); ++it) {
      bool later = false;
      for (auto jt = expect.rbegin(); jt != it; ++jt) later |= jt->first == it->first;
      if (later) continue;  // a later put of the key wins
      auto found = (*again)->Find(it->first);
      if (found.ok() && (!found->has_value() || **found != it->second)) {
        Die("a committed change is not in the file");
      }
    }
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (1 << 24)) {
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    if (::pread(fd, bytes.data(), bytes.size(), 0) == st.st_size) {
      auto reader = libmaps::internal::BdbHashReader::Open(bytes);
      if (reader.ok()) (void)reader->ForEach([](auto, auto) { return true; });
    }
  }
  ::close(fd);
  return 0;
}
