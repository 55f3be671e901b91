#include "format/bdb_btree_writer.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/bdb_btree_format.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;

// libdb writes LSN (0, 1), "not logged", on every page when there is no log.
constexpr uint32_t kLsnOffset = 1;
// Consecutive pages are handed to the sink in pieces of about this size.
constexpr size_t kFlushBytes = size_t{1} << 20;

// Collects pages and writes runs of consecutive page numbers in one call.
class PageOut {
 public:
  PageOut(BdbFileSink& sink, uint32_t page_size) : sink_(sink), page_size_(page_size) {}

  absl::Status Put(uint32_t pgno, const uint8_t* page) {
    if (!buf_.empty() && (pgno != first_ + count_ || buf_.size() >= kFlushBytes)) {
      if (absl::Status s = Flush(); !s.ok()) return s;
    }
    if (buf_.empty()) first_ = pgno;
    buf_.insert(buf_.end(), page, page + page_size_);
    ++count_;
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    absl::Status s = sink_.Write(uint64_t{first_} * page_size_, buf_);
    buf_.clear();
    count_ = 0;
    return s;
  }

 private:
  BdbFileSink& sink_;
  uint32_t page_size_;
  uint32_t first_ = 0;
  uint32_t count_ = 0;
  std::vector<uint8_t> buf_;
};

class TreeWriter {
 public:
  TreeWriter(const BdbBtreeWriterOptions& options, absl::FunctionRef<uint32_t()> alloc,
             BdbFileSink& sink)
      : options_(options),
        enc_(options.big_endian),
        page_size_(options.page_size),
        overhead_(options.checksums ? b::kPageOverheadChecksum : b::kPageOverheadPlain),
        threshold_(b::BtreeOverflowThreshold(options.page_size, overhead_)),
        alloc_(alloc),
        out_(sink, options.page_size) {}

  absl::StatusOr<BdbBtreeWriteStats> Run(std::span<const BdbRecord> records) {
    for (size_t i = 0; i < records.size(); ++i) {
      if (i > 0 && !(records[i - 1].key < records[i].key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("record ", i, " is out of order or repeats a key"));
      }
      if (absl::Status s = AddRecord(records[i]); !s.ok()) return s;
    }
    return Finish();
  }

 private:
  struct Ref {  // an item on overflow pages
    uint32_t first = 0;
    uint32_t length = 0;
  };
  struct LeafItem {
    std::string_view bytes;  // on-page bytes, unless `big`
    bool big = false;
    Ref ref;
    uint32_t size() const {
      return big ? static_cast<uint32_t>(b::kOffPageSize)
                 : b::LeafItemSize(static_cast<uint32_t>(bytes.size()));
    }
  };
  struct InternalEntry {
    std::string key;  // empty for an entry 0
    bool big = false;
    Ref ref;
    uint32_t child = 0;
    uint32_t size() const {
      return big ? b::InternalItemSize(static_cast<uint32_t>(b::kOffPageSize))
                 : b::InternalItemSize(static_cast<uint32_t>(key.size()));
    }
  };
  struct Level {  // an internal level under construction
    uint32_t pgno = 0;
    uint32_t used = 0;  // bytes of index and items
    std::vector<InternalEntry> entries;
  };

  uint32_t capacity() const { return page_size_ - overhead_; }

  void Header(uint8_t* p, uint32_t pgno, uint32_t prev, uint32_t next, uint32_t entries,
              uint32_t hf_offset, uint8_t level, uint8_t type) const {
    enc_.U32(p + b::kPageLsn, 0);
    enc_.U32(p + b::kPageLsn + 4, kLsnOffset);
    enc_.U32(p + b::kPagePgno, pgno);
    enc_.U32(p + b::kPagePrev, prev);
    enc_.U32(p + b::kPageNext, next);
    enc_.U16(p + b::kPageEntries, entries);
    enc_.U16(p + b::kPageHfOffset, hf_offset);  // 65536 is stored as 0
    p[b::kPageLevel] = level;
    p[b::kPageType] = type;
  }

  absl::Status Emit(uint32_t pgno, uint8_t* p) {
    if (options_.checksums) {
      enc_.U32(p + b::kPageChecksum,
               b::PageChecksum(std::span<const uint8_t>(p, page_size_), false));
    }
    stats_.last_pgno = std::max(stats_.last_pgno, pgno);
    return out_.Put(pgno, p);
  }

