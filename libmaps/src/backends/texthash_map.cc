#include "backends/texthash_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/source_parser.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "mapped_file.h"
#include "string_view_compat.h"
#include "value_files.h"

namespace libmaps::internal {
namespace {

// A fast 64-bit hash of a folded key (eight bytes at a time, multiply and
// xor-shift mixing). Only this process ever sees it.
uint64_t HashKey(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x2545F4914F6CDD1Dull ^ (s.size() * kMul);
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

// The table: every record (u32 key length, u32 value length, the folded
// key, the value) in one arena, in source order; an open-addressing index
// of 64-bit slots (the key hash's top 16 bits, then the record's offset + 1;
// 0 = empty) at most half full; and the records' offsets in source order
// (ForEach). A lookup reads one slot and one record: two memory accesses,
// where a map of std::string pairs needs three or four.
class TexthashMap final : public Map {
 public:
  TexthashMap(std::string name, const OpenOptions& options)
      : Map("texthash", std::move(name)),
        options_(options),
        table_("texthash:" + this->name()) {}

  absl::Status Load(std::string_view text, const OpenOptions& options) {
    // Sized for the number of lines, an upper bound of the entries, so that
    // neither the index nor (without -F) the arena grows while loading.
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    Reserve(lines, text.size() + 8 * lines);
    // The parser runs up to kAhead entries ahead of the inserts, so that
    // the index slots of the coming keys are fetched while one key is
    // inserted (each is a random access into the index). Its messages wait
    // in `held` and go out just before the entry that followed them is
    // handled: the order of all messages is that of a parse one entry at a
    // time, and an error stops the load with exactly the messages that
    // preceded it.
    std::vector<std::pair<Severity, std::string>> held;  // kept to the end:
    size_t flushed = 0;                                   // marks index it
    auto flush_to = [&](size_t mark) {
      for (; flushed < mark; ++flushed) {
        if (options.diagnostics) options.diagnostics(held[flushed].first, held[flushed].second);
      }
    };
    SourceParser parser(text, name(),
                        {.utf8 = options.utf8,
                         .utf8_messages = options.utf8_messages,
                         .texthash_wording = true},
                        [&](Severity severity, std::string_view message) {
                          held.emplace_back(severity, std::string(message));
                        });
    struct Pending {
      SourceEntry entry;
      std::string key_copy, value_copy;  // for a continued (joined) line
      std::string folded;
      uint64_t hash = 0;
      size_t mark = 0;  // messages that came before it
    };
    constexpr size_t kAhead = 16;
    std::vector<Pending> ring(kAhead);
    size_t head = 0, count = 0;
    bool more = true;
    std::string encoded;
    auto in_text = [&](std::string_view v) {
      return v.data() >= text.data() && v.data() + v.size() <= text.data() + text.size();
    };
    for (;;) {
      while (more && count < kAhead) {
        Pending& p = ring[(head + count) % kAhead];
        if (!(more = parser.Next(&p.entry))) break;
        if (!in_text(p.entry.key) || !in_text(p.entry.value)) {
          // Views into the parser's buffer for joined lines, which the next
          // Next() reuses.
          p.key_copy.assign(p.entry.key);
          p.value_copy.assign(p.entry.value);
          p.entry.key = p.key_copy;
          p.entry.value = p.value_copy;
        }
        p.mark = held.size();
        std::string_view key = p.entry.key;
        if (options_.fold_case) {
          if (!options_.utf8 || IsAsciiText(key)) {
            FoldAscii(key, &p.folded);
          } else {
            std::optional<std::string> f = FoldKey(key, options_.utf8);
            // Unreachable (invalid UTF-8 lines were skipped); kept as is.
            p.folded = f ? *std::move(f) : std::string(key);
          }
        } else {
          p.folded.assign(key);
        }
        p.hash = HashKey(p.folded);
        __builtin_prefetch(&slots_[p.hash & mask_]);
        ++count;
      }
      if (count == 0) break;
      Pending& p = ring[head];
      head = (head + 1) % kAhead;
      --count;
      flush_to(p.mark);
      const SourceEntry& entry = p.entry;
      std::string_view value = entry.value;
      if (options.values_are_files) {
        absl::StatusOr<std::string> loaded = LoadValueFiles(entry.value);
        if (!loaded.ok()) {
          Warn(absl::StrCat(ToAbsl(name()), ", line ", entry.line, ": ",
                            loaded.status().message(), ": skipping this entry"));
          continue;
        }
        encoded = *std::move(loaded);
        value = encoded;
      }
      const std::string_view key = p.folded;
      const uint64_t hash = p.hash;
      uint64_t* slot = FindSlot(key, hash);
      if (*slot == 0) {
        *slot = (hash & kTagMask) | (Append(key, value, order_.size()) + 1);
        order_.push_back(*slot & kOffsetMask);
        if (++count_ * 2 > slots_.size()) Grow();
        continue;
      }
      std::string message =
          absl::StrCat(ToAbsl(name()), ", line ", entry.line,
                       ": duplicate entry: \"",
                       Printable(entry.key, options_.utf8_messages), "\"");
      switch (options.duplicates) {
        case DuplicatePolicy::kFail:
          return absl::FailedPreconditionError(message);
        case DuplicatePolicy::kWarn:
          Warn(message);
          break;
        case DuplicatePolicy::kIgnore:
          break;
        case DuplicatePolicy::kReplace: {
          // The entry keeps its place in the source order with the new
          // value: a new record replaces the old one in both.
          const uint32_t pos = Position((*slot & kOffsetMask) - 1);
          const uint64_t at = Append(key, value, pos);
          *slot = (hash & kTagMask) | (at + 1);
          order_[pos] = at + 1;
          break;
        }
      }
    }
    flush_to(held.size());
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key,
                                  std::string* value) const override {
    std::string_view found;
    if (!LookupView(key, &found)) return false;
    value->assign(found);
    return true;
  }

  // Each value reaches `fn` as a view of the table in memory, never copied
  // (it may be a password: libmaps/sasl_maps.h).
  void LookupEach(std::span<const std::string_view> keys,
                  const LookupEachFn& fn) const override {
    using Result = absl::StatusOr<std::optional<std::string_view>>;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string_view found;
      if (!fn(i, LookupView(keys[i], &found) ? Result(found) : Result(std::nullopt))) return;
    }
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    for (uint64_t at : order_) {
      const Record r = RecordAt(at - 1);
      if (!fn(r.key, r.value)) break;
    }
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kTagMask = uint64_t{0xFFFF} << 48;
  static constexpr uint64_t kOffsetMask = ~kTagMask;
  static constexpr size_t kHeader = 12;  // u32 key length, value length, position

  struct Record {
    std::string_view key;
    std::string_view value;
  };

  static constexpr size_t kShortKey = 128;

  // The lookup: folds `key` as the map was opened; on a hit `*value` views
  // the value in the arena.
  bool LookupView(std::string_view key, std::string_view* value) const {
    // The common case inline: a short ASCII key, folded to lower case in a
    // buffer on the stack eight bytes at a time.
    char buf[kShortKey];
    if (key.size() <= kShortKey && options_.fold_case && IsAsciiText(key)) {
      FoldAsciiInto(key, buf);
      const size_t n = key.size();
      return Find(std::string_view(buf, n), value);
    }
    ProbeKey probe;
    if (!probe.Prepare(key, options_.fold_case, options_.utf8,
                       options_.utf8_messages, options_.diagnostics, table_)) {
      return false;
    }
    return Find(probe.without_nul(), value);
  }

  bool Find(std::string_view folded, std::string_view* value) const {
    const uint64_t hash = HashKey(folded);
    const uint64_t tag = hash & kTagMask;
    for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
      const uint64_t slot = slots_[i];
      if (slot == 0) return false;
      if ((slot & kTagMask) != tag) continue;
      const char* p = arena_.data() + (slot & kOffsetMask) - 1;
      const uint32_t klen = U32(p), vlen = U32(p + 4);
      if (klen == folded.size() && std::memcmp(p + kHeader, folded.data(), klen) == 0) {
        *value = std::string_view(p + kHeader + klen, vlen);
        return true;
      }
    }
  }

  static uint32_t U32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }

  Record RecordAt(uint64_t at) const {
    const char* p = arena_.data() + at;
    const uint32_t klen = U32(p), vlen = U32(p + 4);
    return {std::string_view(p + kHeader, klen),
            std::string_view(p + kHeader + klen, vlen)};
  }
  uint32_t Position(uint64_t at) const { return U32(arena_.data() + at + 8); }

  // Appends a record; returns its offset.
  uint64_t Append(std::string_view key, std::string_view value, size_t pos) {
    const uint64_t at = arena_.size();
    const uint32_t head[3] = {static_cast<uint32_t>(key.size()),
                              static_cast<uint32_t>(value.size()),
                              static_cast<uint32_t>(pos)};
    arena_.append(reinterpret_cast<const char*>(head), kHeader);
    arena_.append(key.data(), key.size());
    arena_.append(value.data(), value.size());
    return at;
  }

  // The slot holding `key`, or the empty slot where it belongs.
  uint64_t* FindSlot(std::string_view key, uint64_t hash) {
    const uint64_t tag = hash & kTagMask;
    for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
      uint64_t& slot = slots_[i];
      if (slot == 0) return &slot;
      if ((slot & kTagMask) == tag && RecordAt((slot & kOffsetMask) - 1).key == key) {
        return &slot;
      }
    }
  }

