// main.cf: the parameters that change how maps are read and written.

#include "libmaps/postfix_config.h"

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

}  // namespace
}  // namespace libmaps