  // Writes `bytes` to a new overflow chain.
  absl::StatusOr<Ref> WriteOverflow(std::string_view bytes) {
    const uint32_t cap = capacity();
    const size_t n = (bytes.size() + cap - 1) / cap;
    std::vector<uint32_t> pages(n);
    for (uint32_t& p : pages) p = alloc_();
    std::vector<uint8_t> page(page_size_);
    for (size_t i = 0; i < n; ++i) {
      std::fill(page.begin(), page.end(), 0);
      const size_t at = i * cap;
      const uint32_t here = static_cast<uint32_t>(std::min<size_t>(cap, bytes.size() - at));
      Header(page.data(), pages[i], i == 0 ? 0 : pages[i - 1], i + 1 < n ? pages[i + 1] : 0,
             1, here, 0, b::kPageOverflow);
      std::memcpy(page.data() + overhead_, bytes.data() + at, here);
      if (absl::Status s = Emit(pages[i], page.data()); !s.ok()) return s;
      ++stats_.overflow_pages;
    }
    return Ref{pages.empty() ? 0 : pages[0], static_cast<uint32_t>(bytes.size())};
  }

  absl::StatusOr<LeafItem> MakeLeafItem(std::string_view bytes) {
    LeafItem item;
    item.bytes = bytes;
    if (bytes.size() > threshold_) {
      if (bytes.size() > UINT32_MAX) {
        return absl::InvalidArgumentError("an item of 4 GiB or more");
      }
      absl::StatusOr<Ref> ref = WriteOverflow(bytes);
      if (!ref.ok()) return ref.status();
      item.big = true;
      item.ref = *ref;
    }
    return item;
  }

  absl::Status AddRecord(const BdbRecord& r) {
    absl::StatusOr<LeafItem> key = MakeLeafItem(r.key);
    if (!key.ok()) return key.status();
    absl::StatusOr<LeafItem> value = MakeLeafItem(r.value);
    if (!value.ok()) return value.status();
    const uint32_t need = key->size() + value->size() + 4;
    if (leaves_ == 0 || leaf_used_ + need > capacity()) {
      if (absl::Status s = StartLeaf(r.key); !s.ok()) return s;
    }
    leaf_items_.push_back(*key);
    leaf_items_.push_back(*value);
    leaf_used_ += need;
    last_key_.assign(r.key);
    return absl::OkStatus();
  }

  // Starts a new leaf whose first key is `first_key`; the current leaf, if
  // any, is written with its next link set to the new one. Page numbers are
  // taken when a page is first referred to, so that the root (the only page
  // nothing refers to) can take options_.root_pgno at the end.
  absl::Status StartLeaf(std::string_view first_key) {
    if (leaves_ > 0) {
      if (leaf_pgno_ == 0) leaf_pgno_ = alloc_();
      const uint32_t pgno = alloc_();
      if (absl::Status s = WriteLeaf(pgno); !s.ok()) return s;
      // The shortest prefix of the new leaf's first key that sorts after
      // the last key of the one before (libdb's default prefix rule).
      size_t common = 0;
      while (common < last_key_.size() && common < first_key.size() &&
             last_key_[common] == first_key[common]) {
        ++common;
      }
      std::string sep(first_key.substr(0, std::min(first_key.size(), common + 1)));
      if (leaves_ == 1) {
        // The second leaf: the tree gets its first internal level.
        if (absl::Status s = AddToLevel(0, std::string(), leaf_pgno_); !s.ok()) return s;
      }
      if (absl::Status s = AddToLevel(0, std::move(sep), pgno); !s.ok()) return s;
      leaf_prev_ = leaf_pgno_;
      leaf_pgno_ = pgno;
    }
    leaf_used_ = 0;
    leaf_items_.clear();
    ++leaves_;
    return absl::OkStatus();
  }

  absl::Status WriteLeaf(uint32_t next) {
    std::vector<uint8_t> page(page_size_);
    uint8_t* p = page.data();
    uint32_t off = page_size_;
    for (size_t i = 0; i < leaf_items_.size(); ++i) {
      const LeafItem& item = leaf_items_[i];
      off -= item.size();
      enc_.U16(p + overhead_ + 2 * i, off);
      uint8_t* it = p + off;
      if (item.big) {
        it[b::kBtItemType] = b::kItemOffPage;
        enc_.U32(it + b::kOffPagePgno, item.ref.first);
        enc_.U32(it + b::kOffPageLength, item.ref.length);
      } else {
        enc_.U16(it + b::kBtItemLength, static_cast<uint32_t>(item.bytes.size()));
        it[b::kBtItemType] = b::kItemKeyData;
        std::memcpy(it + b::kBtItemData, item.bytes.data(), item.bytes.size());
      }
    }
    Header(p, leaf_pgno_, leaf_prev_, next, static_cast<uint32_t>(leaf_items_.size()), off,
           b::kLeafLevel, b::kPageLeaf);
    ++stats_.leaf_pages;
    return Emit(leaf_pgno_, p);
  }

