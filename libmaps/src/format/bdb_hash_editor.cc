#include "format/bdb_hash_editor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "format/bdb_hash_format.h"
#include "format/bdb_hash_reader.h"
#include "format/bdb_hash_writer.h"
#include "mapped_file.h"
#include "file_util.h"
#include "string_view_compat.h"

namespace libmaps::internal {

namespace b = bdb;

namespace {

absl::Status PageError(uint32_t pgno, std::string_view what) {
  return absl::DataLossError(absl::StrCat("page ", pgno, ": ", ToAbsl(what)));
}

absl::Status IoError(std::string_view op, std::string_view display) {
  return absl::UnavailableError(
      absl::StrCat(ToAbsl(op), " database ", ToAbsl(display), ": ", std::strerror(errno)));
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}


}  // namespace

class BdbHashEditor::Impl {
 public:
  Impl(int fd, std::string display, const BdbHashReader& reader, std::vector<uint8_t> meta,
       const struct stat& st)
      : fd_(fd),
        display_(std::move(display)),
        order_(reader.big_endian()),
        page_size_(reader.page_size()),
        checksums_(reader.has_checksums()),
        version_(reader.version()),
        overhead_(checksums_ ? b::kPageOverheadChecksum : b::kPageOverheadPlain),
        threshold_(page_size_ / 4),
        meta_(std::move(meta)),
        orig_meta_(meta_),
        orig_size_(static_cast<uint64_t>(st.st_size)),
        orig_mtime_(st.st_mtim) {
    last_pgno_ = orig_last_pgno_ = reader.page_count() - 1;
    nelem_ = U32(meta_.data() + b::kMetaNelem);
    orig_nelem_ = nelem_;
    free_head_ = U32(meta_.data() + b::kMetaFree);
    max_bucket_ = U32(meta_.data() + b::kMetaMaxBucket);
    high_mask_ = U32(meta_.data() + b::kMetaHighMask);
    low_mask_ = U32(meta_.data() + b::kMetaLowMask);
    for (size_t i = 0; i < b::kMetaSpareCount; ++i) {
      spares_[i] = U32(meta_.data() + b::kMetaSpares + 4 * i);
    }
  }

  absl::StatusOr<std::optional<std::string>> Find(std::string_view key) {
    Chain chain;
    if (absl::Status s = Locate(key, &chain); !s.ok()) return s;
    if (chain.page < 0) return std::nullopt;
    const Pair& pair = chain.pages[chain.page].pairs[chain.pair];
    absl::StatusOr<std::string> value = FullItem(pair.data, chain.pages[chain.page].pgno);
    if (!value.ok()) return value.status();
    return *std::move(value);
  }

  absl::Status Put(std::string_view key, std::string_view value) {
    Chain chain;
    if (absl::Status s = Locate(key, &chain); !s.ok()) return s;
    if (absl::Status s = DropCopies(chain); !s.ok()) return s;
    absl::StatusOr<std::string> data_item = MakeItem(value);
    if (!data_item.ok()) return data_item.status();
    if (chain.page < 0) {
      absl::StatusOr<std::string> key_item = MakeItem(key);
      if (!key_item.ok()) return key_item.status();
      absl::StatusOr<uint32_t> shown =
          Insert(chain, key, Pair{*std::move(key_item), *std::move(data_item)}, -1);
      if (!shown.ok()) return shown.status();
      ++nelem_;
      return absl::OkStatus();
    }
    BucketPage& page = chain.pages[chain.page];
    const uint32_t pgno = page.pgno;
    Pair& pair = page.pairs[chain.pair];
    const std::string old_data = pair.data;
    if (Footprint(page) - pair.data.size() + data_item->size() <= page_size_) {
      pair.data = *std::move(data_item);
      Store(page);
    } else {
      // Written to its new page before it leaves the old one.
      Pair moved{pair.key, *std::move(data_item)};
      page.pairs.erase(page.pairs.begin() + static_cast<ptrdiff_t>(chain.pair));
      Store(page);
      absl::StatusOr<uint32_t> shown = Insert(chain, key, std::move(moved), chain.page);
      if (!shown.ok()) return shown.status();
      if (*shown != pgno) edges_.emplace_back(*shown, pgno);
    }
    return Release(old_data, pgno);
  }

