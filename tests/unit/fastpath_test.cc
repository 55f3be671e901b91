// Checks for the fast paths that the benchmarks measure: each must give the
// answers of the plain path it speeds up (bench/ measures them).
//
//   * OpenOptions::lock = LockPolicy::kSnapshot (hash:, lmdb:) answers as
//     kPerLookup does, and moves to a table replaced by rename at its next
//     check;
//   * Map::LookupInto and Map::LookupEach answer as Lookup, key by key, with
//     the same warnings in the same order, and LookupEach stops when asked;
//   * the hash reader's fast path (binary search on pages it has checked)
//     finds what the scanning path finds, on files of every page size and
//     with big items, prefix keys and keys without NULs;
//   * RecordSet (the builders' record store) keeps unique keys through
//     inserts, replacements and erasures;
//   * the texthash: table keeps source order, duplicates policies and -F;
//   * the lingering shared lock of LockPolicy::kPerLookup (hash:, btree:,
//     lmdb:) outlives a lookup only for a moment, goes at once on close,
//     never under kPerLookupStrict, lets a waiting writer in while lookups
//     keep coming, and works in a child after fork();
//   * readers in the default mode see only versions of the table while cmap
//     rebuilds it and real postmap -i / -d change it (WriterSafetyTest).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "backends/hash_builder.h"
#include "backends/texthash_map.h"
#include "format/bdb_hash_reader.h"
#include "format/bdb_hash_writer.h"
#include "libmaps/libmaps.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"
#include "mapped_file.h"