  uint32_t EntrySize(std::string_view key) const {
    return key.size() > threshold_ ? b::InternalItemSize(static_cast<uint32_t>(b::kOffPageSize))
                                   : b::InternalItemSize(static_cast<uint32_t>(key.size()));
  }

  // Appends an entry to the page under construction at level `li`; a key
  // longer than the threshold goes to overflow pages of its own.
  absl::Status Push(size_t li, std::string key, uint32_t child) {
    InternalEntry e;
    e.child = child;
    if (key.size() > threshold_) {
      absl::StatusOr<Ref> ref = WriteOverflow(key);
      if (!ref.ok()) return ref.status();
      e.big = true;
      e.ref = *ref;
    }
    levels_[li].used += EntrySize(key) + 2;
    e.key = std::move(key);
    levels_[li].entries.push_back(std::move(e));
    return absl::OkStatus();
  }

  // Adds (key, child) to internal level `li` (0 is level 2). The first entry
  // of every internal page has an empty key: libdb never compares it.
  absl::Status AddToLevel(size_t li, std::string key, uint32_t child) {
    if (li == levels_.size()) levels_.emplace_back();
    if (levels_[li].entries.empty()) return Push(li, std::string(), child);
    if (levels_[li].used + EntrySize(key) + 2 <= capacity()) {
      return Push(li, std::move(key), child);
    }
    // The page is full: write it, start the next with this child as its
    // entry 0, and hand the key one level up.
    if (levels_[li].pgno == 0) levels_[li].pgno = alloc_();
    const uint32_t full = levels_[li].pgno;
    if (absl::Status s = WriteInternal(li); !s.ok()) return s;
    const uint32_t next = alloc_();
    levels_[li].pgno = next;
    levels_[li].used = 0;
    levels_[li].entries.clear();
    if (absl::Status s = Push(li, std::string(), child); !s.ok()) return s;
    if (li + 1 == levels_.size()) {
      if (absl::Status s = AddToLevel(li + 1, std::string(), full); !s.ok()) return s;
    }
    return AddToLevel(li + 1, std::move(key), next);
  }

  absl::Status WriteInternal(size_t li) {
    Level& level = levels_[li];
    std::vector<uint8_t> page(page_size_);
    uint8_t* p = page.data();
    Header(p, level.pgno, 0, 0, 0, 0, static_cast<uint8_t>(li + 2), b::kPageInternal);
    uint32_t off = page_size_;
    for (size_t i = 0; i < level.entries.size(); ++i) {
      const InternalEntry& e = level.entries[i];
      off -= e.size();
      enc_.U16(p + overhead_ + 2 * i, off);
      uint8_t* it = p + off;
      enc_.U32(it + b::kBtInternalPgno, e.child);
      enc_.U32(it + b::kBtInternalNrecs, 0);
      if (e.big) {
        enc_.U16(it + b::kBtItemLength, static_cast<uint32_t>(b::kOffPageSize));
        it[b::kBtItemType] = b::kItemOffPage;
        uint8_t* ref = it + b::kBtInternalData;
        ref[b::kBtItemType] = b::kItemOffPage;
        enc_.U32(ref + b::kOffPagePgno, e.ref.first);
        enc_.U32(ref + b::kOffPageLength, e.ref.length);
      } else {
        enc_.U16(it + b::kBtItemLength, static_cast<uint32_t>(e.key.size()));
        it[b::kBtItemType] = b::kItemKeyData;
        std::memcpy(it + b::kBtInternalData, e.key.data(), e.key.size());
      }
    }
    enc_.U16(p + b::kPageEntries, static_cast<uint32_t>(level.entries.size()));
    enc_.U16(p + b::kPageHfOffset, off);
    ++stats_.internal_pages;
    return Emit(level.pgno, p);
  }

  absl::StatusOr<BdbBtreeWriteStats> Finish() {
    // The page nothing refers to yet is the root: the only leaf (an empty
    // table has one, empty) or the top level's page.
    if (leaves_ <= 1) {
      leaves_ = 1;
      leaf_pgno_ = options_.root_pgno;
    }
    if (absl::Status s = WriteLeaf(0); !s.ok()) return s;
    for (size_t li = 0; li < levels_.size(); ++li) {
      if (levels_[li].pgno == 0) levels_[li].pgno = options_.root_pgno;
      if (absl::Status s = WriteInternal(li); !s.ok()) return s;
    }
    stats_.root = options_.root_pgno;
    stats_.levels = static_cast<uint32_t>(levels_.size()) + 1;
    if (absl::Status s = out_.Flush(); !s.ok()) return s;
    return stats_;
  }

