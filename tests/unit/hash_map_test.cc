// hash: maps: Postfix's lookup rules over the native reader, the open-time
// messages postmap prints, locking, and files that change while open.

#include "backends/hash_map.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bdb_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libmaps/libmaps.h"
#include "libmaps/map.h"

namespace libmaps::internal {
namespace {

namespace fs = std::filesystem;
using ::libmaps::testing::BdbDataDir;
using ::libmaps::testing::BuildHashFile;
using ::libmaps::testing::Pairs;
using ::libmaps::testing::ReadFileBytes;
using ::libmaps::testing::TempDir;
using ::libmaps::testing::WriteFileBytes;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// A map opened from a copy of a sample (or built) file in a scratch
// directory, with its diagnostics collected.
class HashMapTest : public ::testing::Test {
 protected:
  // Copies tests/compat/data/bdb/<sample> to <tmp>/<name>.db; returns the
  // map name (the path without ".db").
  std::string CopySample(std::string_view sample, std::string_view name) {
    std::string base = (dir_.path() / name).string();
    fs::copy_file(BdbDataDir() / sample, base + ".db",
                  fs::copy_options::overwrite_existing);
    return base;
  }
  std::string Write(std::string_view name, const std::string& bytes) {
    std::string base = (dir_.path() / name).string();
    WriteFileBytes(base + ".db", bytes);
    return base;
  }

  absl::StatusOr<std::unique_ptr<Map>> Open(const std::string& name,
                                            OpenOptions options = {}) {
    options.diagnostics = [this](Severity severity, std::string_view m) {
      std::lock_guard<std::mutex> guard(mu_);
      (severity == Severity::kWarning ? warnings_ : errors_).emplace_back(m);
    };
    return OpenHashMap(name, options);
  }

  static std::string Get(const Map& map, std::string_view key) {
    absl::StatusOr<std::optional<std::string>> v = map.Lookup(key);
    if (!v.ok()) return "ERROR: " + Msg(v.status());
    return v->has_value() ? **v : "MISS";
  }

  static std::vector<std::pair<std::string, std::string>> All(const Map& map) {
    std::vector<std::pair<std::string, std::string>> all;
    absl::Status s = map.ForEach([&](std::string_view k, std::string_view v) {
      all.emplace_back(k, v);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return all;
  }

  TempDir dir_;
  std::mutex mu_;
  std::vector<std::string> warnings_;
  std::vector<std::string> errors_;
};

// --- Opening: postmap's messages -------------------------------------------

TEST_F(HashMapTest, MissingFile) {
  std::string name = (dir_.path() / "nonexist").string();
  absl::Status s = Open(name).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Msg(s), "open database " + name + ".db: No such file or directory");
}

TEST_F(HashMapTest, ZeroLengthFile) {
  std::string name = Write("zero", "");
  absl::Status s = Open(name).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Msg(s), "open database " + name + ".db: Invalid argument");
}

TEST_F(HashMapTest, GarbageFile) {
  std::string name = Write("garbage", std::string(5000, 'x'));
  absl::Status s = Open(name).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Msg(s), "open database " + name + ".db: Invalid argument");
  // Why, in a line of its own (libdb prints one too).
  EXPECT_THAT(errors_, ElementsAre(HasSubstr("not a Berkeley DB hash file")));
}

TEST_F(HashMapTest, Directory) {
  std::string name = (dir_.path() / "dir").string();
  fs::create_directory(name + ".db");
  EXPECT_EQ(Msg(Open(name).status()), "open database " + name + ".db: Is a directory");
}

TEST_F(HashMapTest, EncryptedFileIsRefusedClearly) {
  std::string name = CopySample("libdb/encrypted-512.db", "enc");
  absl::Status s = Open(name).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("open database " + name + ".db: "));
  EXPECT_THAT(Msg(s), HasSubstr("encrypted"));
}

TEST_F(HashMapTest, DuplicateKeyDatabaseIsRefusedClearly) {
  std::string name = CopySample("libdb/dup-512.db", "dup");
  absl::Status s = Open(name).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(s), HasSubstr("duplicate keys"));
}

