#include <iostream>
#include <string>
#include <vector>

#include "cmap.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv, argv + argc);
  int status = cmap::RunCmap(args, std::cin, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