namespace libmaps {
namespace {

namespace fs = std::filesystem;
using internal::BdbHashReader;
using internal::BdbRecord;
using ::testing::ElementsAreArray;

class Dir {
 public:
  Dir() {
    char tmpl[] = "/tmp/libmaps-fastpath-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~Dir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A source of `n` entries, some with upper-case keys.
std::string Source(int n, const std::string& value_prefix = "secret") {
  std::string text;
  for (int i = 0; i < n; ++i) {
    text += (i % 3 == 0 ? "[SMTP-" : "[smtp-") + std::to_string(i * 7919 % 100003) +
            ".Example.NET]:587 user" + std::to_string(i) + ":" + value_prefix +
            std::to_string(i) + "\n";
  }
  return text;
}

void Build(const std::string& spec, const std::string& source_path) {
  std::ifstream in(source_path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  BuildOptions options;
  auto builder = NewMapBuilder(spec, options);
  ASSERT_TRUE(builder.ok()) << builder.status();
  absl::Status s = AddSource(text, source_path, false, options,
                             [&](std::string_view k, std::string_view v) {
                               return (*builder)->Add(k, v);
                             });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE((*builder)->Commit().ok());
}

// Queries: every key in several spellings, and absent keys.
std::vector<std::string> Queries(int n) {
  std::vector<std::string> q;
  for (int i = 0; i < n + n / 5; ++i) {
    std::string host = std::to_string(i * 7919 % 100003);
    q.push_back("[smtp-" + host + ".example.net]:587");
    q.push_back("[SMTP-" + host + ".EXAMPLE.NET]:587");
  }
  q.push_back("");
  q.push_back("no such key");
  q.push_back("[smtp-1.example.net]:58");  // a prefix of a key
  return q;
}

std::string Answer(const absl::StatusOr<std::optional<std::string>>& r) {
  if (!r.ok()) return "ERROR " + std::string(r.status().message());
  return r->has_value() ? "=" + **r : "MISS";
}

std::vector<std::string> AnswersOf(const Map& map, const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const std::string& k : keys) out.push_back(Answer(map.Lookup(k)));
  return out;
}

OpenOptions Options(LockPolicy lock) {
  OpenOptions o;
  o.lock = lock;
  return o;
}

class FastPathTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FastPathTest, SnapshotPolicyAnswersAsPerLookup) {
  Dir dir;
  const std::string src = dir / "t";
  WriteText(src, Source(3000));
  Build(GetParam() + ":" + src, src);
  auto plain = OpenMap(GetParam() + ":" + src, Options(LockPolicy::kPerLookup));
  auto snap = OpenMap(GetParam() + ":" + src, Options(LockPolicy::kSnapshot));
  ASSERT_TRUE(plain.ok() && snap.ok());
  const std::vector<std::string> keys = Queries(3000);
  const std::vector<std::string> expected = AnswersOf(**plain, keys);
  EXPECT_EQ(std::count(expected.begin(), expected.end(), "MISS"), 2 * 600 + 3);
  EXPECT_THAT(AnswersOf(**snap, keys), ElementsAreArray(expected));
}

TEST_P(FastPathTest, LookupIntoAndLookupEachAnswerAsLookup) {
  Dir dir;
  const std::string src = dir / "t";
  WriteText(src, Source(2000));
  Build(GetParam() + ":" + src, src);
  for (LockPolicy lock : {LockPolicy::kPerLookup, LockPolicy::kSnapshot}) {
    auto map = OpenMap(GetParam() + ":" + src, Options(lock));
    ASSERT_TRUE(map.ok());
    std::vector<std::string> keys = Queries(2000);
    keys.push_back("bad \xff key");  // not UTF-8: a warning and a miss
    const std::vector<std::string> expected = AnswersOf(**map, keys);
    std::string value = "left over";
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::StatusOr<bool> found = (*map)->LookupInto(keys[i], &value);
      ASSERT_TRUE(found.ok());
      EXPECT_EQ(*found ? "=" + value : "MISS", expected[i]) << keys[i];
    }
    std::vector<std::string_view> views(keys.begin(), keys.end());
    std::vector<std::string> each;
    (*map)->LookupEach(views, [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& r) {
      EXPECT_EQ(i, each.size());
      each.push_back(!r.ok() ? "ERROR" : r->has_value() ? "=" + std::string(**r) : "MISS");
      return true;
    });
    EXPECT_THAT(each, ElementsAreArray(expected));
    // Stopping early.
    size_t calls = 0;
    (*map)->LookupEach(views, [&](size_t, const auto&) { return ++calls < 5; });
    EXPECT_EQ(calls, 5u);
  }
}

TEST_P(FastPathTest, LookupEachWarnsInKeyOrder) {
  Dir dir;
  const std::string src = dir / "t";
  WriteText(src, "good value\n");
  Build(GetParam() + ":" + src, src);
  std::vector<std::string> log;
  OpenOptions options;
  options.diagnostics = [&](Severity, std::string_view m) { log.emplace_back(m); };
  auto map = OpenMap(GetParam() + ":" + src, options);
  ASSERT_TRUE(map.ok());
  const std::vector<std::string_view> keys = {"bad1\xff", "good", "bad2\xfe", "good"};
  (*map)->LookupEach(keys, [&](size_t i, const auto& r) {
    log.push_back("result " + std::to_string(i) + (r.ok() && r->has_value() ? " hit" : " miss"));
    return true;
  });
  ASSERT_EQ(log.size(), 6u);
  EXPECT_THAT(log[0], ::testing::HasSubstr("bad1"));
  EXPECT_EQ(log[1], "result 0 miss");
  EXPECT_EQ(log[2], "result 1 hit");
  EXPECT_THAT(log[3], ::testing::HasSubstr("bad2"));
  EXPECT_EQ(log[4], "result 2 miss");
  EXPECT_EQ(log[5], "result 3 hit");
}

TEST_P(FastPathTest, SnapshotMovesToAReplacementAtItsNextCheck) {
  Dir dir;
  const std::string src = dir / "t";
  const std::string suffix = GetParam() == "hash" ? ".db" : ".lmdb";
  WriteText(src, Source(500, "old"));
  Build(GetParam() + ":" + src, src);
  auto map = OpenMap(GetParam() + ":" + src, Options(LockPolicy::kSnapshot));
  ASSERT_TRUE(map.ok());
  const std::string key = "[smtp-7919.example.net]:587";
  EXPECT_EQ(Answer((*map)->Lookup(key)), "=user1:old1");
  // A new table under another name, renamed into place (what cmap does).
  const std::string src2 = dir / "t2";
  WriteText(src2, Source(500, "new"));
  Build(GetParam() + ":" + src2, src2);
  ASSERT_EQ(::rename((src2 + suffix).c_str(), (src + suffix).c_str()), 0);
  // Until the next check (at most a second after the last one) the old,
  // intact file may still answer; after it, the new one does.
  const std::string first = Answer((*map)->Lookup(key));
  EXPECT_TRUE(first == "=user1:old1" || first == "=user1:new1") << first;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(Answer((*map)->Lookup(key)), "=user1:new1");
  EXPECT_EQ(Answer((*map)->Lookup(key)), "=user1:new1");
  // ForEach walks the file the lookups read.
  int records = 0, new_values = 0;
  ASSERT_TRUE((*map)->ForEach([&](std::string_view, std::string_view v) {
                      ++records;
                      new_values += v.find(":new") != std::string_view::npos;
                      return true;
                    }).ok());
  EXPECT_EQ(records, 500);
  EXPECT_EQ(new_values, 500);
}

INSTANTIATE_TEST_SUITE_P(Types, FastPathTest, ::testing::Values("hash", "lmdb"));

TEST(TexthashFastPath, AnswersAsBefore) {
  Dir dir;
  const std::string src = dir / "t";
  WriteText(src, Source(3000) + "# comment\n  \nMixed.Case  value with spaces \n");
  OpenOptions options;
  auto map = OpenMap("texthash:" + src, options);
  ASSERT_TRUE(map.ok()) << map.status();
  auto hash_src = dir / "h";
  WriteText(hash_src, Source(3000) + "Mixed.Case  value with spaces \n");
  Build("hash:" + hash_src, hash_src);
  auto reference = OpenMap("hash:" + hash_src, options);
  ASSERT_TRUE(reference.ok());
  std::vector<std::string> keys = Queries(3000);
  keys.push_back("mixed.case");
  keys.push_back("MIXED.CASE");
  EXPECT_THAT(AnswersOf(**map, keys), ElementsAreArray(AnswersOf(**reference, keys)));
  EXPECT_EQ(Answer((*map)->Lookup("MIXED.case")), "=value with spaces");
}

TEST(TexthashFastPath, SourceOrderAndDuplicates) {
  const std::string text = "b 1\na 2\nB 3\nc 4\nA 5\n";
  for (DuplicatePolicy dups : {DuplicatePolicy::kWarn, DuplicatePolicy::kIgnore,
                               DuplicatePolicy::kReplace}) {
    OpenOptions options;
    options.duplicates = dups;
    int warnings = 0;
    options.diagnostics = [&](Severity, std::string_view) { ++warnings; };
    auto map = internal::TexthashMapFromText(text, "t", options);
    ASSERT_TRUE(map.ok());
    std::vector<std::string> order;
    ASSERT_TRUE((*map)->ForEach([&](std::string_view k, std::string_view v) {
                        order.push_back(std::string(k) + "=" + std::string(v));
                        return true;
                      }).ok());
    if (dups == DuplicatePolicy::kReplace) {
      EXPECT_THAT(order, ElementsAreArray({"b=3", "a=5", "c=4"}));
      EXPECT_EQ(warnings, 0);
    } else {
      EXPECT_THAT(order, ElementsAreArray({"b=1", "a=2", "c=4"}));
      EXPECT_EQ(warnings, dups == DuplicatePolicy::kWarn ? 2 : 0);
    }
  }
  OpenOptions strict;
  EXPECT_EQ(internal::TexthashMapFromText(text, "t", strict).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TexthashFastPath, MessagesComeInSourceOrder) {
  // The load parses ahead of its inserts; parser messages (lines without a
  // value) and duplicate messages must still come in line order.
  std::string text;
  int expected = 0;
  for (int i = 1; i <= 200; ++i) {
    if (i % 7 == 0) {
      text += "novalue" + std::to_string(i) + "\n";  // a parser warning
      ++expected;
    } else if (i % 5 == 0) {
      text += "k1 again" + std::to_string(i) + "\n";  // a duplicate
      ++expected;
    } else {
      text += "k" + std::to_string(i) + " v\n";
    }
  }
  std::vector<int> lines;
  OpenOptions options;
  options.duplicates = DuplicatePolicy::kWarn;
  options.diagnostics = [&](Severity, std::string_view m) {
    const size_t at = m.find("line ");
    ASSERT_NE(at, std::string_view::npos) << m;
    lines.push_back(std::atoi(std::string(m.substr(at + 5)).c_str()));
  };
  auto map = internal::TexthashMapFromText(text, "t", options);
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(static_cast<int>(lines.size()), expected);
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
  // kFail stops at the first duplicate (line 5) with exactly the messages
  // before it (none: the first line without a value is line 7, although
  // the parser has read past it).
  lines.clear();
  options.duplicates = DuplicatePolicy::kFail;
  auto failed = internal::TexthashMapFromText(text, "t", options);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), ::testing::HasSubstr("line 5:"));
  EXPECT_TRUE(lines.empty());
}

TEST(TexthashFastPath, ManyEntriesOnFewLines) {
  // Continuation lines: fewer entries than lines is the usual case; this is
  // the other way round only through a table built from many sources, but
  // the index must grow whatever the estimate.
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "k" + std::to_string(i) + " v" + std::to_string(i) + "\n";
  auto map = internal::TexthashMapFromText(text, "t", OpenOptions{});
  ASSERT_TRUE(map.ok());
  for (int i = 0; i < 20000; i += 997) {
    EXPECT_EQ(Answer((*map)->Lookup("K" + std::to_string(i))), "=v" + std::to_string(i));
  }
  EXPECT_EQ(Answer((*map)->Lookup("k20000")), "MISS");
}

// The reader's fast path against its scanning path, on our writer's files.
TEST(HashReaderFastPath, FindsWhatTheScanFinds) {
  std::mt19937 rng(7);
  for (uint32_t page_size : {512u, 1024u, 4096u, 65536u}) {
    for (bool nul : {true, false}) {
      std::vector<std::pair<std::string, std::string>> pairs;
      std::map<std::string, std::string> seen;
      for (int i = 0; i < 3000; ++i) {
        std::string key = "k" + std::to_string(rng() % 5000);
        if (i % 7 == 0) key = key.substr(0, 2);                 // prefixes of others
        if (i % 97 == 0) key += std::string(page_size / 3, 'x');  // big keys
        std::string value = "v" + std::to_string(i);
        if (i % 89 == 0) value += std::string(page_size / 2, 'y');  // big values
        if (nul) {
          key.push_back('\0');
          value.push_back('\0');
        }
        if (seen.emplace(key, value).second) pairs.emplace_back(key, value);
      }
      std::vector<BdbRecord> records;
      for (const auto& [k, v] : pairs) records.push_back({k, v});
      internal::BdbHashWriterOptions wo;
      wo.page_size = page_size;
      absl::StatusOr<std::string> file = internal::WriteBdbHashToString(records, wo);
      ASSERT_TRUE(file.ok()) << file.status();
      auto reader = BdbHashReader::Open(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(file->data()), file->size()));
      ASSERT_TRUE(reader.ok());
      // Twice: the first visit of each page decides how it is searched.
      for (int round = 0; round < 2; ++round) {
        for (const auto& [k, v] : pairs) {
          absl::StatusOr<std::optional<std::string>> found = reader->Find(k);
          ASSERT_TRUE(found.ok() && found->has_value()) << page_size << " " << k;
          EXPECT_EQ(**found, v);
        }
        for (int i = 0; i < 500; ++i) {
          std::string absent = "absent" + std::to_string(i) + (nul ? std::string(1, '\0') : "");
          absl::StatusOr<std::optional<std::string>> found = reader->Find(absent);
          ASSERT_TRUE(found.ok());
          EXPECT_FALSE(found->has_value());
        }
      }
    }
  }
}

