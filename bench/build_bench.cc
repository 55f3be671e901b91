// Build benchmarks: what it costs to turn a source file of N credential
// lines into a table, through the library as cmap does it, and the floors
// that bound it.
//
//   build/hash/N      read src.txt, AddSource into NewMapBuilder("hash:..."),
//                     Commit (write, fsync, rename): `cmap hash:src.txt`
//   build/lmdb/N      the same for lmdb:
//   load/texthash/N   OpenMap("texthash:src.txt"): what every process that
//                     opens a texthash: table pays
//   floor/read/N      read src.txt through a 1 MiB buffer and find every
//                     line's key and value (memchr): the least a build reads
//   floor/write/N     write as many bytes as the hash: table of N entries
//                     has, in 1 MiB writes, then fdatasync and rename: the
//                     least a durable build writes
//
// Each iteration is a whole build; Google Benchmark picks the count. Peak
// RSS is a per-process figure and so is measured by bench/compare.py on
// cmap processes, not here.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "bench_data.h"
#include "libmaps/map.h"
#include "libmaps/map_builder.h"

namespace libmaps::bench {
namespace {

constexpr size_t kSizes[] = {1'000, 100'000, 1'000'000};

// A scratch directory for build outputs next to the data sets.
std::string OutDir() {
  static const std::string dir = [] {
    std::string d = CacheDir() + "/build-out";
    ::mkdir(d.c_str(), 0755);
    return d;
  }();
  return dir;
}

void Build(benchmark::State& state, const std::string& type) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  const std::string source = OutDir() + "/src-" + std::to_string(data.entries) + ".txt";
  // The source under a name of its own, so that outputs land in OutDir().
  if (FileSize(source) != FileSize(data.source)) {
    std::string text = ReadFile(data.source);
    FILE* f = std::fopen(source.c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  WarmFile(source);
  BuildOptions options;
  for (auto _ : state) {
    std::string text = ReadFile(source);
    auto builder = NewMapBuilder(type + ":" + source, options);
    if (!builder.ok()) {
      state.SkipWithError(std::string(builder.status().message()).c_str());
      break;
    }
    absl::Status s = AddSource(text, source, false, options,
                               [&](std::string_view k, std::string_view v) {
                                 return (*builder)->Add(k, v);
                               });
    std::string().swap(text);
    if (s.ok()) s = (*builder)->Commit();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(data.entries));
  const std::string out = source + (type == "hash" ? ".db" : ".lmdb");
  state.counters["file_MB"] = static_cast<double>(FileSize(out)) / 1e6;
}

void BM_BuildHash(benchmark::State& state) { Build(state, "hash"); }
void BM_BuildLmdb(benchmark::State& state) { Build(state, "lmdb"); }

void BM_LoadTexthash(benchmark::State& state) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  WarmFile(data.source);
  OpenOptions options;
  for (auto _ : state) {
    auto map = OpenMap("texthash:" + data.source, options);
    if (!map.ok()) {
      state.SkipWithError(std::string(map.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(map->get());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(data.entries));
}

void BM_FloorRead(benchmark::State& state) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  WarmFile(data.source);
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  for (auto _ : state) {
    int fd = ::open(data.source.c_str(), O_RDONLY | O_CLOEXEC);
    size_t lines = 0, key_bytes = 0, carry = 0;
    ssize_t n;
    while ((n = ::read(fd, buf.get() + carry, (1 << 20) - carry)) > 0) {
      const char* p = buf.get();
      const char* end = p + carry + n;
      for (;;) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
        if (nl == nullptr) break;
        const char* sp = static_cast<const char*>(std::memchr(p, ' ', nl - p));
        key_bytes += sp == nullptr ? 0 : static_cast<size_t>(sp - p);
        ++lines;
        p = nl + 1;
      }
      carry = static_cast<size_t>(end - p);
      std::memmove(buf.get(), p, carry);
    }
    ::close(fd);
    benchmark::DoNotOptimize(lines);
    benchmark::DoNotOptimize(key_bytes);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(data.entries));
}

void BM_FloorWrite(benchmark::State& state) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  const uint64_t bytes = FileSize(data.db_path());
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  std::memset(buf.get(), 'x', 1 << 20);
  const std::string tmp = OutDir() + "/floor.tmp";
  const std::string out = OutDir() + "/floor.out";
  for (auto _ : state) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    for (uint64_t done = 0; done < bytes;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(1 << 20, bytes - done));
      if (::write(fd, buf.get(), n) != static_cast<ssize_t>(n)) {
        state.SkipWithError("write failed");
        break;
      }
      done += n;
    }
    ::fdatasync(fd);
    ::close(fd);
    ::rename(tmp.c_str(), out.c_str());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}

void RegisterAll() {
  for (size_t n : kSizes) {
    const long arg = static_cast<long>(n);
    benchmark::RegisterBenchmark("build/hash", BM_BuildHash)->Arg(arg)->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("build/lmdb", BM_BuildLmdb)->Arg(arg)->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("load/texthash", BM_LoadTexthash)->Arg(arg)->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("floor/read", BM_FloorRead)->Arg(arg)->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("floor/write", BM_FloorWrite)->Arg(arg)->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace libmaps::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  libmaps::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
