// cmap: a drop-in for postmap(1). RunCmap holds all of the command's logic so
// tests can call it; main.cc only forwards argv and the standard streams.

#ifndef LIBMAPS_TOOLS_CMAP_CMAP_H_
#define LIBMAPS_TOOLS_CMAP_CMAP_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace cmap {

// Runs cmap with `args` (args[0] is the program name) and returns the exit
// status: 0 on success (for -q: found), 1 on failure or "not found", exactly
// as postmap.
int RunCmap(const std::vector<std::string>& args, std::istream& in,
            std::ostream& out, std::ostream& err);

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_CMAP_H_
