// The installed headers alone, linked against the shared library: proves the
// public surface is self-sufficient and exported.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "libmaps/map.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"

namespace {

class PublicApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "libmaps-public-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(PublicApi, OpensTexthashAndLooksUp) {
  std::string path = Write("smtp_pass", "[relay.example.jp]:587 user:secret\n");
  auto map = libmaps::OpenMap("texthash:" + path);
  ASSERT_TRUE(map.ok()) << map.status();
  auto hit = (*map)->Lookup("[Relay.Example.JP]:587");
  ASSERT_TRUE(hit.ok());
  ASSERT_TRUE(hit->has_value());
  EXPECT_TRUE(**hit == "user:secret");  // no password in failure output
  auto miss = (*map)->Lookup("relay.example.jp:587");
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
  EXPECT_EQ((*map)->type(), "texthash");
  EXPECT_EQ((*map)->name(), path);
}

TEST_F(PublicApi, WarningsReachTheSink) {
  std::string path = Write("t", "a 1\nnovalue\n");
  std::vector<std::string> seen;
  libmaps::OpenOptions options;
  options.diagnostics = [&](libmaps::Severity, std::string_view m) {
    seen.emplace_back(m);
  };
  auto map = libmaps::OpenMap("texthash:" + path, options);
  ASSERT_TRUE(map.ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], path + ", line 2: expected format: key whitespace value -- "
                            "ignoring this line");
}

}  // namespace
