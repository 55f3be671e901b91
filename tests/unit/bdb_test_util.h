// Helpers shared by the hash-format tests: where the sample files are, a
// parser for db_dump's "print" format, and a small builder of hash files for
// cases no sample covers (64 KiB pages, never-written pages, odd versions).
//
// The builder writes the layout of docs/hash-format.md §9 (one doubling of
// 2^k buckets on pages 1..2^k, chained and overflow pages appended after
// them). It is test code: it trusts its input.

#ifndef LIBMAPS_TESTS_UNIT_BDB_TEST_UTIL_H_
#define LIBMAPS_TESTS_UNIT_BDB_TEST_UTIL_H_

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format/bdb_hash_format.h"

namespace libmaps::testing {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// tests/compat/data/bdb in the source tree. Meson runs tests from the build
// directory and compiles this file by a path relative to it; when that does
// not resolve (a test run by hand elsewhere), the executable's location is
// used instead (it lives in <build>/tests/).
inline std::filesystem::path BdbDataDir() {
  namespace fs = std::filesystem;
  const fs::path here = fs::path(__FILE__).parent_path();
  const fs::path rel = here / ".." / "compat" / "data" / "bdb";
  if (here.is_absolute() || fs::exists(rel)) return rel;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path() / ".." / rel;
}

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void WriteFileBytes(const std::filesystem::path& path,
                           std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Parses `db_dump -p` output: data lines start with a space, `\\` is a
// backslash and `\xx` a hex byte; lines alternate key, value.
inline Pairs ParseDump(std::string_view text) {
  Pairs pairs;
  std::vector<std::string> items;
  bool in_data = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line == "HEADER=END") {
      in_data = true;
      continue;
    }
    if (line == "DATA=END") break;
    if (!in_data || line.empty() || line[0] != ' ') continue;
    std::string item;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] != '\\') {
        item.push_back(line[i]);
      } else if (i + 1 < line.size() && line[i + 1] == '\\') {
        item.push_back('\\');
        ++i;
      } else if (i + 2 < line.size()) {
        item.push_back(static_cast<char>(
            std::stoi(std::string(line.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      }
    }
    items.push_back(std::move(item));
  }
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    pairs.emplace_back(std::move(items[i]), std::move(items[i + 1]));
  }
  return pairs;
}

struct BuildOptions {
  uint32_t page_size = 4096;
  uint32_t buckets = 2;  // a power of two >= 2
  bool big_endian = false;
  bool checksums = false;
  uint32_t version = 9;
  // Leave the pages of empty buckets (but the last) all zero, as libdb does.
  bool zero_empty_buckets = false;
};