TEST_F(HashMapTest, RegisteredAsHash) {
  std::string name = CopySample("postmap/sasl_passwd.db", "sasl");
  absl::StatusOr<std::unique_ptr<Map>> map = OpenMap("hash:" + name);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ((*map)->type(), "hash");
  EXPECT_EQ((*map)->name(), name);
}

TEST_F(HashMapTest, ThroughTheCApi) {
  std::string name = CopySample("postmap/sasl_passwd.db", "sasl");
  libmaps_map* map = nullptr;
  char* err = nullptr;
  ASSERT_EQ(libmaps_open(("hash:" + name).c_str(), 0, &map, &err), LIBMAPS_OK) << err;
  char* value = nullptr;
  size_t length = 0;
  const std::string key = "MX1.isp.example";
  ASSERT_EQ(libmaps_lookup(map, key.data(), key.size(), &value, &length, &err),
            LIBMAPS_OK);
  EXPECT_EQ(std::string(value, length), Get(**Open(name), key));
  libmaps_free(value);
  EXPECT_EQ(libmaps_lookup(map, "absent", 6, &value, &length, &err), LIBMAPS_NOTFOUND);
  libmaps_close(map);
  EXPECT_EQ(libmaps_open(("hash:" + name + "-missing").c_str(), 0, &map, &err),
            LIBMAPS_ERR_CONFIG);
  libmaps_free(err);
}

// --- Lookups as Postfix does them ------------------------------------------

TEST_F(HashMapTest, FoldsKeysLikeTexthash) {
  std::string name = CopySample("postmap/utf8.db", "utf8");
  auto map = Open(name);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(Get(**map, "STRASSE"), "sharp-s");
  EXPECT_EQ(Get(**map, "Straße"), "sharp-s");
  EXPECT_EQ(Get(**map, "ÄÖÜ"), "umlaut-upper");
  EXPECT_EQ(Get(**map, "ΣΊΣΥΦΟΣ"), "greek");
  EXPECT_EQ(Get(**map, "ASCII"), "Upper");  // values keep their case
  auto unfolded = Open(name, {.fold_case = false});
  EXPECT_EQ(Get(**unfolded, "STRASSE"), "MISS");
  EXPECT_EQ(Get(**unfolded, "strasse"), "sharp-s");
  // ASCII-only folding (postmap -u): ÄÖÜ stays as it is, and misses.
  auto ascii = Open(name, {.utf8 = false});
  EXPECT_EQ(Get(**ascii, "ÄÖÜ"), "MISS");
  EXPECT_EQ(Get(**ascii, "äöü"), "umlaut-upper");
}

TEST_F(HashMapTest, NonUtf8QueryKeyIsAMissWithPostfixsWarning) {
  std::string name = CopySample("postmap/utf8.db", "utf8");
  auto map = Open(name);
  EXPECT_EQ(Get(**map, "bad\xffkey"), "MISS");
  EXPECT_THAT(warnings_, ElementsAre("hash:" + name + ".db: non-UTF-8 key "
                                     "\"bad?key\": malformed UTF-8 or invalid "
                                     "codepoint"));
  warnings_.clear();
  auto raw = Open(name, {.utf8 = false});
  EXPECT_EQ(Get(**raw, "bad\xffkey"), "MISS");
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(HashMapTest, NonUtf8StoredValueIsAQueryErrorThatHidesTheValue) {
  Pairs pairs = {{std::string("k1\0", 3), std::string("pass\xfe-word\0", 11)},
                 {std::string("k2\0", 3), std::string("fine\0", 5)}};
  std::string name = Write("bin", BuildHashFile(pairs, {.page_size = 512}));
  auto map = Open(name);
  absl::Status s = (*map)->Lookup("K1").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Msg(s), "table hash:" + name + ".db: query error");
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("key \"K1\": non-UTF-8 value"));
  EXPECT_THAT(warnings_[0], ::testing::Not(HasSubstr("pass")));
  EXPECT_EQ(Get(**map, "k2"), "fine");
  auto raw = Open(name, {.utf8 = false});
  EXPECT_EQ(Get(**raw, "k1"), "pass\xfe-word");
}

