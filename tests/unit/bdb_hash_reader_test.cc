// BdbHashReader over files written by libdb 5.3 and postmap 3.7.11
// (tests/compat/data/bdb, each with its db_dump output) and over files made
// by the test builder for what no sample covers. docs/hash-format.md is the
// reference.

#include "format/bdb_hash_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bdb_test_util.h"
#include "format/bdb_hash_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;
namespace fs = std::filesystem;
using ::libmaps::testing::BdbDataDir;
using ::libmaps::testing::BuildHashFile;
using ::libmaps::testing::BuildOptions;
using ::libmaps::testing::Pairs;
using ::libmaps::testing::ParseDump;
using ::libmaps::testing::ReadFileBytes;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<Pairs> ReadAll(const BdbHashReader& reader) {
  Pairs pairs;
  absl::Status s = reader.ForEach([&](std::string_view k, std::string_view v) {
    pairs.emplace_back(k, v);
    return true;
  });
  if (!s.ok()) return s;
  return pairs;
}

void Put32(std::string& file, size_t off, uint32_t v, bool big_endian = false) {
  for (int i = 0; i < 4; ++i) {
    file[off + i] = static_cast<char>(v >> (big_endian ? 24 - 8 * i : 8 * i));
  }
}

void Put16(std::string& file, size_t off, uint16_t v) {
  file[off] = static_cast<char>(v);
  file[off + 1] = static_cast<char>(v >> 8);
}

uint32_t Get32(const std::string& file, size_t off) {
  return b::LoadLe32(reinterpret_cast<const uint8_t*>(file.data()) + off);
}

std::string Sample(std::string_view name) {
  return ReadFileBytes(BdbDataDir() / name);
}

// --- The format primitives (docs/hash-format.md §6, §8) -----------------

