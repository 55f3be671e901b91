// LmdbReader: reads the main database of an LMDB file (liblmdb 0.9 data
// format version 1, as Postfix's postmap and cmap write it) from a span of
// bytes, checking every page it follows, without liblmdb.
//
// liblmdb checks an environment's meta pages when it opens one and trusts
// the B-tree pages after that: a damaged page can make a cursor walk read or
// jump outside the map (cmap -s crashed on 47 of 300 files with a few bytes
// changed, real postmap -s on 14). This reader trusts nothing: every page
// number, offset, length and node is checked before it is used, a page
// reached twice in one walk (a loop or shared subtree) is damage, and the
// depth is bounded; problems are kDataLoss naming the page, never a crash,
// a hang or a read outside the span. Messages never contain key or value
// bytes.
//
// Layout facts used (from liblmdb's documented structures, 64-bit build,
// host byte order, which is little-endian for every file this reads):
//  * Page header, 16 bytes: page number (u64), pad (u16), flags (u16), then
//    lower and upper free-space bounds (u16 each) or, on an overflow page,
//    the number of pages it spans (u32). Flags: branch 0x01, leaf 0x02,
//    overflow 0x04, meta 0x08; 0x10 (dirty) never reaches the file.
//  * Pages 0 and 1 are meta pages; the meta starts after the header: magic
//    0xBEEFC0DE (u32), version 1 (u32), address (u64), map size (u64), the
//    free and main databases (48 bytes each: pad/page size u32, flags u16,
//    depth u16, branch, leaf, overflow pages, entries, root: u64 each), last
//    page (u64), transaction id (u64). The meta with the larger transaction
//    id is current. A root of ~0 is an empty tree.
//  * Branch and leaf pages hold (lower - 16) / 2 node offsets after the
//    header. A node: two u16 halves of the data size (leaf) or of the child
//    page number (branch; the flags field holds its bits 32-47), flags
//    (u16), key size (u16), then the key and, on a leaf, the data. A leaf
//    node with flag 0x01 keeps its data on overflow pages: the node's data
//    is the first page number (u64), the data starts after that page's
//    header. The first key of a branch page is empty (it stands for
//    everything below the second).
//  * Keys are ordered bytewise, a prefix before the longer key.
//
// Thread safety: immutable after Open(); the span must stay valid.

#ifndef LIBMAPS_SRC_FORMAT_LMDB_READER_H_
#define LIBMAPS_SRC_FORMAT_LMDB_READER_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace libmaps::internal {

class LmdbReader {
 public:
  // Checks the meta pages and the file size. kDataLoss for anything that is
  // not a readable LMDB file of this kind (wrong magic or version, bad page
  // size, a root or last page outside the file, a main database with
  // duplicates or other flags Postfix never sets).
  [[nodiscard]] static absl::StatusOr<LmdbReader> Open(std::span<const uint8_t> file);

  // The data stored under `key` (exact bytes), as a view of the span.
  [[nodiscard]] absl::StatusOr<std::optional<std::string_view>> Find(
      std::string_view key) const;

  // Calls `fn` for every record in key order until it returns false.
  [[nodiscard]] absl::Status ForEach(
      absl::FunctionRef<bool(std::string_view key, std::string_view value)> fn) const;

  [[nodiscard]] uint64_t entries() const { return entries_; }
  [[nodiscard]] uint32_t page_size() const { return psize_; }

 private:
  struct Node;
  explicit LmdbReader(std::span<const uint8_t> file) : file_(file) {}

  // A branch or leaf page, checked; `leaf` says which one is wanted.
  absl::StatusOr<const uint8_t*> LoadPage(uint64_t pgno, bool* leaf) const;
  absl::StatusOr<Node> LoadNode(const uint8_t* page, uint64_t pgno, uint32_t i,
                                bool leaf) const;
  absl::Status Walk(uint64_t pgno, uint32_t depth, std::vector<uint64_t>* seen,
                    absl::FunctionRef<bool(std::string_view, std::string_view)> fn,
                    bool* stop) const;

  std::span<const uint8_t> file_;
  uint32_t psize_ = 0;
  uint64_t last_pg_ = 0;   // last page number the file covers and meta names
  uint64_t root_ = 0;      // ~0: empty
  uint32_t depth_ = 0;
  uint64_t entries_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_LMDB_READER_H_