TEST(RecordSet, KeepsUniqueKeysThroughChanges) {
  internal::RecordSet records;
  std::map<std::string, std::string> model;
  std::vector<std::string> order;
  std::mt19937 rng(11);
  for (int i = 0; i < 60000; ++i) {
    const std::string key = "key" + std::to_string(rng() % 15000);
    const std::string value = "value" + std::to_string(i);
    const int op = static_cast<int>(rng() % 10);
    if (op < 7) {
      auto [index, inserted] = records.Insert(key, value, true);
      EXPECT_EQ(inserted, model.count(key) == 0);
      if (inserted) {
        model[key] = value;
        order.push_back(key);
      } else if (op == 6) {
        records.ReplaceValue(index, value, true);
        model[key] = value;
      }
    } else {
      const bool erased = records.Erase(key + std::string(1, '\0'));
      EXPECT_EQ(erased, model.erase(key) == 1);
      if (erased) order.erase(std::find(order.begin(), order.end(), key));
    }
  }
  std::vector<BdbRecord> live;
  std::vector<uint32_t> hashes;
  records.Live(&live, &hashes);
  ASSERT_EQ(live.size(), order.size());
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(live[i].key, order[i] + std::string(1, '\0'));
    EXPECT_EQ(live[i].value, model[order[i]] + std::string(1, '\0'));
    EXPECT_EQ(hashes[i], internal::bdb::Hash(std::span<const uint8_t>(
                             reinterpret_cast<const uint8_t*>(live[i].key.data()),
                             live[i].key.size())));
  }
}

