// BdbBtreeWriter, BdbBtreeReader and BdbBtreeEditor against each other and a
// model, over page sizes, byte orders, checksums, overflow items and depth;
// and the reader against damaged files. Whether libdb and postmap accept what
// we write (and we what they write) is tests/compat/btree_diff.py's job: this
// file checks the invariants of our own code.

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "format/bdb_btree_editor.h"
#include "format/bdb_btree_format.h"
#include "format/bdb_btree_reader.h"
#include "format/bdb_btree_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;
namespace fs = std::filesystem;
using Model = std::map<std::string, std::string>;
using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Model RandomModel(std::mt19937& rng, size_t n, uint32_t page_size) {
  Model m;
  std::uniform_int_distribution<int> byte(0, 255);
  const uint32_t threshold = b::BtreeOverflowThreshold(page_size, 26);
  for (size_t i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(rng() % 100000);
    if (i % 50 == 0) key += std::string(threshold + rng() % 3000, 'K');  // overflow key
    if (i % 7 == 0) key.push_back(static_cast<char>(byte(rng)));         // any bytes
    std::string value(rng() % 40, 'v');
    if (i % 40 == 0) value.assign(threshold + rng() % 20000, 'V');  // overflow value
    m[key] = value;
  }
  m[""] = "empty key";
  return m;
}

std::vector<BdbRecord> Records(const Model& m) {
  std::vector<BdbRecord> r;
  for (const auto& [k, v] : m) r.push_back(BdbRecord{k, v});
  return r;
}

Model ReadAll(const BdbBtreeReader& reader) {
  Model got;
  std::string last;
  bool first = true;
  EXPECT_TRUE(reader
                  .ForEach([&](std::string_view k, std::string_view v) {
                    EXPECT_TRUE(first || std::string_view(last) < k) << "walk out of order";
                    first = false;
                    last.assign(k);
                    got.emplace(std::string(k), std::string(v));
                    return true;
                  })
                  .ok());
  return got;
}

struct Shape {
  uint32_t page_size;
  bool big_endian;
  bool checksums;
};

class RoundTrip : public ::testing::TestWithParam<Shape> {};

TEST_P(RoundTrip, EveryRecordReadsBackAndEveryPageIsAccountedFor) {
  const Shape shape = GetParam();
  std::mt19937 rng(shape.page_size + shape.big_endian * 2 + shape.checksums);
  const Model model = RandomModel(rng, 3000, shape.page_size);
  BdbBtreeWriterOptions o;
  o.page_size = shape.page_size;
  o.big_endian = shape.big_endian;
  o.checksums = shape.checksums;
  BdbBtreeWriteStats stats;
  absl::StatusOr<std::string> file = WriteBdbBtreeToString(Records(model), o, &stats);
  ASSERT_TRUE(file.ok()) << file.status();
  auto reader = BdbBtreeReader::Open(Bytes(*file));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->root(), 1u);
  EXPECT_EQ(reader->big_endian(), shape.big_endian);
  EXPECT_EQ(reader->has_checksums(), shape.checksums);
  EXPECT_EQ(reader->levels(), stats.levels);
  if (shape.page_size <= 4096) {
    EXPECT_GE(stats.levels, 2u);
  }
  EXPECT_EQ(ReadAll(*reader), model);
  for (const auto& [k, v] : model) {
    auto found = reader->Find(k);
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_TRUE(found->has_value()) << "key of " << k.size() << " bytes";
    EXPECT_EQ(**found, v);
    auto miss = reader->Find(k + '\1');
    ASSERT_TRUE(miss.ok());
    EXPECT_FALSE(miss->has_value());
  }
  // A freshly written file has no unused page: the tree uses every one.
  std::vector<bool> used(reader->page_count(), false);
  ASSERT_TRUE(reader->ForEachTreePage([&](uint32_t p) { used[p] = true; }).ok());
  for (uint32_t p = 1; p < reader->page_count(); ++p) EXPECT_TRUE(used[p]) << "page " << p;
}

