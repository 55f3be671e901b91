// main.cf: the parameters that change how maps are read and written.

#include "libmaps/postfix_config.h"

#include <string>

#include "gtest/gtest.h"

namespace libmaps {
namespace {

TEST(PostfixConfig, CompatibilityLevelTurnsOnSmtputf8) {
  EXPECT_TRUE(ParsePostfixConfig("compatibility_level = 3.6\n")->smtputf8_enable);
  EXPECT_TRUE(ParsePostfixConfig("compatibility_level=2\n")->smtputf8_enable);
  EXPECT_FALSE(ParsePostfixConfig("compatibility_level = 0\n")->smtputf8_enable);
  EXPECT_FALSE(ParsePostfixConfig("# nothing\n")->smtputf8_enable);
}

TEST(PostfixConfig, ExplicitSmtputf8Wins) {
  EXPECT_FALSE(ParsePostfixConfig("compatibility_level = 3.6\nsmtputf8_enable = no\n")
                   ->smtputf8_enable);
  EXPECT_TRUE(ParsePostfixConfig("smtputf8_enable = yes\n")->smtputf8_enable);
  EXPECT_FALSE(ParsePostfixConfig("smtputf8_enable = maybe\n").ok());
}

TEST(PostfixConfig, ExpandsParameterReferences) {
  auto c = ParsePostfixConfig("mytype = lmdb\ndefault_database_type = $mytype\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->default_database_type, "lmdb");
}

TEST(PostfixConfig, ContinuationLinesJoin) {
  auto c = ParsePostfixConfig("default_database_type =\n    lmdb\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->default_database_type, "lmdb");
}

TEST(PostfixConfig, DefaultsMatchDebian) {
  auto c = ParsePostfixConfig("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->default_database_type, "hash");
  EXPECT_EQ(c->lmdb_map_size, 16777216u);
}

TEST(PostfixConfig, MissingMainCfIsReportedLikePostfix) {
  auto c = LoadPostfixConfig("/nonexistent-libmaps-dir");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "open /nonexistent-libmaps-dir/main.cf: No such file or directory");
}

// main.cf is untrusted input (cmap -c DIR, the map_spec fuzzer): a parameter
// that refers to itself must not recurse without end, and references that
// double at every level must not take exponential time or memory (the
// fuzzer found a 20-second, 800 MB main.cf of 87 bytes).
TEST(PostfixConfig, SelfReferenceAndDoublingStayBounded) {
  auto loop = ParsePostfixConfig("a = x$b\nb = $a\ndefault_database_type = $a\n");
  ASSERT_TRUE(loop.ok());
  EXPECT_EQ(loop->default_database_type, "x$a");  // the loop closes at $a

  std::string doubling;
  for (int i = 0; i < 40; ++i) {
    doubling += "p" + std::to_string(i) + " = $p" + std::to_string(i + 1) + "$p" +
                std::to_string(i + 1) + "\n";
  }
  doubling += "p40 = hash\ndefault_database_type = $p0\n";
  auto c = ParsePostfixConfig(doubling);
  ASSERT_TRUE(c.ok());
  EXPECT_LE(c->default_database_type.size(), size_t{1} << 21);
  EXPECT_EQ(c->default_database_type.substr(0, 8), "hashhash");
}

}  // namespace
}  // namespace libmaps
