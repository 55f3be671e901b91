// RecordSet: the records of a table being built, in memory, for every
// builder (hash:, lmdb:, and the types to come): insertion order, unique
// stored keys, and the libdb hash of each key (which the hash: writer uses
// and costs the others one multiply per byte while the key is hot in cache).

#ifndef LIBMAPS_SRC_RECORD_SET_H_
#define LIBMAPS_SRC_RECORD_SET_H_

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "format/bdb_hash_format.h"
#include "format/bdb_hash_writer.h"
#include "mapped_file.h"

namespace libmaps::internal {

// The records of a table being built or changed (the hash: builder and
// updater, and the lmdb: builder): insertion order, unique stored keys.
// Built for a million records: their bytes go to one arena (no allocation
// per record), each record has 24 bytes of bookkeeping plus the libdb hash
// of its key (computed once, here, and handed to the writer), and the index
// of keys is an open-addressing table of 64-bit slots that holds a tag of the
// hash, so that a probe reads a record only when the tags agree.
class RecordSet {
 public:
  // Adds a record whose stored key and value are `key` and `value`, each
  // followed by a NUL when `nul`. Returns its number and true, or the number
  // of the record that already has this key and false.
  std::pair<uint32_t, bool> Insert(std::string_view key, std::string_view value,
                                   bool nul) {
    const uint32_t hash = KeyHash(key, nul);
    uint64_t* slot = FindSlot(key, nul, hash);
    if (*slot != 0) return {static_cast<uint32_t>((*slot & kIndexMask) - 1), false};
    if (meta_.size() >= kIndexMask) throw std::length_error("too many records");
    const uint32_t index = static_cast<uint32_t>(meta_.size());
    Meta m;
    m.key_at = Put(key, nul);
    m.key_len = static_cast<uint32_t>(key.size() + (nul ? 1 : 0));
    m.value_at = Put(value, nul);
    m.value_len = static_cast<uint32_t>(value.size() + (nul ? 1 : 0));
    meta_.push_back(m);
    hashes_.push_back(hash);
    *slot = (uint64_t{hash} << 32) | (uint64_t{index} + 1);
    ++live_;
    if (++used_ * 2 > slots_.size()) Rehash(slots_.size() * 2);
    return {index, true};
  }

  // Gives record `index` a new value.
  void ReplaceValue(uint32_t index, std::string_view value, bool nul) {
    meta_[index].value_at = Put(value, nul);
    meta_[index].value_len = static_cast<uint32_t>(value.size() + (nul ? 1 : 0));
  }

  // Removes the record with the stored key `key` (exact bytes).
  bool Erase(std::string_view key) {
    if (slots_.size() == 0) return false;
    const uint32_t hash = bdb::Hash(AsBytes(key));
    uint64_t* slot = FindSlot(key, false, hash);
    if (*slot == 0) return false;
    meta_[(*slot & kIndexMask) - 1].value_at = kDeleted;
    --live_;
    // Backward-shift deletion keeps every probe sequence unbroken.
    const uint64_t mask = slots_.size() - 1;
    uint64_t hole = static_cast<uint64_t>(slot - slots_.data());
    slots_[hole] = 0;
    --used_;
    for (uint64_t i = (hole + 1) & mask; slots_[i] != 0; i = (i + 1) & mask) {
      const uint64_t home = Home(static_cast<uint32_t>(slots_[i] >> 32)) & mask;
      // Move the entry into the hole unless its home lies in (hole, i].
      const bool stays = hole < i ? (home > hole && home <= i) : (home > hole || home <= i);
      if (stays) continue;
      slots_[hole] = slots_[i];
      slots_[i] = 0;
      hole = i;
    }
    return true;
  }

