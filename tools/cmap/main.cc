#include <iostream>
#include <string>
#include <vector>

#include "cmap.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Reading a key must not flush every line of output (one write(2) per
  // key otherwise); output is flushed at exit.
  std::cin.tie(nullptr);
  std::vector<std::string> args(argv, argv + argc);
  int status = cmap::RunCmap(args, std::cin, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