TEST(BigBuffer, GrowsKeepsAndZeroes) {
  for (bool huge : {false, true}) {
    internal::BigArray<uint64_t> a(huge);
    for (uint64_t i = 0; i < 1000000; ++i) a.push_back(i * 3);
    for (uint64_t i = 0; i < 1000000; i += 999) ASSERT_EQ(a[i], i * 3);
    a.assign_zero(300000);
    ASSERT_EQ(a.size(), 300000u);
    for (uint64_t i = 0; i < 300000; i += 77) ASSERT_EQ(a[i], 0u);
    internal::BigArray<uint64_t> b(huge);
    b.swap(a);
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(b.size(), 300000u);
  }
}


// --- The lingering lock (LockPolicy::kPerLookup) ---------------------------
//
// A writer's view of the table file: can it take the exclusive lock
// Postfix's writers take (flock on NAME.db; an F_WRLCK on NAME.lmdb, an OFD
// lock here, which conflicts with every other open file description's lock,
// also in this process)?
class WriterLock {
 public:
  WriterLock(const std::string& type, const std::string& name)
      : lmdb_(type == "lmdb"),
        fd_(::open((name + (lmdb_ ? ".lmdb" : ".db")).c_str(), O_RDWR | O_CLOEXEC)) {}
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Takes the exclusive lock (`wait`: blocking); true when taken.
  bool Take(bool wait) {
    if (!lmdb_) return ::flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0;
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return ::fcntl(fd_, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0;
  }
  void Let() {
    if (!lmdb_) {
      ::flock(fd_, LOCK_UN);
      return;
    }
    struct flock fl = {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    ::fcntl(fd_, F_OFD_SETLK, &fl);
  }

 private:
  bool lmdb_;
  int fd_;
};

// Polls (without blocking) until the exclusive lock can be taken; how long
// that took in ms, or -1 after `limit`.
double MsUntilFree(WriterLock& w, std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (!w.Take(false)) {
    if (std::chrono::steady_clock::now() - start > limit) return -1;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  w.Let();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

class LingeringLockTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    src_ = dir_ / "t";
    WriteText(src_, Source(200));
    Build(GetParam() + ":" + src_, src_);
  }
  std::string Spec() const { return GetParam() + ":" + src_; }
  Dir dir_;
  std::string src_;
};

TEST_P(LingeringLockTest, LingersForAMomentAndGoesOnItsOwn) {
  auto map = OpenMap(Spec(), OpenOptions{});
  ASSERT_TRUE(map.ok()) << map.status();
  WriterLock writer(GetParam(), src_);
  ASSERT_TRUE(writer.ok());
  // Right after a lookup the lock is still held (nearly always: the reaper
  // lets it go 1 ms after the lookup, so a test thread descheduled for that
  // long finds it free; hence 20 tries).
  int held = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Answer((*map)->Lookup("[smtp-0.example.net]:587")), "=user0:secret0");
    if (writer.Take(false)) {
      writer.Let();
      continue;
    }
    ++held;
    // ... and it goes without another lookup or a close (the reaper).
    const double ms = MsUntilFree(writer, std::chrono::milliseconds(3000));
    EXPECT_GE(ms, 0) << "the lock was never let go";
    EXPECT_LT(ms, 1000);
  }
  EXPECT_GT(held, 0) << "the lock never lingered after a lookup";
  // Closing the map lets it go at once.
  ASSERT_EQ(Answer((*map)->Lookup("[smtp-7919.example.net]:587")), "=user1:secret1");
  map->reset();
  EXPECT_TRUE(writer.Take(false));
}

