#include "format/bdb_hash_reader.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace libmaps::internal {

namespace b = bdb;

struct BdbHashReader::HashPage {
  uint32_t pgno = 0;
  const uint8_t* data = nullptr;
  uint32_t entries = 0;
  uint32_t next = 0;
  bool empty = true;  // never written: no items, no successor
};

struct BdbHashReader::Item {
  uint8_t type = 0;
  // kItemKeyData: the bytes. kItemOffPage: the first overflow page and the
  // total length.
  const uint8_t* bytes = nullptr;
  uint32_t length = 0;
  uint32_t pgno = 0;
  // For messages.
  uint32_t page = 0;
  uint32_t index = 0;
};

namespace {

absl::Status PageError(uint32_t pgno, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("page ", pgno, ": ", absl::string_view(what.data(), what.size())));
}

std::string_view AsChars(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// Names the access method of a Berkeley DB file that is not a hash file.
std::string_view OtherMagicName(uint32_t magic) {
  switch (magic) {
    case b::kBtreeMagic: return "a Berkeley DB btree file (a btree: table)";
    case b::kQueueMagic: return "a Berkeley DB queue file";
    case b::kHeapMagic: return "a Berkeley DB heap file";
    case b::kRenameMagic: return "a Berkeley DB file in the middle of a rename";
    default: return {};
  }
}

// LoadHashPage's checks of a little-endian index array of `entries` (even)
// offsets, and the test for a searchable page: the offsets decrease strictly
// from below `page_size` and stay at or above `items_start`, and no key item
// (even index) is exactly as long as a big-item reference. SSE2 (every
// x86-64) checks eight offsets at a time; the fast path runs it on every
// lookup.
bool IndexLooksSorted(const uint8_t* index, uint32_t entries, uint32_t page_size,
                      uint32_t items_start) {
  auto u16 = [&](uint32_t i) {
    uint16_t v;
    std::memcpy(&v, index + 2 * i, 2);
    return uint32_t{v};
  };
  if (entries == 0) return true;
  uint32_t i = 0;
  uint32_t bad = 0;
#if defined(__SSE2__)
  const __m128i bias = _mm_set1_epi16(static_cast<int16_t>(0x8000));
  const __m128i twelve = _mm_set1_epi16(static_cast<int16_t>(b::kOffPageSize));
  for (; i + 8 <= entries; i += 8) {
    const __m128i cur =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(index + 2 * i));
    __m128i prev;
    if (i == 0) {
      // page_size (65536 stored as 0 is no concern: 16 bits of 65536 - x
      // still tell the difference) goes before the first offset.
      prev = _mm_insert_epi16(_mm_slli_si128(cur, 2), static_cast<int>(page_size), 0);
    } else {
      prev = _mm_loadu_si128(reinterpret_cast<const __m128i*>(index + 2 * i - 2));
    }
    // Unsigned cur < prev for every lane, by a signed compare of biased
    // values.
    const __m128i below = _mm_cmplt_epi16(_mm_xor_si128(cur, bias),
                                          _mm_xor_si128(prev, bias));
    const __m128i big = _mm_cmpeq_epi16(_mm_sub_epi16(prev, cur), twelve);
    bad |= static_cast<uint32_t>(_mm_movemask_epi8(below) != 0xFFFF) |
           static_cast<uint32_t>((_mm_movemask_epi8(big) & 0x3333) != 0);
  }
  if (page_size > 0xFFFF && i > 0) return false;  // leave 64 KiB pages to LoadHashPage
#endif
  uint32_t end = i == 0 ? page_size : u16(i - 1);
  for (; i < entries; i += 2) {
    const uint32_t key_off = u16(i);
    const uint32_t data_off = u16(i + 1);
    bad |= static_cast<uint32_t>(key_off >= end) |
           static_cast<uint32_t>(data_off >= key_off) |
           static_cast<uint32_t>(end - key_off == b::kOffPageSize);
    end = data_off;
  }
  return bad == 0 && u16(entries - 1) >= items_start;
}