  const BdbBtreeWriterOptions& options_;
  const b::Encoder enc_;
  const uint32_t page_size_;
  const uint32_t overhead_;
  const uint32_t threshold_;
  absl::FunctionRef<uint32_t()> alloc_;
  PageOut out_;
  BdbBtreeWriteStats stats_;

  uint32_t leaves_ = 0;
  uint32_t leaf_pgno_ = 0;
  uint32_t leaf_prev_ = 0;
  uint32_t leaf_used_ = 0;
  std::vector<LeafItem> leaf_items_;
  std::string last_key_;
  std::vector<Level> levels_;
};

}  // namespace

absl::StatusOr<BdbBtreeWriteStats> WriteBdbBtreeTree(std::span<const BdbRecord> records,
                                                     const BdbBtreeWriterOptions& options,
                                                     absl::FunctionRef<uint32_t()> alloc,
                                                     BdbFileSink& sink) {
  if (options.page_size < b::kMinPageSize || options.page_size > b::kMaxPageSize ||
      (options.page_size & (options.page_size - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid page size ", options.page_size));
  }
  TreeWriter writer(options, alloc, sink);
  return writer.Run(records);
}

void FillBdbBtreeMeta(const BdbBtreeWriterOptions& options, uint32_t root,
                      uint32_t last_pgno, uint32_t free_head, std::span<uint8_t> page) {
  const b::Encoder enc(options.big_endian);
  uint8_t* m = page.data();
  std::memset(m, 0, page.size());
  enc.U32(m + b::kMetaLsn, 0);
  enc.U32(m + b::kMetaLsn + 4, kLsnOffset);
  enc.U32(m + b::kMetaPgno, 0);
  enc.U32(m + b::kMetaMagic, b::kBtreeMagic);
  enc.U32(m + b::kMetaVersion, b::kBtreeVersion);
  enc.U32(m + b::kMetaPageSize, options.page_size);
  m[b::kMetaType] = b::kPageBtreeMeta;
  m[b::kMetaMetaFlags] = options.checksums ? b::kMetaFlagChecksum : 0;
  enc.U32(m + b::kMetaFree, free_head);
  enc.U32(m + b::kMetaLastPgno, last_pgno);
  std::memcpy(m + b::kMetaUid, options.uid.data(), options.uid.size());
  enc.U32(m + b::kBtMetaMinKey, 2);
  enc.U32(m + b::kBtMetaReLen, 0);
  enc.U32(m + b::kBtMetaRePad, ' ');
  enc.U32(m + b::kBtMetaRoot, root);
  if (options.checksums) {
    enc.U32(m + b::kMetaChecksum,
            b::PageChecksum(std::span<const uint8_t>(m, b::kMetaSize), true));
  }
}

absl::StatusOr<BdbBtreeWriteStats> WriteBdbBtree(std::span<const BdbRecord> records,
                                                 const BdbBtreeWriterOptions& options,
                                                 BdbFileSink& sink) {
  if (options.root_pgno != 1) return absl::InvalidArgumentError("the root of a file is page 1");
  uint32_t next = 2;
  absl::StatusOr<BdbBtreeWriteStats> stats =
      WriteBdbBtreeTree(records, options, [&] { return next++; }, sink);
  if (!stats.ok()) return stats.status();
  std::vector<uint8_t> meta(options.page_size);
  FillBdbBtreeMeta(options, stats->root, stats->last_pgno, 0, meta);
  if (absl::Status s = sink.Write(0, meta); !s.ok()) return s;
  return stats;
}

absl::StatusOr<std::string> WriteBdbBtreeToString(std::span<const BdbRecord> records,
                                                  const BdbBtreeWriterOptions& options,
                                                  BdbBtreeWriteStats* stats) {
  std::string out;
  BdbStringSink sink(&out);
  absl::StatusOr<BdbBtreeWriteStats> written = WriteBdbBtree(records, options, sink);
  if (!written.ok()) return written.status();
  if (stats != nullptr) *stats = *written;
  return out;
}

void SortBdbRecords(std::span<BdbRecord> records) {
  std::sort(records.begin(), records.end(),
            [](const BdbRecord& a, const BdbRecord& b) { return a.key < b.key; });
}

}  // namespace libmaps::internal
