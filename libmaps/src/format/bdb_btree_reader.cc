#include "format/bdb_btree_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;

absl::Status PageError(uint32_t pgno, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("page ", pgno, ": ", absl::string_view(what.data(), what.size())));
}

std::string_view MagicName(uint32_t magic) {
  switch (magic) {
    case b::kHashMagic:
      return "a Berkeley DB hash file (a hash: table)";
    case b::kQueueMagic:
      return "a Berkeley DB queue file";
    case b::kHeapMagic:
      return "a Berkeley DB heap file";
    default:
      return {};
  }
}

// libdb's default order: bytes as unsigned, then the shorter first.
int CompareBytes(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

// A validated btree page.
struct BdbBtreeReader::Page {
  uint32_t pgno = 0;
  const uint8_t* data = nullptr;
  uint32_t entries = 0;
  uint32_t level = 0;
  uint32_t prev = 0;
  uint32_t next = 0;
  bool leaf = false;
};

// One validated item: on-page bytes, or a reference to overflow pages.
struct BdbBtreeReader::Item {
  bool off_page = false;
  bool deleted = false;
  std::string_view bytes;  // on-page bytes (when !off_page)
  uint32_t first = 0;      // first overflow page
  uint32_t length = 0;     // total length on overflow pages
  uint32_t child = 0;      // internal items: the child page
};

absl::StatusOr<BdbBtreeReader> BdbBtreeReader::Open(std::span<const uint8_t> file) {
  if (file.empty()) return absl::InvalidArgumentError("the file is empty");
  if (file.size() < b::kMetaSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file has ", file.size(), " bytes, too few for a Berkeley DB meta page"));
  }
  const uint8_t* magic = file.data() + b::kMetaMagic;
  bool big_endian;
  if (b::LoadLe32(magic) == b::kBtreeMagic) {
    big_endian = false;
  } else if (b::LoadBe32(magic) == b::kBtreeMagic) {
    big_endian = true;
  } else {
    for (uint32_t m : {b::LoadLe32(magic), b::LoadBe32(magic)}) {
      std::string_view name = MagicName(m);
      if (!name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "not a btree database: ", absl::string_view(name.data(), name.size())));
      }
    }
    return absl::InvalidArgumentError(
        "not a Berkeley DB btree file (no btree magic number at offset 12)");
  }
  BdbBtreeReader reader(file, b::ByteOrder(big_endian));
  if (absl::Status s = reader.ParseMeta(); !s.ok()) return s;
  return reader;
}

