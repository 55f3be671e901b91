// BdbHashReader: reads a Berkeley DB hash file (hash versions 7 to 9, as
// written by libdb 3.1 to 5.3 and so by Postfix's postmap) from a span of
// bytes, without libdb. The format is described in docs/hash-format.md.
//
// The reader trusts nothing in the bytes. Every page number, offset, length
// and chain is checked before it is followed, chains that loop are detected,
// and a structural problem is reported as kDataLoss naming the page, e.g.
// "page 7: item 4 overlaps the index array". It never reads outside the span,
// never loops forever and never aborts, whatever the bytes; this makes it a
// fuzz target as it stands. The bytes are never modified.
//
// What it reads: page sizes 512 to 65536, both byte orders, sorted (libdb
// 4.6+) and unsorted (older) bucket pages, chained bucket pages, keys and
// values on overflow pages, never-written (all-zero) bucket pages, files with
// page checksums (verified on every page read). What it refuses, with
// kFailedPrecondition and a message saying why: encrypted files, databases
// that allow duplicate keys, sub-databases, partitioned databases, hash
// version 10 (libdb 6.0.30 and later) and versions before 7.
//
// A file whose stored hash-function check value is not libdb's default
// (a custom hash function) is still read: lookups then scan every bucket.
//
// Error messages contain page, item and bucket numbers, never key or value
// bytes from the file.
//
// Thread safety: a reader is immutable after Open(); const methods may be
// called concurrently. The span must stay valid and unchanged (see
// MappedFile for what happens when the file under a mapping shrinks) for the
// life of the reader.

#ifndef LIBMAPS_SRC_FORMAT_BDB_HASH_READER_H_
#define LIBMAPS_SRC_FORMAT_BDB_HASH_READER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/bdb_hash_format.h"

namespace libmaps::internal {

// The set of pages already visited by one walk over a file, so that a page
// reached twice (overlapping or looping chains) is detected in linear time.
class BdbPageSet {
 public:
  explicit BdbPageSet(uint32_t page_count) : bits_((page_count + 63) / 64) {}
  // Marks `pgno`; returns false if it was already marked.
  // REQUIRES: pgno < the page count given to the constructor.
  bool Insert(uint32_t pgno) {
    uint64_t bit = uint64_t{1} << (pgno % 64);
    uint64_t& word = bits_[pgno / 64];
    if (word & bit) return false;
    word |= bit;
    return true;
  }

 private:
  std::vector<uint64_t> bits_;
};

class BdbHashReader {
 public:
  // A key/data pair as stored (with Postfix's trailing NUL, if any). The
  // views are valid only during the callback that receives them.
  using PairFn = absl::FunctionRef<bool(std::string_view key,
                                        std::string_view value)>;

  // Checks the meta page (page 0) and the file size against it. Returns:
  //   kInvalidArgument     not a hash file at all: empty, shorter than a meta
  //                        page, or no hash magic number (the message says
  //                        what it is, e.g. a btree file)
  //   kFailedPrecondition  a hash file this reader refuses (see above)
  //   kDataLoss            a hash file whose meta page is inconsistent or
  //                        whose size is shorter than the meta page says
  [[nodiscard]] static absl::StatusOr<BdbHashReader> Open(
      std::span<const uint8_t> file);
  // The same, with the meta page's bytes (at least its first kMetaSize, or
  // the whole file if shorter) taken from `meta`, a copy read with pread:
  // `file` (a mapping) is then not touched until a lookup reads a page.
  [[nodiscard]] static absl::StatusOr<BdbHashReader> Open(
      std::span<const uint8_t> file, std::span<const uint8_t> meta);

  // Where a reader made WithPages() gets its pages instead of the file's
  // span: e.g. pages read with pread into buffers (a table opened for one
  // or a few lookups, where a page fault on the mapping costs more than a
  // read). Page() returns page `pgno`'s page_size() bytes, valid for as
  // long as the source lives; a page that cannot be read comes back as
  // zeros (a never-written page, which lookups pass over), and the source
  // itself remembers the failure for its owner to report, as MappedFile
  // does for a mapping that faulted. Used by one thread at a time.
  class PageSource {
   public:
    virtual ~PageSource() = default;
    virtual const uint8_t* Page(uint32_t pgno) const = 0;
  };
  // A copy of this reader that reads its pages from `*source` (which must
  // outlive the copy) instead of the file's span.
  [[nodiscard]] BdbHashReader WithPages(const PageSource* source) const {
    BdbHashReader copy = *this;
    copy.source_ = source;
    return copy;
  }