TEST_F(HashMapTest, NulProbingIsStickyPerHandle) {
  // mixed.db: k1 and k2 without NUL (postmap -n), k3 with NUL.
  std::string name = CopySample("postmap/mixed.db", "mixed");
  auto map = Open(name);
  EXPECT_EQ(Get(**map, "k1"), "v1");
  EXPECT_EQ(Get(**map, "k3"), "MISS");
  EXPECT_EQ(Get(**map, "k2"), "v2");
  map = Open(name);
  EXPECT_EQ(Get(**map, "k3"), "v3");
  EXPECT_EQ(Get(**map, "k1"), "MISS");
  EXPECT_EQ(Get(**map, "k2"), "MISS");
  // A miss decides nothing.
  map = Open(name);
  EXPECT_EQ(Get(**map, "zz"), "MISS");
  EXPECT_EQ(Get(**map, "k1"), "v1");
  // Forced styles (postmap -N / -n).
  map = Open(name, {.nul = NulPolicy::kWith});
  EXPECT_EQ(Get(**map, "k1"), "MISS");
  EXPECT_EQ(Get(**map, "k3"), "v3");
  map = Open(name, {.nul = NulPolicy::kWithout});
  EXPECT_EQ(Get(**map, "k3"), "MISS");
  EXPECT_EQ(Get(**map, "k1"), "v1");
  EXPECT_EQ(Get(**map, "k2"), "v2");
}

TEST_F(HashMapTest, ConcurrentFirstLookupsSettleOnOneStyle) {
  std::string name = CopySample("postmap/mixed.db", "mixed");
  for (int round = 0; round < 20; ++round) {
    auto map = Open(name);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] { (void)Get(**map, t % 2 ? "k1" : "k3"); });
    }
    for (auto& t : threads) t.join();
    // Whichever style won, it still works.
    EXPECT_TRUE(Get(**map, "k1") == "v1" || Get(**map, "k3") == "v3");
  }
}

TEST_F(HashMapTest, ValuesAndKeysEndAtTheirFirstNul) {
  Pairs pairs = {{std::string("ab\0cd", 5), std::string("v1\0v2\0", 6)},
                 {std::string("k2\0", 3), std::string("val\0x\0", 6)},
                 {"k3", std::string("\0lead", 5)}};
  std::string name = Write("nul", BuildHashFile(pairs, {.page_size = 512, .buckets = 2}));
  auto map = Open(name, {.utf8 = false});
  EXPECT_EQ(Get(**map, "k2"), "val");
  EXPECT_THAT(All(**map), ::testing::UnorderedElementsAre(
                              Pair("ab", "v1"), Pair("k2", "val"), Pair("k3", "")));
}

TEST_F(HashMapTest, ForEachIsPostmapDashSOrder) {
  // What postmap -s printed for these files (their dumps, NULs removed).
  std::string name = CopySample("postmap/syntax.db", "syntax");
  auto map = Open(name);
  std::vector<std::pair<std::string, std::string>> expected;
  for (auto& [k, v] : testing::ParseDump(
           ReadFileBytes(BdbDataDir() / "postmap/syntax.db.dump.txt"))) {
    expected.emplace_back(k.substr(0, k.find('\0')), v.substr(0, v.find('\0')));
  }
  EXPECT_EQ(All(**map), expected);
  EXPECT_EQ(expected.size(), 10u);
}

TEST_F(HashMapTest, ForEachStops) {
  std::string name = CopySample("libdb/multi-512.db", "multi");
  auto map = Open(name);
  int calls = 0;
  EXPECT_TRUE((*map)->ForEach([&](std::string_view, std::string_view) {
                       return ++calls < 5;
                     }).ok());
  EXPECT_EQ(calls, 5);
}

TEST_F(HashMapTest, CorruptPageIsDataLossNamingThePage) {
  std::string file = ReadFileBytes(BdbDataDir() / "libdb/small-512.db");
  file[512 + 25] = 7;  // page 1 is no longer a bucket page
  std::string name = Write("corrupt", file);
  auto map = Open(name, {.utf8 = false});
  ASSERT_TRUE(map.ok());
  absl::Status s = (*map)->Lookup("alpha").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Msg(s), "database " + name + ".db is corrupt: page 1: page type 7 "
                    "where a hash bucket page belongs");
  EXPECT_EQ((*map)->ForEach([](auto, auto) { return true; }).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Get(**map, "gamma"), "third");  // bucket 1 is fine
}

