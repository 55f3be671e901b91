// Writes Berkeley DB btree files (btree version 9, what libdb 5.3 and
// Postfix's `postmap btree:` write) without libdb, bottom-up from sorted
// records: leaves filled in key order and linked both ways, internal pages
// holding the shortest separator that tells two leaves apart (libdb's
// default prefix rule), keys and data longer than libdb's overflow threshold
// on overflow pages. The layout rules are in docs/btree-format.md.
//
// The same code writes a whole new file (WriteBdbBtree: the meta page, then
// the tree on pages 1, 2, ...) and a new tree inside an existing file
// (WriteBdbBtreeTree with page numbers chosen by the caller, the way
// BdbBtreeEditor replaces a tree without touching the pages of the old one).
//
// Thread safety: none needed; functions keep no state.

#ifndef LIBMAPS_SRC_FORMAT_BDB_BTREE_WRITER_H_
#define LIBMAPS_SRC_FORMAT_BDB_BTREE_WRITER_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/bdb_hash_writer.h"

namespace libmaps::internal {

struct BdbBtreeWriterOptions {
  uint32_t page_size = 4096;  // a power of two from 512 to 65536
  bool big_endian = false;
  bool checksums = false;  // page checksums (libdb's DB_CHKSUM)
  std::array<uint8_t, 20> uid = {};  // see MakeBdbFileUid()
  // The root's page number. libdb's verifier insists on page 1 for the one
  // tree of a file; the root is written last, so that writing it can be the
  // moment a new tree replaces an old one (BdbBtreeEditor).
  uint32_t root_pgno = 1;
};

struct BdbBtreeWriteStats {
  uint32_t root = 0;
  uint32_t levels = 0;  // 1: the root is a leaf
  uint32_t leaf_pages = 0;
  uint32_t internal_pages = 0;
  uint32_t overflow_pages = 0;
  uint32_t last_pgno = 0;  // the highest page number written
};

// Writes the pages of a tree holding `records`, which must be sorted by key
// in libdb's order (bytes as unsigned, a prefix first) with no key twice
// (kInvalidArgument otherwise). Each new page but the root takes its number
// from `alloc`; the root is options.root_pgno and is the last page written.
// The meta page is not written.
[[nodiscard]] absl::StatusOr<BdbBtreeWriteStats> WriteBdbBtreeTree(
    std::span<const BdbRecord> records, const BdbBtreeWriterOptions& options,
    absl::FunctionRef<uint32_t()> alloc, BdbFileSink& sink);

// Fills `page` (options.page_size bytes) with a btree meta page.
void FillBdbBtreeMeta(const BdbBtreeWriterOptions& options, uint32_t root,
                      uint32_t last_pgno, uint32_t free_head, std::span<uint8_t> page);

// Writes a whole file: the meta page, the tree on pages 2, 3, ... and its
// root on page 1 (options.root_pgno must be 1).
[[nodiscard]] absl::StatusOr<BdbBtreeWriteStats> WriteBdbBtree(
    std::span<const BdbRecord> records, const BdbBtreeWriterOptions& options,
    BdbFileSink& sink);
[[nodiscard]] absl::StatusOr<std::string> WriteBdbBtreeToString(
    std::span<const BdbRecord> records, const BdbBtreeWriterOptions& options,
    BdbBtreeWriteStats* stats = nullptr);

// Sorts records into libdb's btree order.
void SortBdbRecords(std::span<BdbRecord> records);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_BTREE_WRITER_H_