  absl::StatusOr<bool> Delete(std::string_view key) {
    Chain chain;
    if (absl::Status s = Locate(key, &chain); !s.ok()) return s;
    if (absl::Status s = DropCopies(chain); !s.ok()) return s;
    if (chain.page < 0) return false;
    BucketPage& page = chain.pages[chain.page];
    Pair pair = std::move(page.pairs[chain.pair]);
    page.pairs.erase(page.pairs.begin() + static_cast<ptrdiff_t>(chain.pair));
    Store(page);
    if (absl::Status s = Release(pair.key, page.pgno); !s.ok()) return s;
    if (absl::Status s = Release(pair.data, page.pgno); !s.ok()) return s;
    if (nelem_ > 0) --nelem_;
    return true;
  }

  bool changed() const { return !dirty_order_.empty() || last_pgno_ != orig_last_pgno_; }

  absl::Status Commit();

  const BdbHashEditStats& stats() const { return stats_; }
  uint32_t page_size() const { return page_size_; }

 private:
  // A page as read from the file (or made new), and what it was on disk.
  struct Page {
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> original;  // existing pages only
    bool dirty = false;
  };
  // A key/data pair as its two raw items (type byte first).
  struct Pair {
    std::string key;
    std::string data;
  };
  // A decoded bucket page.
  struct BucketPage {
    uint32_t pgno = 0;
    uint8_t type = b::kPageHash;
    uint32_t prev = 0;
    uint32_t next = 0;
    std::vector<Pair> pairs;
  };
  // A key's bucket chain, and where in it the key is (page < 0: absent).
  struct Chain {
    std::vector<BucketPage> pages;
    int page = -1;
    size_t pair = 0;
    // Later copies of the key (page, pair), in chain order: what a kill
    // while a record moved to another page can leave behind.
    std::vector<std::pair<int, size_t>> copies;
  };

  uint16_t U16(const uint8_t* p) const { return order_.U16(p); }
  uint32_t U32(const uint8_t* p) const { return order_.U32(p); }
  void Put16(uint8_t* p, uint32_t v) const { b::Encoder(order_.big_endian()).U16(p, v); }
  void Put32(uint8_t* p, uint32_t v) const { b::Encoder(order_.big_endian()).U32(p, v); }

  bool Big(size_t n) const { return n > threshold_; }
  uint32_t Capacity() const { return page_size_ - overhead_; }
  size_t Footprint(const BucketPage& page) const {
    size_t n = overhead_;
    for (const Pair& p : page.pairs) n += 4 + p.key.size() + p.data.size();
    return n;
  }

  absl::StatusOr<Page*> Load(uint32_t pgno) {
    auto it = pages_.find(pgno);
    if (it != pages_.end()) return it->second.get();
    auto page = std::make_unique<Page>();
    page->bytes.assign(page_size_, 0);
    // Past the end (a page never written) the rest stays zeros.
    if (PreadFull(fd_, page->bytes.data(), page_size_,
                  static_cast<off_t>(uint64_t{pgno} * page_size_)) < 0) {
      return IoError("read", display_);
    }
    if (checksums_ && U32(page->bytes.data() + b::kPagePgno) != 0) {
      const uint32_t stored = U32(page->bytes.data() + b::kPageChecksum);
      if (stored != b::PageChecksum(page->bytes, false)) {
        return PageError(pgno, "checksum mismatch");
      }
    }
    page->original = page->bytes;
    Page* raw = page.get();
    pages_.emplace(pgno, std::move(page));
    return raw;
  }