// libdb's order of two keys that are both on the page (docs/hash-format.md
// §5.2): bytewise, and of two keys where one is a prefix of the other, the
// longer first. That is lexicographic order with the end of a key above
// every byte, a total order. Eight bytes at a time, compared as big-endian
// numbers.
inline int CompareKeys(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() > b.size() ? -1 : 1;
}

}  // namespace

absl::StatusOr<BdbHashReader> BdbHashReader::Open(std::span<const uint8_t> file) {
  return Open(file, file.first(std::min<size_t>(file.size(), b::kMetaSize)));
}

absl::StatusOr<BdbHashReader> BdbHashReader::Open(std::span<const uint8_t> file,
                                                  std::span<const uint8_t> meta) {
  if (file.empty()) return absl::InvalidArgumentError("the file is empty");
  if (file.size() < b::kMetaSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file has ", file.size(),
        " bytes, too few for a Berkeley DB meta page"));
  }
  if (meta.size() < b::kMetaSize) {
    return absl::UnavailableError("the meta page could not be read whole");
  }
  const uint8_t* magic = meta.data() + b::kMetaMagic;
  bool big_endian;
  if (b::LoadLe32(magic) == b::kHashMagic) {
    big_endian = false;
  } else if (b::LoadBe32(magic) == b::kHashMagic) {
    big_endian = true;
  } else {
    for (uint32_t m : {b::LoadLe32(magic), b::LoadBe32(magic)}) {
      std::string_view name = OtherMagicName(m);
      if (!name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "not a hash database: ", absl::string_view(name.data(), name.size())));
      }
    }
    // Berkeley DB 1.x (dbopen) hash files have their magic at offset 0.
    if (b::LoadLe32(meta.data()) == b::kHashMagic ||
        b::LoadBe32(meta.data()) == b::kHashMagic) {
      return absl::InvalidArgumentError(
          "a Berkeley DB 1.x hash file: that format is not supported");
    }
    return absl::InvalidArgumentError(
        "not a Berkeley DB hash file (no hash magic number at offset 12)");
  }
  BdbHashReader reader(file, b::ByteOrder(big_endian));
  if (absl::Status s = reader.ParseMeta(meta.data()); !s.ok()) return s;
  reader.page_state_ = std::shared_ptr<std::atomic<uint64_t>[]>(
      new std::atomic<uint64_t>[reader.page_count() / 32 + 1]());
  return reader;
}