TEST(BdbHashFormat, HashTestVectors) {
  auto h = [](std::string_view s) {
    return b::Hash({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  };
  EXPECT_EQ(h(""), 0u);
  EXPECT_EQ(h("a"), 0x61u);
  EXPECT_EQ(h("abc"), 0x84F09160u);
  EXPECT_EQ(h(std::string_view("alpha\0", 6)), 0x20AF6614u);
  EXPECT_EQ(h(std::string_view("beta\0", 5)), 0xEF366142u);
  EXPECT_EQ(h(std::string_view("gamma\0", 6)), 0x08AD0481u);
  EXPECT_EQ(h(std::string_view("postmaster\0", 11)), 0xEA916A38u);
  EXPECT_EQ(h(std::string_view("user@example.com\0", 17)), 0x6953485Au);
  EXPECT_EQ(b::Hash(b::kCharKey), b::kDefaultCharKeyHash);
}

TEST(BdbHashFormat, ChecksumTestVectors) {
  EXPECT_EQ(b::Checksum({}), 0u);
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(b::Checksum(abc), 0x0001A9A6u);
  // The stored checksums of a libdb file with DB_CHKSUM.
  std::string file = Sample("libdb/chksum-small-4096.db");
  ASSERT_EQ(file.size(), 3u * 4096);
  EXPECT_EQ(b::PageChecksum(Bytes(file).first(4096), true), 0x1426A35Cu);
  EXPECT_EQ(b::PageChecksum(Bytes(file).subspan(4096, 4096), false), 0x922AC2D1u);
}

TEST(BdbHashFormat, CeilLog2) {
  EXPECT_EQ(b::CeilLog2(0), 0u);
  EXPECT_EQ(b::CeilLog2(1), 0u);
  EXPECT_EQ(b::CeilLog2(2), 1u);
  EXPECT_EQ(b::CeilLog2(3), 2u);
  EXPECT_EQ(b::CeilLog2(4), 2u);
  EXPECT_EQ(b::CeilLog2(5), 3u);
  EXPECT_EQ(b::CeilLog2(8), 3u);
  EXPECT_EQ(b::CeilLog2(uint32_t{1} << 31), 31u);
}

TEST(BdbHashFormat, ByteOrder) {
  const uint8_t bytes[] = {0x00, 0x06, 0x15, 0x61};
  EXPECT_EQ(b::ByteOrder(true).U32(bytes), b::kHashMagic);
  EXPECT_EQ(b::ByteOrder(false).U32(bytes), 0x61150600u);
  EXPECT_EQ(b::ByteOrder(true).U16(bytes + 2), 0x1561u);
  EXPECT_EQ(b::ByteOrder(false).U16(bytes + 2), 0x6115u);
}

// --- Every sample reads back as its dump ----------------------------------

// The samples the reader refuses (see RefusesEncryptedDuplicateAndSubDatabases).
bool Refused(const std::string& name) {
  return name == "libdb/encrypted-512.db" || name == "libdb/dup-512.db" ||
         name == "libdb/offdup-512.db";
}

// Every sample the reader reads, e.g. "libdb/multi-512.db".
std::vector<std::string> SampleNames() {
  std::vector<std::string> names;
  for (const char* dir : {"libdb", "postmap"}) {
    for (const auto& entry : fs::directory_iterator(BdbDataDir() / dir)) {
      std::string name = std::string(dir) + "/" + entry.path().filename().string();
      if (entry.path().extension() == ".db" && !Refused(name)) names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SampleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SampleTest, ReadsBackAsItsDump) {
  const std::string& name = GetParam();
  std::string file = Sample(name);
  Pairs dump = ParseDump(ReadFileBytes(BdbDataDir() / (name + ".dump.txt")));
  absl::StatusOr<BdbHashReader> reader = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(reader.ok()) << reader.status();
  // Same records in the same (bucket) order as db_dump.
  absl::StatusOr<Pairs> all = ReadAll(*reader);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, dump);
  // Every key is found, with its value.
  for (const auto& [key, value] : dump) {
    absl::StatusOr<std::optional<std::string>> found = reader->Find(key);
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_TRUE(found->has_value()) << name << ": key of " << key.size() << " bytes";
    EXPECT_EQ(**found, value);
    // A key one byte longer or shorter is another key.
    EXPECT_FALSE(reader->Find(key + "x")->has_value());
  }
  EXPECT_FALSE(reader->Find(std::string("no such key\0", 12))->has_value());
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleTest, ::testing::ValuesIn(SampleNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(BdbHashReader, SamplesAreAllThere) {
  // Guards against an empty parameter list passing silently.
  EXPECT_EQ(SampleNames().size(), 35u);
}

TEST(BdbHashReader, SampleFacts) {
  std::string be = Sample("libdb/be-big-4096.db");
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(be));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->big_endian());
  EXPECT_EQ(r->page_size(), 4096u);
  std::string ck = Sample("libdb/chksum-be-big-512.db");
  r = BdbHashReader::Open(Bytes(ck));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_checksums());
  EXPECT_TRUE(r->big_endian());
  std::string v8 = Sample("libdb/unsorted-v8-512.db");
  r = BdbHashReader::Open(Bytes(v8));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version(), 8u);
  // multi-4096: max_bucket 6, so keys of bucket 7 fold back to bucket 3.
  std::string multi = Sample("libdb/multi-4096.db");
  r = BdbHashReader::Open(Bytes(multi));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bucket_count(), 7u);
}

// libdb's binary search misses "aaaa" in this file (a libdb bug with keys
// that are prefixes of big keys); the linear scan finds it.
TEST(BdbHashReader, FindsWhatLibdbMissesOnPrefixPages) {
  std::string file = Sample("libdb/prefix-onoff-bug-512.db");
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  absl::StatusOr<std::optional<std::string>> v = r->Find("aaaa");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value_or("MISS"), "A4");
}

// --- Refusals --------------------------------------------------------------

