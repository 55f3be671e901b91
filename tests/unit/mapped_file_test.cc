// MappedFile: a mapping that survives its file being truncated (see the
// design notes in libmaps/src/mapped_file.h).

#include "mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "bdb_test_util.h"
#include "gtest/gtest.h"

namespace libmaps::internal {
namespace {

using ::libmaps::testing::TempDir;
using ::libmaps::testing::WriteFileBytes;

class MappedFileTest : public ::testing::Test {
 protected:
  // A file of `pages` 4 KiB pages of 'x', opened read-only.
  int MakeFile(size_t size) {
    path_ = (dir_.path() / "f").string();
    WriteFileBytes(path_, std::string(size, 'x'));
    return ::open(path_.c_str(), O_RDONLY);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(MappedFileTest, MapsTheBytes) {
  int fd = MakeFile(3 * 4096 + 100);
  auto file = MappedFile::Map(fd, 3 * 4096 + 100, path_);
  ::close(fd);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->is_mapped());
  std::span<const uint8_t> bytes = (*file)->bytes();
  ASSERT_EQ(bytes.size(), 3u * 4096 + 100);
  for (uint8_t c : bytes) ASSERT_EQ(c, 'x');
  EXPECT_EQ((*file)->faults(), 0u);
}

TEST_F(MappedFileTest, EmptyFileMapsNothing) {
  int fd = MakeFile(0);
  auto file = MappedFile::Map(fd, 0, path_);
  ::close(fd);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE((*file)->bytes().empty());
}

TEST_F(MappedFileTest, TruncatedFileReadsAsZerosAndCountsFaults) {
  const size_t size = 64 * 4096;  // more than the MAP_POPULATE limit would
                                  // matter for; pages are dropped on truncate
  int fd = MakeFile(size);
  auto file = MappedFile::Map(fd, size, path_);
  ::close(fd);
  ASSERT_TRUE(file.ok());
  // Another process truncates the file: the pages behind the mapping are
  // gone, and reading them would raise SIGBUS.
  ASSERT_EQ(::truncate(path_.c_str(), 4096), 0);
  std::span<const uint8_t> bytes = (*file)->bytes();
  if (!(*file)->is_mapped()) {
    // A runtime kept its own SIGBUS handler: the file was copied instead,
    // and the copy is unaffected.
    for (uint8_t c : bytes) ASSERT_EQ(c, 'x');
    GTEST_SKIP() << "SIGBUS handler not installable here; copied instead";
  }
  EXPECT_EQ(bytes[0], 'x');  // still in the file
  size_t zeros = 0;
  for (size_t i = 4096; i < size; ++i) zeros += bytes[i] == 0;
  EXPECT_EQ(zeros, size - 4096);
  EXPECT_GE((*file)->faults(), 1u);
}

TEST_F(MappedFileTest, TwoMappingsCountTheirOwnFaults) {
  int fd = MakeFile(8 * 4096);
  auto a = MappedFile::Map(fd, 8 * 4096, path_);
  ::close(fd);
  std::string other = (dir_.path() / "g").string();
  WriteFileBytes(other, std::string(8 * 4096, 'y'));
  fd = ::open(other.c_str(), O_RDONLY);
  auto b = MappedFile::Map(fd, 8 * 4096, other);
  ::close(fd);
  ASSERT_EQ(::truncate(other.c_str(), 0), 0);
  volatile uint8_t sink = (*b)->bytes()[5 * 4096];
  (void)sink;
  EXPECT_EQ((*a)->faults(), 0u);
  EXPECT_GE((*b)->faults(), 1u);
  EXPECT_EQ((*a)->bytes()[5 * 4096], 'x');
}

// The process dies (by the signal, or by a sanitizer's report of it).
bool Died(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

TEST_F(MappedFileTest, FaultsElsewhereStillKillTheProcess) {
  int fd = MakeFile(4 * 4096);
  auto file = MappedFile::Map(fd, 4 * 4096, path_);  // installs the handler
  ASSERT_TRUE(file.ok());
  // A mapping that is not ours: its SIGBUS must not be swallowed.
  EXPECT_EXIT(
      {
        void* p = mmap(nullptr, 4 * 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (::truncate(path_.c_str(), 0) != 0) std::_Exit(3);
        volatile uint8_t c = static_cast<const uint8_t*>(p)[8192];
        (void)c;
        std::_Exit(0);
      },
      Died, "");
  EXPECT_EXIT(
      {
        raise(SIGBUS);
        std::_Exit(0);
      },
      Died, "");
  ::close(fd);
}

void ChainedHandler(int, siginfo_t*, void*) { std::_Exit(42); }

TEST_F(MappedFileTest, PassesForeignSignalsToThePreviousHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process
  EXPECT_EXIT(
      {
        struct sigaction act = {};
        act.sa_sigaction = &ChainedHandler;
        act.sa_flags = SA_SIGINFO;
        sigaction(SIGBUS, &act, nullptr);
        int fd = MakeFile(4096);
        auto file = MappedFile::Map(fd, 4096, path_);
        raise(SIGBUS);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(42), "");
}

}  // namespace
}  // namespace libmaps::internal