absl::Status BdbHashReader::ParseMeta(const uint8_t* meta) {
  auto u32 = [&](size_t off) { return order_.U32(meta + off); };

  version_ = u32(b::kMetaVersion);
  if (version_ == b::kBlobVersion) {
    return absl::FailedPreconditionError(
        "page 0: hash version 10 (written by Berkeley DB 6.0.30 or later) is "
        "not supported; dump it with that version's db_dump and reload it");
  }
  if (version_ < b::kMinVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "page 0: hash version ", version_,
        " (Berkeley DB 3.0 or older) is not supported; it needs db_upgrade"));
  }
  if (version_ > b::kMaxVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("page 0: unknown hash version ", version_));
  }
  if (meta[b::kMetaEncryptAlg] != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database is encrypted; encrypted databases are not "
        "supported");
  }
  page_size_ = u32(b::kMetaPageSize);
  if (page_size_ < b::kMinPageSize || page_size_ > b::kMaxPageSize ||
      (page_size_ & (page_size_ - 1)) != 0) {
    return PageError(0, absl::StrCat("invalid page size ", page_size_));
  }
  if (u32(b::kMetaPgno) != 0) {
    return PageError(0, absl::StrCat("page number field is ", u32(b::kMetaPgno)));
  }
  if (meta[b::kMetaType] != b::kPageHashMeta) {
    return PageError(0, absl::StrCat("page type ", meta[b::kMetaType],
                                     " is not a hash meta page"));
  }
  const uint8_t meta_flags = meta[b::kMetaMetaFlags];
  if ((meta_flags & ~b::kMetaFlagsKnown) != 0) {
    return PageError(0, absl::StrFormat("unknown meta flags 0x%02x", meta_flags));
  }
  if ((meta_flags & (b::kMetaFlagPartRange | b::kMetaFlagPartCallback)) != 0 ||
      u32(b::kMetaNparts) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database is partitioned; partitioned databases are not "
        "supported");
  }
  checksums_ = (meta_flags & b::kMetaFlagChecksum) != 0;
  overhead_ = checksums_ ? b::kPageOverheadChecksum : b::kPageOverheadPlain;
  if (checksums_ &&
      b::PageChecksum(std::span<const uint8_t>(meta, b::kMetaSize), /*is_meta=*/true) !=
          u32(b::kMetaChecksum)) {
    return PageError(0, "checksum mismatch");
  }
  const uint32_t flags = u32(b::kMetaFlags);
  if ((flags & ~b::kHashFlagsKnown) != 0) {
    return PageError(0, absl::StrFormat("unknown hash flags 0x%x", flags));
  }
  if ((flags & (b::kHashFlagDup | b::kHashFlagDupSort)) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the database allows duplicate keys, which a Postfix table "
        "never does; such databases are not supported");
  }
  if ((flags & b::kHashFlagSubdb) != 0) {
    return absl::FailedPreconditionError(
        "page 0: the file holds several databases; such files are not "
        "supported");
  }

  const uint64_t whole_pages = file_.size() / page_size_;
  last_pgno_ = u32(b::kMetaLastPgno);
  if (version_ == 7 && last_pgno_ == 0 && whole_pages > 1) {
    // Berkeley DB 3.1 and 3.2 left this field 0; the file size tells.
    last_pgno_ = static_cast<uint32_t>(
        std::min<uint64_t>(whole_pages - 1, UINT32_MAX - 1));
  }
  if (last_pgno_ == UINT32_MAX || last_pgno_ + uint64_t{1} > whole_pages) {
    return PageError(0, absl::StrCat(
        "the meta page says the last page is ", last_pgno_, " (", page_size_,
        "-byte pages) but the file has ", file_.size(),
        " bytes: the file is truncated"));
  }

  max_bucket_ = u32(b::kMetaMaxBucket);
  high_mask_ = u32(b::kMetaHighMask);
  low_mask_ = u32(b::kMetaLowMask);
  if (max_bucket_ >= (uint32_t{1} << 31) || max_bucket_ >= last_pgno_) {
    return PageError(0, absl::StrCat("highest bucket ", max_bucket_,
                                     " does not fit in ", last_pgno_ + 1,
                                     " pages"));
  }
  const uint32_t doublings = b::CeilLog2(max_bucket_ + 1);
  const uint32_t expected_high =
      static_cast<uint32_t>((uint64_t{1} << doublings) - 1);
  if (high_mask_ != expected_high || low_mask_ != (expected_high >> 1)) {
    return PageError(0, absl::StrFormat(
        "bucket masks 0x%x/0x%x do not match highest bucket %u", high_mask_,
        low_mask_, max_bucket_));
  }
  if (u32(b::kMetaCharKey) != b::kDefaultCharKeyHash) {
    // Made with a custom hash function (or the check value is damaged):
    // keys cannot be placed, so lookups scan every bucket.
    custom_hash_ = true;
  }
  for (size_t i = 0; i < b::kMetaSpareCount; ++i) {
    spares_[i] = u32(b::kMetaSpares + 4 * i);
  }
  // The buckets of one doubling sit on consecutive pages, so checking the
  // first and last bucket of each doubling checks every bucket.
  for (uint32_t i = 0; i <= doublings; ++i) {
    uint64_t first = i == 0 ? 0 : uint64_t{1} << (i - 1);
    uint64_t last = std::min<uint64_t>((uint64_t{1} << i) - 1, max_bucket_);
    if (first > last) break;
    uint64_t lo = first + spares_[i];
    uint64_t hi = last + spares_[i];
    if (lo < 1 || hi > last_pgno_) {
      return PageError(0, absl::StrCat("buckets ", first, "..", last,
                                       " map to pages outside the file (spares[",
                                       i, "] = ", spares_[i], ")"));
    }
  }
  return absl::OkStatus();
}

uint32_t BdbHashReader::BucketOf(std::span<const uint8_t> key) const {
  uint32_t bucket = b::Hash(key) & high_mask_;
  if (bucket > max_bucket_) bucket &= low_mask_;
  return bucket;
}