absl::Status BdbBtreeReader::ParseMeta() {
  const uint8_t* meta = file_.data();
  auto u32 = [&](size_t off) { return order_.U32(meta + off); };
  version_ = u32(b::kMetaVersion);
  if (version_ == 10) {
    return absl::FailedPreconditionError(
        "page 0: btree version 10 (written by Berkeley DB 6.0.30 or later) is not "
        "supported; dump it with that version's db_dump and reload it");
  }
  if (version_ < b::kBtreeMinVersion || version_ > b::kBtreeVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "page 0: btree version ", version_,
        " is not supported (versions 8 and 9, Berkeley DB 4.5 to 5.3, are)"));
  }
  if (meta[b::kMetaEncryptAlg] != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database is encrypted; encrypted databases are not supported");
  }
  page_size_ = u32(b::kMetaPageSize);
  if (page_size_ < b::kMinPageSize || page_size_ > b::kMaxPageSize ||
      (page_size_ & (page_size_ - 1)) != 0) {
    return PageError(0, absl::StrCat("invalid page size ", page_size_));
  }
  if (u32(b::kMetaPgno) != 0) {
    return PageError(0, absl::StrCat("page number field is ", u32(b::kMetaPgno)));
  }
  if (meta[b::kMetaType] != b::kPageBtreeMeta) {
    return PageError(0, absl::StrCat("page type ", meta[b::kMetaType],
                                     " is not a btree meta page"));
  }
  const uint8_t meta_flags = meta[b::kMetaMetaFlags];
  if ((meta_flags & ~b::kMetaFlagsKnown) != 0) {
    return PageError(0, absl::StrFormat("unknown meta flags 0x%02x", meta_flags));
  }
  if ((meta_flags & (b::kMetaFlagPartRange | b::kMetaFlagPartCallback)) != 0 ||
      u32(b::kMetaNparts) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database is partitioned; partitioned databases are not supported");
  }
  checksums_ = (meta_flags & b::kMetaFlagChecksum) != 0;
  overhead_ = checksums_ ? b::kPageOverheadChecksum : b::kPageOverheadPlain;
  if (checksums_ && b::PageChecksum(file_.first(b::kMetaSize), /*is_meta=*/true) !=
                        u32(b::kMetaChecksum)) {
    return PageError(0, "checksum mismatch");
  }
  flags_ = u32(b::kMetaFlags);
  if ((flags_ & ~uint32_t{0xff}) != 0) {
    return PageError(0, absl::StrFormat("unknown btree flags 0x%x", flags_));
  }
  if ((flags_ & (b::kBtFlagRecno | b::kBtFlagFixedLen | b::kBtFlagRenumber)) != 0) {
    return absl::FailedPreconditionError(
        "page 0: a recno database (records by number), not a btree of keys");
  }
  if ((flags_ & (b::kBtFlagDup | b::kBtFlagDupSort)) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database allows duplicate keys, which a Postfix table never "
        "does; such databases are not supported");
  }
  if ((flags_ & b::kBtFlagSubdb) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the file holds several databases; such files are not supported");
  }
  if ((flags_ & b::kBtFlagCompress) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database is compressed; compressed btrees are not supported");
  }
  const uint64_t whole_pages = file_.size() / page_size_;
  last_pgno_ = u32(b::kMetaLastPgno);
  if (last_pgno_ == UINT32_MAX || last_pgno_ + uint64_t{1} > whole_pages) {
    return PageError(0, absl::StrCat("the meta page says the last page is ", last_pgno_,
                                     " (", page_size_, "-byte pages) but the file has ",
                                     file_.size(), " bytes: the file is truncated"));
  }
  const uint32_t minkey = u32(b::kBtMetaMinKey);
  if (minkey < 2 || minkey > (page_size_ - overhead_) / 4) {
    return PageError(0, absl::StrCat("nonsensical minimum keys per page ", minkey));
  }
  root_ = u32(b::kBtMetaRoot);
  if (root_ == 0 || root_ > last_pgno_) {
    return PageError(0, absl::StrCat("root page ", root_, " is not in the file (",
                                     last_pgno_ + 1, " pages)"));
  }
  free_ = u32(b::kMetaFree);
  if (free_ > last_pgno_) {
    return PageError(0, absl::StrCat("free list starts at page ", free_,
                                     ", past the last page ", last_pgno_));
  }
  Page root;
  if (absl::Status s = LoadPage(root_, 0, &root); !s.ok()) return s;
  levels_ = root.level;
  return absl::OkStatus();
}

absl::Status BdbBtreeReader::LoadPage(uint32_t pgno, uint32_t level, Page* page) const {
  if (pgno == 0 || pgno > last_pgno_) {
    return absl::DataLossError(absl::StrCat("a link to page ", pgno,
                                            ", which is not in the file (", last_pgno_ + 1,
                                            " pages)"));
  }
  const uint8_t* p = PageAt(pgno);
  if (order_.U32(p + b::kPagePgno) != pgno) {
    return PageError(pgno, absl::StrCat("page number field is ",
                                        order_.U32(p + b::kPagePgno)));
  }
  if (checksums_ && order_.U32(p + b::kPageChecksum) !=
                        b::PageChecksum(std::span<const uint8_t>(p, page_size_), false)) {
    return PageError(pgno, "checksum mismatch");
  }
  const uint8_t type = p[b::kPageType];
  const uint32_t page_level = p[b::kPageLevel];
  if (type == b::kPageLeaf) {
    if (page_level != b::kLeafLevel) {
      return PageError(pgno, absl::StrCat("leaf page at level ", page_level));
    }
  } else if (type == b::kPageInternal) {
    if (page_level < 2) {
      return PageError(pgno, absl::StrCat("internal page at level ", page_level));
    }
  } else {
    return PageError(pgno, absl::StrCat("page type ", type, " where a btree page belongs"));
  }
  if (level != 0 && page_level != level) {
    return PageError(pgno, absl::StrCat("level ", page_level, " where level ", level,
                                        " belongs"));
  }
  const uint32_t entries = order_.U16(p + b::kPageEntries);
  if (type == b::kPageLeaf && entries % 2 != 0) {
    return PageError(pgno, absl::StrCat("odd number of items (", entries, ") on a leaf"));
  }
  if (overhead_ + 2 * entries > page_size_) {
    return PageError(pgno, absl::StrCat(entries, " items do not fit on the page"));
  }
  page->pgno = pgno;
  page->data = p;
  page->entries = entries;
  page->level = page_level;
  page->prev = order_.U32(p + b::kPagePrev);
  page->next = order_.U32(p + b::kPageNext);
  page->leaf = type == b::kPageLeaf;
  return absl::OkStatus();
}