TEST_P(LingeringLockTest, StrictPolicyNeverLingers) {
  auto map = OpenMap(Spec(), Options(LockPolicy::kPerLookupStrict));
  ASSERT_TRUE(map.ok()) << map.status();
  WriterLock writer(GetParam(), src_);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE(writer.Take(false));  // not after the open either
  writer.Let();
  std::vector<std::string_view> keys = {"[smtp-0.example.net]:587", "nothing"};
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Answer((*map)->Lookup("[smtp-0.example.net]:587")), "=user0:secret0");
    EXPECT_TRUE(writer.Take(false));
    writer.Let();
    int n = 0;
    (*map)->LookupEach(keys,
                       [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
                         EXPECT_TRUE(r.ok());
                         ++n;
                         return true;
                       });
    EXPECT_EQ(n, 2);
    EXPECT_TRUE(writer.Take(false));
    writer.Let();
  }
  // The C API's flag for it.
  libmaps_map* c_map = nullptr;
  ASSERT_EQ(libmaps_open(Spec().c_str(), LIBMAPS_OPEN_NO_LINGER, &c_map, nullptr), LIBMAPS_OK);
  for (int i = 0; i < 20; ++i) {
    char* value = nullptr;
    const char* key = "[smtp-0.example.net]:587";
    ASSERT_EQ(libmaps_lookup(c_map, key, std::strlen(key), &value, nullptr, nullptr),
              LIBMAPS_OK);
    EXPECT_STREQ(value, "user0:secret0");
    libmaps_free(value);
    EXPECT_TRUE(writer.Take(false));
    writer.Let();
  }
  libmaps_close(c_map);
}