// --- The "older than source file" warning ----------------------------------

void SetMtime(const std::string& path, int seconds_ago) {
  fs::last_write_time(path, fs::file_time_type::clock::now() -
                                std::chrono::seconds(seconds_ago));
}

TEST_F(HashMapTest, WarnsWhenOlderThanASettledSource) {
  std::string name = CopySample("postmap/sasl_passwd.db", "sasl");
  WriteFileBytes(name, "source\n");
  SetMtime(name + ".db", 3600);
  SetMtime(name, 600);
  ASSERT_TRUE(Open(name).ok());
  EXPECT_THAT(warnings_, ElementsAre("database " + name +
                                     ".db is older than source file " + name));
  // A source edited in the last 100 seconds is not reported.
  warnings_.clear();
  SetMtime(name, 30);
  ASSERT_TRUE(Open(name).ok());
  EXPECT_THAT(warnings_, IsEmpty());
  // Nor is an older source.
  SetMtime(name, 7200);
  ASSERT_TRUE(Open(name).ok());
  EXPECT_THAT(warnings_, IsEmpty());
}

// --- Locking and files that change ------------------------------------------

TEST_F(HashMapTest, LookupWaitsForAWritersExclusiveLock) {
  std::string name = CopySample("postmap/sasl_passwd.db", "sasl");
  auto map = Open(name);
  int fd = ::open((name + ".db").c_str(), O_RDONLY);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::atomic<bool> done{false};
  std::string value;
  std::thread reader([&] {
    value = Get(**map, "mx1.isp.example");
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(done);
  ::flock(fd, LOCK_UN);
  reader.join();
  ::close(fd);
  EXPECT_TRUE(done);
  EXPECT_NE(value.rfind("ERROR", 0), 0u) << value;
  EXPECT_NE(value, "MISS");
}

Pairs NumberedPairs(const std::string& prefix, int n, size_t value_size = 8) {
  Pairs pairs;
  for (int i = 0; i < n; ++i) {
    std::string key = "key" + std::to_string(i);
    key.push_back('\0');
    std::string value = prefix + std::to_string(i);
    value.resize(std::max(value.size(), value_size), '.');
    value.push_back('\0');
    pairs.emplace_back(key, value);
  }
  return pairs;
}

TEST_F(HashMapTest, SeesAFileRewrittenInPlace) {
  std::string name = Write("t", BuildHashFile(NumberedPairs("old", 50), {.buckets = 4}));
  auto map = Open(name);
  EXPECT_EQ(Get(**map, "key7"), "old7....");
  // As postmap does it: same inode, truncated and written again, under
  // LOCK_EX. The new file is smaller.
  int fd = ::open((name + ".db").c_str(), O_WRONLY);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::string fresh = BuildHashFile(NumberedPairs("new", 5), {.buckets = 2});
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  ASSERT_EQ(::write(fd, fresh.data(), fresh.size()), static_cast<ssize_t>(fresh.size()));
  ::close(fd);
  EXPECT_EQ(Get(**map, "key3"), "new3....");
  EXPECT_EQ(Get(**map, "key7"), "MISS");
}

TEST_F(HashMapTest, SeesAFileReplacedByRename) {
  std::string name = Write("t", BuildHashFile(NumberedPairs("old", 50), {.buckets = 4}));
  auto map = Open(name);
  EXPECT_EQ(Get(**map, "key7"), "old7....");
  WriteFileBytes(name + ".db.tmp", BuildHashFile(NumberedPairs("new", 10), {}));
  fs::rename(name + ".db.tmp", name + ".db");
  // The replaced file is whole: until the next full check of the file (at
  // most a second away) a lookup may still read it; never anything else.
  EXPECT_THAT(Get(**map, "key7"), AnyOf("old7....", "new7...."));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(Get(**map, "key7"), "new7....");
  // Removed altogether: the old (intact) file goes on serving.
  fs::remove(name + ".db");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(Get(**map, "key7"), "new7....");
}

TEST_F(HashMapTest, ForEachFailsWhenTheFileChangesUnderIt) {
  // More than one read chunk (1 MiB) of records.
  std::string name =
      Write("big", BuildHashFile(NumberedPairs("v", 3000, 900), {.buckets = 64}));
  auto map = Open(name);
  bool first = true;
  absl::Status s = (*map)->ForEach([&](std::string_view, std::string_view) {
    if (first) SetMtime(name + ".db", 10);  // a change, as far as fstat knows
    first = false;
    return true;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Msg(s), HasSubstr("changed while it was being read"));
}

TEST_F(HashMapTest, TruncationWithoutTheLockNeverKillsTheProcess) {
  // A writer that ignores the lock protocol truncates and rewrites the file
  // over and over while lookups run. Lookups may see the file at any stage;
  // every outcome must be a value, a miss or an error: never a crash.
  Pairs pairs = NumberedPairs("v", 4000, 60);
  const std::string content = BuildHashFile(pairs, {.buckets = 64});
  std::string name = Write("churn", content);
  auto map = Open(name);
  ASSERT_TRUE(map.ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      int fd = ::open((name + ".db").c_str(), O_WRONLY);
      if (fd < 0) continue;
      (void)::ftruncate(fd, 0);
      std::this_thread::yield();
      (void)::write(fd, content.data(), content.size());
      ::close(fd);
    }
  });
  int values = 0, misses = 0, errors = 0, vanished = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(700);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    absl::StatusOr<std::optional<std::string>> v =
        (*map)->Lookup("key" + std::to_string(i % 4000));
    if (!v.ok()) {
      ++errors;
      vanished += Msg(v.status()).find("shrank") != std::string::npos;
    } else if (v->has_value()) {
      ++values;
      std::string expected = pairs[i % 4000].second;
      expected.pop_back();
      EXPECT_EQ(**v, expected);
    } else {
      ++misses;
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(values + misses + errors, 0);
  std::printf("churn: %d values, %d misses, %d errors (%d: shrank while read)\n",
              values, misses, errors, vanished);
}

TEST_F(HashMapTest, LookupEachTakesBackAValueReadWhileTheFileShrank) {
  // LookupEach's values are views of the mapping. A writer that ignores the
  // lock truncates the file while `fn` holds the view (here: `fn` itself,
  // before it reads the value): what `fn` reads is zeros, and it must hear
  // so, by a second call for the same key with an error.
  Pairs pairs = NumberedPairs("v", 400, 60);
  std::string name = Write("shrink", BuildHashFile(pairs, {.buckets = 16}));
  for (LockPolicy policy : {LockPolicy::kPerLookup, LockPolicy::kSnapshot}) {
    ASSERT_TRUE(Write("shrink", BuildHashFile(pairs, {.buckets = 16})) == name);
    OpenOptions options;
    options.lock = policy;
    auto map = OpenMap("hash:" + name, options);
    ASSERT_TRUE(map.ok());
    const std::string_view keys[] = {"key7", "key8"};
    std::vector<std::optional<std::string>> got(2);
    std::vector<int> calls(2);
    bool truncated = false;
    (*map)->LookupEach(keys, [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& r) {
      ++calls[i];
      if (!r.ok()) {
        got[i].reset();
        return true;
      }
      if (!r->has_value()) return true;
      if (!truncated) {
        truncated = true;
        EXPECT_EQ(::truncate((name + ".db").c_str(), 0), 0);
      }
      got[i] = std::string(**r);
      return true;
    });
    EXPECT_EQ(calls[0], 2) << "policy " << static_cast<int>(policy);
    EXPECT_FALSE(got[0].has_value()) << "a value read from a truncated file was not taken back";
  }
}

TEST_F(HashMapTest, ManyThreadsShareOneMap) {
  Pairs pairs = NumberedPairs("v", 2000);
  std::string name = Write("mt", BuildHashFile(pairs, {.buckets = 32}));
  auto map = Open(name);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 2000; i += 3) {
        std::string expected = pairs[i].second;
        expected.pop_back();
        if (Get(**map, "KEY" + std::to_string(i)) != expected) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace libmaps::internal
