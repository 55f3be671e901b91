// BdbBtreeReader: reads a Berkeley DB btree file (btree versions 8 and 9, as
// written by libdb 4.5 to 5.3, so by Postfix's `postmap btree:`,
// `db5.3_load -t btree` and Perl's DB_File $DB_BTREE) from a span of bytes,
// without libdb. The format is described in docs/btree-format.md.
//
// Like BdbHashReader it trusts nothing in the bytes: every page number,
// offset, length, level and chain is checked before it is followed, a walk
// never visits a page twice, and a structural problem is kDataLoss naming
// the page ("page 7: item 4 runs past the end of the page"). It never reads
// outside the span, never loops and never aborts, whatever the bytes; it is
// a fuzz target as it stands.
//
// Read: page sizes 512 to 65536, both byte orders, any depth, keys and data
// on overflow pages (in leaves and as separators in internal pages), pages
// with checksums (verified on every page read), files with record numbers
// (DB_RECNUM). Refused with kFailedPrecondition and the reason: encrypted
// files, duplicate keys (DB_DUP), recno databases, sub-databases,
// compressed and partitioned databases, versions other than 8 and 9.
//
// Keys are in libdb's default order (bytes as unsigned, a prefix first);
// a lookup descends from the root with binary searches. Pairs whose items
// carry the deleted mark are skipped, as libdb skips them.
//
// Messages contain page and item numbers, never key or value bytes.
//
// Thread safety: immutable after Open(); const methods may run concurrently.
// The span must stay valid and unchanged while the reader is used.

#ifndef LIBMAPS_SRC_FORMAT_BDB_BTREE_READER_H_
#define LIBMAPS_SRC_FORMAT_BDB_BTREE_READER_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/bdb_btree_format.h"
#include "format/bdb_hash_reader.h"

namespace libmaps::internal {

class BdbBtreeReader {
 public:
  // As in BdbHashReader: views valid during the callback only.
  using PairFn = absl::FunctionRef<bool(std::string_view key,
                                        std::string_view value)>;

  // Checks the meta page and the root. Returns kInvalidArgument for a file
  // that is not a btree file at all (the message says what it is),
  // kFailedPrecondition for a btree file this reader refuses, kDataLoss for
  // an inconsistent meta page or a file shorter than it says.
  [[nodiscard]] static absl::StatusOr<BdbBtreeReader> Open(
      std::span<const uint8_t> file);

  // The stored data of the stored key `key` (exact bytes), as a view of the
  // file or, for data on overflow pages, of `*scratch`; nullopt if absent.
  [[nodiscard]] absl::StatusOr<std::optional<std::string_view>> FindView(
      std::string_view key, std::string* scratch) const;
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Find(
      std::string_view key) const;

  // One step of a walk over every pair in key order (what db_dump and
  // postmap -s print): `*cursor` is 0 at the start; each call visits the
  // pairs of one leaf page and moves the cursor on; `*done` is set after the
  // last leaf. Pages met are added to `seen` (BdbPageSet(page_count()), one
  // per walk), so a chain that loops is kDataLoss. `fn` returning false
  // sets `*stopped` and ends the step.
  [[nodiscard]] absl::Status WalkStep(uint64_t* cursor, bool* done, BdbPageSet& seen,
                                      PairFn fn, bool* stopped = nullptr) const;

  // Every pair in key order, until `fn` returns false.
  [[nodiscard]] absl::Status ForEach(PairFn fn) const;

  // Every page number the tree uses (internal, leaf and overflow pages), in
  // no particular order, each once; kDataLoss if the tree is damaged.
  [[nodiscard]] absl::Status ForEachTreePage(
      absl::FunctionRef<void(uint32_t pgno)> fn) const;

  [[nodiscard]] uint32_t page_size() const { return page_size_; }
  [[nodiscard]] uint32_t version() const { return version_; }
  [[nodiscard]] bool big_endian() const { return order_.big_endian(); }
  [[nodiscard]] bool has_checksums() const { return checksums_; }
  [[nodiscard]] uint32_t overhead() const { return overhead_; }
  [[nodiscard]] uint32_t page_count() const { return last_pgno_ + 1; }
  [[nodiscard]] uint32_t root() const { return root_; }
  [[nodiscard]] uint32_t free_list() const { return free_; }
  [[nodiscard]] uint32_t flags() const { return flags_; }
  // Levels of the tree: 1 when the root is a leaf.
  [[nodiscard]] uint32_t levels() const { return levels_; }

 private:
  struct Page;
  struct Item;

  BdbBtreeReader(std::span<const uint8_t> file, bdb::ByteOrder order)
      : file_(file), order_(order) {}

  absl::Status ParseMeta();
  const uint8_t* PageAt(uint32_t pgno) const {
    return file_.data() + size_t{pgno} * page_size_;
  }
  // Validates btree page `pgno`, which must be at `level` (0: any level).
  absl::Status LoadPage(uint32_t pgno, uint32_t level, Page* page) const;
  absl::Status LoadItem(const Page& page, uint32_t index, Item* item) const;
  // Calls `fn` with each piece of an overflow item; stops when it returns
  // false.
  absl::Status WalkOverflow(uint32_t first, uint32_t length, BdbPageSet* seen,
                            absl::FunctionRef<bool(std::span<const uint8_t>)> fn) const;
  absl::Status ItemBytes(const Item& item, std::string* scratch,
                         std::string_view* out) const;
  // libdb's order of `key` and the key of `item`: <0, 0, >0.
  absl::StatusOr<int> CompareKey(std::string_view key, const Item& item,
                                 std::string* scratch) const;
  absl::Status LeftmostLeaf(uint32_t* pgno) const;

  std::span<const uint8_t> file_;
  bdb::ByteOrder order_;
  uint32_t version_ = 0;
  uint32_t page_size_ = 0;
  uint32_t overhead_ = bdb::kPageOverheadPlain;
  bool checksums_ = false;
  uint32_t last_pgno_ = 0;
  uint32_t root_ = 0;
  uint32_t free_ = 0;
  uint32_t flags_ = 0;
  uint32_t levels_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_BTREE_READER_H_
