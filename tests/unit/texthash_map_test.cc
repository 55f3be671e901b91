// texthash: the map interface over a source parsed into memory.

#include "backends/texthash_map.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libmaps/map.h"

namespace libmaps::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Loaded {
  std::unique_ptr<Map> map;
  std::vector<std::string> warnings;
};

Loaded Load(std::string_view text, OpenOptions options = {}) {
  Loaded out;
  auto* warnings = &out.warnings;
  options.diagnostics = [warnings](Severity, std::string_view m) {
    warnings->emplace_back(m);
  };
  auto map = TexthashMapFromText(text, "th", options);
  EXPECT_TRUE(map.ok()) << map.status();
  if (map.ok()) out.map = *std::move(map);
  return out;
}

std::string Get(const Map& map, std::string_view key) {
  auto v = map.Lookup(key);
  if (!v.ok()) return "ERROR";
  return v->has_value() ? **v : "MISS";
}

TEST(TexthashMap, FindsFoldedKeys) {
  Loaded t = Load("Key1 Value1\n[Relay.Example.JP]:587 user:pw\n");
  EXPECT_EQ(Get(*t.map, "key1"), "Value1");
  EXPECT_EQ(Get(*t.map, "KEY1"), "Value1");
  EXPECT_EQ(Get(*t.map, "[relay.example.jp]:587"), "user:pw");
  EXPECT_EQ(Get(*t.map, "missing"), "MISS");
}

TEST(TexthashMap, NoFoldingKeepsCase) {
  Loaded t = Load("UPPER v\n", {.fold_case = false});
  EXPECT_EQ(Get(*t.map, "UPPER"), "v");
  EXPECT_EQ(Get(*t.map, "upper"), "MISS");
}

TEST(TexthashMap, UnicodeKeysFoldBothWays) {
  Loaded t = Load("Stra\xc3\x9f" "e sharp-s\n");
  EXPECT_EQ(Get(*t.map, "STRASSE"), "sharp-s");
  EXPECT_EQ(Get(*t.map, "stra\xc3\x9f" "e"), "sharp-s");
}

TEST(TexthashMap, InvalidUtf8QueryIsAMissWithWarning) {
  Loaded t = Load("k v\n");
  EXPECT_EQ(Get(*t.map, "bad\xffkey"), "MISS");
  EXPECT_THAT(t.warnings, ElementsAre("texthash:th: non-UTF-8 key \"bad?key\": "
                                      "malformed UTF-8 or invalid codepoint"));
}

TEST(TexthashMap, DuplicateWarnKeepsFirst) {
  Loaded t = Load("dup first\nDUP second\n", {.duplicates = DuplicatePolicy::kWarn});
  EXPECT_EQ(Get(*t.map, "dup"), "first");
  EXPECT_THAT(t.warnings, ElementsAre("th, line 2: duplicate entry: \"DUP\""));
}

TEST(TexthashMap, DuplicateReplaceKeepsLast) {
  Loaded t = Load("dup first\ndup third\n", {.duplicates = DuplicatePolicy::kReplace});
  EXPECT_EQ(Get(*t.map, "dup"), "third");
  EXPECT_TRUE(t.warnings.empty());
}

TEST(TexthashMap, DuplicateIgnoreIsSilent) {
  Loaded t = Load("dup first\ndup third\n", {.duplicates = DuplicatePolicy::kIgnore});
  EXPECT_EQ(Get(*t.map, "dup"), "first");
  EXPECT_TRUE(t.warnings.empty());
}

// Postfix daemons open tables without a duplicate flag, and a duplicate then
// disables the whole texthash table.
TEST(TexthashMap, DuplicateFailsTheOpenByDefault) {
  auto map = TexthashMapFromText("key1 v1\nkey1 v2\n", "th", {});
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(map.status().message()),
              HasSubstr("th, line 2: duplicate entry: \"key1\""));
}

TEST(TexthashMap, ForEachFollowsSourceOrder) {
  Loaded t = Load("b 2\na 1\nc 3\n");
  std::vector<std::string> seen;
  ASSERT_TRUE(t.map->ForEach([&](std::string_view k, std::string_view v) {
    seen.push_back(std::string(k) + "=" + std::string(v));
    return true;
  }).ok());
  EXPECT_THAT(seen, ElementsAre("b=2", "a=1", "c=3"));
}

TEST(TexthashMap, MissingFileIsNotFound) {
  auto map = OpenMap("texthash:/nonexistent/libmaps-test", {});
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(map.status().message(),
            "open database /nonexistent/libmaps-test: No such file or directory");
}

TEST(OpenMap, RejectsUnknownTypesAndBadSpecs) {
  auto bogus = OpenMap("bogus:x", {});
  ASSERT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.status().message(), "unsupported dictionary type: bogus");
  auto empty = OpenMap("texthash:", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(),
            "open dictionary: expecting \"type:name\" form instead of \"texthash:\"");
}

TEST(ParseMapSpec, SplitsAtFirstColon) {
  auto spec = ParseMapSpec("hash:x:y");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->type, "hash");
  EXPECT_EQ(spec->name, "x:y");
  auto plain = ParseMapSpec("file", "lmdb");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->type, "lmdb");
  EXPECT_FALSE(ParseMapSpec("file").ok());
}

}  // namespace
}  // namespace libmaps::internal