TEST(BdbHashReader, RefusesEncryptedDuplicateAndSubDatabases) {
  for (const char* name : {"libdb/encrypted-512.db", "libdb/dup-512.db",
                           "libdb/offdup-512.db"}) {
    std::string file = Sample(name);
    absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(Msg(r.status()),
                HasSubstr(std::string(name).find("enc") != std::string::npos
                              ? "encrypted"
                              : "duplicate keys"));
  }
  std::string file = Sample("libdb/small-512.db");
  Put32(file, b::kMetaFlags, b::kHashFlagSubdb);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(r.status()), HasSubstr("several databases"));
  file = Sample("libdb/small-512.db");
  file[b::kMetaMetaFlags] = b::kMetaFlagPartRange;
  r = BdbHashReader::Open(Bytes(file));
  EXPECT_THAT(Msg(r.status()), HasSubstr("partitioned"));
}

TEST(BdbHashReader, Versions) {
  const std::string original = Sample("libdb/small-512.db");
  for (uint32_t version : {7u, 8u, 9u}) {
    std::string file = original;
    Put32(file, b::kMetaVersion, version);
    absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
    ASSERT_TRUE(r.ok()) << version << r.status();
    EXPECT_TRUE(r->Find(std::string("gamma\0", 6))->has_value());
  }
  std::string file = original;
  Put32(file, b::kMetaVersion, 10);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(r.status()), HasSubstr("hash version 10"));
  EXPECT_THAT(Msg(r.status()), HasSubstr("not supported"));
  for (uint32_t version : {4u, 5u, 6u}) {
    file = original;
    Put32(file, b::kMetaVersion, version);
    r = BdbHashReader::Open(Bytes(file));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Msg(r.status()), HasSubstr("upgrade"));
  }
  // Berkeley DB 3.1/3.2 left last_pgno 0; the file size gives it.
  file = original;
  Put32(file, b::kMetaVersion, 7);
  Put32(file, b::kMetaLastPgno, 0);
  r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->page_count(), 3u);
  EXPECT_EQ(ReadAll(*r)->size(), 5u);
}