  // A zeroed page after the current end of the file.
  absl::StatusOr<uint32_t> Append() {
    if (last_pgno_ >= UINT32_MAX - 1) {
      return absl::ResourceExhaustedError("the hash file would need more than 2^32 pages");
    }
    const uint32_t pgno = ++last_pgno_;
    auto page = std::make_unique<Page>();
    page->bytes.assign(page_size_, 0);
    std::memcpy(page->bytes.data() + b::kPageLsn, meta_.data() + b::kMetaLsn, 8);
    Put32(page->bytes.data() + b::kPagePgno, pgno);
    pages_.emplace(pgno, std::move(page));
    ++stats_.pages_appended;
    return pgno;
  }

  void MarkDirty(uint32_t pgno) {
    Page& page = *pages_.at(pgno);
    if (page.dirty || pgno > orig_last_pgno_) return;
    page.dirty = true;
    dirty_order_.push_back(pgno);
  }

  uint32_t BucketPgno(uint32_t bucket) const {
    return bucket + spares_[b::CeilLog2(bucket + 1)];
  }

  absl::Status Decode(uint32_t pgno, uint32_t expected_prev, BucketPage* out) {
    absl::StatusOr<Page*> loaded = Load(pgno);
    if (!loaded.ok()) return loaded.status();
    const uint8_t* p = (*loaded)->bytes.data();
    out->pgno = pgno;
    out->pairs.clear();
    const uint32_t field = U32(p + b::kPagePgno);
    if (field == 0) {
      if (expected_prev != 0) {
        return PageError(pgno, absl::StrCat("page ", expected_prev,
                                            " links to it but it was never written"));
      }
      out->type = version_ >= 9 ? b::kPageHash : b::kPageHashUnsorted;
      out->prev = out->next = 0;
      return absl::OkStatus();
    }
    if (field != pgno) {
      return PageError(pgno, absl::StrCat("the page header says it is page ", field));
    }
    out->type = p[b::kPageType];
    if (out->type != b::kPageHash && out->type != b::kPageHashUnsorted) {
      return PageError(pgno, absl::StrCat("page type ", out->type,
                                          " where a hash bucket page belongs"));
    }
    out->prev = U32(p + b::kPagePrev);
    out->next = U32(p + b::kPageNext);
    if (expected_prev != 0 && out->prev != expected_prev) {
      return PageError(pgno, "its previous-page link does not match its chain");
    }
    if (out->next == pgno || out->next > last_pgno_) {
      return PageError(pgno, "its next-page link is outside the file");
    }
    const uint32_t entries = U16(p + b::kPageEntries);
    if (entries % 2 != 0 || overhead_ + 2 * size_t{entries} > page_size_) {
      return PageError(pgno, absl::StrCat("bad item count ", entries));
    }
    const uint32_t items_start = overhead_ + 2 * entries;
    uint32_t end = page_size_;
    for (uint32_t i = 0; i < entries; ++i) {
      const uint32_t off = U16(p + overhead_ + 2 * i);
      if (off >= end || off < items_start) {
        return PageError(pgno, absl::StrCat("item ", i, " is out of order or outside "
                                                        "the item area"));
      }
      std::string item(reinterpret_cast<const char*>(p + off), end - off);
      const uint8_t type = p[off];
      if (type == b::kItemOffPage ? item.size() != b::kOffPageSize
                                  : type != b::kItemKeyData) {
        return PageError(pgno, absl::StrCat("item ", i, " has type ", type,
                                            ", which a Postfix table never holds"));
      }
      if (i % 2 == 0) {
        out->pairs.push_back(Pair{std::move(item), {}});
      } else {
        out->pairs.back().data = std::move(item);
      }
      end = off;
    }
    return absl::OkStatus();
  }

