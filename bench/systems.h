// The systems a lookup benchmark compares, behind one small interface: the
// libmaps backends and the anchors (raw libdb, raw liblmdb, the same lookups
// done the way Postfix does them, an absl::flat_hash_map, the speed-of-light
// table). Every system answers the same question the same way: the value of
// a key exactly as it appears in mail, without the NUL that postmap stores,
// copied into a caller's string.

#ifndef LIBMAPS_BENCH_SYSTEMS_H_
#define LIBMAPS_BENCH_SYSTEMS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_data.h"

namespace libmaps::bench {

class System {
 public:
  virtual ~System() = default;
  // Copies the value of `key` into `*value`; false on a miss. A failure of
  // the system aborts the program (a benchmark must not time errors).
  virtual bool Lookup(std::string_view key, std::string* value) = 0;
};

struct SystemInfo {
  // Benchmark name part, e.g. "hash" or "libdb".
  const char* name;
  // What it measures, for --list and the report.
  const char* what;
  // Opens the system on a data set (everything a process does before its
  // first lookup).
  std::unique_ptr<System> (*open)(const DataSet& data);
  // Whether open + one lookup + close is worth timing at 1,000,000 entries
  // (false for systems that load the whole table into memory at open).
  bool cheap_open;
};

// Every system, libmaps first.
const std::vector<SystemInfo>& AllSystems();

}  // namespace libmaps::bench

#endif  // LIBMAPS_BENCH_SYSTEMS_H_