  void Reserve(size_t entries, size_t arena_bytes) {
    size_t size = 16;
    while (size < 2 * entries) size *= 2;
    slots_.assign_zero(size);
    mask_ = size - 1;
    arena_.reserve(arena_bytes);
    order_.reserve(entries);
  }

  void Grow() {
    std::vector<uint64_t> old(slots_.begin(), slots_.end());
    slots_.assign_zero(old.size() * 2);
    mask_ = slots_.size() - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      const uint64_t hash = HashKey(RecordAt((slot & kOffsetMask) - 1).key);
      uint64_t i = hash & mask_;
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  void Warn(std::string_view message) const {
    if (options_.diagnostics) options_.diagnostics(Severity::kWarning, message);
  }

  OpenOptions options_;
  const std::string table_;  // "texthash:NAME", for messages
  // The index in huge pages where the system allows (see BigBuffer): its
  // probe, the first of a lookup's two random accesses, then stays in TLB
  // reach. The arena does not ask for them: 100 MB of huge pages made loads
  // stall in direct compaction (0.3 s of 0.6 here) whenever another
  // process had just freed memory.
  BigArray<char> arena_{false};
  BigArray<uint64_t> slots_{true};
  uint64_t mask_ = 0;
  size_t count_ = 0;
  BigArray<uint64_t> order_{false};  // offset + 1 of each entry's record
};

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> TexthashMapFromText(
    std::string_view text, std::string_view name, const OpenOptions& options) {
  auto map = std::make_unique<TexthashMap>(std::string(name), options);
  if (absl::Status s = map->Load(text, options); !s.ok()) return s;
  return map;
}

absl::StatusOr<std::unique_ptr<Map>> OpenTexthashMap(std::string_view name,
                                                     const OpenOptions& options) {
  const std::string path(name);
  // A regular file is parsed straight from a mapping of it (no copy); the
  // mapping survives a truncation by another process (see MappedFile), and
  // a load that met one is reported, not trusted. Anything else (a
  // directory, a pipe) goes through read(2), for its errors.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (fd.valid() && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
      st.st_size > 0) {
    absl::StatusOr<std::unique_ptr<MappedFile>> mapped =
        MappedFile::Map(fd.get(), static_cast<uint64_t>(st.st_size), path);
    if (mapped.ok()) {
      fd = UniqueFd();
      const std::span<const uint8_t> bytes = (*mapped)->bytes();
      absl::StatusOr<std::unique_ptr<Map>> map = TexthashMapFromText(
          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
          name, options);
      if ((*mapped)->faults() != 0) {
        return absl::UnavailableError(
            absl::StrCat("read ", path, ": the file shrank while it was read"));
      }
      return map;
    }
  }
  absl::StatusOr<std::string> text = ReadWholeFile(path, "open database");
  if (!text.ok()) return text.status();
  return TexthashMapFromText(*text, name, options);
}

}  // namespace libmaps::internal
