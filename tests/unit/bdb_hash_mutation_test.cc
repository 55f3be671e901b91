// Random damage to real hash files: bit flips, truncation, wrong page
// numbers, counts, offsets and lengths, loops in bucket and overflow chains.
// Whatever the damage, BdbHashReader must answer with a value or an error:
// never crash, hang, or read outside the file. Each mutated file is placed
// so that it ends right before an unreadable page, so a read past its end
// faults even without AddressSanitizer. The sequence is seeded and
// repeatable; LIBMAPS_MUTATION_SEED and LIBMAPS_MUTATIONS override the seed
// and the count.

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bdb_test_util.h"
#include "format/bdb_hash_format.h"
#include "format/bdb_hash_reader.h"
#include "gtest/gtest.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;
namespace fs = std::filesystem;
using ::libmaps::testing::BdbDataDir;
using ::libmaps::testing::BuildHashFile;
using ::libmaps::testing::Pairs;
using ::libmaps::testing::ParseDump;
using ::libmaps::testing::ReadFileBytes;

struct Base {
  std::string name;
  std::string bytes;
  Pairs pairs;  // what the intact file holds
  uint32_t page_size = 0;
  bool big_endian = false;
};

// A buffer whose last byte is followed by a PROT_NONE page.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t capacity) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    length_ = (capacity + page_ - 1) / page_ * page_ + page_;
    void* p = mmap(nullptr, length_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    if (base_ != nullptr) mprotect(base_ + length_ - page_, page_, PROT_NONE);
  }
  ~GuardedBuffer() {
    if (base_ != nullptr) munmap(base_, length_);
  }
  // Copies `bytes` so that they end at the guard page.
  std::span<const uint8_t> Place(const std::string& bytes) {
    uint8_t* at = base_ + (length_ - page_) - bytes.size();
    std::memcpy(at, bytes.data(), bytes.size());
    return {at, bytes.size()};
  }
  bool ok() const { return base_ != nullptr; }

 private:
  uint8_t* base_ = nullptr;
  size_t length_ = 0;
  size_t page_ = 0;
};