// Builds a hash file holding `pairs` (stored bytes as given: add NULs
// yourself). Pairs land in their buckets in the order given.
inline std::string BuildHashFile(const Pairs& pairs, const BuildOptions& o) {
  namespace b = libmaps::internal::bdb;
  const uint32_t P = o.page_size;
  const uint32_t overhead = o.checksums ? 32 : 26;
  std::vector<std::string> pages(o.buckets + 1, std::string(P, '\0'));
  auto put16 = [&](std::string& pg, size_t off, uint32_t v) {
    uint8_t* p = reinterpret_cast<uint8_t*>(pg.data()) + off;
    if (o.big_endian) {
      p[0] = static_cast<uint8_t>(v >> 8);
      p[1] = static_cast<uint8_t>(v);
    } else {
      p[0] = static_cast<uint8_t>(v);
      p[1] = static_cast<uint8_t>(v >> 8);
    }
  };
  auto put32 = [&](std::string& pg, size_t off, uint32_t v) {
    uint8_t* p = reinterpret_cast<uint8_t*>(pg.data()) + off;
    for (int i = 0; i < 4; ++i) {
      int shift = o.big_endian ? 24 - 8 * i : 8 * i;
      p[i] = static_cast<uint8_t>(v >> shift);
    }
  };
  auto get16 = [&](const std::string& pg, size_t off) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(pg.data()) + off;
    return o.big_endian ? (p[0] << 8 | p[1]) : (p[1] << 8 | p[0]);
  };
  auto init = [&](uint32_t pgno, uint8_t type, uint32_t prev) {
    std::string& pg = pages[pgno];
    put32(pg, b::kPageLsn + 4, 1);
    put32(pg, b::kPagePgno, pgno);
    put32(pg, b::kPagePrev, prev);
    put16(pg, b::kPageHfOffset, P % 65536);
    pg[b::kPageType] = static_cast<char>(type);
  };
  auto new_page = [&]() {
    pages.emplace_back(P, '\0');
    return static_cast<uint32_t>(pages.size() - 1);
  };
  // Writes `data` to a fresh overflow chain; returns its first page.
  auto overflow = [&](const std::string& data) {
    uint32_t first = 0, prev = 0;
    for (size_t off = 0; off < data.size();) {
      uint32_t pgno = new_page();
      init(pgno, b::kPageOverflow, prev);
      size_t n = std::min<size_t>(P - overhead, data.size() - off);
      pages[pgno].replace(overhead, n, data, off, n);
      put16(pages[pgno], b::kPageEntries, 1);
      put16(pages[pgno], b::kPageHfOffset, static_cast<uint32_t>(n));
      if (prev != 0) put32(pages[prev], b::kPageNext, pgno);
      if (first == 0) first = pgno;
      prev = pgno;
      off += n;
    }
    return first;
  };
  auto item = [&](const std::string& bytes) {
    std::string it;
    if (bytes.size() > P / 4) {
      it.assign(12, '\0');
      it[0] = b::kItemOffPage;
      std::string tmp(P, '\0');
      put32(tmp, 0, overflow(bytes));
      put32(tmp, 4, static_cast<uint32_t>(bytes.size()));
      it.replace(4, 8, tmp, 0, 8);
    } else {
      it.push_back(b::kItemKeyData);
      it += bytes;
    }
    return it;
  };
  std::vector<uint32_t> tail(o.buckets);
  std::vector<bool> used(o.buckets, false);
  for (uint32_t i = 0; i < o.buckets; ++i) tail[i] = i + 1;
  for (const auto& [key, value] : pairs) {
    const uint32_t bucket =
        b::Hash({reinterpret_cast<const uint8_t*>(key.data()), key.size()}) &
        (o.buckets - 1);
    if (!used[bucket]) {
      init(bucket + 1, b::kPageHash, 0);
      used[bucket] = true;
    }
    std::string k = item(key), d = item(value);
    uint32_t pgno = tail[bucket];
    auto entries = [&] { return static_cast<uint32_t>(get16(pages[pgno], b::kPageEntries)); };
    auto hf = [&] {
      uint32_t v = static_cast<uint32_t>(get16(pages[pgno], b::kPageHfOffset));
      return v == 0 ? P : v;
    };
    if (hf() < overhead + 2 * (entries() + 2) + k.size() + d.size()) {
      uint32_t next = new_page();
      init(next, b::kPageHash, pgno);
      put32(pages[pgno], b::kPageNext, next);
      tail[bucket] = pgno = next;
    }
    uint32_t at = hf();
    for (const std::string* it : {&k, &d}) {
      at -= static_cast<uint32_t>(it->size());
      pages[pgno].replace(at, it->size(), *it);
      put16(pages[pgno], overhead + 2 * entries(), at);
      put16(pages[pgno], b::kPageEntries, entries() + 1);
      put16(pages[pgno], b::kPageHfOffset, at % 65536);
    }
  }
  for (uint32_t i = 0; i < o.buckets; ++i) {
    if (!used[i] && !(o.zero_empty_buckets && i + 1 < o.buckets)) {
      init(i + 1, b::kPageHash, 0);
    }
  }
  // Meta page.
  std::string& m = pages[0];
  put32(m, b::kMetaLsn + 4, 1);
  put32(m, b::kMetaMagic, b::kHashMagic);
  put32(m, b::kMetaVersion, o.version);
  put32(m, b::kMetaPageSize, P);
  m[b::kMetaType] = static_cast<char>(b::kPageHashMeta);
  m[b::kMetaMetaFlags] = o.checksums ? 1 : 0;
  put32(m, b::kMetaLastPgno, static_cast<uint32_t>(pages.size() - 1));
  put32(m, b::kMetaMaxBucket, o.buckets - 1);
  put32(m, b::kMetaHighMask, o.buckets - 1);
  put32(m, b::kMetaLowMask, o.buckets / 2 - 1);
  put32(m, b::kMetaNelem, static_cast<uint32_t>(pairs.size()));
  put32(m, b::kMetaCharKey, b::kDefaultCharKeyHash);
  for (uint32_t i = 0; (1u << i) <= o.buckets; ++i) put32(m, b::kMetaSpares + 4 * i, 1);
  if (o.checksums) {
    for (size_t i = 0; i < pages.size(); ++i) {
      std::string& pg = pages[i];
      if (i != 0 && get16(pg, b::kPagePgno) == 0 && get16(pg, b::kPagePgno + 2) == 0) {
        continue;  // never written
      }
      auto span = std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(pg.data()), pg.size());
      put32(pg, i == 0 ? b::kMetaChecksum : b::kPageChecksum,
            b::PageChecksum(span, i == 0));
    }
  }
  std::string file;
  for (const std::string& pg : pages) file += pg;
  return file;
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "libmaps-test-XXXXXX").string();
    path_ = mkdtemp(templ.data()) ? templ : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace libmaps::testing

#endif  // LIBMAPS_TESTS_UNIT_BDB_TEST_UTIL_H_
