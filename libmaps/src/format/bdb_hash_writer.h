// WriteBdbHash: writes a complete Berkeley DB hash file (hash version 9, as
// libdb 4.6 to 5.3 write it, so that Postfix's postmap, libdb and
// db5.3_verify accept it) for a set of key/data pairs known in advance,
// without libdb. It never updates a file: every call writes a whole new one.
//
// Layout (docs/hash-format.md §9, last paragraph): the shape libdb gives a
// table created with 2^k buckets, already filled. Page 0 is the meta page;
// pages 1 .. 2^k are the first pages of buckets 0 .. 2^k - 1; after them come,
// bucket by bucket, the bucket's chained pages and then the overflow pages of
// its big items. There are no free pages and no holes: every page is written,
// so the file is exactly (last page + 1) * page size bytes long.
//
//  * Bucket count: the smallest power of two, at least 2, at which at most a
//    quarter of the buckets get more pairs than their first page holds (the
//    pairs' on-page bytes, index slots included, counted per bucket). That
//    keeps files about as dense as libdb's (which split a bucket only when it
//    overflows) and lookups mostly to one page, whatever the power of two.
//  * Placement: bucket = hash AND (bucket count - 1), with libdb's default hash
//    function. max_bucket = high_mask, so there is no fold-back.
//  * Order: each bucket's pairs are sorted with libdb's comparison (§5.2:
//    bytewise; on a common prefix the longer key first, but the shorter first
//    when either key is big) and poured into the bucket's pages in that
//    order, so every page is sorted. A page that cannot take the next pair is
//    closed and a chained page opened.
//  * Big items: a key or value longer than page size / 4 goes to its own chain
//    of overflow pages (§7), with a 12-byte reference on the bucket page.
//  * Meta page: version 9, the chosen byte order, no checksums, fill factor 0,
//    nelem = nelem_base + number of pairs (what a Postfix-built file shows:
//    libdb counts every insert on top of Postfix's h_nelem hint of 4096),
//    LSN (0, 1) on every page, the caller's 20-byte file id.
//
// Keys that are a proper prefix of a big key are the one case where libdb's
// comparison is not a consistent order (docs/hash-format.md §5.3); no order
// of such keys on one page lets libdb find them all. The writer still writes
// a valid file (its sort never misbehaves on an inconsistent comparison), and
// libmaps' reader finds every key; libdb may not. Postfix keys end in a NUL
// and never meet this.
//
// Thread safety: the functions are pure apart from the sink they are given.

#ifndef LIBMAPS_SRC_FORMAT_BDB_HASH_WRITER_H_
#define LIBMAPS_SRC_FORMAT_BDB_HASH_WRITER_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace libmaps::internal {

// A key/data pair exactly as stored (Postfix's trailing NULs included).
struct BdbRecord {
  std::string_view key;
  std::string_view value;
};

struct BdbHashWriterOptions {
  // A power of two from 512 to 65536. See BdbPageSizeForBlockSize() for the
  // size libdb would choose.
  uint32_t page_size = 4096;
  // Byte order of the file's integers. libdb reads both on every host.
  bool big_endian = false;
  // The meta page's element count is this plus the number of pairs.
  // Postfix passes 4096 as libdb's h_nelem.
  uint32_t nelem_base = 4096;
  // The file id libdb uses to tell files apart in a shared cache (meta bytes
  // 52-71). Unique per file; see MakeBdbFileUid().
  std::array<uint8_t, 20> uid = {};
};

// What a write produced, for tests and verbose logs.
struct BdbHashWriteStats {
  uint32_t buckets = 0;         // bucket count (a power of two)
  uint32_t pages = 0;           // pages in the file, the meta page included
  uint32_t chained_pages = 0;   // bucket pages after a bucket's first
  uint32_t overflow_pages = 0;  // pages of big items
};

// Receives the file's bytes. The writer writes every byte of the file exactly
// once, in large pieces, mostly in ascending order; page 0 comes last.
class BdbFileSink {
 public:
  virtual ~BdbFileSink() = default;
  [[nodiscard]] virtual absl::Status Write(uint64_t offset,
                                           std::span<const uint8_t> bytes) = 0;
};

// Writes the hash file holding `records` to `sink`. The keys must be
// distinct. `hashes`, if not empty, holds bdb::Hash() of each record's key,
// computed by the caller already (it must be right). Errors:
//   kInvalidArgument     a bad page size, or two records with the same key
//   kResourceExhausted   the file would need more than 2^32 pages, or an
//                        item is 4 GiB or longer
//   anything the sink returns
// A sink that collects the file in a string (tests, fuzzers, *ToString).
class BdbStringSink final : public BdbFileSink {
 public:
  explicit BdbStringSink(std::string* out) : out_(out) {}
  [[nodiscard]] absl::Status Write(uint64_t offset, std::span<const uint8_t> bytes) override;

 private:
  std::string* out_;
};

[[nodiscard]] absl::StatusOr<BdbHashWriteStats> WriteBdbHash(
    std::span<const BdbRecord> records, const BdbHashWriterOptions& options,
    BdbFileSink& sink, std::span<const uint32_t> hashes = {});

// The same, into memory.
[[nodiscard]] absl::StatusOr<std::string> WriteBdbHashToString(
    std::span<const BdbRecord> records, const BdbHashWriterOptions& options,
    BdbHashWriteStats* stats = nullptr);

// The page size libdb picks when the application sets none (Postfix sets
// none): the file system's preferred I/O size (st_blksize) of the new file,
// limited to 512 .. 16384 and rounded down to a power of two.
[[nodiscard]] uint32_t BdbPageSizeForBlockSize(uint64_t block_size);

// A file id laid out as libdb makes them: inode and device (4 bytes each, in
// host order), 4 random bytes, the process id (4 bytes), 4 zero bytes.
[[nodiscard]] std::array<uint8_t, 20> MakeBdbFileUid(uint64_t inode,
                                                      uint64_t device);

// libdb's order of two keys on a sorted page (negative: `a` first), for keys
// stored off-page when longer than `big_threshold` (page size / 4).
[[nodiscard]] int CompareBdbKeys(std::string_view a, std::string_view b,
                                 size_t big_threshold);

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_FORMAT_BDB_HASH_WRITER_H_