absl::StatusOr<uint32_t> BdbHashReader::BucketPage(uint32_t bucket) const {
  uint64_t pgno = uint64_t{bucket} + spares_[b::CeilLog2(bucket + 1)];
  if (bucket > max_bucket_ || pgno < 1 || pgno > last_pgno_) {
    // Unreachable after ParseMeta's checks; kept as a guard.
    return PageError(0, absl::StrCat("bucket ", bucket, " has no page"));
  }
  return static_cast<uint32_t>(pgno);
}

absl::Status BdbHashReader::VerifyChecksum(uint32_t pgno,
                                           const uint8_t* page) const {
  if (!checksums_) return absl::OkStatus();
  uint32_t stored = order_.U32(page + b::kPageChecksum);
  uint32_t computed =
      b::PageChecksum(std::span<const uint8_t>(page, page_size_), false);
  if (stored != computed) return PageError(pgno, "checksum mismatch");
  return absl::OkStatus();
}

absl::Status BdbHashReader::LoadHashPage(uint32_t pgno, uint32_t expected_prev,
                                         HashPage* page) const {
  const uint8_t* p = PageAt(pgno);
  page->pgno = pgno;
  page->data = p;
  page->entries = 0;
  page->next = 0;
  page->empty = true;
  const uint32_t field = order_.U32(p + b::kPagePgno);
  if (field == 0) {
    // Never written: libdb reserves bucket pages in groups and writes only
    // the last one, so the others read back as zeros. Only a bucket's first
    // page can be like that; a chain never links to one.
    if (expected_prev != 0) {
      return PageError(pgno, absl::StrCat("page ", expected_prev,
                                          " links to it but it was never written"));
    }
    return absl::OkStatus();
  }
  if (field != pgno) {
    return PageError(pgno, absl::StrCat("the page header says it is page ", field));
  }
  if (absl::Status s = VerifyChecksum(pgno, p); !s.ok()) return s;
  const uint8_t type = p[b::kPageType];
  if (type != b::kPageHash && type != b::kPageHashUnsorted) {
    return PageError(pgno, absl::StrCat("page type ", type,
                                        " where a hash bucket page belongs"));
  }
  if (p[b::kPageLevel] != 0) {
    return PageError(pgno, absl::StrCat("nonzero level ", p[b::kPageLevel]));
  }
  if (expected_prev != 0 && order_.U32(p + b::kPagePrev) != expected_prev) {
    return PageError(pgno, absl::StrCat("its previous-page link is ",
                                        order_.U32(p + b::kPagePrev),
                                        " but page ", expected_prev,
                                        " links to it"));
  }
  const uint32_t entries = order_.U16(p + b::kPageEntries);
  if (entries % 2 != 0) {
    return PageError(pgno, absl::StrCat("odd number of items (", entries, ")"));
  }
  const uint32_t items_start = overhead_ + 2 * entries;
  if (items_start > page_size_) {
    return PageError(pgno, absl::StrCat(entries, " items do not fit on the page"));
  }
  uint32_t end = page_size_;
  for (uint32_t i = 0; i < entries; ++i) {
    uint32_t off = order_.U16(p + overhead_ + 2 * i);
    if (off >= end || off < items_start) {
      return PageError(pgno, absl::StrCat("item ", i, " offset ", off,
                                          " is out of order or outside the item "
                                          "area"));
    }
    end = off;
  }
  const uint32_t next = order_.U32(p + b::kPageNext);
  if (next == pgno || next > last_pgno_) {
    return PageError(pgno, absl::StrCat("next-page link ", next,
                                        next == pgno ? " points to itself"
                                                     : " is outside the file"));
  }
  page->entries = entries;
  page->next = next;
  page->empty = false;
  return absl::OkStatus();
}