std::vector<Base> LoadBases() {
  std::vector<Base> bases;
  auto add = [&](std::string name, std::string bytes, Pairs pairs) {
    Base base{std::move(name), std::move(bytes), std::move(pairs)};
    auto r = BdbHashReader::Open(
        {reinterpret_cast<const uint8_t*>(base.bytes.data()), base.bytes.size()});
    if (!r.ok()) return;
    base.page_size = r->page_size();
    base.big_endian = r->big_endian();
    bases.push_back(std::move(base));
  };
  for (const char* dir : {"libdb", "postmap"}) {
    for (const auto& entry : fs::directory_iterator(BdbDataDir() / dir)) {
      if (entry.path().extension() != ".db") continue;
      fs::path dump = entry.path();
      dump += ".dump.txt";
      if (!fs::exists(dump)) continue;
      add(entry.path().filename().string(), ReadFileBytes(entry.path()),
          ParseDump(ReadFileBytes(dump)));
    }
  }
  // What the samples lack: 64 KiB pages, big-endian checksummed chains.
  Pairs pairs;
  for (int i = 0; i < 120; ++i) {
    std::string key = "k" + std::to_string(i);
    std::string value = "value" + std::to_string(i);
    if (i % 10 == 0) value.append(20000 + i, 'v');
    if (i == 7) key.append(17000, 'K');
    pairs.emplace_back(key, value);
  }
  add("built-65536", BuildHashFile(pairs, {.page_size = 65536, .buckets = 4}), pairs);
  add("built-be-ck-1024",
      BuildHashFile(pairs, {.page_size = 1024, .buckets = 8, .big_endian = true,
                            .checksums = true}),
      pairs);
  std::sort(bases.begin(), bases.end(),
            [](const Base& x, const Base& y) { return x.name < y.name; });
  return bases;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  uint32_t Below(uint64_t n) {
    return n == 0 ? 0 : static_cast<uint32_t>(rng_() % n);
  }

  void Put32(std::string& f, size_t off, uint32_t v, bool be) {
    if (off + 4 > f.size()) return;
    for (int i = 0; i < 4; ++i) f[off + i] = static_cast<char>(v >> (be ? 24 - 8 * i : 8 * i));
  }
  void Put16(std::string& f, size_t off, uint32_t v, bool be) {
    if (off + 2 > f.size()) return;
    f[off + (be ? 1 : 0)] = static_cast<char>(v);
    f[off + (be ? 0 : 1)] = static_cast<char>(v >> 8);
  }
  uint32_t Get32(const std::string& f, size_t off, bool be) {
    if (off + 4 > f.size()) return 0;
    return b::ByteOrder(be).U32(reinterpret_cast<const uint8_t*>(f.data()) + off);
  }

  // A page number: mostly plausible ones, sometimes anything.
  uint32_t SomePage(uint32_t pages) {
    switch (Below(8)) {
      case 0: return 0;
      case 1: return static_cast<uint32_t>(rng_());
      case 2: return pages + Below(4);
      default: return Below(pages);
    }
  }

  // Applies one random kind of damage; returns its name.
  const char* Mutate(std::string& f, const Base& base) {
    const uint32_t P = base.page_size;
    const bool be = base.big_endian;
    const uint32_t pages = static_cast<uint32_t>(f.size() / P);
    const size_t page = size_t{1 + Below(pages > 1 ? pages - 1 : 1)} * P;
    switch (Below(12)) {
      case 0: {  // bit flips anywhere
        int n = 1 + static_cast<int>(Below(8));
        for (int i = 0; i < n; ++i) f[Below(f.size())] ^= static_cast<char>(1 << Below(8));
        return "bit flips";
      }
      case 1: {  // bit flips in headers and index arrays, where they matter
        size_t off = page + Below(64);
        if (off < f.size()) f[off] ^= static_cast<char>(1 << Below(8));
        return "header bit flip";
      }
      case 2:  // truncation
        f.resize(Below(4) == 0 ? Below(f.size()) : Below(pages) * size_t{P});
        return "truncation";
      case 3:  // wrong next/prev link: loops, self-links, out of range
        Put32(f, page + (Below(2) ? b::kPageNext : b::kPagePrev), SomePage(pages), be);
        return "wrong link";
      case 4:  // loop back to an earlier page of the same kind
        if (page >= size_t{2} * P) {
          Put32(f, page + b::kPageNext, static_cast<uint32_t>(page / P) - 1 - Below(page / P - 1), be);
        }
        return "chain loop";
      case 5:  // wrong page number field
        Put32(f, page + b::kPagePgno, SomePage(pages), be);
        return "wrong pgno";
      case 6:  // wrong entries / hf_offset
        Put16(f, page + (Below(2) ? b::kPageEntries : b::kPageHfOffset),
              Below(3) == 0 ? Below(65536) : Below(40), be);
        return "wrong count";
      case 7: {  // wrong item offset
        size_t off = page + 26 + 2 * Below(16);
        Put16(f, off, Below(2) ? Below(P + 2) : Below(65536), be);
        return "wrong offset";
      }
      case 8: {  // wrong overflow reference: page or length of a big item
        for (int tries = 0; tries < 64; ++tries) {
          size_t p = size_t{1 + Below(pages - 1 ? pages - 1 : 1)} * P;
          if (p + P > f.size() || static_cast<uint8_t>(f[p + b::kPageType]) != b::kPageHash) continue;
          for (size_t at = p + 26; at + 12 < p + P; ++at) {
            if (f[at] == b::kItemOffPage && Below(4) == 0) {
              if (Below(2)) {
                Put32(f, at + 4, SomePage(pages), be);
              } else {
                uint32_t len = Get32(f, at + 8, be);
                Put32(f, at + 8, Below(2) ? len + Below(3) - 1 : static_cast<uint32_t>(rng_()), be);
              }
              return "wrong big item";
            }
          }
        }
        return "wrong big item (none found)";
      }
      case 9: {  // overflow chain loop: an overflow page pointing back
        for (uint32_t p = 1; p < pages; ++p) {
          size_t at = size_t{p} * P;
          if (static_cast<uint8_t>(f[at + b::kPageType]) == b::kPageOverflow &&
              Below(3) == 0) {
            Put32(f, at + b::kPageNext, Below(2) ? p : SomePage(pages), be);
            return "overflow loop";
          }
        }
        return "overflow loop (none found)";
      }
      case 10: {  // meta fields
        static constexpr size_t kFields[] = {
            b::kMetaLastPgno, b::kMetaMaxBucket, b::kMetaHighMask, b::kMetaLowMask,
            b::kMetaFree,     b::kMetaFlags,     b::kMetaCharKey,  b::kMetaPageSize,
            b::kMetaVersion};
        size_t field = Below(2) ? kFields[Below(std::size(kFields))]
                                : b::kMetaSpares + 4 * Below(8);
        uint32_t old = Get32(f, field, be);
        Put32(f, field, Below(2) ? old + Below(5) - 2 : static_cast<uint32_t>(rng_()), be);
        return "meta field";
      }
      default: {  // a page overwritten with another page, or zeroed
        size_t other = size_t{Below(pages)} * P;
        if (page + P <= f.size() && other + P <= f.size()) {
          if (Below(2)) {
            f.replace(page, P, f, other, P);
          } else {
            std::memset(f.data() + page, 0, P);
          }
        }
        return "page copied or zeroed";
      }
    }
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(BdbHashMutation, ValueOrErrorEveryTime) {
  const std::vector<Base> bases = LoadBases();
  ASSERT_GE(bases.size(), 30u);
  size_t largest = 0;
  for (const Base& base : bases) largest = std::max(largest, base.bytes.size());
  GuardedBuffer buffer(largest + 4 * 65536);
  ASSERT_TRUE(buffer.ok());

  const uint64_t seed = EnvOr("LIBMAPS_MUTATION_SEED", 20240501);
  const uint64_t count = EnvOr("LIBMAPS_MUTATIONS", 12000);
  Mutator mutator(seed);
  uint64_t opened = 0, walked = 0, found = 0, errors = 0;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    const Base& base = bases[mutator.Below(bases.size())];
    std::string file = base.bytes;
    std::string what;
    const int rounds = 1 + static_cast<int>(mutator.Below(3));
    for (int r = 0; r < rounds && !file.empty(); ++r) {
      what += mutator.Mutate(file, base);
      what += "; ";
    }
    SCOPED_TRACE(::testing::Message() << "mutation " << i << " of " << base.name
                                      << " (seed " << seed << "): " << what);
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<BdbHashReader> reader = BdbHashReader::Open(buffer.Place(file));
    if (!reader.ok()) {
      ++errors;
      continue;
    }
    ++opened;
    auto check_error = [&](const absl::Status& s) {
      ++errors;
      // Damage found on a page names the page; no message quotes file bytes.
      if (s.code() == absl::StatusCode::kDataLoss) {
        EXPECT_EQ(std::string(s.message()).rfind("page ", 0), 0u) << s;
      }
      for (const auto& [key, value] : base.pairs) {
        if (value.size() >= 6) {
          ASSERT_EQ(std::string(s.message()).find(value), std::string::npos) << s;
        }
      }
    };
    size_t records = 0;
    absl::Status s = reader->ForEach([&](std::string_view, std::string_view) {
      ++records;
      return true;
    });
    if (s.ok()) {
      ++walked;
    } else {
      check_error(s);
    }
    // Look up a sample of the original keys, plus one that is absent.
    const size_t n = base.pairs.size();
    for (size_t k = 0; k < std::min<size_t>(n, 24); ++k) {
      const std::string& key = base.pairs[n <= 24 ? k : mutator.Below(n)].first;
      absl::StatusOr<std::optional<std::string>> v = reader->Find(key);
      if (!v.ok()) {
        check_error(v.status());
      } else if (v->has_value()) {
        ++found;
      }
    }
    (void)reader->Find(std::string("absent-key\0", 11));
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    ASSERT_LT(elapsed, std::chrono::seconds(2)) << "too slow: a near-hang";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu mutations of %zu files in %.2f s: %llu opened, %llu walked "
              "completely, %llu keys found, %llu errors reported\n",
              static_cast<unsigned long long>(count), bases.size(), seconds,
              static_cast<unsigned long long>(opened),
              static_cast<unsigned long long>(walked),
              static_cast<unsigned long long>(found),
              static_cast<unsigned long long>(errors));
  EXPECT_GE(count, 10000u);
}

// Targeted loops, each of which must be reported, not followed forever.
TEST(BdbHashMutation, EveryChainLoopIsReported) {
  for (const Base& base : LoadBases()) {
    const uint32_t P = base.page_size;
    const b::ByteOrder order(base.big_endian);
    const uint32_t pages = static_cast<uint32_t>(base.bytes.size() / P);
    for (uint32_t p = 1; p < pages; ++p) {
      const uint8_t* page = reinterpret_cast<const uint8_t*>(base.bytes.data()) + size_t{p} * P;
      const uint8_t type = page[b::kPageType];
      if (order.U32(page + b::kPagePgno) != p ||
          (type != b::kPageHash && type != b::kPageOverflow)) {
        continue;
      }
      std::string file = base.bytes;
      Mutator m(p);
      m.Put32(file, size_t{p} * P + b::kPageNext, p, base.big_endian);  // self-loop
      auto reader = BdbHashReader::Open(
          {reinterpret_cast<const uint8_t*>(file.data()), file.size()});
      ASSERT_TRUE(reader.ok());
      absl::Status s = reader->ForEach([](auto, auto) { return true; });
      // The page may be unreachable (a free page); if it is reached, the walk
      // must fail rather than loop.
      if (!s.ok()) {
        EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << base.name;
      }
      for (const auto& [key, value] : base.pairs) (void)reader->Find(key);
    }
  }
}

}  // namespace
}  // namespace libmaps::internal
