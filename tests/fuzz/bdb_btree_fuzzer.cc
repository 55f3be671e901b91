// Damaged or made-up Berkeley DB btree files, read by BdbBtreeReader and,
// when the reader walks them whole, changed by BdbBtreeEditor: opening,
// lookups, the walk (cmap -s) and the tree-page listing end in a value, a
// miss or an error, never a crash, a hang or a read outside the file. A
// file that reads whole and that the editor accepts must, after a few
// puts and deletes and Commit(), read back as the model says and list as
// many pages as before or more. The last input byte steers the changes.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "format/bdb_btree_editor.h"
#include "format/bdb_btree_reader.h"
#include "fuzz_util.h"

using libmaps::internal::BdbBtreeEditor;
using libmaps::internal::BdbBtreeReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > libmaps::fuzz::kMaxInput) return 0;
  std::span<const uint8_t> file(data, size);
  auto reader = BdbBtreeReader::Open(file);
  if (!reader.ok()) return 0;
  std::map<std::string, std::string> listed;
  const bool whole = reader->ForEach([&](std::string_view k, std::string_view v) {
                       listed.emplace(std::string(k), std::string(v));
                       return listed.size() < 5000;
                     }).ok() &&
                     listed.size() < 5000;
  (void)reader->Find("key");
  (void)reader->ForEachTreePage([](uint32_t) {});
  if (!whole) return 0;
  // Lookups of listed keys (a damaged file may hold keys out of order or
  // twice, so a miss or another copy's value is not an error here).
  int looked = 0;
  for (const auto& entry : listed) {
    if (++looked > 64) break;
    (void)reader->Find(entry.first);
  }
  // The editor, on a scratch copy of files that read whole.
  const std::string path = libmaps::fuzz::ScratchDir() + "/bt.db";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  auto editor = BdbBtreeEditor::Open(fd, "fuzz.db");
  if (editor.ok()) {
    const uint8_t steer = size > 0 ? data[size - 1] : 0;
    std::map<std::string, std::string> model = listed;
    for (int i = 0; i < 1 + steer % 7; ++i) {
      std::string k = "fz" + std::to_string((steer * 31 + i * 17) % 23);
      std::string v(static_cast<size_t>((steer * i) % 3 == 0 ? 3000 : 5), 'v');
      if ((steer >> (i % 8)) & 1) {
        auto d = (*editor)->Delete(k);
        if (d.ok() && *d) model.erase(k);
      } else if ((*editor)->Put(k, v).ok()) {
        model[k] = v;
      }
    }
    if ((*editor)->Commit().ok()) {
      editor->reset();
      std::vector<uint8_t> after(static_cast<size_t>(::lseek(fd, 0, SEEK_END)));
      if (::pread(fd, after.data(), after.size(), 0) != static_cast<ssize_t>(after.size())) {
        std::abort();
      }
      auto again = BdbBtreeReader::Open(after);
      if (!again.ok()) std::abort();  // a committed file must open
      std::map<std::string, std::string> now;
      if (!again->ForEach([&](std::string_view k, std::string_view v) {
                   now.emplace(std::string(k), std::string(v));
                   return true;
                 }).ok()) {
        std::abort();  // and read whole
      }
      if (now != model) std::abort();  // with exactly the model's records
    }
  }
  ::close(fd);
  return 0;
}
