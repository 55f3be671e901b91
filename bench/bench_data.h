// Inputs shared by the benchmarks: credential maps of N entries, generated
// deterministically, and the tables built from them, cached on disk.
//
// Entry i of a data set of N entries (the baseline's gen.py, in C++):
//
//   id(i)    = (i * 6700417 + 1234567) mod 10^7   (a bijection: unique, unsorted)
//   key(i)   = "[smtp-%07d.example.net]:587"     with id(i)
//   value(i) = "user-%07d@example.net:RandomPassw0rd-%04d"
//
// so every source line is 76 bytes. Queries draw 90 % of their keys uniformly
// (with replacement) from key(0 .. N-1) and 10 % from key(N ..), which are
// absent by construction, in random order with a fixed seed.
//
// A data set lives in CacheDir()/nN/: src.txt (the source), src.txt.db,
// src.txt.lmdb and src.txt.cdb (built by libmaps, as `cmap hash:src.txt`
// would), bt.txt.db (the same records as a btree: table), src.sol
// (the speed-of-light table, sol.h). It is generated on first use, which
// takes a few seconds for 1,000,000 entries, and reused afterwards; a stamp
// file records that generation finished.

#ifndef LIBMAPS_BENCH_BENCH_DATA_H_
#define LIBMAPS_BENCH_BENCH_DATA_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace libmaps::bench {

// Entry i of every data set.
std::string Key(uint64_t i);
std::string Value(uint64_t i);

// Where data sets are cached: $LIBMAPS_BENCH_DATA, else the directory the
// build configured (bench/data in the build directory).
std::string CacheDir();

struct DataSet {
  size_t entries = 0;
  std::string dir;     // CacheDir()/nN
  std::string source;  // dir/src.txt: "key value" lines
  // Map specs for OpenMap and the raw library anchors.
  std::string hash_name() const { return source; }          // + ".db"
  std::string lmdb_name() const { return source; }          // + ".lmdb"
  std::string db_path() const { return source + ".db"; }
  std::string lmdb_path() const { return source + ".lmdb"; }
  std::string sol_path() const { return dir + "/src.sol"; }
  // btree: shares the .db suffix with hash:, so its table has another name.
  std::string btree_name() const { return dir + "/bt.txt"; }
  std::string btree_path() const { return dir + "/bt.txt.db"; }
  std::string cdb_path() const { return source + ".cdb"; }
};

// The data set of `entries` entries, generated first if needed. Aborts the
// program (with a message) when generation fails.
const DataSet& GetDataSet(size_t entries);

// Query keys, stored in one buffer.
struct Queries {
  std::string text;
  std::vector<std::string_view> keys;
  size_t expected_hits = 0;
};

// `count` queries against a data set of `entries` entries: 90 % hits.
Queries MakeQueries(size_t entries, size_t count, uint64_t seed);

// Reads a whole file (aborts on error).
std::string ReadFile(const std::string& path);

// Reads every byte of a file through a small buffer, so its pages are in the
// page cache before a measurement.
void WarmFile(const std::string& path);

// Size of a file in bytes, 0 if it does not exist.
uint64_t FileSize(const std::string& path);

// Peak resident set size of this process so far, in bytes.
uint64_t PeakRss();

}  // namespace libmaps::bench

#endif  // LIBMAPS_BENCH_BENCH_DATA_H_
