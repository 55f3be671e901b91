// The Berkeley DB hash file format (hash versions 7 to 9, as written by
// libdb 3.1 to 5.3), as far as a reader of Postfix hash: tables needs it:
// layout constants with the byte offset of every field, the hash function,
// the page checksum function and byte-order helpers.
//
// The prose description is docs/hash-format.md; section numbers below (§n)
// refer to it. Everything here is written from that description; no Berkeley
// DB code is used.
//
// Conventions: offsets are from the start of a page (or of an item on a
// page). Multi-byte integers are stored in the file's byte order, chosen by
// whoever created the file (§2); key and data bytes are never swapped.
//
// Thread safety: everything here is pure and thread-safe.

#ifndef LIBMAPS_SRC_FORMAT_BDB_HASH_FORMAT_H_
#define LIBMAPS_SRC_FORMAT_BDB_HASH_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace libmaps::internal::bdb {

// ---------------------------------------------------------------------------
// File-level constants (§1, §3)

// Meta field `magic` of a hash file, read in the file's byte order.
inline constexpr uint32_t kHashMagic = 0x00061561;
// Magic numbers of the other Berkeley DB access methods, for clear refusals.
inline constexpr uint32_t kBtreeMagic = 0x00053162;
inline constexpr uint32_t kQueueMagic = 0x00042253;
inline constexpr uint32_t kHeapMagic = 0x00074582;
inline constexpr uint32_t kRenameMagic = 0x00030800;

// Hash format versions this reader accepts (§3): 7 (libdb 3.1-4.0),
// 8 (4.1-4.5), 9 (4.6-5.3). 10 is libdb 6.0.30 and later.
inline constexpr uint32_t kMinVersion = 7;
inline constexpr uint32_t kMaxVersion = 9;
inline constexpr uint32_t kBlobVersion = 10;

// Legal page sizes: powers of two in [512, 65536].
inline constexpr uint32_t kMinPageSize = 512;
inline constexpr uint32_t kMaxPageSize = 65536;

// Only the first 512 bytes of page 0 carry data.
inline constexpr size_t kMetaSize = 512;

// ---------------------------------------------------------------------------
// Page 0: the hash metadata page (§3). Each constant is the byte offset of
// the field; the comment gives its size and meaning.

inline constexpr size_t kMetaLsn = 0;           // 8: log sequence number
inline constexpr size_t kMetaPgno = 8;          // u32: 0
inline constexpr size_t kMetaMagic = 12;        // u32: kHashMagic
inline constexpr size_t kMetaVersion = 16;      // u32: hash format version
inline constexpr size_t kMetaPageSize = 20;     // u32: page size P
inline constexpr size_t kMetaEncryptAlg = 24;   // u8: 0, or 1 = AES
inline constexpr size_t kMetaType = 25;         // u8: kPageHashMeta
inline constexpr size_t kMetaMetaFlags = 26;    // u8: kMetaFlag* bits
inline constexpr size_t kMetaFree = 28;         // u32: head of the free list
inline constexpr size_t kMetaLastPgno = 32;     // u32: number of the last page
inline constexpr size_t kMetaNparts = 36;       // u32: partitions (0)
inline constexpr size_t kMetaKeyCount = 40;     // u32: cached count, advisory
inline constexpr size_t kMetaRecordCount = 44;  // u32: cached count, advisory
inline constexpr size_t kMetaFlags = 48;        // u32: kHashFlag* bits
inline constexpr size_t kMetaUid = 52;          // 20 bytes: file id
inline constexpr size_t kMetaMaxBucket = 72;    // u32: highest bucket in use
inline constexpr size_t kMetaHighMask = 76;     // u32: 2^ceil_log2(max_bucket+1)-1
inline constexpr size_t kMetaLowMask = 80;      // u32: high_mask >> 1
inline constexpr size_t kMetaFfactor = 84;      // u32: fill factor, advisory
inline constexpr size_t kMetaNelem = 88;        // u32: element count, advisory
inline constexpr size_t kMetaCharKey = 92;      // u32: hash of kCharKey
inline constexpr size_t kMetaSpares = 96;       // 32 x u32: bucket -> page
inline constexpr size_t kMetaSpareCount = 32;
inline constexpr size_t kMetaBlobThreshold = 224;  // u32: version 10 only
inline constexpr size_t kMetaCryptoMagic = 460;    // u32: magic if encrypted
inline constexpr size_t kMetaIv = 476;             // 16 bytes: AES IV
inline constexpr size_t kMetaChecksum = 492;       // u32 (20 bytes if encrypted)

// Bits of the u8 at kMetaMetaFlags.
inline constexpr uint8_t kMetaFlagChecksum = 0x01;
inline constexpr uint8_t kMetaFlagPartRange = 0x02;
inline constexpr uint8_t kMetaFlagPartCallback = 0x04;
inline constexpr uint8_t kMetaFlagsKnown = 0x07;

// Bits of the u32 at kMetaFlags.
inline constexpr uint32_t kHashFlagDup = 0x01;
inline constexpr uint32_t kHashFlagSubdb = 0x02;
inline constexpr uint32_t kHashFlagDupSort = 0x04;
inline constexpr uint32_t kHashFlagsKnown = 0x07;

// ---------------------------------------------------------------------------
// Generic page header of every page other than page 0 (§4).

inline constexpr size_t kPageLsn = 0;       // 8: log sequence number
inline constexpr size_t kPagePgno = 8;      // u32: own number; 0 = never written
inline constexpr size_t kPagePrev = 12;     // u32: previous page in a chain
inline constexpr size_t kPageNext = 16;     // u32: next page in a chain
inline constexpr size_t kPageEntries = 20;  // u16: items (overflow: refcount)
inline constexpr size_t kPageHfOffset = 22; // u16: lowest item offset
                                            // (overflow: bytes on the page)