  // The live records in insertion order, and their keys' hashes.
  void Live(std::vector<BdbRecord>* records, std::vector<uint32_t>* hashes) const {
    records->clear();
    hashes->clear();
    records->reserve(live_);
    hashes->reserve(live_);
    for (size_t i = 0; i < meta_.size(); ++i) {
      const Meta& m = meta_[i];
      if (m.value_at == kDeleted) continue;
      records->push_back(BdbRecord{View(m.key_at, m.key_len), View(m.value_at, m.value_len)});
      hashes->push_back(hashes_[i]);
    }
  }

  // Records ever inserted (erased ones included), and record `i`'s stored
  // key and value; a view is valid until the next Insert or ReplaceValue.
  size_t count() const { return meta_.size(); }
  bool erased(size_t i) const { return meta_[i].value_at == kDeleted; }
  std::string_view key(size_t i) const { return View(meta_[i].key_at, meta_[i].key_len); }
  std::string_view value(size_t i) const {
    return View(meta_[i].value_at, meta_[i].value_len);
  }

  // Frees the index (after the last Insert or Erase).
  void DropIndex() {
    slots_.clear();
    used_ = 0;
  }

 private:
  struct Meta {
    uint64_t key_at;
    uint64_t value_at;  // kDeleted: erased
    uint32_t key_len;
    uint32_t value_len;
  };
  static constexpr uint64_t kDeleted = ~uint64_t{0};
  static constexpr uint64_t kIndexMask = (uint64_t{1} << 32) - 1;

  static std::span<const uint8_t> AsBytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  // libdb's hash of the stored key: `key`, and a NUL when `nul`.
  static uint32_t KeyHash(std::string_view key, bool nul) {
    uint32_t h = bdb::Hash(AsBytes(key));
    if (nul) h *= 16777619u;  // FNV-1 of one more byte, 0
    return h;
  }
  // Where a hash starts probing: a mix of the whole 32-bit hash (FNV-1's
  // low bits alone are weak for similar keys). A slot holds the hash itself
  // (high 32 bits) and the record's number + 1, so probing compares hashes
  // before it reads a record, and growing reads nothing but the slots.
  static uint64_t Home(uint32_t hash) { return (uint64_t{hash} * 0x9E3779B97F4A7C15ull) >> 20; }

  std::string_view View(uint64_t at, uint32_t len) const {
    return {reinterpret_cast<const char*>(arena_.data() + at), len};
  }
  uint64_t Put(std::string_view bytes, bool nul) {
    const uint64_t at = arena_.size();
    arena_.Append(bytes.data(), bytes.size());
    if (nul) arena_.Append("", 1);
    return at;
  }
  bool KeyIs(const Meta& m, std::string_view key, bool nul) const {
    if (m.key_len != key.size() + (nul ? 1 : 0)) return false;
    const char* p = reinterpret_cast<const char*>(arena_.data() + m.key_at);
    return std::memcmp(p, key.data(), key.size()) == 0 && (!nul || p[key.size()] == '\0');
  }

  uint64_t* FindSlot(std::string_view key, bool nul, uint32_t hash) {
    if (slots_.size() == 0) Rehash(1024);
    const uint64_t mask = slots_.size() - 1;
    for (uint64_t i = Home(hash) & mask;; i = (i + 1) & mask) {
      uint64_t& slot = slots_[i];
      if (slot == 0) return &slot;
      if ((slot >> 32) == hash && KeyIs(meta_[(slot & kIndexMask) - 1], key, nul)) {
        return &slot;
      }
    }
  }

  void Rehash(size_t size) {
    BigArray<uint64_t> old(false);
    old.swap(slots_);
    slots_.assign_zero(size);
    const uint64_t mask = size - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      uint64_t i = Home(static_cast<uint32_t>(slot >> 32)) & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  // Ordinary pages: with MADV_HUGEPAGE, faults sometimes stall in direct
  // compaction for a third of a second per million-record build here, more
  // than huge pages save.
  BigBuffer arena_{false};
  BigArray<Meta> meta_{false};
  BigArray<uint32_t> hashes_{false};
  BigArray<uint64_t> slots_{false};
  size_t used_ = 0;  // occupied slots
  size_t live_ = 0;
};

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_RECORD_SET_H_