  // Writes `page` back into its cached bytes.
  void Store(const BucketPage& page) {
    Page& cached = *pages_.at(page.pgno);
    uint8_t* p = cached.bytes.data();
    if (U32(p + b::kPagePgno) == 0) {
      std::memcpy(p + b::kPageLsn, meta_.data() + b::kMetaLsn, 8);
      Put32(p + b::kPagePgno, page.pgno);
    }
    Put32(p + b::kPagePrev, page.prev);
    Put32(p + b::kPageNext, page.next);
    p[b::kPageLevel] = 0;
    p[b::kPageType] = page.type;
    // Clear everything after the header: no byte of a removed item stays.
    std::memset(p + b::kPageHeaderSize, 0, page_size_ - b::kPageHeaderSize);
    uint32_t low = page_size_;
    uint32_t index = 0;
    auto put = [&](const std::string& item) {
      low -= static_cast<uint32_t>(item.size());
      std::memcpy(p + low, item.data(), item.size());
      Put16(p + overhead_ + 2 * index, low);
      ++index;
    };
    for (const Pair& pair : page.pairs) {
      put(pair.key);
      put(pair.data);
    }
    Put16(p + b::kPageEntries, index);
    Put16(p + b::kPageHfOffset, low);
    MarkDirty(page.pgno);
  }

  // The bytes an item stands for: on the page, or gathered from its overflow
  // pages. `pgno` is the bucket page, for messages.
  absl::StatusOr<std::string> FullItem(const std::string& item, uint32_t pgno) {
    if (static_cast<uint8_t>(item[0]) == b::kItemKeyData) return item.substr(1);
    const auto* raw = reinterpret_cast<const uint8_t*>(item.data());
    uint32_t cur = U32(raw + b::kOffPagePgno);
    uint32_t remaining = U32(raw + b::kOffPageLength);
    std::string out;
    uint32_t prev = 0;
    while (remaining > 0) {
      if (cur == 0 || cur > last_pgno_) {
        return PageError(prev == 0 ? pgno : prev, "a big item leads outside the file");
      }
      absl::StatusOr<Page*> loaded = Load(cur);
      if (!loaded.ok()) return loaded.status();
      const uint8_t* p = (*loaded)->bytes.data();
      if (U32(p + b::kPagePgno) != cur || p[b::kPageType] != b::kPageOverflow) {
        return PageError(cur, "not the overflow page a big item names");
      }
      const uint32_t n = U16(p + b::kPageHfOffset);
      if (n == 0 || n > Capacity() || n > remaining) {
        return PageError(cur, "overflow page length does not match its item");
      }
      out.append(reinterpret_cast<const char*>(p + overhead_), n);
      remaining -= n;
      prev = cur;
      cur = U32(p + b::kPageNext);
    }
    return out;
  }

  // Overflow page numbers of a big item, to free; nothing for others.
  absl::Status Release(const std::string& item, uint32_t pgno) {
    if (static_cast<uint8_t>(item[0]) != b::kItemOffPage) return absl::OkStatus();
    const auto* raw = reinterpret_cast<const uint8_t*>(item.data());
    uint32_t cur = U32(raw + b::kOffPagePgno);
    uint32_t remaining = U32(raw + b::kOffPageLength);
    while (remaining > 0) {
      if (cur == 0 || cur > last_pgno_) {
        return PageError(pgno, "a big item leads outside the file");
      }
      absl::StatusOr<Page*> loaded = Load(cur);
      if (!loaded.ok()) return loaded.status();
      const uint8_t* p = (*loaded)->bytes.data();
      const uint32_t n = U16(p + b::kPageHfOffset);
      if (p[b::kPageType] != b::kPageOverflow || n == 0 || n > remaining) {
        return PageError(cur, "not the overflow page a big item names");
      }
      if (!freed_set_.insert(cur).second) return PageError(cur, "freed twice");
      freed_.push_back(cur);
      remaining -= n;
      cur = U32(p + b::kPageNext);
    }
    return absl::OkStatus();
  }

