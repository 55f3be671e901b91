// hash_write_driver: cmap with a choice of hash page size and byte order, for
// tests/compat/hash_write_diff.py. cmap itself has no such options (postmap
// has none either: libdb picks the page size, and the byte order is the
// host's), so the test sets them here, through the library's test hook, and
// then runs cmap's own command logic unchanged.
//
//   hash_write_driver [--page-size N] [--big-endian] CMAP-ARGUMENTS...
//
// The settings apply to every hash table the run creates; an updated table
// (-i, -d) keeps its own page size and byte order.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "backends/hash_builder.h"
#include "cmap.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  libmaps::internal::HashWriteSettings settings;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--page-size" && i + 1 < argc) {
      settings.page_size = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--big-endian") {
      settings.big_endian = true;
    } else {
      break;
    }
  }
  libmaps::internal::SetHashWriteSettingsForTesting(settings);
  std::vector<std::string> args = {"cmap"};
  args.insert(args.end(), argv + i, argv + argc);
  int status = cmap::RunCmap(args, std::cin, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