  // Returns the stored data for the stored key `key` (exact bytes; the
  // caller adds Postfix's NUL if it wants it), std::nullopt if the key is
  // not in the file, or kDataLoss if a page on the way is corrupt.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Find(
      std::span<const uint8_t> key) const;
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Find(
      std::string_view key) const {
    return Find(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  }

  // As Find(), without a copy: the stored data as a view of the file's bytes
  // (the span given to Open()), or, for a big value kept on overflow pages,
  // of `*scratch`, where its pieces are gathered. The view is valid as long
  // as both are. On a little-endian file without checksums, a bucket page
  // is checked the first time a lookup reaches it: when its keys are all on
  // the page and strictly increasing in libdb's order, later lookups
  // binary-search it; other pages, and every page of other files, are
  // scanned pair by pair, so every key is found (the first copy, if a
  // damaged page holds two) whatever wrote the file.
  // `key_hash`, if given, must be KeyHash(key) (batch lookups compute it
  // once for Prefetch and the lookup).
  [[nodiscard]] absl::StatusOr<std::optional<std::string_view>> FindView(
      std::string_view key, std::string* scratch,
      const uint32_t* key_hash = nullptr) const;

  // libdb's hash of a stored key (bdb::Hash).
  [[nodiscard]] static uint32_t KeyHash(std::string_view key) {
    return bdb::Hash(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  }

  // Hints for a lookup of the stored key whose KeyHash() is `key_hash`,
  // coming soon (batch
  // lookups run a few keys ahead): stage 1 starts fetching the key's bucket
  // page (its header and index array); stage 2, meant for a key whose
  // stage 1 ran a while ago, reads that index and starts fetching the
  // page's keys. Nothing is checked or reported; everything read stays
  // inside the file.
  void Prefetch(uint32_t key_hash, int stage) const;

  // Calls `fn` for every pair of bucket `bucket`, in file order (chain order,
  // then index order), until `fn` returns false, which sets `*stopped` (if
  // not null). Every page visited is added to `seen`, and meeting a page
  // that is already there is kDataLoss: one BdbPageSet(page_count()) shared
  // by a whole walk over the buckets keeps that walk linear in the file size.
  // REQUIRES: bucket < bucket_count().
  [[nodiscard]] absl::Status ForEachInBucket(uint32_t bucket, BdbPageSet& seen,
                                             PairFn fn,
                                             bool* stopped = nullptr) const;

  // Calls `fn` for every pair in the file, in Berkeley DB's sequential order
  // (buckets 0..max_bucket, chain order, index order: what db_dump and
  // postmap -s print), until `fn` returns false.
  [[nodiscard]] absl::Status ForEach(PairFn fn) const;

  // One step of the same walk, a bucket at a time (the interface
  // BdbBtreeReader::WalkStep has): `*cursor` is 0 at the start and is
  // moved on; `*done` is set after the last bucket.
  [[nodiscard]] absl::Status WalkStep(uint64_t* cursor, bool* done, BdbPageSet& seen,
                                      PairFn fn, bool* stopped = nullptr) const {
    absl::Status s = absl::OkStatus();
    if (*cursor < bucket_count()) {
      s = ForEachInBucket(static_cast<uint32_t>(*cursor), seen, fn, stopped);
      ++*cursor;
    }
    *done = *cursor >= bucket_count();
    return s;
  }

  // Facts from the meta page.
  [[nodiscard]] uint32_t page_size() const { return page_size_; }
  [[nodiscard]] uint32_t version() const { return version_; }
  [[nodiscard]] bool big_endian() const { return order_.big_endian(); }
  [[nodiscard]] bool has_checksums() const { return checksums_; }
  [[nodiscard]] bool custom_hash() const { return custom_hash_; }
  [[nodiscard]] uint32_t bucket_count() const { return max_bucket_ + 1; }
  // Pages 0 .. page_count() - 1 are covered by the meta page and the file.
  [[nodiscard]] uint32_t page_count() const { return last_pgno_ + 1; }
  // The bucket a stored key belongs to.
  [[nodiscard]] uint32_t BucketOf(std::span<const uint8_t> key) const;

 private:
  // A validated bucket page: its header fields and index array.
  struct HashPage;
  // One item of a bucket page.
  struct Item;

  BdbHashReader(std::span<const uint8_t> file, bdb::ByteOrder order)
      : file_(file), order_(order) {}

  absl::Status ParseMeta(const uint8_t* meta);
  // The page bytes of `pgno`. REQUIRES: pgno < page_count().
  const uint8_t* PageAt(uint32_t pgno) const {
    if (source_ != nullptr) [[unlikely]] return source_->Page(pgno);
    return file_.data() + size_t{pgno} * page_size_;
  }
  absl::StatusOr<uint32_t> BucketPage(uint32_t bucket) const;
  absl::Status VerifyChecksum(uint32_t pgno, const uint8_t* page) const;
  // Validates bucket page `pgno`, reached from page `expected_prev` (0 for
  // a bucket's first page); `page->empty` is set for a never-written page.
  absl::Status LoadHashPage(uint32_t pgno, uint32_t expected_prev,
                            HashPage* page) const;
  absl::Status LoadItem(const HashPage& page, uint32_t index, Item* item) const;
  // Walks the overflow chain of a big item, handing each piece to `fn`;
  // stops early (returning OK) when `fn` returns false.
  absl::Status WalkOverflow(const Item& item, BdbPageSet* seen,
                            absl::FunctionRef<bool(std::span<const uint8_t>)>
                                fn) const;
  absl::StatusOr<bool> KeyEquals(const Item& item,
                                 std::span<const uint8_t> key) const;
  absl::Status ItemBytes(const Item& item, BdbPageSet* seen,
                         std::string* scratch, std::string_view* out) const;
  absl::StatusOr<std::optional<std::string_view>> FindInBucket(
      uint32_t bucket, std::span<const uint8_t> key, std::string* scratch) const;
  // The common case of FindView, without building any Status: a
  // little-endian file without checksums whose pages on the way are sorted,
  // hold no big keys and pass the same checks as in FindInBucket. Returns
  // kHit (and sets *value to a view of the file), kMiss, or kSlow when
  // anything is unusual (damage included); then FindInBucket decides and
  // explains.
  enum class FastResult { kHit, kMiss, kSlow };
  FastResult FastFind(std::span<const uint8_t> key, uint32_t key_hash,
                      std::string_view* value) const;

  // What the fast path has learnt about each page, two bits a page
  // (kPageUnknown, kPageSorted, kPageUnsorted): whether its keys are
  // strictly increasing in libdb's order, checked once, on the page's first
  // lookup. libdb keeps sorted pages (type 13) sorted, but a file from
  // another writer may not, and then only a scan finds every key (and the
  // first of two copies). Shared by copies of the reader; thread-safe.
  static constexpr uint64_t kPageUnknown = 0, kPageSorted = 1, kPageUnsorted = 2;
  uint64_t PageState(uint32_t pgno) const {
    return (page_state_[pgno / 32].load(std::memory_order_relaxed) >> (2 * (pgno % 32))) & 3;
  }
  void SetPageState(uint32_t pgno, uint64_t state) const {
    page_state_[pgno / 32].fetch_or(state << (2 * (pgno % 32)), std::memory_order_relaxed);
  }
  std::shared_ptr<std::atomic<uint64_t>[]> page_state_;

  std::span<const uint8_t> file_;
  const PageSource* source_ = nullptr;  // see WithPages()
  bdb::ByteOrder order_;
  uint32_t version_ = 0;
  uint32_t page_size_ = 0;
  uint32_t overhead_ = bdb::kPageOverheadPlain;
  bool checksums_ = false;
  bool custom_hash_ = false;
  uint32_t last_pgno_ = 0;
  uint32_t max_bucket_ = 0;
  uint32_t high_mask_ = 0;
  uint32_t low_mask_ = 0;
  uint32_t spares_[bdb::kMetaSpareCount] = {};
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_HASH_READER_H_