INSTANTIATE_TEST_SUITE_P(Shapes, RoundTrip,
                         ::testing::Values(Shape{512, false, false}, Shape{512, true, true},
                                           Shape{1024, false, true}, Shape{4096, false, false},
                                           Shape{4096, true, false}, Shape{16384, false, true},
                                           Shape{65536, true, false}));

TEST(BdbBtreeWriter, EmptyTableIsOneEmptyLeafOnPageOne) {
  absl::StatusOr<std::string> file = WriteBdbBtreeToString({}, BdbBtreeWriterOptions());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->size(), 2u * 4096);
  auto reader = BdbBtreeReader::Open(Bytes(*file));
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(ReadAll(*reader).empty());
  EXPECT_EQ(reader->levels(), 1u);
}

TEST(BdbBtreeWriter, RefusesUnsortedOrRepeatedKeys) {
  std::vector<BdbRecord> r = {{"b", "1"}, {"a", "2"}};
  EXPECT_EQ(WriteBdbBtreeToString(r, BdbBtreeWriterOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  r = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(WriteBdbBtreeToString(r, BdbBtreeWriterOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BdbBtreeReader, RefusalsAndDamageAreNamed) {
  std::mt19937 rng(7);
  const Model model = RandomModel(rng, 500, 512);
  BdbBtreeWriterOptions o;
  o.page_size = 512;
  std::string file = *WriteBdbBtreeToString(Records(model), o);
  auto put32 = [&](std::string& f, size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) f[off + i] = static_cast<char>(v >> (8 * i));
  };
  std::string dup = file;
  put32(dup, b::kMetaFlags, b::kBtFlagDup);
  EXPECT_THAT(std::string(BdbBtreeReader::Open(Bytes(dup)).status().message()),
              HasSubstr("duplicate keys"));
  std::string recno = file;
  put32(recno, b::kMetaFlags, b::kBtFlagRecno);
  EXPECT_EQ(BdbBtreeReader::Open(Bytes(recno)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::string hash = file;
  put32(hash, b::kMetaMagic, b::kHashMagic);
  EXPECT_THAT(std::string(BdbBtreeReader::Open(Bytes(hash)).status().message()),
              HasSubstr("hash"));
  std::string truncated = file.substr(0, file.size() - 512);
  EXPECT_THAT(std::string(BdbBtreeReader::Open(Bytes(truncated)).status().message()),
              HasSubstr("truncated"));
  // A leaf that links to itself: the walk stops with an error.
  std::string loop = file;
  auto reader = BdbBtreeReader::Open(Bytes(loop));
  ASSERT_TRUE(reader.ok());
  uint32_t leaf = 0;
  for (uint32_t p = 2; p < reader->page_count() && leaf == 0; ++p) {
    if (static_cast<uint8_t>(loop[size_t{p} * 512 + b::kPageType]) == b::kPageLeaf) leaf = p;
  }
  ASSERT_NE(leaf, 0u);
  put32(loop, size_t{leaf} * 512 + b::kPageNext, leaf);
  auto looped = BdbBtreeReader::Open(Bytes(loop));
  ASSERT_TRUE(looped.ok());
  absl::Status s = looped->ForEach([](std::string_view, std::string_view) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
}

TEST(BdbBtreeReader, EveryByteFlipEndsInAnAnswerOrAnError) {
  std::mt19937 rng(11);
  Model model = RandomModel(rng, 200, 512);
  BdbBtreeWriterOptions o;
  o.page_size = 512;
  const std::string file = *WriteBdbBtreeToString(Records(model), o);
  for (size_t i = 0; i < file.size(); i += 3) {
    std::string bad = file;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    auto reader = BdbBtreeReader::Open(Bytes(bad));
    if (!reader.ok()) continue;
    (void)reader->ForEach([](std::string_view, std::string_view) { return true; });
    (void)reader->Find(model.begin()->first);
    (void)reader->ForEachTreePage([](uint32_t) {});
  }
}

class TempFile {
 public:
  TempFile() {
    std::string tmpl = (fs::temp_directory_path() / "btree-test-XXXXXX").string();
    fd_ = ::mkstemp(tmpl.data());
    path_ = tmpl;
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  std::string Contents() const {
    std::string s(static_cast<size_t>(::lseek(fd_, 0, SEEK_END)), '\0');
    EXPECT_EQ(::pread(fd_, s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
    return s;
  }

 private:
  int fd_;
  std::string path_;
};

TEST(BdbBtreeEditor, RandomBatchesMatchTheModelAndTheFileStaysBounded) {
  for (Shape shape : {Shape{512, true, true}, Shape{4096, false, false}}) {
    std::mt19937 rng(shape.page_size);
    Model model = RandomModel(rng, 1500, shape.page_size);
    BdbBtreeWriterOptions o;
    o.page_size = shape.page_size;
    o.big_endian = shape.big_endian;
    o.checksums = shape.checksums;
    TempFile f;
    const std::string first = *WriteBdbBtreeToString(Records(model), o);
    ASSERT_EQ(::pwrite(f.fd(), first.data(), first.size(), 0),
              static_cast<ssize_t>(first.size()));
    uint32_t most_tree_pages = 0;
    for (int round = 0; round < 12; ++round) {
      auto editor = BdbBtreeEditor::Open(f.fd(), "t.db");
      ASSERT_TRUE(editor.ok()) << editor.status();
      for (int i = 0; i < 40; ++i) {
        std::string key = "r" + std::to_string(rng() % 300);
        if (rng() % 3 == 0) {
          auto deleted = (*editor)->Delete(key);
          ASSERT_TRUE(deleted.ok());
          EXPECT_EQ(*deleted, model.erase(key) == 1);
        } else {
          std::string value(rng() % 2 ? 3 : 3000, static_cast<char>('a' + round));
          ASSERT_TRUE((*editor)->Put(key, value).ok());
          model[key] = value;
          auto seen = (*editor)->Find(key);
          ASSERT_TRUE(seen.ok() && seen->has_value());
          EXPECT_EQ(**seen, value);
        }
      }
      ASSERT_TRUE((*editor)->Commit().ok());
      const std::string now = f.Contents();
      auto reader = BdbBtreeReader::Open(Bytes(now));
      ASSERT_TRUE(reader.ok()) << reader.status();
      EXPECT_EQ(reader->root(), 1u);
      EXPECT_EQ(reader->big_endian(), shape.big_endian);
      EXPECT_EQ(reader->has_checksums(), shape.checksums);
      ASSERT_EQ(ReadAll(*reader), model) << "round " << round;
      // Every page is the tree's or on the free list.
      std::vector<bool> used(reader->page_count(), false);
      uint32_t tree_pages = 0;
      ASSERT_TRUE(reader->ForEachTreePage([&](uint32_t p) {
                    used[p] = true;
                    ++tree_pages;
                  }).ok());
      // Copy-on-write: the file holds at most two trees' worth of pages.
      most_tree_pages = std::max(most_tree_pages, tree_pages);
      EXPECT_LE(reader->page_count(), 2 * most_tree_pages + 1) << "round " << round;
      const b::ByteOrder order(shape.big_endian);
      for (uint32_t p = reader->free_list(); p != 0;
           p = order.U32(reinterpret_cast<const uint8_t*>(now.data()) + size_t{p} * o.page_size +
                         b::kPageNext)) {
        ASSERT_LT(p, reader->page_count());
        ASSERT_FALSE(used[p]) << "page " << p << " is free and in use";
        used[p] = true;
      }
      for (uint32_t p = 1; p < reader->page_count(); ++p) EXPECT_TRUE(used[p]) << "page " << p;
    }
  }
}

}  // namespace
}  // namespace libmaps::internal