  // The raw item for `bytes`: on the page, or a reference to new overflow
  // pages holding them.
  absl::StatusOr<std::string> MakeItem(std::string_view bytes) {
    std::string item;
    if (!Big(bytes.size())) {
      item.reserve(bytes.size() + 1);
      item.push_back(static_cast<char>(b::kItemKeyData));
      item.append(bytes);
      return item;
    }
    if (bytes.size() > UINT32_MAX) {
      return absl::ResourceExhaustedError("an item of 4 GiB or more");
    }
    uint32_t first = 0, prev = 0;
    for (size_t off = 0; off < bytes.size(); off += Capacity()) {
      absl::StatusOr<uint32_t> pgno = Append();
      if (!pgno.ok()) return pgno.status();
      const size_t n = std::min<size_t>(Capacity(), bytes.size() - off);
      uint8_t* p = pages_.at(*pgno)->bytes.data();
      Put32(p + b::kPagePrev, prev);
      Put16(p + b::kPageEntries, 1);  // reference count
      Put16(p + b::kPageHfOffset, static_cast<uint32_t>(n));
      p[b::kPageType] = b::kPageOverflow;
      std::memcpy(p + overhead_, bytes.data() + off, n);
      if (prev != 0) Put32(pages_.at(prev)->bytes.data() + b::kPageNext, *pgno);
      if (first == 0) first = *pgno;
      prev = *pgno;
    }
    item.assign(b::kOffPageSize, '\0');
    auto* raw = reinterpret_cast<uint8_t*>(item.data());
    raw[0] = b::kItemOffPage;
    Put32(raw + b::kOffPagePgno, first);
    Put32(raw + b::kOffPageLength, static_cast<uint32_t>(bytes.size()));
    return item;
  }

  // Removes the later copies of the key found by Locate(): lookups find the
  // first copy, and a stale later one must not come back when the first is
  // deleted. Items the first copy shares are not released.
  absl::Status DropCopies(Chain& chain) {
    if (chain.copies.empty()) return absl::OkStatus();
    const Pair& first = chain.pages[chain.page].pairs[chain.pair];
    const std::string first_key = first.key, first_data = first.data;
    for (auto it = chain.copies.rbegin(); it != chain.copies.rend(); ++it) {
      BucketPage& page = chain.pages[it->first];
      Pair copy = std::move(page.pairs[it->second]);
      page.pairs.erase(page.pairs.begin() + static_cast<ptrdiff_t>(it->second));
      Store(page);
      for (const std::string* item : {&copy.key, &copy.data}) {
        if (*item == first_key || *item == first_data) continue;
        if (absl::Status s = Release(*item, page.pgno); !s.ok()) return s;
      }
    }
    chain.copies.clear();
    return absl::OkStatus();
  }

  // Reads the chain of `key`'s bucket and finds the key in it.
  absl::Status Locate(std::string_view key, Chain* chain) {
    uint32_t bucket = b::Hash(Bytes(key)) & high_mask_;
    if (bucket > max_bucket_) bucket &= low_mask_;
    uint32_t pgno = BucketPgno(bucket);
    uint32_t prev = 0;
    chain->pages.clear();
    chain->page = -1;
    absl::flat_hash_set<uint32_t> seen;
    while (pgno != 0) {
      if (!seen.insert(pgno).second) return PageError(pgno, "its bucket chain loops");
      BucketPage& page = chain->pages.emplace_back();
      if (absl::Status s = Decode(pgno, prev, &page); !s.ok()) return s;
      {
        for (size_t i = 0; i < page.pairs.size(); ++i) {
          const std::string& k = page.pairs[i].key;
          bool equal;
          if (static_cast<uint8_t>(k[0]) == b::kItemKeyData) {
            equal = std::string_view(k).substr(1) == key;
          } else {
            equal = U32(reinterpret_cast<const uint8_t*>(k.data()) + b::kOffPageLength) ==
                    key.size();
            if (equal) {
              absl::StatusOr<std::string> full = FullItem(k, pgno);
              if (!full.ok()) return full.status();
              equal = *full == key;
            }
          }
          if (!equal) continue;
          const int at = static_cast<int>(chain->pages.size() - 1);
          if (chain->page < 0) {
            chain->page = at;
            chain->pair = i;
          } else {
            chain->copies.emplace_back(at, i);
          }
        }
      }
      prev = pgno;
      pgno = page.next;
    }
    return absl::OkStatus();
  }