absl::Status BdbBtreeReader::LoadItem(const Page& page, uint32_t index, Item* item) const {
  const uint8_t* p = page.data;
  const uint32_t off = order_.U16(p + overhead_ + 2 * index);
  if (off < overhead_ + 2 * page.entries || off >= page_size_) {
    return PageError(page.pgno, absl::StrCat("item ", index, " at offset ", off,
                                             " overlaps the header or index"));
  }
  const uint32_t room = page_size_ - off;
  const uint8_t* it = p + off;
  const uint32_t fixed = page.leaf ? b::kBtItemData : b::kBtInternalData;
  if (room < fixed) {
    return PageError(page.pgno, absl::StrCat("item ", index, " runs past the end of the page"));
  }
  const uint32_t len = order_.U16(it + b::kBtItemLength);
  const uint8_t type = it[b::kBtItemType];
  *item = Item();
  item->deleted = page.leaf && (type & b::kBtItemDeleted) != 0;
  const uint8_t base = page.leaf ? static_cast<uint8_t>(type & ~b::kBtItemDeleted) : type;
  if (!page.leaf) item->child = order_.U32(it + b::kBtInternalPgno);
  if (base == b::kItemKeyData) {
    if (len > room - fixed) {
      return PageError(page.pgno,
                       absl::StrCat("item ", index, " runs past the end of the page"));
    }
    item->bytes = std::string_view(reinterpret_cast<const char*>(it + fixed), len);
    return absl::OkStatus();
  }
  if (base == b::kItemOffPage) {
    // Leaf: the 12-byte reference is the item. Internal: it follows the
    // 12-byte internal header.
    const uint8_t* ref = page.leaf ? it : it + b::kBtInternalData;
    if (room < (page.leaf ? 0u : b::kBtInternalData) + b::kOffPageSize) {
      return PageError(page.pgno,
                       absl::StrCat("item ", index, " runs past the end of the page"));
    }
    item->off_page = true;
    item->first = order_.U32(ref + b::kOffPagePgno);
    item->length = order_.U32(ref + b::kOffPageLength);
    return absl::OkStatus();
  }
  if (base == b::kItemDuplicate || base == b::kItemOffDup) {
    return PageError(page.pgno, absl::StrCat("item ", index,
                                             " is a duplicate set, which this "
                                             "database should not hold"));
  }
  return PageError(page.pgno, absl::StrCat("item ", index, " has unknown type ", type));
}

absl::Status BdbBtreeReader::WalkOverflow(
    uint32_t first, uint32_t length, BdbPageSet* seen,
    absl::FunctionRef<bool(std::span<const uint8_t>)> fn) const {
  uint32_t cur = first;
  uint32_t prev = 0;
  uint64_t remaining = length;
  const uint32_t capacity = page_size_ - overhead_;
  // A chain longer than this would hold more bytes than the item has.
  uint64_t pages_left = std::max<uint64_t>(1, (uint64_t{length} + capacity - 1) / capacity);
  while (true) {
    if (cur == 0 || cur > last_pgno_) {
      return absl::DataLossError(absl::StrCat("overflow chain links to page ", cur,
                                              ", which is not in the file"));
    }
    if (pages_left-- == 0) {
      return PageError(cur, "overflow chain is longer than its item");
    }
    if (seen != nullptr && !seen->Insert(cur)) {
      return PageError(cur, "overflow page is reached twice");
    }
    const uint8_t* p = PageAt(cur);
    if (checksums_ && order_.U32(p + b::kPageChecksum) !=
                          b::PageChecksum(std::span<const uint8_t>(p, page_size_), false)) {
      return PageError(cur, "checksum mismatch");
    }
    if (p[b::kPageType] != b::kPageOverflow) {
      return PageError(cur, absl::StrCat("page type ", p[b::kPageType],
                                         " where an overflow page belongs"));
    }
    if (order_.U32(p + b::kPagePgno) != cur) {
      return PageError(cur, "page number field does not match");
    }
    if (order_.U32(p + b::kPagePrev) != prev) {
      return PageError(cur, "overflow page's previous-page link is wrong");
    }
    const uint32_t here = order_.U16(p + b::kPageHfOffset);
    if (here > capacity || here > remaining || (here == 0 && remaining != 0)) {
      return PageError(cur, absl::StrCat("overflow page holds ", here, " bytes"));
    }
    remaining -= here;
    const uint32_t next = order_.U32(p + b::kPageNext);
    if (!fn(std::span<const uint8_t>(p + overhead_, here))) return absl::OkStatus();
    if (remaining == 0) {
      if (next != 0) return PageError(cur, "overflow chain goes on past its item");
      return absl::OkStatus();
    }
    if (next == 0) return PageError(cur, "overflow chain ends before its item does");
    prev = cur;
    cur = next;
  }
}

