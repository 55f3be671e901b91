#include "format/bdb_hash_reader.h"

#include <algorithm>
#include <cstring>

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
    case b::kBtreeMagic: return "a Berkeley DB btree file";
    case b::kQueueMagic: return "a Berkeley DB queue file";
    case b::kHeapMagic: return "a Berkeley DB heap file";
    case b::kRenameMagic: return "a Berkeley DB file in the middle of a rename";
    default: return {};
  }
}

}  // namespace

absl::StatusOr<BdbHashReader> BdbHashReader::Open(std::span<const uint8_t> file) {
  if (file.empty()) return absl::InvalidArgumentError("the file is empty");
  if (file.size() < b::kMetaSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file has ", file.size(),
        " bytes, too few for a Berkeley DB meta page"));
  }
  const uint8_t* magic = file.data() + b::kMetaMagic;
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
    if (b::LoadLe32(file.data()) == b::kHashMagic ||
        b::LoadBe32(file.data()) == b::kHashMagic) {
      return absl::InvalidArgumentError(
          "a Berkeley DB 1.x hash file: that format is not supported");
    }
    return absl::InvalidArgumentError(
        "not a Berkeley DB hash file (no hash magic number at offset 12)");
  }
  BdbHashReader reader(file, b::ByteOrder(big_endian));
  if (absl::Status s = reader.ParseMeta(); !s.ok()) return s;
  return reader;
}

absl::Status BdbHashReader::ParseMeta() {
  const uint8_t* meta = file_.data();
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
      b::PageChecksum(file_.first(b::kMetaSize), /*is_meta=*/true) !=
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

absl::StatusOr<std::optional<std::string>> BdbHashReader::FindInBucket(
    uint32_t bucket, std::span<const uint8_t> key) const {
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
      std::string scratch;
      std::string_view value;
      if (absl::Status s = ItemBytes(d, nullptr, &scratch, &value); !s.ok()) {
        return s;
      }
      if (d.type == b::kItemOffPage) return scratch;
      return std::string(value);
    }
    prev = pgno;
    pgno = page.next;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> BdbHashReader::Find(
    std::span<const uint8_t> key) const {
  if (!custom_hash_) return FindInBucket(BucketOf(key), key);
  for (uint32_t bucket = 0; bucket <= max_bucket_; ++bucket) {
    absl::StatusOr<std::optional<std::string>> found = FindInBucket(bucket, key);
    if (!found.ok() || found->has_value()) return found;
  }
  return std::nullopt;
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