  // Puts `pair` (whose key is `key`) on the first page of `chain` with room,
  // other than page `skip`, or on a new page chained after the last. Returns
  // the page whose write makes the pair visible.
  absl::StatusOr<uint32_t> Insert(Chain& chain, std::string_view key, Pair pair, int skip) {
    const size_t need = 4 + pair.key.size() + pair.data.size();
    for (size_t j = 0; j < chain.pages.size(); ++j) {
      BucketPage& page = chain.pages[j];
      if (static_cast<int>(j) == skip || Footprint(page) + need > page_size_) continue;
      size_t at = page.pairs.size();
      if (page.type == b::kPageHash) {
        for (size_t i = 0; i < page.pairs.size(); ++i) {
          absl::StatusOr<std::string> other = FullItem(page.pairs[i].key, page.pgno);
          if (!other.ok()) return other.status();
          if (CompareBdbKeys(key, *other, threshold_) < 0) {
            at = i;
            break;
          }
        }
      }
      page.pairs.insert(page.pairs.begin() + static_cast<ptrdiff_t>(at), std::move(pair));
      Store(page);
      return Shown(chain, j);
    }
    if (overhead_ + need > page_size_) {
      return absl::InternalError("a pair does not fit on an empty page");
    }
    absl::StatusOr<uint32_t> pgno = Append();
    if (!pgno.ok()) return pgno.status();
    BucketPage& last = chain.pages.back();
    BucketPage page;
    page.pgno = *pgno;
    page.type = chain.pages.front().type;
    page.prev = last.pgno;
    page.next = 0;
    page.pairs.push_back(std::move(pair));
    last.next = *pgno;
    Store(last);
    Store(page);
    chain.pages.push_back(std::move(page));
    return Shown(chain, chain.pages.size() - 1);
  }

  // The existing page whose write makes page `j` of `chain` visible: the
  // page itself, or for a page appended in this batch (appended pages end
  // the chain), the last existing page, which links to the first of them.
  uint32_t Shown(const Chain& chain, size_t j) const {
    for (size_t k = j + 1; k-- > 0;) {
      if (chain.pages[k].pgno <= orig_last_pgno_) return chain.pages[k].pgno;
    }
    return chain.pages.front().pgno;
  }

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> bytes) {
    return PwriteAll(fd_, offset, bytes, display_);
  }

  absl::Status Sync() {
    if (::fdatasync(fd_) != 0) return IoError("fsync", display_);
    return absl::OkStatus();
  }

  void Seal(std::vector<uint8_t>& page) const {
    if (checksums_) Put32(page.data() + b::kPageChecksum, b::PageChecksum(page, false));
  }

  absl::Status WriteMeta() {
    Put32(meta_.data() + b::kMetaLastPgno, last_pgno_);
    Put32(meta_.data() + b::kMetaNelem, nelem_);
    Put32(meta_.data() + b::kMetaFree, free_head_);
    if (checksums_) {
      Put32(meta_.data() + b::kMetaChecksum,
            b::PageChecksum(std::span<const uint8_t>(meta_).first(b::kMetaSize), true));
    }
    ++stats_.pages_written;
    return WriteAt(0, std::span<const uint8_t>(meta_).first(b::kMetaSize));
  }

  // The dirty existing pages, each after the pages that must reach the file
  // before it.
  std::vector<uint32_t> WriteOrder() const {
    std::vector<uint32_t> out;
    absl::flat_hash_set<uint32_t> placed;
    auto visit = [&](auto&& self, uint32_t pgno) -> void {
      if (!placed.insert(pgno).second) return;
      for (const auto& [before, after] : edges_) {
        if (after == pgno && before <= orig_last_pgno_ && pages_.at(before)->dirty) {
          self(self, before);
        }
      }
      out.push_back(pgno);
    };
    for (uint32_t pgno : dirty_order_) visit(visit, pgno);
    return out;
  }