TEST_P(LingeringLockTest, AWaitingWriterGetsInWhileLookupsGoOn) {
  auto map = OpenMap(Spec(), OpenOptions{});
  ASSERT_TRUE(map.ok()) << map.status();
  std::atomic<bool> done{false};
  std::atomic<long> lookups{0};
  std::atomic<int> errors{0};
  // Two busy readers: one key by key (LookupInto) ...
  std::thread reader([&] {
    std::string value;
    while (!done) {
      absl::StatusOr<bool> found = (*map)->LookupInto("[smtp-0.example.net]:587", &value);
      if (!found.ok() || !*found || value != "user0:secret0") ++errors;
      ++lookups;
    }
  });
  // ... and one in batches (LookupEach), which lets the lock go the same way.
  std::thread batcher([&] {
    std::vector<std::string_view> keys(64, "[smtp-7919.example.net]:587");
    while (!done) {
      (*map)->LookupEach(keys,
                         [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
                           if (!r.ok() || !r->has_value() || **r != "user1:secret1") ++errors;
                           ++lookups;
                           return true;
                         });
    }
  });
  while (lookups < 1000) std::this_thread::yield();
  // A blocking writer, five times; it must get in while the reader runs.
  // The reader stops after the writer is done, or after 10 s if the writer
  // is starved, which fails the test without hanging it.
  std::atomic<int> entered{0};
  std::thread writer_thread([&] {
    WriterLock writer(GetParam(), src_);
    for (int i = 0; i < 5; ++i) {
      if (!writer.Take(true)) return;
      if (!done) ++entered;
      writer.Let();
    }
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (entered < 5 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int got_in = entered;
  done = true;
  reader.join();
  batcher.join();
  writer_thread.join();
  EXPECT_EQ(got_in, 5) << "a writer got in only " << got_in << " of 5 times in 10 s";
  EXPECT_EQ(errors, 0);
  EXPECT_GT(lookups.load(), 1000);
}

TEST_P(LingeringLockTest, AChildAfterForkLooksUpAndLetsGo) {
  auto map = OpenMap(Spec(), OpenOptions{});
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_EQ(Answer((*map)->Lookup("[smtp-0.example.net]:587")), "=user0:secret0");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The parent's lock is not the child's: the child takes it itself, and
    // its own reaper (a thread of the child's) lets it go.
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (Answer((*map)->Lookup("[smtp-7919.example.net]:587")) != "=user1:secret1") status = 1;
    }
    WriterLock writer(GetParam(), src_);
    if (MsUntilFree(writer, std::chrono::milliseconds(3000)) < 0) status |= 2;
    std::_Exit(status);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: a wrong answer in the child; 2: its lock never went";
  // The parent goes on as before.
  EXPECT_EQ(Answer((*map)->Lookup("[smtp-7919.example.net]:587")), "=user1:secret1");
  WriterLock writer(GetParam(), src_);
  EXPECT_GE(MsUntilFree(writer, std::chrono::milliseconds(3000)), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, LingeringLockTest, ::testing::Values("hash", "btree", "lmdb"));

// --- The cheaper checks and the batch stay safe under real writers --------
//
// Readers in the default mode (LockPolicy::kPerLookup: the quick meta-page
// check, a full check at most once a second, LookupEach holding the shared
// lock for at most HoldBound::kMaxHoldNs) loop over the table while a writer
// changes it in turn with cmap's rebuild (a new file renamed into place),
// real `postmap -i` (new keys, in place under flock(LOCK_EX)) and real
// `postmap -d` (deletes). Every answer must be one that some version of the
// table gives: a stable key always its value, a key that comes and goes
// either missing or its one value; never another value, never an error.

bool HavePostmap() { return std::system("command -v postmap >/dev/null 2>&1") == 0; }

// Runs `postmap -c conf ARGS` with `input` on its standard input.
int Postmap(const std::string& conf, const std::string& args, const std::string& input) {
  std::string cmd = "postmap -c '" + conf + "' " + args + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "w");
  if (p == nullptr) return -1;
  std::fwrite(input.data(), 1, input.size(), p);
  return ::pclose(p);
}

// A configuration directory for `postmap -c` in `dir`, its main.cf
// back-dated so that postmap does not wait 2 s for it to settle; "" when it
// cannot be made.
std::string PostmapConf(const Dir& dir) {
  const std::string conf = dir / "conf";
  if (::mkdir(conf.c_str(), 0755) != 0) return "";
  const std::string main_cf = conf + "/main.cf";
  WriteText(main_cf, "compatibility_level = 3.6\n");
  struct timespec epoch[2] = {{0, 0}, {0, 0}};
  if (::utimensat(AT_FDCWD, main_cf.c_str(), epoch, 0) != 0) return "";
  return conf;
}

constexpr int kStable = 3000, kChurn = 300, kAdded = 300;
std::string StableKey(int i) { return "stable-" + std::to_string(i) + ".example"; }
std::string ChurnKey(int j) { return "churn-" + std::to_string(j) + ".example"; }
std::string AddedKey(int j) { return "added-" + std::to_string(j) + ".example"; }

// What any version of the table may answer for `key`: "=value" or "MISS".
bool Allowed(const std::string& key, const std::string& answer) {
  auto num = [&](std::string_view prefix) {
    return key.substr(prefix.size(), key.find('.') - prefix.size());
  };
  if (key.rfind("stable-", 0) == 0) return answer == "=s-" + num("stable-");
  if (key.rfind("churn-", 0) == 0) return answer == "MISS" || answer == "=r-" + num("churn-");
  return answer == "MISS" || answer == "=n-" + num("added-");
}

class WriterSafetyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(WriterSafetyTest, ReadersSeeOnlyVersionsOfTheTable) {
  ASSERT_TRUE(HavePostmap()) << "postmap is missing: scripts/setup.sh installs Postfix";
  Dir dir;
  const std::string conf = PostmapConf(dir);
  ASSERT_FALSE(conf.empty());

  const std::string src = dir / "t";
  const std::string spec = GetParam() + ":" + src;
  std::string base;
  for (int i = 0; i < kStable; ++i) base += StableKey(i) + " s-" + std::to_string(i) + "\n";
  for (int j = 0; j < kChurn; ++j) base += ChurnKey(j) + " r-" + std::to_string(j) + "\n";
  WriteText(src, base);
  Build(spec, src);
  std::string added, deleted;
  for (int j = 0; j < kAdded; ++j) added += AddedKey(j) + " n-" + std::to_string(j) + "\n";
  for (int j = 0; j < kChurn; j += 2) deleted += ChurnKey(j) + "\n";
  for (int j = 0; j < kAdded; j += 2) deleted += AddedKey(j) + "\n";

  std::vector<std::string> keys;
  for (int i = 0; i < kStable; i += 7) keys.push_back(StableKey(i));
  for (int j = 0; j < kChurn; ++j) keys.push_back(ChurnKey(j));
  for (int j = 0; j < kAdded; ++j) keys.push_back(AddedKey(j));
  std::vector<std::string_view> views(keys.begin(), keys.end());

  auto map = OpenMap(spec, OpenOptions{});  // the default: kPerLookup
  ASSERT_TRUE(map.ok()) << map.status();
  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<std::string> bad;
  std::atomic<long> answers{0}, added_hits{0}, added_misses{0};
  auto judge = [&](const std::string& key, const std::string& answer) {
    ++answers;
    if (key.rfind("added-", 0) == 0) ++(answer == "MISS" ? added_misses : added_hits);
    if (!Allowed(key, answer)) {
      std::lock_guard<std::mutex> l(mu);
      if (bad.size() < 10) bad.push_back(key + " -> " + answer);
    }
  };
  // One reader key by key (LookupInto), one in batches of 64 (LookupEach).
  std::thread one([&] {
    std::string value;
    while (!done) {
      for (const std::string& k : keys) {
        absl::StatusOr<bool> found = (*map)->LookupInto(k, &value);
        judge(k, !found.ok() ? "ERROR " + std::string(found.status().message())
                             : *found ? "=" + value : "MISS");
      }
    }
  });
  std::thread batch([&] {
    while (!done) {
      for (size_t start = 0; start < views.size(); start += 64) {
        auto part = std::span<const std::string_view>(views).subspan(
            start, std::min<size_t>(64, views.size() - start));
        (*map)->LookupEach(part, [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& r) {
          judge(std::string(part[i]),
                !r.ok() ? "ERROR " + std::string(r.status().message())
                        : r->has_value() ? "=" + std::string(**r) : "MISS");
          return true;
        });
      }
    }
  });
  // The writer: rounds of rebuild, postmap -i, postmap -d, for 3 s at least.
  int rounds = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (rounds < 3 || std::chrono::steady_clock::now() < until) {
    Build(spec, src);  // cmap's rebuild: a new file renamed into place
    EXPECT_EQ(Postmap(conf, "-i " + spec, added), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let readers see it
    EXPECT_EQ(Postmap(conf, "-d - " + spec, deleted), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ++rounds;
  }
  // Past the full check's interval, the last version is seen whole.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  done = true;
  one.join();
  batch.join();
  for (const std::string& b : bad) ADD_FAILURE() << "an answer from no version: " << b;
  EXPECT_TRUE(bad.empty());
  // The readers did see the table change (the test can tell).
  EXPECT_GT(added_hits.load(), 0);
  EXPECT_GT(added_misses.load(), 0);
  EXPECT_GT(answers.load(), 10000);
  // The last version: odd added keys present, even ones deleted.
  EXPECT_EQ(Answer((*map)->Lookup(AddedKey(1))), "=n-1");
  EXPECT_EQ(Answer((*map)->Lookup(AddedKey(2))), "MISS");
  EXPECT_EQ(Answer((*map)->Lookup(ChurnKey(2))), "MISS");
  EXPECT_EQ(Answer((*map)->Lookup(ChurnKey(3))), "=r-3");
  std::printf("%s: %d rounds, %ld answers checked\n", GetParam().c_str(), rounds,
              answers.load());
}

INSTANTIATE_TEST_SUITE_P(Types, WriterSafetyTest, ::testing::Values("hash", "lmdb"));

// `postmap -i lmdb:` commits a transaction per key and takes no lock at all
// (postfix-semantics 5.4), and with Postfix's MDB_NOLOCK liblmdb keeps no
// table of readers: the pages of a reader's snapshot are rewritten from the
// third commit after it on. Here the writer runs while LookupEach's `fn`
// holds the value, deterministically (the loop above meets it only now and
// then): 400 commits of keys beside the one looked up, so its leaf page is
// copied away and reused. What `fn` was handed must not change under it.
TEST(LmdbUnlockedWriter, AValueHandedOutStaysWhileTheWriterCommits) {
  ASSERT_TRUE(HavePostmap()) << "postmap is missing: scripts/setup.sh installs Postfix";
  Dir dir;
  const std::string conf = PostmapConf(dir);
  ASSERT_FALSE(conf.empty());
  const std::string src = dir / "t";
  std::string base, added;
  for (int i = 0; i < 400; ++i) base += "key-" + std::to_string(1000 + i) + " v-" + std::to_string(i) + "\n";
  for (int i = 0; i < 400; ++i) added += "key-" + std::to_string(1000 + i) + "x n-" + std::to_string(i) + "\n";
  WriteText(src, base);
  Build("lmdb:" + src, src);
  auto map = OpenMap("lmdb:" + src, OpenOptions{});
  ASSERT_TRUE(map.ok()) << map.status();
  const std::string_view keys[] = {"key-1200"};
  int calls = 0, writer_status = -1;
  std::string before, after;
  (*map)->LookupEach(keys, [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
    ++calls;
    if (!r.ok() || !r->has_value()) return false;
    before.assign(**r);
    writer_status = Postmap(conf, "-i lmdb:" + src, added);  // 400 commits
    after.assign(**r);
    return true;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(writer_status, 0);
  EXPECT_EQ(before, "v-200");
  EXPECT_EQ(after, before) << "the value changed while the caller held it";
  EXPECT_EQ(Answer((*map)->Lookup("key-1200x")), "=n-200");  // the writer did write
}

}  // namespace
}  // namespace libmaps
