// The Berkeley DB btree file format (btree version 9, as written by libdb 4.6
// to 5.3 and so by Postfix's `postmap btree:`), as far as a reader and writer
// of Postfix btree: tables need it. The prose description, with the section
// numbers (§n) used below, is docs/btree-format.md; the generic page header,
// the checksum and the byte-order helpers are shared with the hash format
// (format/bdb_hash_format.h, docs/hash-format.md). Everything here is written
// from those descriptions; no Berkeley DB code is used.
//
// Thread safety: everything here is pure and thread-safe.

#ifndef LIBMAPS_SRC_FORMAT_BDB_BTREE_FORMAT_H_
#define LIBMAPS_SRC_FORMAT_BDB_BTREE_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "format/bdb_hash_format.h"

namespace libmaps::internal::bdb {

// Btree format versions read: 8 (libdb 4.5) and 9 (4.6 - 5.3); the page
// layouts are the same. 10 is libdb 6.0.30 and later (blobs).
inline constexpr uint32_t kBtreeMinVersion = 8;
inline constexpr uint32_t kBtreeVersion = 9;

// Page 0 (§2): the generic meta header (kMeta* offsets of
// bdb_hash_format.h, up to kMetaUid), then:
inline constexpr size_t kBtMetaMinKey = 76;  // u32: minimum keys per page, >= 2
inline constexpr size_t kBtMetaReLen = 80;   // u32: recno only, 0
inline constexpr size_t kBtMetaRePad = 84;   // u32: recno only, ' ' (0x20)
inline constexpr size_t kBtMetaRoot = 88;    // u32: root page number
inline constexpr uint8_t kPageBtreeMeta = 9;

// Bits of the u32 at kMetaFlags of a btree file.
inline constexpr uint32_t kBtFlagDup = 0x001;
inline constexpr uint32_t kBtFlagRecno = 0x002;
inline constexpr uint32_t kBtFlagRecnum = 0x004;
inline constexpr uint32_t kBtFlagFixedLen = 0x008;
inline constexpr uint32_t kBtFlagRenumber = 0x010;
inline constexpr uint32_t kBtFlagSubdb = 0x020;
inline constexpr uint32_t kBtFlagDupSort = 0x040;
inline constexpr uint32_t kBtFlagCompress = 0x080;

// Page types of a btree file (§3); kPageInvalid (free) and kPageOverflow
// are shared with hash files.
inline constexpr uint8_t kPageInternal = 3;  // P_IBTREE, level >= 2
inline constexpr uint8_t kPageLeaf = 5;      // P_LBTREE, level 1
inline constexpr uint8_t kLeafLevel = 1;
inline constexpr uint8_t kMaxLevel = 255;

// Items (§4). Leaf items: u16 length, u8 type, then the bytes (kItemKeyData)
// or, for kItemOffPage, the same 12-byte reference as on hash pages (pgno at
// kOffPagePgno, length at kOffPageLength). The type's high bit marks an item
// deleted under a cursor; such pairs are not part of the table.
inline constexpr size_t kBtItemLength = 0;  // u16
inline constexpr size_t kBtItemType = 2;    // u8
inline constexpr size_t kBtItemData = 3;
inline constexpr uint8_t kBtItemDeleted = 0x80;
// Internal items: u16 length, u8 type, u8 unused, u32 child page, u32
// record count (only with kBtFlagRecnum), then the key bytes, or a 12-byte
// off-page reference when the type is kItemOffPage.
inline constexpr size_t kBtInternalPgno = 4;
inline constexpr size_t kBtInternalNrecs = 8;
inline constexpr size_t kBtInternalData = 12;

// Items are 4-byte aligned.
[[nodiscard]] constexpr uint32_t Align4(uint32_t n) { return (n + 3) & ~3u; }
[[nodiscard]] constexpr uint32_t LeafItemSize(uint32_t len) {
  return Align4(static_cast<uint32_t>(kBtItemData) + len);
}
[[nodiscard]] constexpr uint32_t InternalItemSize(uint32_t len) {
  return Align4(static_cast<uint32_t>(kBtInternalData) + len);
}

// Keys and data longer than this go to overflow pages (libdb's rule for
// minkey 2): (P - overhead) / 4 - 10.
[[nodiscard]] constexpr uint32_t BtreeOverflowThreshold(uint32_t page_size,
                                                        uint32_t overhead) {
  return (page_size - overhead) / 4 - 10;
}

}  // namespace libmaps::internal::bdb

#endif  // LIBMAPS_SRC_FORMAT_BDB_BTREE_FORMAT_H_