absl::Status BdbHashReader::LoadItem(const HashPage& page, uint32_t index,
                                     Item* item) const {
  // LoadHashPage checked that the offsets are in range and decreasing.
  const uint32_t off = order_.U16(page.data + overhead_ + 2 * index);
  const uint32_t end =
      index == 0 ? page_size_ : order_.U16(page.data + overhead_ + 2 * (index - 1));
  const uint8_t* p = page.data + off;
  const uint32_t size = end - off;
  item->type = p[0];
  item->page = page.pgno;
  item->index = index;
  switch (item->type) {
    case b::kItemKeyData:
      item->bytes = p + 1;
      item->length = size - 1;
      return absl::OkStatus();
    case b::kItemOffPage:
      if (size != b::kOffPageSize) {
        return PageError(page.pgno, absl::StrCat("item ", index, ": a big-item "
                                                 "reference of ", size,
                                                 " bytes instead of 12"));
      }
      item->pgno = order_.U32(p + b::kOffPagePgno);
      item->length = order_.U32(p + b::kOffPageLength);
      return absl::OkStatus();
    case b::kItemDuplicate:
    case b::kItemOffDup:
      return PageError(page.pgno, absl::StrCat("item ", index,
                                               " is a set of duplicates, but the "
                                               "database does not allow them"));
    case b::kItemBlob:
      return PageError(page.pgno, absl::StrCat("item ", index,
                                               " refers to an external file "
                                               "(Berkeley DB 6), not supported"));
    default:
      return PageError(page.pgno, absl::StrCat("item ", index, " has unknown type ",
                                               item->type));
  }
}

absl::Status BdbHashReader::WalkOverflow(
    const Item& item, BdbPageSet* seen,
    absl::FunctionRef<bool(std::span<const uint8_t>)> fn) const {
  const uint32_t length = item.length;
  const uint32_t capacity = page_size_ - overhead_;
  uint32_t remaining = length;
  uint32_t prev = 0;
  for (uint32_t cur = item.pgno;;) {
    if (cur == 0 || cur > last_pgno_) {
      if (prev == 0) {
        return PageError(item.page, absl::StrCat("item ", item.index,
                                                 ": big item on page ", cur,
                                                 ", outside the file"));
      }
      return PageError(prev, absl::StrCat("overflow chain leads to page ", cur,
                                          ", outside the file"));
    }
    if (seen != nullptr && !seen->Insert(cur)) {
      return PageError(cur, "reached twice (chains overlap or loop)");
    }
    const uint8_t* p = PageAt(cur);
    if (order_.U32(p + b::kPagePgno) != cur) {
      return PageError(cur, absl::StrCat("the page header says it is page ",
                                         order_.U32(p + b::kPagePgno),
                                         " (expected an overflow page)"));
    }
    if (absl::Status s = VerifyChecksum(cur, p); !s.ok()) return s;
    if (p[b::kPageType] != b::kPageOverflow) {
      return PageError(cur, absl::StrCat("page type ", p[b::kPageType],
                                         " where an overflow page belongs"));
    }
    if (p[b::kPageLevel] != 0) {
      return PageError(cur, absl::StrCat("nonzero level ", p[b::kPageLevel]));
    }
    if (prev != 0 && order_.U32(p + b::kPagePrev) != prev) {
      return PageError(cur, absl::StrCat("its previous-page link is ",
                                         order_.U32(p + b::kPagePrev),
                                         " but page ", prev, " links to it"));
    }
    const uint32_t n = order_.U16(p + b::kPageHfOffset);
    if (n == 0 || n > capacity || n > remaining) {
      // Every page carries at least one byte, so a chain cannot be longer
      // than its item: no loop survives this check.
      return PageError(cur, absl::StrCat("overflow page holds ", n,
                                         " bytes; the item has ", remaining,
                                         " of ", length, " left"));
    }
    if (!fn(std::span<const uint8_t>(p + overhead_, n))) return absl::OkStatus();
    remaining -= n;
    const uint32_t next = order_.U32(p + b::kPageNext);
    if (next == 0) {
      if (remaining != 0) {
        return PageError(cur, absl::StrCat("overflow chain ends ", remaining,
                                           " bytes short of its item's length"));
      }
      return absl::OkStatus();
    }
    if (remaining == 0) {
      return PageError(cur, "overflow chain goes on past its item's length");
    }
    prev = cur;
    cur = next;
  }
}