  // Best effort after a failed write: the old pages and meta page back, the
  // file cut to its old size.
  void Restore(const std::vector<uint32_t>& written) {
    for (auto it = written.rbegin(); it != written.rend(); ++it) {
      const Page& page = *pages_.at(*it);
      (void)WriteAt(uint64_t{*it} * page_size_, page.original);
    }
    (void)WriteAt(0, std::span<const uint8_t>(orig_meta_).first(b::kMetaSize));
    (void)::ftruncate(fd_, static_cast<off_t>(orig_size_));
    (void)::fdatasync(fd_);
  }

  int fd_;
  std::string display_;
  b::ByteOrder order_;
  uint32_t page_size_;
  bool checksums_;
  uint32_t version_;
  uint32_t overhead_;
  size_t threshold_;
  std::vector<uint8_t> meta_;
  const std::vector<uint8_t> orig_meta_;
  uint64_t orig_size_;
  struct timespec orig_mtime_;
  uint32_t last_pgno_ = 0;
  uint32_t orig_last_pgno_ = 0;
  uint32_t nelem_ = 0;
  uint32_t orig_nelem_ = 0;
  uint32_t free_head_ = 0;
  uint32_t max_bucket_ = 0;
  uint32_t high_mask_ = 0;
  uint32_t low_mask_ = 0;
  uint32_t spares_[b::kMetaSpareCount] = {};

  absl::flat_hash_map<uint32_t, std::unique_ptr<Page>> pages_;
  std::vector<uint32_t> dirty_order_;                 // existing pages, first change first
  std::vector<std::pair<uint32_t, uint32_t>> edges_;  // (written before, page)
  std::vector<uint32_t> freed_;
  absl::flat_hash_set<uint32_t> freed_set_;
  BdbHashEditStats stats_;
};

