// The installed headers alone, linked against the shared library: proves the
// public surface is self-sufficient and exported.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "libmaps/libmaps.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"
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

// Whether another process sees a whole-file lock on `path` that conflicts
// with `type` (asked from a child, so the answer is what Postfix would get).
bool OtherProcessSeesLock(const std::string& path, short type) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(path.c_str(), O_RDONLY);
    struct flock lock = {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    if (fd < 0 || ::fcntl(fd, F_GETLK, &lock) != 0) _exit(2);
    _exit(lock.l_type == F_UNLCK ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 1;
}

// Issue 12: closing another descriptor of the table, or a map of it, in
// the same process must not drop an updater's write lock (classic fcntl
// locks are dropped by the first close of any descriptor of the file).
TEST_F(PublicApi, UpdaterLockSurvivesOtherDescriptorsOfTheFile) {
  std::string base = dir_ + "/t";
  {
    auto builder = libmaps::NewMapBuilder("lmdb:" + base, {});
    ASSERT_TRUE(builder.ok()) << builder.status();
    ASSERT_TRUE((*builder)->Add("k", "v").ok());
    ASSERT_TRUE((*builder)->Commit().ok());
  }
  const std::string file = base + ".lmdb";
  EXPECT_FALSE(OtherProcessSeesLock(file, F_RDLCK));
  auto updater = libmaps::OpenMapUpdater("lmdb:" + base, {}, /*create=*/false);
  ASSERT_TRUE(updater.ok()) << updater.status();
  EXPECT_TRUE(OtherProcessSeesLock(file, F_RDLCK));
  ::close(::open(file.c_str(), O_RDONLY));
  {
    auto map = libmaps::OpenMap("lmdb:" + base);
    ASSERT_TRUE(map.ok()) << map.status();
  }
  EXPECT_TRUE(OtherProcessSeesLock(file, F_RDLCK));
  ASSERT_TRUE((*updater)->Add("k2", "v2").ok());
  ASSERT_TRUE((*updater)->Commit().ok());
  updater->reset();
  EXPECT_FALSE(OtherProcessSeesLock(file, F_RDLCK));
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

// LIBMAPS_OPEN_SNAPSHOT (C) is LockPolicy::kSnapshot: a table replaced by
// rename is seen at the first lookup a second after the last check, not at
// once as with the default flags. The values are not secrets here.
TEST_F(PublicApi, CSnapshotFlagDefersSeeingAReplacement) {
  const std::string name = dir_ + "/relays";
  auto build = [&](const std::string& value) {
    auto builder = libmaps::NewMapBuilder("hash:" + name, {});
    ASSERT_TRUE(builder.ok()) << builder.status();
    ASSERT_TRUE((*builder)->Add("[relay.example.jp]:587", value).ok());
    ASSERT_TRUE((*builder)->Commit().ok());
  };
  auto lookup = [](libmaps_map* map) {
    char* value = nullptr;
    size_t len = 0;
    const char* key = "[relay.example.jp]:587";
    std::string out = "(error)";
    if (libmaps_lookup(map, key, std::strlen(key), &value, &len, nullptr) == LIBMAPS_OK) {
      out.assign(value, len);
      libmaps_free(value);
    }
    return out;
  };
  build("first");
  libmaps_map* snapshot = nullptr;
  libmaps_map* per_lookup = nullptr;
  ASSERT_EQ(libmaps_open(("hash:" + name).c_str(), LIBMAPS_OPEN_SNAPSHOT, &snapshot, nullptr),
            LIBMAPS_OK);
  ASSERT_EQ(libmaps_open(("hash:" + name).c_str(), 0, &per_lookup, nullptr), LIBMAPS_OK);
  EXPECT_EQ(lookup(snapshot), "first");  // the first lookup checks the file
  EXPECT_EQ(lookup(per_lookup), "first");
  const auto replaced = std::chrono::steady_clock::now();
  build("second");
  // A table replaced by rename is whole: the default mode too reads it until
  // its next full check of the file (at most a second away).
  const std::string seen_per_lookup = lookup(per_lookup);
  EXPECT_TRUE(seen_per_lookup == "first" || seen_per_lookup == "second") << seen_per_lookup;
  const std::string seen = lookup(snapshot);
  if (std::chrono::steady_clock::now() - replaced < std::chrono::milliseconds(900)) {
    EXPECT_EQ(seen, "first");  // within the second: the snapshot as it was
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(lookup(snapshot), "second");
  EXPECT_EQ(lookup(per_lookup), "second");
  libmaps_close(snapshot);
  libmaps_close(per_lookup);
}

}  // namespace
