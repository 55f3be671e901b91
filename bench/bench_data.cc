#include "bench_data.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "libmaps/map_builder.h"
#include "sol.h"

#ifndef LIBMAPS_BENCH_DATA_DIR
#define LIBMAPS_BENCH_DATA_DIR "bench-data"
#endif

namespace libmaps::bench {
namespace {

// Bump when the generated files change, so stale caches are rebuilt.
constexpr int kFormatVersion = 2;

constexpr uint64_t kIdModulus = 10'000'000;

uint64_t KeyId(uint64_t i) { return (i * 6700417 + 1234567) % kIdModulus; }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench: %s\n", what.c_str());
  std::exit(2);
}

void MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string prefix = path.substr(0, i);
      if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        Die("mkdir " + prefix + ": " + std::strerror(errno));
      }
    }
  }
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) Die("create " + tmp + ": " + std::strerror(errno));
  if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
      std::fclose(f) != 0) {
    Die("write " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Die("rename " + tmp + ": " + std::strerror(errno));
  }
}

void BuildTable(const std::string& type, const DataSet& d, const std::string& text,
                const std::string& name) {
  BuildOptions options;
  options.lmdb_map_size = uint64_t{1} << 31;  // no MDB_MAP_FULL restarts
  auto builder = NewMapBuilder(type + ":" + name, options);
  if (!builder.ok()) Die(std::string(builder.status().message()));
  absl::Status s = AddSource(text, d.source, false, options,
                             [&](std::string_view k, std::string_view v) {
                               return (*builder)->Add(k, v);
                             });
  if (s.ok()) s = (*builder)->Commit();
  if (!s.ok()) Die(type + " build of " + d.source + ": " + std::string(s.message()));
}

void Generate(const DataSet& d) {
  std::fprintf(stderr, "bench: generating %zu entries in %s ...\n", d.entries,
               d.dir.c_str());
  MakeDirs(d.dir);
  std::string text;
  text.reserve(d.entries * 77);
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(d.entries);
  for (uint64_t i = 0; i < d.entries; ++i) {
    pairs.emplace_back(Key(i), Value(i));
    text.append(pairs.back().first);
    text.push_back(' ');
    text.append(pairs.back().second);
    text.push_back('\n');
  }
  WriteFile(d.source, text);
  BuildTable("hash", d, text, d.source);
  BuildTable("lmdb", d, text, d.source);
  BuildTable("cdb", d, text, d.source);
  BuildTable("btree", d, text, d.btree_name());
  if (!WriteSolTable(d.sol_path(), pairs)) Die("write " + d.sol_path());
  WriteFile(d.dir + "/stamp", std::to_string(kFormatVersion) + "\n");
}

bool IsCurrent(const DataSet& d) {
  FILE* f = std::fopen((d.dir + "/stamp").c_str(), "r");
  if (f == nullptr) return false;
  int version = 0;
  bool ok = std::fscanf(f, "%d", &version) == 1 && version == kFormatVersion;
  std::fclose(f);
  for (const std::string& p : {d.source, d.db_path(), d.lmdb_path(), d.sol_path(),
                               d.cdb_path(), d.btree_path()}) {
    ok = ok && FileSize(p) > 0;
  }
  return ok;
}

// splitmix64: a small, portable, seeded generator.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

}  // namespace

std::string Key(uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[smtp-%07llu.example.net]:587",
                static_cast<unsigned long long>(KeyId(i)));
  return buf;
}

std::string Value(uint64_t i) {
  const uint64_t k = KeyId(i);
  const uint64_t pw = ((k * 2654435761ull) >> 7) % 10000;
  char buf[96];
  std::snprintf(buf, sizeof buf, "user-%07llu@example.net:RandomPassw0rd-%04llu",
                static_cast<unsigned long long>(k), static_cast<unsigned long long>(pw));
  return buf;
}

std::string CacheDir() {
  const char* env = std::getenv("LIBMAPS_BENCH_DATA");
  return env != nullptr && *env != '\0' ? env : LIBMAPS_BENCH_DATA_DIR;
}

const DataSet& GetDataSet(size_t entries) {
  static std::mutex mu;
  static std::map<size_t, std::unique_ptr<DataSet>> sets;
  std::lock_guard<std::mutex> guard(mu);
  std::unique_ptr<DataSet>& slot = sets[entries];
  if (!slot) {
    auto d = std::make_unique<DataSet>();
    d->entries = entries;
    d->dir = CacheDir() + "/n" + std::to_string(entries);
    d->source = d->dir + "/src.txt";
    if (!IsCurrent(*d)) Generate(*d);
    slot = std::move(d);
  }
  return *slot;
}

Queries MakeQueries(size_t entries, size_t count, uint64_t seed) {
  Rng rng(seed + entries);
  std::vector<uint64_t> ids(count);
  Queries q;
  for (size_t i = 0; i < count; ++i) {
    if (rng.Below(10) == 0) {
      ids[i] = entries + rng.Below(entries);  // absent
    } else {
      ids[i] = rng.Below(entries);
      ++q.expected_hits;
    }
  }
  q.text.reserve(count * 31);
  std::vector<std::pair<size_t, size_t>> spans;
  spans.reserve(count);
  for (uint64_t id : ids) {
    std::string k = Key(id);
    spans.emplace_back(q.text.size(), k.size());
    q.text.append(k);
  }
  q.keys.reserve(count);
  for (auto [at, len] : spans) q.keys.emplace_back(q.text.data() + at, len);
  return q;
}

std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  struct stat st;
  ::fstat(fd, &st);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n <= 0) Die("read " + path);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

void WarmFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  while (::read(fd, buf.get(), 1 << 20) > 0) {
  }
  ::close(fd);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

uint64_t PeakRss() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

}  // namespace libmaps::bench