absl::StatusOr<bool> BdbHashReader::KeyEquals(const Item& item,
                                              std::span<const uint8_t> key) const {
  if (item.length != key.size()) return false;
  if (item.type == b::kItemKeyData) {
    return key.empty() || std::memcmp(item.bytes, key.data(), key.size()) == 0;
  }
  size_t pos = 0;
  bool equal = true;
  absl::Status s =
      WalkOverflow(item, nullptr,
                   [&](std::span<const uint8_t> piece) {
                     if (std::memcmp(piece.data(), key.data() + pos,
                                     piece.size()) != 0) {
                       equal = false;
                       return false;
                     }
                     pos += piece.size();
                     return true;
                   });
  if (!s.ok()) return s;
  return equal;
}

absl::Status BdbHashReader::ItemBytes(const Item& item, BdbPageSet* seen,
                                      std::string* scratch,
                                      std::string_view* out) const {
  if (item.type == b::kItemKeyData) {
    *out = AsChars(std::span<const uint8_t>(item.bytes, item.length));
    return absl::OkStatus();
  }
  // A chain carries at most (pages x page size) bytes; refusing longer
  // lengths up front keeps a corrupt length from asking for gigabytes.
  if (item.length > file_.size()) {
    return PageError(item.page, absl::StrCat("item ", item.index,
                                             ": big item of ", item.length,
                                             " bytes is longer than the file"));
  }
  scratch->clear();
  scratch->reserve(item.length);
  absl::Status s = WalkOverflow(item, seen,
                                [&](std::span<const uint8_t> piece) {
                                  scratch->append(AsChars(piece));
                                  return true;
                                });
  if (!s.ok()) return s;
  *out = *scratch;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string_view>> BdbHashReader::FindInBucket(
    uint32_t bucket, std::span<const uint8_t> key, std::string* scratch) const {
  absl::StatusOr<uint32_t> first = BucketPage(bucket);
  if (!first.ok()) return first.status();
  uint32_t prev = 0;
  uint32_t hops = 0;
  for (uint32_t pgno = *first; pgno != 0;) {
    if (++hops > page_count()) {
      return PageError(pgno, absl::StrCat("the chain of bucket ", bucket,
                                          " loops"));
    }
    HashPage page;
    if (absl::Status s = LoadHashPage(pgno, prev, &page); !s.ok()) return s;
    if (page.empty) break;
    for (uint32_t i = 0; i < page.entries; i += 2) {
      Item k;
      if (absl::Status s = LoadItem(page, i, &k); !s.ok()) return s;
      absl::StatusOr<bool> equal = KeyEquals(k, key);
      if (!equal.ok()) return equal.status();
      if (!*equal) continue;
      Item d;
      if (absl::Status s = LoadItem(page, i + 1, &d); !s.ok()) return s;
      std::string_view value;
      if (absl::Status s = ItemBytes(d, nullptr, scratch, &value); !s.ok()) {
        return s;
      }
      return value;
    }
    prev = pgno;
    pgno = page.next;
  }
  return std::nullopt;
}

BdbHashReader::FastResult BdbHashReader::FastFind(std::span<const uint8_t> key,
                                                  uint32_t key_hash,
                                                  std::string_view* value) const {
  // Every check FindInBucket, LoadHashPage and LoadItem make on what is read
  // here is made here too (or the answer is kSlow), so this path reads
  // nothing they would not.
  auto u16 = [](const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return uint32_t{v};
  };
  auto u32 = [](const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  constexpr uint32_t kOverhead = b::kPageOverheadPlain;
  uint32_t bucket = key_hash & high_mask_;
  if (bucket > max_bucket_) bucket &= low_mask_;
  const uint32_t doubling = bucket == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(bucket));
  uint64_t pgno = uint64_t{bucket} + spares_[doubling];
  if (pgno < 1 || pgno > last_pgno_) return FastResult::kSlow;
  uint64_t prev = 0;
  for (uint32_t hops = 0; hops < 64; ++hops) {
    const uint8_t* p = PageAt(static_cast<uint32_t>(pgno));
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    const uint32_t own = u32(p + b::kPagePgno);
    if (own == 0 && prev == 0) return FastResult::kMiss;  // never written
    if (own != pgno || p[b::kPageType] != b::kPageHash || p[b::kPageLevel] != 0 ||
        (prev != 0 && u32(p + b::kPagePrev) != prev)) {
      return FastResult::kSlow;
    }
    const uint32_t entries = u16(p + b::kPageEntries);
    const uint32_t items_start = kOverhead + 2 * entries;
    const uint32_t next = u32(p + b::kPageNext);
    if (entries % 2 != 0 || items_start > page_size_ || next == pgno ||
        next > last_pgno_) {
      return FastResult::kSlow;
    }
    const uint8_t* index = p + kOverhead;
    // Fetch every key at once: whichever the search compares, the fetches
    // overlap instead of following one another.
    for (uint32_t i = 0; i < entries; i += 2) __builtin_prefetch(p + u16(index + 2 * i));
    // An item, or nothing if its offsets are not sound (every item read is
    // checked so, whatever the page's state says).
    auto item_at = [&](uint32_t i) {
      const uint32_t off = u16(index + 2 * i);
      const uint32_t item_end = i == 0 ? page_size_ : u16(index + 2 * i - 2);
      if (off < items_start || off >= item_end || item_end > page_size_) {
        return std::span<const uint8_t>();
      }
      return std::span<const uint8_t>(p + off, item_end - off);
    };
    auto key_item = [&](uint32_t pair) { return item_at(2 * pair); };
    auto hit = [&](uint32_t pair) {
      const std::span<const uint8_t> item = item_at(2 * pair + 1);
      if (item.empty() || item[0] != b::kItemKeyData) return FastResult::kSlow;
      *value = std::string_view(reinterpret_cast<const char*>(item.data() + 1),
                                item.size() - 1);
      return FastResult::kHit;
    };
    const uint32_t pairs = entries / 2;
    uint64_t state = PageState(static_cast<uint32_t>(pgno));
    if (state != kPageSorted) {
      // Not yet known to be searchable: the whole index is checked (and,
      // on a first visit, the keys' order).
      if (!IndexLooksSorted(index, entries, page_size_, items_start)) {
        return FastResult::kSlow;
      }
    }
    if (state == kPageUnknown) {
      // First visit: are the keys strictly increasing (all on the page, so
      // libdb's order is total: see CompareKeys)? Equal neighbours (two
      // copies of a key) count as unsorted: a scan finds the first.
      state = kPageSorted;
      // The previous key as read (not read again: a writer that ignores the
      // lock may zero the page between two reads).
      std::span<const uint8_t> before;
      for (uint32_t j = 0; j < pairs; ++j) {
        const std::span<const uint8_t> item = key_item(j);
        if (item.empty() || item[0] != b::kItemKeyData) return FastResult::kSlow;
        if (j > 0 && CompareKeys(before.subspan(1), item.subspan(1)) >= 0) {
          state = kPageUnsorted;
        }
        before = item;
      }
      SetPageState(static_cast<uint32_t>(pgno), state);
    }
    // `key` against pair j's key (CompareKeys), or false for an item the
    // fast path does not read (a big key, damage).
    auto compare_at = [&](uint32_t j, int* order) {
      const std::span<const uint8_t> item = key_item(j);
      if (item.empty() || item[0] != b::kItemKeyData) return false;
      *order = CompareKeys(key, item.subspan(1));
      return true;
    };
    int order = 0;
    if (state != kPageSorted) {
      for (uint32_t j = 0; j < pairs; ++j) {
        if (!compare_at(j, &order)) return FastResult::kSlow;
        if (order == 0) return hit(j);
      }
    } else if (pairs > 0) {
      // Binary search for the last key not above `key`.
      uint32_t lo = 0, hi = pairs;
      while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (!compare_at(mid, &order)) return FastResult::kSlow;
        // Without a branch on the outcome, which is a coin toss.
        const bool below = order < 0;
        hi = below ? mid : hi;
        lo = below ? lo : mid;
      }
      if (!compare_at(lo, &order)) return FastResult::kSlow;
      if (order == 0) return hit(lo);
    }
    if (next == 0) return FastResult::kMiss;
    prev = pgno;
    pgno = next;
  }
  return FastResult::kSlow;  // a long chain: let FindInBucket walk it
}