TEST(BdbHashReader, NotAHashFile) {
  std::string empty;
  EXPECT_EQ(BdbHashReader::Open(Bytes(empty)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string text = "hello world, this is not a database\n";
  EXPECT_EQ(BdbHashReader::Open(Bytes(text)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string zeros(4096, '\0');
  absl::Status s = BdbHashReader::Open(Bytes(zeros)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("not a Berkeley DB hash file"));
  std::string btree = Sample("libdb/small-512.db");
  Put32(btree, b::kMetaMagic, b::kBtreeMagic);
  s = BdbHashReader::Open(Bytes(btree)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("btree"));
}

// --- Damage is reported naming the page -----------------------------------

TEST(BdbHashReader, TruncatedFile) {
  std::string file = Sample("libdb/multi-512.db");
  file.resize(file.size() - 512);
  absl::Status s = BdbHashReader::Open(Bytes(file)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s), StartsWith("page 0: "));
  EXPECT_THAT(Msg(s), HasSubstr("truncated"));
  file.resize(700);
  EXPECT_EQ(BdbHashReader::Open(Bytes(file)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(BdbHashReader, ChecksumMismatch) {
  std::string file = Sample("libdb/chksum-small-4096.db");
  file[4096 + 4000] ^= 1;  // inside page 1's item area
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  // alpha is in bucket 0, page 1.
  absl::Status s = r->Find(std::string("alpha\0", 6)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Msg(s), "page 1: checksum mismatch");
  // gamma is in bucket 1, page 2, which is intact.
  EXPECT_TRUE(r->Find(std::string("gamma\0", 6))->has_value());
  file = Sample("libdb/chksum-small-4096.db");
  file[300] ^= 1;  // unused meta bytes, still covered by the checksum
  s = BdbHashReader::Open(Bytes(file)).status();
  EXPECT_EQ(Msg(s), "page 0: checksum mismatch");
}

TEST(BdbHashReader, BucketChainLoop) {
  // multi-512: bucket 0 is page 1, chained to page 22.
  std::string file = Sample("libdb/multi-512.db");
  ASSERT_EQ(Get32(file, 512 + b::kPageNext), 22u);
  Put32(file, 22 * 512 + b::kPageNext, 1);  // 22 -> 1: a loop
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  absl::Status s = ReadAll(*r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s), StartsWith("page "));
  // A lookup of a key that is not there walks the chain and stops.
  bool saw_error = false;
  for (int i = 0; i < 64 && !saw_error; ++i) {
    std::string key = "absent" + std::to_string(i);
    if (r->BucketOf(Bytes(key)) == 0) saw_error = !r->Find(key).ok();
  }
  EXPECT_TRUE(saw_error);
}

TEST(BdbHashReader, OverflowChainLoop) {
  // big-512: the 3001-byte value of "bigvalue" is on pages 3..9.
  std::string file = Sample("libdb/big-512.db");
  ASSERT_EQ(file[3 * 512 + b::kPageType], b::kPageOverflow);
  Put32(file, 5 * 512 + b::kPageNext, 3);  // 3 -> 4 -> 5 -> 3
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  absl::Status s = r->Find(std::string("bigvalue\0", 9)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s), StartsWith("page 3: "));
  EXPECT_EQ(ReadAll(*r).status().code(), absl::StatusCode::kDataLoss);
}

TEST(BdbHashReader, BadItemOffsets) {
  std::string file = Sample("libdb/small-512.db");
  // page 1, inp[1] = inp[0]
  Put16(file, 512 + 28, static_cast<uint16_t>(Get32(file, 512 + 26) & 0xffff));
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  absl::Status s = r->Find(std::string("alpha\0", 6)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Msg(s), "page 1: item 1 offset 505 is out of order or outside the item area");
}

TEST(BdbHashReader, WrongPageNumberAndType) {
  std::string file = Sample("libdb/small-512.db");
  Put32(file, 512 + b::kPagePgno, 2);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Msg(r->Find(std::string("alpha\0", 6)).status()),
            "page 1: the page header says it is page 2");
  file = Sample("libdb/small-512.db");
  file[512 + b::kPageType] = b::kPageOverflow;
  r = BdbHashReader::Open(Bytes(file));
  EXPECT_EQ(Msg(r->Find(std::string("alpha\0", 6)).status()),
            "page 1: page type 7 where a hash bucket page belongs");
}

TEST(BdbHashReader, InconsistentMeta) {
  std::string file = Sample("libdb/multi-512.db");
  Put32(file, b::kMetaHighMask, 7);
  EXPECT_EQ(BdbHashReader::Open(Bytes(file)).status().code(),
            absl::StatusCode::kDataLoss);
  file = Sample("libdb/multi-512.db");
  Put32(file, b::kMetaSpares + 4 * 4, 1000);
  absl::Status s = BdbHashReader::Open(Bytes(file)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(s), HasSubstr("spares[4]"));
  file = Sample("libdb/multi-512.db");
  Put32(file, b::kMetaPageSize, 1000);
  EXPECT_EQ(BdbHashReader::Open(Bytes(file)).status().code(),
            absl::StatusCode::kDataLoss);
}

// --- Built files for what the samples do not cover -------------------------

Pairs ManyPairs(int n, size_t big_every = 0, size_t big_size = 0) {
  Pairs pairs;
  for (int i = 0; i < n; ++i) {
    std::string key = "user" + std::to_string(i) + "@example.com";
    key.push_back('\0');
    std::string value = "value-" + std::to_string(i * 7919);
    if (big_every != 0 && i % big_every == 0) value.append(big_size, 'v');
    value.push_back('\0');
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

void ExpectAllFound(const std::string& file, const Pairs& pairs) {
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok()) << r.status();
  for (const auto& [key, value] : pairs) {
    absl::StatusOr<std::optional<std::string>> v = r->Find(key);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(v->has_value());
    ASSERT_EQ(**v, value);
  }
  absl::StatusOr<Pairs> all = ReadAll(*r);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), pairs.size());
}

TEST(BdbHashReader, EveryPageSizeAndByteOrder) {
  Pairs pairs = ManyPairs(300, 17, 5000);
  for (uint32_t size = 512; size <= 65536; size *= 2) {
    for (bool big_endian : {false, true}) {
      for (bool checksums : {false, true}) {
        SCOPED_TRACE(::testing::Message() << size << " be=" << big_endian
                                          << " ck=" << checksums);
        std::string file = BuildHashFile(
            pairs, {.page_size = size, .buckets = 8, .big_endian = big_endian,
                    .checksums = checksums});
        ExpectAllFound(file, pairs);
      }
    }
  }
}

TEST(BdbHashReader, EmptyPageOf64KiBStoresZeroFreeOffset) {
  // An empty 65536-byte page has hf_offset 65536 mod 65536 = 0.
  std::string file = BuildHashFile({}, {.page_size = 65536});
  EXPECT_EQ(file[65536 + b::kPageHfOffset], 0);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(ReadAll(*r)->empty());
  EXPECT_FALSE(r->Find("x")->has_value());
}

TEST(BdbHashReader, NeverWrittenBucketPages) {
  Pairs pairs = {{"only", "one"}};
  std::string file =
      BuildHashFile(pairs, {.page_size = 512, .buckets = 16, .zero_empty_buckets = true});
  ExpectAllFound(file, pairs);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(r->Find("k" + std::to_string(i))->has_value());
  }
}

TEST(BdbHashReader, BigKeysAndEmptyItems) {
  Pairs pairs = {{std::string(3000, 'K'), "big key"},
                 {"", "empty key"},
                 {"empty value", ""},
                 {std::string(129, 'k'), std::string(70000, 'V')}};
  ExpectAllFound(BuildHashFile(pairs, {.page_size = 512}), pairs);
  ExpectAllFound(BuildHashFile(pairs, {.page_size = 65536}), pairs);
}

TEST(BdbHashReader, CustomHashFunctionScansEveryBucket) {
  Pairs pairs = ManyPairs(200);
  std::string file = BuildHashFile(pairs, {.page_size = 1024, .buckets = 32});
  Put32(file, b::kMetaCharKey, 0x12345678);
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->custom_hash());
  ExpectAllFound(file, pairs);
  EXPECT_FALSE(r->Find("absent")->has_value());
}

TEST(BdbHashReader, ErrorsNeverQuoteFileBytes) {
  // Corrupt every item offset of a file whose values are "secrets"; no
  // message may contain them.
  Pairs pairs = ManyPairs(50);
  for (auto& [k, v] : pairs) v = "SECRET-" + k;
  std::string file = BuildHashFile(pairs, {.page_size = 512, .buckets = 4});
  for (size_t off = 512; off < file.size(); off += 7) {
    std::string bad = file;
    bad[off] ^= 0x5a;
    absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(bad));
    if (!r.ok()) continue;
    absl::Status s = ReadAll(*r).status();
    EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("SECRET")));
    for (const auto& [k, v] : pairs) {
      s = r->Find(k).status();
      EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("SECRET")));
    }
  }
}

TEST(BdbHashReader, StopsWhenTheCallbackSaysSo) {
  std::string file = Sample("libdb/multi-512.db");
  absl::StatusOr<BdbHashReader> r = BdbHashReader::Open(Bytes(file));
  int calls = 0;
  ASSERT_TRUE(r->ForEach([&](std::string_view, std::string_view) {
                 return ++calls < 3;
               }).ok());
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace libmaps::internal
