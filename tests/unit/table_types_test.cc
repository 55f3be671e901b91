// The table of types, row by row, through the public API only: what a row
// says a type can do is what OpenMap, NewMapBuilder, OpenMapUpdater and
// Map::ForEach do for it. A new type's row is checked here without a line of
// this file changing (so adding a type is its backend, its row, meson.build
// and its own tests).

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "types-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Name(const std::string& leaf) const { return (path_ / leaf).string(); }

 private:
  fs::path path_;
};

TEST(TableTypes, RowsAreDistinctAndFindable) {
  std::set<std::string_view> seen;
  ASSERT_FALSE(libmaps::TableTypes().empty());
  for (const libmaps::TableTypeInfo& t : libmaps::TableTypes()) {
    EXPECT_TRUE(seen.insert(t.type).second) << t.type;
    EXPECT_EQ(libmaps::FindTableType(t.type), &t);
    EXPECT_TRUE(t.can_read) << t.type << ": every listed type is readable";
    if (t.can_build) {
      EXPECT_FALSE(t.suffix.empty()) << t.type << ": a built table is a file";
    }
  }
  EXPECT_EQ(libmaps::FindTableType("no-such-type"), nullptr);
}

TEST(TableTypes, EachRowDoesWhatItSays) {
  for (const libmaps::TableTypeInfo& t : libmaps::TableTypes()) {
    SCOPED_TRACE(std::string(t.type));
    if (!t.has_file) continue;  // TableTypes.TypesWithoutFile
    TempDir dir;
    const std::string name = dir.Name("table");
    const std::string spec = std::string(t.type) + ":" + name;
    // Rule tables hold rules, not key-value lines.
    std::string key = "some.key";
    {
      std::ofstream out(name);
      if (t.type == "regexp" || t.type == "pcre") {
        out << "/^some\\.key$/ some value\n";
      } else if (t.type == "cidr") {
        out << "192.0.2.0/24 some value\n";
        key = "192.0.2.1";
      } else {
        out << "Some.Key some value\n";
      }
    }
    libmaps::BuildOptions build;
    auto builder = libmaps::NewMapBuilder(spec, build);
    ASSERT_EQ(builder.ok(), t.can_build) << builder.status();
    if (!t.can_build) {
      EXPECT_NE(builder.status().message().find("does not support bulk-mode creation"),
                std::string_view::npos);
    } else {
      ASSERT_TRUE((*builder)->Add("Some.Key", "some value").ok());
      ASSERT_TRUE((*builder)->Commit().ok());
      struct stat st;
      EXPECT_EQ(::stat((name + std::string(t.suffix)).c_str(), &st), 0)
          << "the table is NAME + suffix";
    }
    if (t.can_build || t.suffix.empty()) {
      auto map = libmaps::OpenMap(spec, {});
      ASSERT_TRUE(map.ok()) << map.status();
      auto found = (*map)->Lookup(key);
      ASSERT_TRUE(found.ok());
      EXPECT_EQ(found->value_or("(none)"), "some value");
      int records = 0;
      absl::Status s = (*map)->ForEach([&](std::string_view k, std::string_view v) {
        EXPECT_EQ(k, "some.key");
        EXPECT_EQ(v, "some value");
        ++records;
        return true;
      });
      EXPECT_EQ(s.ok() && records == 1, t.can_list) << s;
    }
    auto updater = libmaps::OpenMapUpdater(spec, build, /*create=*/true);
    EXPECT_EQ(updater.ok(), t.can_update) << updater.status();
    if (updater.ok()) {
      ASSERT_TRUE((*updater)->Add("other", "v2").ok());
      ASSERT_TRUE((*updater)->Commit().ok());
      updater->reset();  // an open updater's lock keeps this process's lookups waiting
      auto map = libmaps::OpenMap(spec, {});
      ASSERT_TRUE(map.ok());
      EXPECT_EQ((*map)->Lookup("other")->value_or("(none)"), "v2");
    }
  }
}

// The types whose name is the table: none builds or updates; each opens
// from its name alone (their semantics against postmap:
// tests/compat/composite_diff.py).
TEST(TableTypes, TypesWithoutFile) {
  const std::pair<std::string_view, std::string_view> kSpecs[] = {
      {"static", "static:{some value}"},
      {"inline", "inline:{{Some.Key = some value}}"},
      {"unionmap", "unionmap:{inline:{some.key=some}, static:{value}}"},
      {"pipemap", "pipemap:{inline:{some.key=x}, inline:{{x=some value}}}"},
      {"environ", "environ:x"},
      {"fail", "fail:x"},
  };
  int seen = 0;
  for (const libmaps::TableTypeInfo& t : libmaps::TableTypes()) {
    if (t.has_file) continue;
    SCOPED_TRACE(std::string(t.type));
    ++seen;
    EXPECT_FALSE(t.can_build);
    EXPECT_FALSE(t.can_update);
    EXPECT_TRUE(t.suffix.empty());
    std::string_view spec;
    for (const auto& [type, s] : kSpecs) {
      if (type == t.type) spec = s;
    }
    ASSERT_FALSE(spec.empty()) << "no spec for this type in the test";
    auto map = libmaps::OpenMap(spec, {});
    ASSERT_TRUE(map.ok()) << map.status();
    auto found = (*map)->Lookup("Some.Key");
    if (t.type == "fail") {
      EXPECT_FALSE(found.ok());
    } else if (t.type == "environ") {
      EXPECT_TRUE(found.ok());
    } else {
      ASSERT_TRUE(found.ok()) << found.status();
      EXPECT_EQ(found->value_or("(none)"),
                t.type == "unionmap" ? "some,value" : "some value");
    }
  }
  EXPECT_EQ(seen, static_cast<int>(std::size(kSpecs)));
}

}  // namespace
