// BdbHashEditor against a model: files written by libdb (the samples in
// tests/compat/data/bdb/libdb, several page sizes, both byte orders, page
// checksums, big items, never-written bucket pages), by our writer (64 KiB
// pages) and by the test builder (hash versions 7 and 8, unsorted pages) get
// random batches of puts, replaces and deletes; after every commit the whole
// file is read back by BdbHashReader and must hold exactly the model's
// pairs. Whether libdb itself accepts the result is checked against real
// db5.3_verify, db5.3_dump and postmap in tests/compat/hash_inplace_test.py.

#include "format/bdb_hash_editor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "bdb_test_util.h"
#include "format/bdb_hash_reader.h"
#include "format/bdb_hash_writer.h"
#include "gtest/gtest.h"

namespace libmaps::internal {
namespace {

namespace fs = std::filesystem;
using Model = std::map<std::string, std::string>;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "editor-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Model ReadAll(const std::string& bytes) {
  Model out;
  auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size());
  absl::StatusOr<BdbHashReader> reader = BdbHashReader::Open(span);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  absl::Status s = reader->ForEach([&](std::string_view k, std::string_view v) {
    EXPECT_TRUE(out.emplace(std::string(k), std::string(v)).second)
        << "key twice in the file";
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  for (const auto& [k, v] : out) {
    absl::StatusOr<std::optional<std::string>> found = reader->Find(k);
    EXPECT_TRUE(found.ok() && found->has_value() && **found == v) << "Find misses a key";
  }
  return out;
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// Random batches on the file at `path`, checked after every commit.
void Exercise(const fs::path& path, uint32_t seed, int batches = 6) {
  std::mt19937 rng(seed);
  Model model = ReadAll(testing::ReadFileBytes(path));
  for (int batch = 0; batch < batches; ++batch) {
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    absl::StatusOr<std::unique_ptr<BdbHashEditor>> editor = BdbHashEditor::Open(fd, "t.db");
    ASSERT_TRUE(editor.ok()) << editor.status();
    const uint32_t page = (*editor)->page_size();
    for (int op = 0; op < 60; ++op) {
      const int what = static_cast<int>(rng() % 10);
      // Sizes: mostly small, some around a quarter page, some big.
      auto size = [&]() -> size_t {
        switch (rng() % 8) {
          case 0: return page / 4 + rng() % 3;  // just over or at the limit
          case 1: return page / 4 + 1 + rng() % (2 * page);
          default: return rng() % 40;
        }
      };
      if (what < 5 || model.empty()) {
        std::string key = RandomBytes(rng, 1 + rng() % 12);
        if (rng() % 10 == 0) key = RandomBytes(rng, size() + 1);
        key.push_back('\0');
        std::string value = RandomBytes(rng, size());
        ASSERT_TRUE((*editor)->Put(key, value).ok());
        model[key] = value;
      } else {
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        const std::string key = it->first;
        if (what < 8) {
          std::string value = RandomBytes(rng, size());
          ASSERT_TRUE((*editor)->Put(key, value).ok());
          model[key] = value;
        } else {
          absl::StatusOr<bool> deleted = (*editor)->Delete(key);
          ASSERT_TRUE(deleted.ok() && *deleted);
          model.erase(key);
          deleted = (*editor)->Delete(key);
          ASSERT_TRUE(deleted.ok() && !*deleted);
        }
      }
      if (op % 7 == 0) {
        // What the editor reads is its own changes.
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        absl::StatusOr<std::optional<std::string>> found = (*editor)->Find(it->first);
        ASSERT_TRUE(found.ok() && found->has_value() && **found == it->second);
      }
    }
    absl::Status s = (*editor)->Commit();
    ASSERT_TRUE(s.ok()) << s;
    ::close(fd);
    ASSERT_EQ(ReadAll(testing::ReadFileBytes(path)), model) << "batch " << batch;
  }
}

class EditLibdbSample : public ::testing::TestWithParam<const char*> {};

TEST_P(EditLibdbSample, BatchesMatchTheModel) {
  TempDir dir;
  const fs::path copy = dir.path() / "t.db";
  fs::copy_file(testing::BdbDataDir() / "libdb" / GetParam(), copy);
  Exercise(copy, 17);
}

INSTANTIATE_TEST_SUITE_P(
    Samples, EditLibdbSample,
    ::testing::Values("small-512.db", "small-4096.db", "multi-512.db", "multi-4096.db",
                      "big-512.db", "big-4096.db", "be-big-4096.db", "be-small-512.db",
                      "chksum-be-big-512.db", "chksum-small-4096.db", "empty-512.db",
                      "empty-4096.db", "postmap-small-4096.db", "ours-small-holes-512.db",
                      "prefix-512.db", "threshold-512.db", "threshold-4096.db",
                      "unsorted-v8-512.db"));

TEST(BdbHashEditor, OurWriterAllPageSizesBothOrders) {
  for (uint32_t page : {512u, 1024u, 8192u, 65536u}) {
    for (bool be : {false, true}) {
      std::vector<std::pair<std::string, std::string>> owned;
      for (int i = 0; i < 300; ++i) {
        owned.emplace_back("key" + std::to_string(i) + '\0', std::string(i % 50, 'v'));
      }
      std::vector<BdbRecord> records;
      for (const auto& [k, v] : owned) records.push_back({k, v});
      BdbHashWriterOptions o;
      o.page_size = page;
      o.big_endian = be;
      absl::StatusOr<std::string> file = WriteBdbHashToString(records, o);
      ASSERT_TRUE(file.ok());
      TempDir dir;
      testing::WriteFileBytes(dir.path() / "t.db", *file);
      SCOPED_TRACE(::testing::Message() << page << (be ? " big-endian" : ""));
      Exercise(dir.path() / "t.db", page + be, 3);
    }
  }
}

TEST(BdbHashEditor, OldVersionsWithUnsortedPages) {
  for (uint32_t version : {7u, 8u}) {
    testing::Pairs pairs;
    for (int i = 0; i < 40; ++i) {
      pairs.emplace_back("k" + std::to_string(i) + '\0', "v" + std::to_string(i) + '\0');
    }
    testing::BuildOptions o;
    o.page_size = 512;
    o.buckets = 4;
    o.version = version;
    TempDir dir;
    testing::WriteFileBytes(dir.path() / "t.db", testing::BuildHashFile(pairs, o));
    Exercise(dir.path() / "t.db", version, 3);
  }
}

TEST(BdbHashEditor, NothingChangedWritesNothing) {
  TempDir dir;
  const fs::path copy = dir.path() / "t.db";
  fs::copy_file(testing::BdbDataDir() / "libdb" / "multi-4096.db", copy);
  const std::string before = testing::ReadFileBytes(copy);
  int fd = ::open(copy.c_str(), O_RDWR);
  auto editor = BdbHashEditor::Open(fd, "t.db");
  ASSERT_TRUE(editor.ok());
  ASSERT_TRUE((*editor)->Delete(std::string("no such key\0", 12)).ok());
  EXPECT_FALSE((*editor)->changed());
  ASSERT_TRUE((*editor)->Commit().ok());
  ::close(fd);
  EXPECT_EQ(testing::ReadFileBytes(copy), before);
}

TEST(BdbHashEditor, DeletedBytesLeaveTheFile) {
  TempDir dir;
  const fs::path copy = dir.path() / "t.db";
  fs::copy_file(testing::BdbDataDir() / "libdb" / "small-4096.db", copy);
  const std::string secret = "Secret-Password-" + std::string(3000, 'Q');  // big item
  for (const std::string& value : {std::string("Sm4ll-S3cret"), secret}) {
    int fd = ::open(copy.c_str(), O_RDWR);
    auto editor = BdbHashEditor::Open(fd, "t.db");
    ASSERT_TRUE(editor.ok());
    ASSERT_TRUE((*editor)->Put(std::string("relay\0", 6), value).ok());
    ASSERT_TRUE((*editor)->Commit().ok());
    ::close(fd);
    ASSERT_NE(testing::ReadFileBytes(copy).find(value.substr(0, 12)), std::string::npos);
    fd = ::open(copy.c_str(), O_RDWR);
    editor = BdbHashEditor::Open(fd, "t.db");
    ASSERT_TRUE(editor.ok());
    ASSERT_TRUE(*(*editor)->Delete(std::string("relay\0", 6)));
    ASSERT_TRUE((*editor)->Commit().ok());
    ::close(fd);
    EXPECT_EQ(testing::ReadFileBytes(copy).find(value.substr(0, 12)), std::string::npos);
  }
}

TEST(BdbHashEditor, RefusesWhatItCannotChange) {
  TempDir dir;
  for (const char* name : {"encrypted-512.db", "dup-512.db"}) {
    const fs::path copy = dir.path() / name;
    fs::copy_file(testing::BdbDataDir() / "libdb" / name, copy);
    int fd = ::open(copy.c_str(), O_RDWR);
    auto editor = BdbHashEditor::Open(fd, name);
    EXPECT_EQ(editor.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    ::close(fd);
  }
}

TEST(BdbHashEditor, DamagedChainIsDataLossNotACrash) {
  TempDir dir;
  const fs::path copy = dir.path() / "t.db";
  std::string bytes = testing::ReadFileBytes(testing::BdbDataDir() / "libdb" / "multi-512.db");
  // Every bucket page links to itself: each lookup meets the damage.
  const size_t pages = bytes.size() / 512;
  for (size_t pgno = 1; pgno < pages; ++pgno) {
    uint8_t* p = reinterpret_cast<uint8_t*>(bytes.data()) + pgno * 512;
    if (p[bdb::kPageType] != bdb::kPageHash) continue;
    for (int i = 0; i < 4; ++i) p[bdb::kPageNext + i] = static_cast<uint8_t>(pgno >> (8 * i));
  }
  testing::WriteFileBytes(copy, bytes);
  int fd = ::open(copy.c_str(), O_RDWR);
  auto editor = BdbHashEditor::Open(fd, "t.db");
  ASSERT_TRUE(editor.ok());
  EXPECT_EQ((*editor)->Put(std::string("x\0", 2), "y").code(), absl::StatusCode::kDataLoss);
  ::close(fd);
}

TEST(BdbHashEditor, LaterCopiesOfAKeyGoWithTheFirst) {
  // What a kill while a record moved between pages leaves: the key twice in
  // its bucket. Lookups find the first copy; a change must not let the
  // stale second one come back.
  testing::Pairs pairs = {{std::string("a\0", 2), "new"}, {std::string("b\0", 2), "x"},
                          {std::string("a\0", 2), "stale"}};
  testing::BuildOptions o;
  o.page_size = 512;
  o.buckets = 2;
  TempDir dir;
  const fs::path path = dir.path() / "t.db";
  testing::WriteFileBytes(path, testing::BuildHashFile(pairs, o));
  int fd = ::open(path.c_str(), O_RDWR);
  auto editor = BdbHashEditor::Open(fd, "t.db");
  ASSERT_TRUE(editor.ok());
  absl::StatusOr<bool> deleted = (*editor)->Delete(std::string("a\0", 2));
  ASSERT_TRUE(deleted.ok() && *deleted);
  absl::StatusOr<std::optional<std::string>> found = (*editor)->Find(std::string("a\0", 2));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  ASSERT_TRUE((*editor)->Commit().ok());
  ::close(fd);
  EXPECT_EQ(ReadAll(testing::ReadFileBytes(path)),
            (Model{{std::string("b\0", 2), "x"}}));
}

}  // namespace
}  // namespace libmaps::internal
