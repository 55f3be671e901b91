// Lookup benchmarks: libmaps' backends side by side with their anchors, on
// the same files, in one process.
//
//   lookup/SYSTEM/N   one lookup of a query key (90 % hits, random order) in a
//                     table of N entries, hot: the table was opened once and
//                     every query was looked up once, untimed, before timing.
//                     Each lookup waits for the one before (see NextQuery):
//                     the time of one lookup.
//   lookup-tp/SYSTEM/N  the same without that wait: the processor overlaps
//                     consecutive lookups (throughput).
//   cred/SYSTEM/N     the SMTP client's credential hot path for one next hop
//                     "[smtp-0000042.example.net]:587": derive the lookup keys
//                     (ParseSaslNextHop, SaslLookupKeys: the host, then the
//                     next hop), look them up until one hits, split the value
//                     (ParseCredentialValue). Only the lookups differ between
//                     systems.
//   cred-call/SYSTEM/N  the same hot path through the one call an MTA makes
//                     (SaslPasswordMaps::Find: keys, one LookupEach for both
//                     probes, the credential split into locked memory), for
//                     the libmaps systems; beside cred/SYSTEM/N (issue 16).
//   batch/SYSTEM/N    the safe batch: Map::LookupEach with 64 query keys per
//                     call (hash, lmdb, btree in the default lock mode: one
//                     shared lock per call; -snapshot: kSnapshot), each
//                     value copied out. Time per iteration is one call:
//                     compare.py divides it by 64.
//   open/SYSTEM/N     open the table, look one key up, close it: what a
//                     process that opens a map per delivery pays (file in the
//                     page cache). Systems that load the whole table at open
//                     are left out at 1,000,000 entries.
//
// SYSTEM is one of the libmaps backends or an anchor; --list_systems prints
// them with what each measures. Items/s is lookups (or next hops) per second.
// Use --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
// for figures that are compared (bench/compare.sh does).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <span>
#include <vector>

#include "bench_data.h"
#include "libmaps/credential.h"
#include "libmaps/map.h"
#include "libmaps/sasl_maps.h"
#include "systems.h"

