// libmaps::SetFileAccess (libmaps/map.h), through the installed API only:
// kReadIntoMemory opens and answers without ever installing a SIGBUS
// handler; the default installs one at the first open. Each case runs in a
// child process, since the setting and the handler are process-wide.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace {

// The SIGBUS handler now (SIG_DFL, or a sanitizer's, before libmaps').
void* SigbusHandler() {
  struct sigaction now {};
  sigaction(SIGBUS, nullptr, &now);
  return (now.sa_flags & SA_SIGINFO) != 0 ? reinterpret_cast<void*>(now.sa_sigaction)
                                           : reinterpret_cast<void*>(now.sa_handler);
}

// Runs `body` in a child; the child's exit status is the result.
int InChild(int (*body)(const std::string&), const std::string& dir) {
  pid_t pid = fork();
  if (pid == 0) _exit(body(dir));
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

int OpenAndLook(const std::string& dir, bool read_into_memory) {
  if (read_into_memory) libmaps::SetFileAccess(libmaps::FileAccess::kReadIntoMemory);
  void* const before = SigbusHandler();
  auto map = libmaps::OpenMap("hash:" + dir + "/t");
  if (!map.ok()) return 11;
  auto v = (*map)->Lookup("key");
  if (!v.ok() || !v->has_value() || **v != "value") return 12;
  const bool unchanged = SigbusHandler() == before;
  return unchanged == read_into_memory ? 0 : 13;
}

class FileAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/file-access-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    auto b = libmaps::NewMapBuilder("hash:" + dir_ + "/t", libmaps::BuildOptions{});
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->Add("key", "value").ok());
    ASSERT_TRUE((*b)->Commit().ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FileAccessTest, ReadIntoMemoryInstallsNoHandler) {
  EXPECT_EQ(InChild([](const std::string& d) { return OpenAndLook(d, true); }, dir_), 0);
}

TEST_F(FileAccessTest, DefaultMapsAndInstallsTheHandler) {
  EXPECT_EQ(InChild([](const std::string& d) { return OpenAndLook(d, false); }, dir_), 0);
}

}  // namespace
