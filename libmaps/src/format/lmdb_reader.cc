#include "format/lmdb_reader.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "string_view_compat.h"

namespace libmaps::internal {

namespace {

constexpr uint32_t kMagic = 0xBEEFC0DE;
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 16;      // page header
constexpr size_t kNodeHeader = 8;   // node header
constexpr size_t kMetaBytes = 136;  // MDB_meta on a 64-bit build
constexpr size_t kMetaMain = 72;    // mm_dbs[1] within the meta
constexpr uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04;
constexpr uint16_t kBigData = 0x01;
constexpr uint64_t kNoRoot = ~uint64_t{0};
// B-trees of 2^64 records are 30 levels deep with the smallest pages.
constexpr uint32_t kMaxDepth = 64;

uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t U64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

absl::Status PageError(uint64_t pgno, std::string_view what) {
  return absl::DataLossError(absl::StrCat("page ", pgno, ": ", ToAbsl(what)));
}

int CompareKeys(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  if (n > 0) {
    const int c = std::memcmp(a.data(), b.data(), n);
    if (c != 0) return c;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

}  // namespace

struct LmdbReader::Node {
  std::string_view key;
  std::string_view data;  // leaf
  uint64_t child = 0;     // branch
};

absl::StatusOr<LmdbReader> LmdbReader::Open(std::span<const uint8_t> file) {
  auto invalid = [](std::string_view why) {
    return absl::DataLossError(absl::StrCat("not a readable LMDB file: ", ToAbsl(why)));
  };
  if (file.size() < kHeader + kMetaBytes) return invalid("too short");
  const uint32_t psize = U32(file.data() + kHeader + 24);
  if (psize < 256 || psize > 32768 || (psize & (psize - 1)) != 0) {
    return invalid("bad page size");
  }
  if (file.size() / psize < 2) return invalid("too short for two meta pages");
  const uint8_t* best = nullptr;
  for (uint64_t pgno : {0u, 1u}) {
    const uint8_t* m = file.data() + pgno * psize + kHeader;
    if (U32(m) != kMagic || U32(m + 4) != kVersion || U32(m + 24) != psize) continue;
    if (best == nullptr || U64(m + 128) > U64(best + 128)) best = m;
  }
  if (best == nullptr) return invalid("no valid meta page");
  LmdbReader reader(file);
  reader.psize_ = psize;
  const uint64_t file_pages = file.size() / psize;
  reader.last_pg_ = U64(best + 120);
  if (reader.last_pg_ < 1 || reader.last_pg_ >= file_pages) {
    return invalid("the last page named by the meta page is outside the file");
  }
  const uint8_t* db = best + kMetaMain;
  if (U16(db + 4) != 0) return invalid("the main database has flags Postfix never sets");
  reader.depth_ = U16(db + 6);
  reader.entries_ = U64(db + 32);
  reader.root_ = U64(db + 40);
  if (reader.root_ != kNoRoot &&
      (reader.root_ < 2 || reader.root_ > reader.last_pg_ || reader.depth_ == 0 ||
       reader.depth_ > kMaxDepth)) {
    return invalid("the main database's root is outside the file");
  }
  return reader;
}

absl::StatusOr<const uint8_t*> LmdbReader::LoadPage(uint64_t pgno, bool* leaf) const {
  if (pgno < 2 || pgno > last_pg_) return PageError(pgno, "outside the file");
  const uint8_t* p = file_.data() + pgno * psize_;
  if (U64(p) != pgno) return PageError(pgno, "its header names another page");
  const uint16_t flags = U16(p + 10);
  if (flags != kBranch && flags != kLeaf) {
    return PageError(pgno, "not a branch or leaf page");
  }
  *leaf = flags == kLeaf;
  const uint32_t lower = U16(p + 12), upper = U16(p + 14);
  if (lower < kHeader || (lower - kHeader) % 2 != 0 || lower > upper || upper > psize_) {
    return PageError(pgno, "bad free-space bounds");
  }
  if (lower == kHeader) return PageError(pgno, "no nodes");
  return p;
}

absl::StatusOr<LmdbReader::Node> LmdbReader::LoadNode(const uint8_t* page, uint64_t pgno,
                                                      uint32_t i, bool leaf) const {
  const uint32_t upper = U16(page + 14);
  const uint32_t off = U16(page + kHeader + 2 * i);
  if (off < upper || off + kNodeHeader > psize_) {
    return PageError(pgno, absl::StrCat("node ", i, " is outside the node area"));
  }
  const uint8_t* n = page + off;
  const uint32_t ksize = U16(n + 6);
  const uint16_t flags = U16(n + 4);
  if (off + kNodeHeader + ksize > psize_) {
    return PageError(pgno, absl::StrCat("node ", i, ": key runs off the page"));
  }
  Node node;
  node.key = std::string_view(reinterpret_cast<const char*>(n + kNodeHeader), ksize);
  const uint64_t low = uint64_t{U16(n)} | uint64_t{U16(n + 2)} << 16;
  if (!leaf) {
    node.child = low | uint64_t{flags} << 32;
    return node;
  }
  const size_t at = off + kNodeHeader + ksize;
  if (flags == 0) {
    if (at + low > psize_) {
      return PageError(pgno, absl::StrCat("node ", i, ": data runs off the page"));
    }
    node.data = std::string_view(reinterpret_cast<const char*>(page + at), low);
    return node;
  }
  if (flags != kBigData) {
    return PageError(pgno, absl::StrCat("node ", i, " has flags Postfix tables never have"));
  }
  if (at + 8 > psize_) return PageError(pgno, absl::StrCat("node ", i, " runs off the page"));
  const uint64_t first = U64(page + at);
  const uint64_t need = (kHeader - 1 + low) / psize_ + 1;
  if (first < 2 || first > last_pg_ || need > last_pg_ - first + 1) {
    return PageError(pgno, absl::StrCat("node ", i, ": big data outside the file"));
  }
  const uint8_t* ov = file_.data() + first * psize_;
  if (U64(ov) != first || (U16(ov + 10) & kOverflow) == 0 || U32(ov + 12) < need) {
    return PageError(first, "not the overflow page a node names");
  }
  node.data = std::string_view(reinterpret_cast<const char*>(ov + kHeader), low);
  return node;
}

absl::StatusOr<std::optional<std::string_view>> LmdbReader::Find(std::string_view key) const {
  if (root_ == kNoRoot) return std::nullopt;
  uint64_t pgno = root_;
  for (uint32_t level = 0; level <= kMaxDepth; ++level) {
    bool leaf;
    absl::StatusOr<const uint8_t*> page = LoadPage(pgno, &leaf);
    if (!page.ok()) return page.status();
    const uint32_t count = (U16(*page + 12) - kHeader) / 2;
    if (leaf) {
      uint32_t lo = 0, hi = count;
      while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        absl::StatusOr<Node> node = LoadNode(*page, pgno, mid, true);
        if (!node.ok()) return node.status();
        const int c = CompareKeys(node->key, key);
        if (c == 0) return std::optional<std::string_view>(node->data);
        if (c < 0) lo = mid + 1;
        else hi = mid;
      }
      return std::nullopt;
    }
    // The last node whose key is at most `key`; node 0 stands for -inf.
    uint32_t lo = 1, hi = count;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      absl::StatusOr<Node> node = LoadNode(*page, pgno, mid, false);
      if (!node.ok()) return node.status();
      if (CompareKeys(node->key, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    absl::StatusOr<Node> node = LoadNode(*page, pgno, lo - 1, false);
    if (!node.ok()) return node.status();
    pgno = node->child;
  }
  return PageError(pgno, "the tree is deeper than any LMDB tree");
}

absl::Status LmdbReader::Walk(uint64_t pgno, uint32_t depth, std::vector<uint64_t>* seen,
                              absl::FunctionRef<bool(std::string_view, std::string_view)> fn,
                              bool* stop) const {
  if (depth > kMaxDepth) return PageError(pgno, "the tree is deeper than any LMDB tree");
  if (pgno < 2 || pgno > last_pg_) return PageError(pgno, "outside the file");
  uint64_t& word = (*seen)[pgno / 64];
  const uint64_t bit = uint64_t{1} << (pgno % 64);
  if (word & bit) return PageError(pgno, "reached twice (the tree loops)");
  word |= bit;
  bool leaf;
  absl::StatusOr<const uint8_t*> page = LoadPage(pgno, &leaf);
  if (!page.ok()) return page.status();
  const uint32_t count = (U16(*page + 12) - kHeader) / 2;
  for (uint32_t i = 0; i < count && !*stop; ++i) {
    absl::StatusOr<Node> node = LoadNode(*page, pgno, i, leaf);
    if (!node.ok()) return node.status();
    if (leaf) {
      if (!fn(node->key, node->data)) *stop = true;
    } else if (absl::Status s = Walk(node->child, depth + 1, seen, fn, stop); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status LmdbReader::ForEach(
    absl::FunctionRef<bool(std::string_view, std::string_view)> fn) const {
  if (root_ == kNoRoot) return absl::OkStatus();
  std::vector<uint64_t> seen(last_pg_ / 64 + 1);
  bool stop = false;
  return Walk(root_, 0, &seen, fn, &stop);
}

}  // namespace libmaps::internal