namespace libmaps::bench {
namespace {

constexpr size_t kSizes[] = {1'000, 100'000, 1'000'000};
constexpr uint64_t kQuerySeed = 20240601;

// Query lists by table size: as many queries as entries, at least 65,536 and
// at most 1,048,576.
const Queries& QueriesFor(size_t entries) {
  static std::map<size_t, Queries> cache;
  auto it = cache.find(entries);
  if (it == cache.end()) {
    size_t count = std::min<size_t>(size_t{1} << 20, std::max<size_t>(entries, 1 << 16));
    it = cache.emplace(entries, MakeQueries(entries, count, kQuerySeed)).first;
  }
  return it->second;
}

// Open systems, kept for the life of the process: repetitions and the other
// benchmarks of one run reuse them (and their warm caches).
System& Opened(const SystemInfo& info, const DataSet& data) {
  static std::map<std::pair<std::string, size_t>, std::unique_ptr<System>> cache;
  auto& slot = cache[{info.name, data.entries}];
  if (!slot) {
    for (const std::string& f : {data.source, data.db_path(), data.lmdb_path(),
                                 data.sol_path()}) {
      WarmFile(f);
    }
    slot = info.open(data);
    // The untimed pass that makes the measurement hot, and checks the answers.
    const Queries& q = QueriesFor(data.entries);
    std::string value;
    size_t hits = 0;
    for (std::string_view k : q.keys) hits += slot->Lookup(k, &value) ? 1 : 0;
    if (hits != q.expected_hits) {
      std::fprintf(stderr, "bench: %s/%zu: %zu hits, expected %zu\n", info.name,
                   data.entries, hits, q.expected_hits);
      std::abort();
    }
  }
  return *slot;
}

// The next query's position, made to depend on the previous answer when
// `chained` (it never changes it: a value is shorter than 2^62 bytes), so
// that a lookup starts only when the one before has finished. Timed that way
// the loop measures how long one lookup takes, which is what a process that
// does one lookup among other work waits; unchained, the processor overlaps
// consecutive lookups, and short code paths gain on long ones.
inline size_t NextQuery(size_t i, size_t n, bool chained, bool hit,
                        const std::string& value) {
  if (chained) i += (value.size() | static_cast<size_t>(hit)) >> 62;
  return ++i == n ? 0 : i;
}

void BM_Lookup(benchmark::State& state, const SystemInfo* info, bool chained) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  System& system = Opened(*info, data);
  const Queries& q = QueriesFor(data.entries);
  std::string value;
  size_t i = 0, hits = 0;
  for (auto _ : state) {
    bool hit = system.Lookup(q.keys[i], &value);
    benchmark::DoNotOptimize(hit);
    benchmark::DoNotOptimize(value.data());
    hits += hit;
    i = NextQuery(i, q.keys.size(), chained, hit, value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["hit%"] = 100.0 * static_cast<double>(hits) /
                           static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

// The SMTP client's lookup context for one next hop ("[host]:port"): the
// part of the credential path both cred/ and cred-call/ time.
std::optional<SaslLookupContext> ContextFor(std::string_view next_hop) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop(next_hop);
  if (!hop.ok()) return std::nullopt;
  SaslLookupContext context;
  context.host = std::move(hop->host);
  context.dest = std::move(hop->dest_key);
  return context;
}

void BM_Credential(benchmark::State& state, const SystemInfo* info) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  System& system = Opened(*info, data);
  const Queries& q = QueriesFor(data.entries);
  std::string value;
  size_t i = 0, found = 0;
  for (auto _ : state) {
    std::optional<SaslLookupContext> context = ContextFor(q.keys[i]);
    if (!context) {
      state.SkipWithError("ParseSaslNextHop failed");
      break;
    }
    bool hit = false;
    for (const std::string& key : SaslLookupKeys(*context)) {
      if (!system.Lookup(key, &value)) continue;
      absl::StatusOr<Credential> credential = ParseCredentialValue(value);
      benchmark::DoNotOptimize(credential);
      found += credential.ok();
      hit = true;
      break;
    }
    i = NextQuery(i, q.keys.size(), true, hit, value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["hit%"] = 100.0 * static_cast<double>(found) /
                           static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

struct CallSystem {
  const char* name;
  const char* type;
  LockPolicy lock;
};
constexpr CallSystem kCallSystems[] = {
    {"hash", "hash", LockPolicy::kPerLookup},
    {"hash-strict", "hash", LockPolicy::kPerLookupStrict},
    {"hash-snapshot", "hash", LockPolicy::kSnapshot},
    {"lmdb", "lmdb", LockPolicy::kPerLookup},
    {"lmdb-strict", "lmdb", LockPolicy::kPerLookupStrict},
    {"lmdb-snapshot", "lmdb", LockPolicy::kSnapshot},
    {"cdb", "cdb", LockPolicy::kPerLookup},
    {"btree", "btree", LockPolicy::kPerLookup},
};

void BM_CredentialCall(benchmark::State& state, const CallSystem* sys) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  // The same files, warm, as cred/ with the same system name uses.
  for (const SystemInfo& info : AllSystems()) {
    if (std::string_view(info.name) == sys->name) Opened(info, data);
  }
  OpenOptions options;
  options.lock = sys->lock;
  absl::StatusOr<std::unique_ptr<SaslPasswordMaps>> maps =
      SaslPasswordMaps::Open(std::string(sys->type) + ":" +
                                 (std::string_view(sys->type) == "btree" ? data.btree_name()
                                                                         : data.source),
                             options);
  if (!maps.ok()) {
    state.SkipWithError("SaslPasswordMaps::Open failed");
    return;
  }
  const Queries& q = QueriesFor(data.entries);
  const std::string no_value;
  size_t i = 0, found = 0;
  for (auto _ : state) {
    std::optional<SaslLookupContext> context = ContextFor(q.keys[i]);
    if (!context) {
      state.SkipWithError("ParseSaslNextHop failed");
      break;
    }
    absl::StatusOr<std::optional<LockedCredential>> credential = (*maps)->Find(*context);
    benchmark::DoNotOptimize(credential);
    const bool hit = credential.ok() && credential->has_value();
    found += hit;
    // As cred/: the next query waits for this one's answer.
    i += (hit ? (*credential)->password().size() : 0) >> 62;
    i = NextQuery(i, q.keys.size(), true, hit, no_value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["hit%"] = 100.0 * static_cast<double>(found) /
                           static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

// The safe batch (Map::LookupEach, default lock mode): kBatchKeys query
// keys per call, each value copied out as a caller would; one iteration is
// one call, so the time per lookup is the iteration's / kBatchKeys
// (bench/compare.py divides).
constexpr size_t kBatchKeys = 64;

struct BatchSystem {
  const char* name;
  const char* type;
  LockPolicy lock;
};
constexpr BatchSystem kBatchSystems[] = {
    {"hash", "hash", LockPolicy::kPerLookup},
    {"lmdb", "lmdb", LockPolicy::kPerLookup},
    {"btree", "btree", LockPolicy::kPerLookup},
    {"hash-snapshot", "hash", LockPolicy::kSnapshot},
    {"lmdb-snapshot", "lmdb", LockPolicy::kSnapshot},
};

void BM_Batch(benchmark::State& state, const BatchSystem* sys) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  // The same files, warm, as lookup/ with the same system name uses.
  for (const SystemInfo& info : AllSystems()) {
    if (std::string_view(info.name) == sys->name) Opened(info, data);
  }
  OpenOptions options;
  options.lock = sys->lock;
  const std::string_view type = sys->type;
  absl::StatusOr<std::unique_ptr<Map>> map = OpenMap(
      std::string(type) + ":" +
          (type == "btree" ? data.btree_name() : type == "lmdb" ? data.lmdb_name()
                                                                : data.hash_name()),
      options);
  if (!map.ok()) {
    state.SkipWithError("OpenMap failed");
    return;
  }
  const Queries& q = QueriesFor(data.entries);
  std::vector<std::string_view> keys(q.keys.begin(), q.keys.end());
  // Untimed: one pass over every query, as Opened() makes for lookup/.
  size_t hits = 0;
  for (size_t at = 0; at < keys.size(); at += kBatchKeys) {
    (*map)->LookupEach(
        std::span(keys).subspan(at, std::min(kBatchKeys, keys.size() - at)),
        [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
          hits += r.ok() && r->has_value();
          return true;
        });
  }
  if (hits != q.expected_hits) {
    state.SkipWithError("wrong number of hits");
    return;
  }
  std::string value;
  size_t at = 0, found = 0;
  for (auto _ : state) {
    if (at + kBatchKeys > keys.size()) at = 0;
    (*map)->LookupEach(std::span(keys).subspan(at, kBatchKeys),
                       [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
                         if (r.ok() && r->has_value()) {
                           value.assign(**r);
                           ++found;
                         }
                         return true;
                       });
    benchmark::DoNotOptimize(value.data());
    at += kBatchKeys;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchKeys));
  state.counters["hit%"] =
      100.0 * static_cast<double>(found) /
      static_cast<double>(std::max<int64_t>(state.iterations() * kBatchKeys, 1));
}

void BM_OpenLookupClose(benchmark::State& state, const SystemInfo* info) {
  const DataSet& data = GetDataSet(static_cast<size_t>(state.range(0)));
  const Queries& q = QueriesFor(data.entries);
  for (const std::string& f : {data.source, data.db_path(), data.lmdb_path(),
                               data.sol_path()}) {
    WarmFile(f);
  }
  std::string value;
  size_t i = 0;
  for (auto _ : state) {
    std::unique_ptr<System> system = info->open(data);
    bool hit = system->Lookup(q.keys[i], &value);
    benchmark::DoNotOptimize(hit);
    system.reset();
    if (++i == q.keys.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void RegisterAll() {
  for (bool chained : {true, false}) {
    for (const SystemInfo& info : AllSystems()) {
      for (size_t n : kSizes) {
        const std::string name = (chained ? "lookup/" : "lookup-tp/") + std::string(info.name);
        benchmark::RegisterBenchmark(name.c_str(), BM_Lookup, &info, chained)
            ->Arg(static_cast<long>(n));
      }
    }
  }
  for (const SystemInfo& info : AllSystems()) {
    for (size_t n : kSizes) {
      benchmark::RegisterBenchmark((std::string("cred/") + info.name).c_str(),
                                   BM_Credential, &info)
          ->Arg(static_cast<long>(n));
    }
  }
  for (const CallSystem& sys : kCallSystems) {
    for (size_t n : kSizes) {
      benchmark::RegisterBenchmark((std::string("cred-call/") + sys.name).c_str(),
                                   BM_CredentialCall, &sys)
          ->Arg(static_cast<long>(n));
    }
  }
  for (const BatchSystem& sys : kBatchSystems) {
    for (size_t n : kSizes) {
      benchmark::RegisterBenchmark((std::string("batch/") + sys.name).c_str(), BM_Batch, &sys)
          ->Arg(static_cast<long>(n));
    }
  }
  for (const SystemInfo& info : AllSystems()) {
    for (size_t n : kSizes) {
      if (n >= 1'000'000 && !info.cheap_open) continue;
      benchmark::RegisterBenchmark((std::string("open/") + info.name).c_str(),
                                   BM_OpenLookupClose, &info)
          ->Arg(static_cast<long>(n))
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace libmaps::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--list_systems") == 0) {
      for (const auto& info : libmaps::bench::AllSystems()) {
        std::printf("%-14s %s\n", info.name, info.what);
      }
      return 0;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  libmaps::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