absl::Status BdbBtreeReader::ItemBytes(const Item& item, std::string* scratch,
                                       std::string_view* out) const {
  if (!item.off_page) {
    *out = item.bytes;
    return absl::OkStatus();
  }
  scratch->clear();
  if (item.length > file_.size()) {
    return absl::DataLossError(absl::StrCat("an overflow item of ", item.length,
                                            " bytes is longer than the file"));
  }
  scratch->reserve(item.length);
  absl::Status s = WalkOverflow(item.first, item.length, nullptr,
                                [&](std::span<const uint8_t> piece) {
                                  scratch->append(reinterpret_cast<const char*>(piece.data()),
                                                  piece.size());
                                  return true;
                                });
  if (!s.ok()) return s;
  *out = *scratch;
  return absl::OkStatus();
}

absl::StatusOr<int> BdbBtreeReader::CompareKey(std::string_view key, const Item& item,
                                               std::string* scratch) const {
  std::string_view stored;
  if (absl::Status s = ItemBytes(item, scratch, &stored); !s.ok()) return s;
  return CompareBytes(key, stored);
}

absl::StatusOr<std::optional<std::string_view>> BdbBtreeReader::FindView(
    std::string_view key, std::string* scratch) const {
  uint32_t pgno = root_;
  uint32_t level = 0;  // the root's level is whatever it says
  std::string key_scratch;
  while (true) {
    Page page;
    if (absl::Status s = LoadPage(pgno, level, &page); !s.ok()) return s;
    if (page.leaf) {
      // Binary search over the pairs for the first key >= `key`.
      uint32_t lo = 0, hi = page.entries / 2;
      while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        Item k;
        if (absl::Status s = LoadItem(page, 2 * mid, &k); !s.ok()) return s;
        absl::StatusOr<int> c = CompareKey(key, k, &key_scratch);
        if (!c.ok()) return c.status();
        if (*c > 0) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      if (lo == page.entries / 2) return std::optional<std::string_view>();
      Item k, d;
      if (absl::Status s = LoadItem(page, 2 * lo, &k); !s.ok()) return s;
      absl::StatusOr<int> c = CompareKey(key, k, &key_scratch);
      if (!c.ok()) return c.status();
      if (*c != 0) return std::optional<std::string_view>();
      if (absl::Status s = LoadItem(page, 2 * lo + 1, &d); !s.ok()) return s;
      if (k.deleted || d.deleted) return std::optional<std::string_view>();
      std::string_view value;
      if (absl::Status s = ItemBytes(d, scratch, &value); !s.ok()) return s;
      return std::optional<std::string_view>(value);
    }
    if (page.entries == 0) return PageError(pgno, "internal page without entries");
    // The last entry whose key is <= `key`; entry 0 stands for everything
    // below the first separator.
    uint32_t lo = 1, hi = page.entries;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      Item sep;
      if (absl::Status s = LoadItem(page, mid, &sep); !s.ok()) return s;
      absl::StatusOr<int> c = CompareKey(key, sep, &key_scratch);
      if (!c.ok()) return c.status();
      if (*c >= 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    Item chosen;
    if (absl::Status s = LoadItem(page, lo - 1, &chosen); !s.ok()) return s;
    pgno = chosen.child;
    level = page.level - 1;
  }
}

absl::StatusOr<std::optional<std::string>> BdbBtreeReader::Find(std::string_view key) const {
  std::string scratch;
  absl::StatusOr<std::optional<std::string_view>> found = FindView(key, &scratch);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::optional<std::string>();
  return std::optional<std::string>(std::string(**found));
}

absl::Status BdbBtreeReader::LeftmostLeaf(uint32_t* pgno) const {
  uint32_t cur = root_;
  uint32_t level = 0;
  while (true) {
    Page page;
    if (absl::Status s = LoadPage(cur, level, &page); !s.ok()) return s;
    if (page.leaf) {
      *pgno = cur;
      return absl::OkStatus();
    }
    if (page.entries == 0) return PageError(cur, "internal page without entries");
    Item first;
    if (absl::Status s = LoadItem(page, 0, &first); !s.ok()) return s;
    cur = first.child;
    level = page.level - 1;
  }
}

absl::Status BdbBtreeReader::WalkStep(uint64_t* cursor, bool* done, BdbPageSet& seen,
                                      PairFn fn, bool* stopped) const {
  *done = false;
  // The cursor holds the page to visit (low 32 bits) and the page that
  // must link back to it (high 32 bits); 0 is the start.
  uint32_t pgno = static_cast<uint32_t>(*cursor);
  uint32_t expected_prev = static_cast<uint32_t>(*cursor >> 32);
  if (*cursor == 0) {
    if (absl::Status s = LeftmostLeaf(&pgno); !s.ok()) return s;
  }
  Page page;
  if (absl::Status s = LoadPage(pgno, b::kLeafLevel, &page); !s.ok()) return s;
  if (!seen.Insert(pgno)) return PageError(pgno, "leaf page is reached twice");
  if (page.prev != expected_prev) {
    return PageError(pgno, absl::StrCat("its previous-page link is ", page.prev,
                                        " but page ", expected_prev, " links to it"));
  }
  std::string key_scratch, value_scratch;
  for (uint32_t i = 0; i + 1 < page.entries; i += 2) {
    Item k, d;
    if (absl::Status s = LoadItem(page, i, &k); !s.ok()) return s;
    if (absl::Status s = LoadItem(page, i + 1, &d); !s.ok()) return s;
    if (k.deleted || d.deleted) continue;
    std::string_view key, value;
    if (absl::Status s = ItemBytes(k, &key_scratch, &key); !s.ok()) return s;
    if (absl::Status s = ItemBytes(d, &value_scratch, &value); !s.ok()) return s;
    if (!fn(key, value)) {
      if (stopped != nullptr) *stopped = true;
      return absl::OkStatus();
    }
  }
  if (page.next == 0) {
    *done = true;
    *cursor = 0;
  } else {
    *cursor = (uint64_t{pgno} << 32) | page.next;
  }
  return absl::OkStatus();
}

absl::Status BdbBtreeReader::ForEach(PairFn fn) const {
  BdbPageSet seen(page_count());
  uint64_t cursor = 0;
  bool done = false, stopped = false;
  while (!done && !stopped) {
    if (absl::Status s = WalkStep(&cursor, &done, seen, fn, &stopped); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status BdbBtreeReader::ForEachTreePage(absl::FunctionRef<void(uint32_t)> fn) const {
  BdbPageSet seen(page_count());
  // Depth-first, with an explicit stack of (page, level).
  std::vector<std::pair<uint32_t, uint32_t>> stack = {{root_, 0}};
  auto overflow = [&](const Item& item) -> absl::Status {
    if (!item.off_page) return absl::OkStatus();
    return WalkOverflow(item.first, item.length, &seen, [](std::span<const uint8_t>) {
      return true;
    });
  };
  while (!stack.empty()) {
    auto [pgno, level] = stack.back();
    stack.pop_back();
    if (pgno == 0 || pgno > last_pgno_) {
      return absl::DataLossError(absl::StrCat("a link to page ", pgno,
                                              ", which is not in the file"));
    }
    if (!seen.Insert(pgno)) return PageError(pgno, "page is reached twice");
    Page page;
    if (absl::Status s = LoadPage(pgno, level, &page); !s.ok()) return s;
    fn(pgno);
    for (uint32_t i = 0; i < page.entries; ++i) {
      Item item;
      if (absl::Status s = LoadItem(page, i, &item); !s.ok()) return s;
      if (absl::Status s = overflow(item); !s.ok()) return s;
      if (!page.leaf) stack.emplace_back(item.child, page.level - 1);
    }
  }
  // The overflow pages of the tree were marked in `seen` by WalkOverflow;
  // the btree pages were handed out above. A marked overflow page is the
  // tree's (Insert() returning true marks an unused page, harmlessly: the
  // set is not used again).
  for (uint32_t pgno = 1; pgno <= last_pgno_; ++pgno) {
    if (!seen.Insert(pgno) && PageAt(pgno)[b::kPageType] == b::kPageOverflow) fn(pgno);
  }
  return absl::OkStatus();
}

}  // namespace libmaps::internal
