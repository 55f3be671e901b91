#include <sys/prctl.h>
#include <sys/resource.h>

#include <iostream>
#include <string>
#include <vector>

#include "cmap.h"

int main(int argc, char** argv) {
  // cmap holds sources' passwords in memory: a crash must not leave them in
  // a core file. No core file at all, and not dumpable (which also keeps
  // other processes of the same user from reading its memory through
  // /proc). A library cannot decide this for the process that links it;
  // cmap can.
  struct rlimit no_core = {0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::ios::sync_with_stdio(false);
  // Reading a key must not flush every line of output (one write(2) per
  // key otherwise); output is flushed at exit.
  std::cin.tie(nullptr);
  std::vector<std::string> args(argv, argv + argc);
  int status = cmap::RunCmap(args, std::cin, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