inline constexpr size_t kPageLevel = 24;    // u8: 0
inline constexpr size_t kPageType = 25;     // u8: kPage* type
inline constexpr size_t kPageHeaderSize = 26;
// With checksums (kMetaFlagChecksum) bytes 26-27 are unused, 28-31 hold the
// page checksum, and the index array or overflow data starts at 32.
inline constexpr size_t kPageChecksum = 28;
inline constexpr size_t kPageOverheadPlain = 26;
inline constexpr size_t kPageOverheadChecksum = 32;

// Page types (the u8 at kPageType) a hash file may contain.
inline constexpr uint8_t kPageInvalid = 0;         // free or never written
inline constexpr uint8_t kPageHashUnsorted = 2;    // bucket page, libdb < 4.6
inline constexpr uint8_t kPageOverflow = 7;        // part of a big item
inline constexpr uint8_t kPageHashMeta = 8;        // page 0
inline constexpr uint8_t kPageHash = 13;           // bucket page, sorted

// ---------------------------------------------------------------------------
// Items on bucket pages (§5). The index array starts at the page overhead
// and holds one u16 page offset per item; item i spans [inp[i], end) where
// end is the page size for i = 0 and inp[i-1] otherwise. Items pair up: 2j is
// a key, 2j+1 its data. The first byte of an item is its type.

inline constexpr uint8_t kItemKeyData = 1;   // type byte, then the bytes
inline constexpr uint8_t kItemDuplicate = 2; // duplicates (not in Postfix files)
inline constexpr uint8_t kItemOffPage = 3;   // a big item on overflow pages
inline constexpr uint8_t kItemOffDup = 4;    // off-page duplicates
inline constexpr uint8_t kItemBlob = 5;      // external file (libdb 6 and later)

// Layout of a kItemOffPage item (3 bytes after the type byte are unused).
inline constexpr size_t kOffPagePgno = 4;    // u32: first overflow page
inline constexpr size_t kOffPageLength = 8;  // u32: total length of the item
inline constexpr size_t kOffPageSize = 12;

// ---------------------------------------------------------------------------
// Hash function (§6)

// The 12 bytes whose hash libdb stores at kMetaCharKey, and that hash under
// the default hash function. A file with another value was made with a
// custom hash function.
inline constexpr uint8_t kCharKey[12] = {'%', '$', 's', 'n', 'i', 'g',
                                         'l', 'e', 't', '^', '&', 0};
inline constexpr uint32_t kDefaultCharKeyHash = 0x5E688DD1;

// libdb's default hash of a key: FNV-1 (multiply by 16777619, then xor each
// byte) with an offset basis of 0. The empty key hashes to 0.
[[nodiscard]] uint32_t Hash(std::span<const uint8_t> key);

// The page checksum: h = 33 * h + byte over the bytes, starting from 0.
[[nodiscard]] uint32_t Checksum(std::span<const uint8_t> bytes);

// Checksum of page 0 (first kMetaSize bytes) or of any other page (all
// `page.size()` bytes), with the four checksum bytes taken as zero.
// REQUIRES: page.size() >= kMetaSize.
[[nodiscard]] uint32_t PageChecksum(std::span<const uint8_t> page,
                                    bool is_meta);

// The smallest i >= 0 with 2^i >= n (so 0 and 1 give 0). n <= 2^31.
[[nodiscard]] uint32_t CeilLog2(uint32_t n);

// ---------------------------------------------------------------------------
// Byte order (§2)

// Reads integers in a file's byte order from unaligned memory.
class ByteOrder {
 public:
  explicit constexpr ByteOrder(bool big_endian) : big_endian_(big_endian) {}

  [[nodiscard]] bool big_endian() const { return big_endian_; }

  [[nodiscard]] uint16_t U16(const uint8_t* p) const {
    return big_endian_ ? static_cast<uint16_t>(p[0] << 8 | p[1])
                       : static_cast<uint16_t>(p[1] << 8 | p[0]);
  }
  [[nodiscard]] uint32_t U32(const uint8_t* p) const {
    return big_endian_ ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 |
                          uint32_t{p[2]} << 8 | uint32_t{p[3]})
                       : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 |
                          uint32_t{p[1]} << 8 | uint32_t{p[0]});
  }

 private:
  bool big_endian_;
};

// Stores integers in a file's byte order (the counterpart of ByteOrder).
class Encoder {
 public:
  explicit constexpr Encoder(bool big_endian) : big_endian_(big_endian) {}
  void U16(uint8_t* p, uint32_t v) const {
    const uint16_t x = static_cast<uint16_t>(v);  // 65536 is stored as 0
    if (big_endian_) {
      p[0] = static_cast<uint8_t>(x >> 8);
      p[1] = static_cast<uint8_t>(x);
    } else {
      p[0] = static_cast<uint8_t>(x);
      p[1] = static_cast<uint8_t>(x >> 8);
    }
  }
  void U32(uint8_t* p, uint32_t v) const {
    for (int i = 0; i < 4; ++i) {
      p[big_endian_ ? 3 - i : i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }

 private:
  bool big_endian_;
};

// Little- and big-endian reads, independent of any file.
[[nodiscard]] inline uint32_t LoadLe32(const uint8_t* p) {
  return ByteOrder(false).U32(p);
}
[[nodiscard]] inline uint32_t LoadBe32(const uint8_t* p) {
  return ByteOrder(true).U32(p);
}

}  // namespace libmaps::internal::bdb

#endif  // LIBMAPS_SRC_FORMAT_BDB_HASH_FORMAT_H_