void BdbHashReader::Prefetch(uint32_t key_hash, int stage) const {
  if (custom_hash_) return;
  uint32_t bucket = key_hash & high_mask_;
  if (bucket > max_bucket_) bucket &= low_mask_;
  const uint32_t doubling =
      bucket == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(bucket));
  const uint64_t pgno = uint64_t{bucket} + spares_[doubling];
  if (pgno < 1 || pgno > last_pgno_) return;
  const uint8_t* p = PageAt(static_cast<uint32_t>(pgno));
  if (stage == 1) {
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    return;
  }
  const uint32_t entries = order_.U16(p + b::kPageEntries);
  if (overhead_ + 2 * entries > page_size_) return;
  // Every key on the page: whichever the search compares, it is on its way.
  const uint8_t* index = p + overhead_;
  for (uint32_t i = 0; i < entries; i += 2) {
    const uint32_t off = order_.U16(index + 2 * i);
    if (off < page_size_) __builtin_prefetch(p + off);
  }
}

absl::StatusOr<std::optional<std::string_view>> BdbHashReader::FindView(
    std::string_view key_chars, std::string* scratch, const uint32_t* key_hash) const {
  const std::span<const uint8_t> key(
      reinterpret_cast<const uint8_t*>(key_chars.data()), key_chars.size());
  if (!custom_hash_ && !checksums_ && !order_.big_endian()) {
    std::string_view value;
    switch (FastFind(key, key_hash != nullptr ? *key_hash : b::Hash(key), &value)) {
      case FastResult::kHit: return value;
      case FastResult::kMiss: return std::nullopt;
      case FastResult::kSlow: break;
    }
  }
  if (!custom_hash_) return FindInBucket(BucketOf(key), key, scratch);
  for (uint32_t bucket = 0; bucket <= max_bucket_; ++bucket) {
    absl::StatusOr<std::optional<std::string_view>> found =
        FindInBucket(bucket, key, scratch);
    if (!found.ok() || found->has_value()) return found;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> BdbHashReader::Find(
    std::span<const uint8_t> key) const {
  std::string scratch;
  absl::StatusOr<std::optional<std::string_view>> found =
      FindView(AsChars(key), &scratch);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::nullopt;
  return std::string(**found);
}

absl::Status BdbHashReader::ForEachInBucket(uint32_t bucket, BdbPageSet& seen,
                                            PairFn fn, bool* stopped) const {
  if (stopped != nullptr) *stopped = false;
  absl::StatusOr<uint32_t> first = BucketPage(bucket);
  if (!first.ok()) return first.status();
  std::string key_scratch;
  std::string value_scratch;
  uint32_t prev = 0;
  for (uint32_t pgno = *first; pgno != 0;) {
    if (!seen.Insert(pgno)) {
      return PageError(pgno, absl::StrCat("reached twice (in the chain of bucket ",
                                          bucket, ")"));
    }
    HashPage page;
    if (absl::Status s = LoadHashPage(pgno, prev, &page); !s.ok()) return s;
    if (page.empty) break;
    for (uint32_t i = 0; i < page.entries; i += 2) {
      Item k;
      Item d;
      if (absl::Status s = LoadItem(page, i, &k); !s.ok()) return s;
      if (absl::Status s = LoadItem(page, i + 1, &d); !s.ok()) return s;
      std::string_view key;
      std::string_view value;
      if (absl::Status s = ItemBytes(k, &seen, &key_scratch, &key); !s.ok()) {
        return s;
      }
      if (absl::Status s = ItemBytes(d, &seen, &value_scratch, &value); !s.ok()) {
        return s;
      }
      if (!fn(key, value)) {
        if (stopped != nullptr) *stopped = true;
        return absl::OkStatus();
      }
    }
    prev = pgno;
    pgno = page.next;
  }
  return absl::OkStatus();
}

absl::Status BdbHashReader::ForEach(PairFn fn) const {
  BdbPageSet seen(page_count());
  for (uint32_t bucket = 0; bucket <= max_bucket_; ++bucket) {
    bool stopped = false;
    if (absl::Status s = ForEachInBucket(bucket, seen, fn, &stopped); !s.ok()) {
      return s;
    }
    if (stopped) break;
  }
  return absl::OkStatus();
}

}  // namespace libmaps::internal