absl::Status BdbHashEditor::Impl::Commit() {
  if (!changed()) return absl::OkStatus();
  std::vector<uint32_t> written;
  // 1. Appended pages, in one run.
  if (last_pgno_ > orig_last_pgno_) {
    std::vector<uint8_t> run;
    run.reserve(size_t{last_pgno_ - orig_last_pgno_} * page_size_);
    for (uint32_t pgno = orig_last_pgno_ + 1; pgno <= last_pgno_; ++pgno) {
      std::vector<uint8_t>& bytes = pages_.at(pgno)->bytes;
      Seal(bytes);
      run.insert(run.end(), bytes.begin(), bytes.end());
    }
    absl::Status s = WriteAt(uint64_t{orig_last_pgno_ + 1} * page_size_, run);
    if (s.ok()) s = Sync();
    if (!s.ok()) {
      Restore(written);
      return s;
    }
  }
  // 2. The meta page: the new pages are now the file's, unreferenced.
  // 3. The changed pages, in an order that never hides a pair.
  absl::Status s = WriteMeta();
  if (s.ok()) {
    for (uint32_t pgno : WriteOrder()) {
      std::vector<uint8_t>& bytes = pages_.at(pgno)->bytes;
      Seal(bytes);
      written.push_back(pgno);
      ++stats_.pages_written;
      s = WriteAt(uint64_t{pgno} * page_size_, bytes);
      if (!s.ok()) break;
    }
  }
  if (s.ok()) s = Sync();
  // 4. Overflow pages nothing refers to any more: onto the free list.
  if (s.ok() && !freed_.empty()) {
    for (uint32_t pgno : freed_) {
      std::vector<uint8_t>& bytes = pages_.at(pgno)->bytes;
      uint8_t lsn[8];
      std::memcpy(lsn, bytes.data() + b::kPageLsn, 8);
      std::fill(bytes.begin(), bytes.end(), 0);
      std::memcpy(bytes.data() + b::kPageLsn, lsn, 8);
      Put32(bytes.data() + b::kPagePgno, pgno);
      Put32(bytes.data() + b::kPageNext, free_head_);
      Put16(bytes.data() + b::kPageHfOffset, page_size_);
      bytes[b::kPageType] = b::kPageInvalid;
      Seal(bytes);
      if (pgno <= orig_last_pgno_) written.push_back(pgno);
      s = WriteAt(uint64_t{pgno} * page_size_, bytes);
      if (!s.ok()) break;
      free_head_ = pgno;
      ++stats_.pages_freed;
    }
    if (s.ok()) s = WriteMeta();
    if (s.ok()) s = Sync();
  }
  if (!s.ok()) {
    Restore(written);
    return s;
  }
  NudgeMtime(fd_, orig_mtime_);
  struct stat st;
  // A second Commit() writes nothing.
  for (auto& [pgno, page] : pages_) {
    page->original = page->bytes;
    page->dirty = false;
  }
  dirty_order_.clear();
  edges_.clear();
  freed_.clear();
  freed_set_.clear();
  orig_last_pgno_ = last_pgno_;
  orig_nelem_ = nelem_;
  orig_size_ = uint64_t{last_pgno_ + 1} * page_size_;
  if (::fstat(fd_, &st) == 0) orig_mtime_ = st.st_mtim;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BdbHashEditor>> BdbHashEditor::Open(
    int fd, std::string_view display) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("stat", display);
  absl::StatusOr<std::unique_ptr<MappedFile>> mapping =
      MappedFile::Map(fd, static_cast<uint64_t>(st.st_size), display);
  if (!mapping.ok()) return mapping.status();
  absl::StatusOr<BdbHashReader> reader = BdbHashReader::Open((*mapping)->bytes());
  if (!reader.ok()) return reader.status();
  if (reader->custom_hash()) {
    return absl::FailedPreconditionError(
        "page 0: the file was made with a custom hash function; it can be "
        "read but not changed");
  }
  std::vector<uint8_t> meta(reader->page_size() < b::kMetaSize ? b::kMetaSize
                                                                : reader->page_size());
  std::memcpy(meta.data(), (*mapping)->bytes().data(), b::kMetaSize);
  if ((*mapping)->faults() != 0) {
    return absl::UnavailableError(
        absl::StrCat("read database ", ToAbsl(display), ": the file shrank while it was opened"));
  }
  auto impl = std::make_unique<Impl>(fd, std::string(display), *reader, std::move(meta), st);
  return std::unique_ptr<BdbHashEditor>(new BdbHashEditor(std::move(impl)));
}

BdbHashEditor::BdbHashEditor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BdbHashEditor::~BdbHashEditor() = default;

absl::StatusOr<std::optional<std::string>> BdbHashEditor::Find(std::string_view key) {
  return impl_->Find(key);
}
absl::Status BdbHashEditor::Put(std::string_view key, std::string_view value) {
  return impl_->Put(key, value);
}
absl::StatusOr<bool> BdbHashEditor::Delete(std::string_view key) {
  return impl_->Delete(key);
}
bool BdbHashEditor::changed() const { return impl_->changed(); }
absl::Status BdbHashEditor::Commit() { return impl_->Commit(); }
const BdbHashEditStats& BdbHashEditor::stats() const { return impl_->stats(); }
uint32_t BdbHashEditor::page_size() const { return impl_->page_size(); }
std::string BdbHashEditor::Summary() const {
  const BdbHashEditStats& st = impl_->stats();
  return absl::StrCat("changed in place: ", st.pages_written, " pages rewritten, ",
                      st.pages_appended, " appended, ", st.pages_freed, " freed");
}

void NudgeMtime(int fd, const struct timespec& before) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_mtim.tv_sec != before.tv_sec ||
      st.st_mtim.tv_nsec != before.tv_nsec) {
    return;
  }
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1] = before;
  if (++times[1].tv_nsec >= 1000000000) {
    times[1].tv_nsec = 0;
    ++times[1].tv_sec;
  }
  (void)::futimens(fd, times);
}

}  // namespace libmaps::internal
