#include "backends/cdb_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "libmaps/text.h"
#include "lookup_key.h"
#include "mapped_file.h"
#include "format/bdb_hash_writer.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

constexpr uint64_t kHeaderSize = 2048;
constexpr uint64_t kMaxFile = 0xFFFFFFFFull;
// Postfix does not report a source edited in the last 100 seconds.
constexpr time_t kSourceSettleSeconds = 100;

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// One open cdb file, read through a mapping; every offset is checked.
class CdbFile {
 public:
  static absl::StatusOr<std::shared_ptr<CdbFile>> Open(const std::string& path) {
    auto file = std::make_shared<CdbFile>();
    file->path_ = path;
    file->fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file->fd_.valid() || ::fstat(file->fd_.get(), &file->st_) != 0) {
      const int err = errno;
      std::string message = absl::StrCat("open database ", path, ": ", std::strerror(err));
      if (err == ENOENT) return absl::NotFoundError(message);
      if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
      return absl::UnavailableError(message);
    }
    if (!S_ISREG(file->st_.st_mode) || static_cast<uint64_t>(file->st_.st_size) < kHeaderSize) {
      return absl::DataLossError(absl::StrCat("dict_cdbq_open: unable to init ", path, ": ",
                                              std::strerror(EPROTO)));
    }
    absl::StatusOr<std::unique_ptr<MappedFile>> mapping = MappedFile::Map(
        file->fd_.get(), static_cast<uint64_t>(file->st_.st_size), path);
    if (!mapping.ok()) return mapping.status();
    file->map_ = *std::move(mapping);
    return file;
  }

  const struct stat& stat_at_open() const { return st_; }
  int fd() const { return fd_.get(); }
  // Whether a read of the mapping failed (the file shrank under it).
  bool faulted() const { return map_->faults() != 0; }
  absl::Status ShrankError() const { return Shrank(); }

  // The value stored under `key` (exact bytes), whose CdbHash is `h`.
  absl::StatusOr<std::optional<std::string_view>> Find(std::string_view key, uint32_t h) const {
    const std::span<const uint8_t> b = map_->bytes();
    const uint64_t size = b.size();
    const uint8_t* entry = b.data() + (h & 255) * 8;
    const uint64_t pos = Le32(entry), slots = Le32(entry + 4);
    if (slots == 0) return Checked(std::nullopt);
    if (pos > size || slots * 8 > size - pos) return Corrupt();
    const uint64_t start = (h >> 8) % slots;
    for (uint64_t i = 0; i < slots; ++i) {
      const uint8_t* slot = b.data() + pos + ((start + i) % slots) * 8;
      const uint64_t rpos = Le32(slot + 4);
      if (rpos == 0) return Checked(std::nullopt);
      if (Le32(slot) != h) continue;
      if (rpos + 8 > size) return Corrupt();
      const uint64_t klen = Le32(b.data() + rpos), dlen = Le32(b.data() + rpos + 4);
      if (klen + dlen > size - rpos - 8) return Corrupt();
      if (klen != key.size() ||
          (klen > 0 && std::memcmp(b.data() + rpos + 8, key.data(), klen) != 0)) {
        continue;
      }
      return Checked(std::string_view(reinterpret_cast<const char*>(b.data() + rpos + 8 + klen),
                                      dlen));
    }
    return Checked(std::nullopt);
  }

  // Every record, in file order.
  absl::Status ForEach(
      const std::function<bool(std::string_view, std::string_view)>& fn) const {
    const std::span<const uint8_t> b = map_->bytes();
    const uint64_t eod = Le32(b.data());
    if (eod < kHeaderSize || eod > b.size()) return Corrupt().status();
    for (uint64_t pos = kHeaderSize; pos < eod;) {
      if (pos + 8 > eod) return Corrupt().status();
      const uint64_t klen = Le32(b.data() + pos), dlen = Le32(b.data() + pos + 4);
      if (klen + dlen > eod - pos - 8) return Corrupt().status();
      const char* k = reinterpret_cast<const char*>(b.data() + pos + 8);
      if (!fn(std::string_view(k, klen), std::string_view(k + klen, dlen))) break;
      pos += 8 + klen + dlen;
    }
    if (map_->faults() != 0) return Shrank();
    return absl::OkStatus();
  }

 private:
  using Result = absl::StatusOr<std::optional<std::string_view>>;
  Result Checked(std::optional<std::string_view> v) const {
    if (map_->faults() != 0) return Shrank();
    return v;
  }
  Result Corrupt() const {
    return absl::DataLossError(absl::StrCat("error reading ", path_, ": ",
                                            std::strerror(EPROTO)));
  }
  absl::Status Shrank() const {
    return absl::UnavailableError(
        absl::StrCat("read database ", path_, ": the file shrank while it was read"));
  }

  std::string path_;
  UniqueFd fd_;
  struct stat st_ = {};
  std::unique_ptr<MappedFile> map_;
};

class CdbMap final : public Map {
 public:
  CdbMap(std::string name, const OpenOptions& options, std::shared_ptr<CdbFile> file)
      : Map("cdb", std::move(name)),
        options_(options),
        path_(this->name() + ".cdb"),
        table_("cdb:" + path_),
        snapshot_policy_(options.lock == LockPolicy::kSnapshot),
        probe_(options.nul),
        file_(std::move(file)) {}

  void WarnIfOlderThanSource() const {
    struct stat source;
    if (::stat(name().c_str(), &source) != 0) return;
    const struct stat& db = file_->stat_at_open();
    if (source.st_mtime > db.st_mtime &&
        source.st_mtime + kSourceSettleSeconds < ::time(nullptr) && options_.diagnostics) {
      options_.diagnostics(Severity::kWarning, absl::StrCat("database ", path_,
                                                            " is older than source file ",
                                                            name()));
    }
  }

  absl::StatusOr<std::optional<std::string>> Lookup(std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key, std::string* value) const override {
    ProbeKey probe;
    if (!probe.Prepare(key, options_.fold_case, options_.utf8, options_.utf8_messages,
                       options_.diagnostics, table_)) {
      return false;
    }
    absl::StatusOr<std::shared_ptr<CdbFile>> file = Current();
    if (!file.ok()) return file.status();
    std::string_view found_value;
    absl::StatusOr<bool> found = Find(**file, probe, &found_value);
    if (found.ok() && *found) {
      value->assign(found_value);
      // The copy read the mapping too: had the file shrunk, it read zeros.
      if ((*file)->faulted()) return (*file)->ShrankError();
    }
    return found;
  }

  // One check of the file for all the keys; each value reaches `fn` as a
  // view of the mapped file, never copied into a string (it may be a
  // password: libmaps/sasl_maps.h).
  void LookupEach(std::span<const std::string_view> keys,
                  const LookupEachFn& fn) const override {
    using Result = absl::StatusOr<std::optional<std::string_view>>;
    std::shared_ptr<CdbFile> file;
    ProbeKey probe;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!probe.Prepare(keys[i], options_.fold_case, options_.utf8, options_.utf8_messages,
                         options_.diagnostics, table_)) {
        if (!fn(i, Result(std::nullopt))) return;
        continue;
      }
      if (file == nullptr) {
        absl::StatusOr<std::shared_ptr<CdbFile>> current = Current();
        if (!current.ok()) {
          if (!fn(i, Result(current.status()))) return;
          continue;
        }
        file = *std::move(current);
      }
      std::string_view value;
      absl::StatusOr<bool> found = Find(*file, probe, &value);
      const bool go_on = fn(i, !found.ok() ? Result(found.status())
                               : *found    ? Result(value)
                                           : Result(std::nullopt));
      if (found.ok() && *found && file->faulted()) {
        // The file shrank while `fn` read the value (see Map::LookupEach).
        if (!fn(i, Result(file->ShrankError()))) return;
        file.reset();
        continue;
      }
      if (!go_on) return;
    }
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>& fn)
      const override {
    absl::StatusOr<std::shared_ptr<CdbFile>> file = Current();
    if (!file.ok()) return file.status();
    return (*file)->ForEach(
        [&](std::string_view k, std::string_view v) { return fn(AsCString(k), AsCString(v)); });
  }

 private:
  // Postfix's order: key+NUL first, then the bare key. On a hit `*value` is
  // a view of the mapped file, up to the value's first NUL.
  absl::StatusOr<bool> Find(const CdbFile& file, const ProbeKey& probe,
                            std::string_view* value) const {
    for (bool with_nul : {true, false}) {
      if (with_nul ? !probe_.try_with() : !probe_.try_without()) continue;
      const std::string_view k = with_nul ? probe.with_nul() : probe.without_nul();
      absl::StatusOr<std::optional<std::string_view>> found = file.Find(k, CdbHash(k));
      if (!found.ok()) return found.status();
      if (!found->has_value()) continue;
      if (probe_.try_with() && probe_.try_without()) probe_.Hit(with_nul);
      *value = AsCString(**found);
      return true;
    }
    return false;
  }

  // The table as it is now: a cdb table is only ever replaced whole, so a
  // changed file behind the name (one stat()) means: read the new one.
  absl::StatusOr<std::shared_ptr<CdbFile>> Current() const {
    std::lock_guard<std::mutex> guard(mu_);
    if (snapshot_policy_ && !timer_.Due()) return file_;
    struct stat now;
    if (::stat(path_.c_str(), &now) == 0 && !SameFile(now, file_->stat_at_open())) {
      absl::StatusOr<std::shared_ptr<CdbFile>> fresh = CdbFile::Open(path_);
      if (!fresh.ok()) return fresh.status();
      file_ = *std::move(fresh);
    }
    if (snapshot_policy_) timer_.Checked();
    return file_;
  }

  const OpenOptions options_;
  const std::string path_;   // NAME.cdb
  const std::string table_;  // cdb:NAME.cdb, for messages
  const bool snapshot_policy_;
  mutable NulProbe probe_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<CdbFile> file_;  // guarded by mu_
  mutable RecheckTimer timer_;
};

// Whether `target` may be replaced by a build: it does not exist, is empty,
// or looks like a cdb file (cdb has no magic number: the header's table
// positions lie in the file, after the header, and the tables fit in it).
absl::Status CheckReplaceable(const std::string& target, const std::string& display,
                              const BuildOptions& options) {
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) return absl::OkStatus();
  if (S_ISREG(st.st_mode) && st.st_size == 0) return absl::OkStatus();
  bool is_cdb = false;
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) >= kHeaderSize) {
    UniqueFd fd(::open(target.c_str(), O_RDONLY | O_CLOEXEC));
    uint8_t header[kHeaderSize];
    if (fd.valid() && ::pread(fd.get(), header, sizeof header, 0) == sizeof header) {
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      is_cdb = true;
      for (size_t i = 0; i < 256 && is_cdb; ++i) {
        const uint64_t pos = Le32(header + 8 * i), slots = Le32(header + 8 * i + 4);
        is_cdb = pos >= kHeaderSize && pos <= size && slots * 8 <= size - pos;
      }
    }
  }
  if (is_cdb) return absl::OkStatus();
  if (options.diagnostics) {
    options.diagnostics(Severity::kError,
                        absl::StrCat(display, ": not a cdb file; cmap does not replace it"));
  }
  return absl::DataLossError(absl::StrCat("open database ", display, ": ", std::strerror(EINVAL)));
}

// Buffered pwrite()s of the new file.
class Output {
 public:
  Output(int fd, const std::string& display) : fd_(fd), display_(display) {}
  absl::Status Append(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    buf_.insert(buf_.end(), p, p + n);
    return buf_.size() >= (size_t{1} << 20) ? Flush() : absl::OkStatus();
  }
  absl::Status WriteAt(uint64_t offset, const void* data, size_t n) {
    return PwriteAll(fd_, offset, std::span<const uint8_t>(static_cast<const uint8_t*>(data), n),
                     display_);
  }
  absl::Status Flush() {
    absl::Status s = WriteAt(at_, buf_.data(), buf_.size());
    at_ += buf_.size();
    buf_.clear();
    return s;
  }

 private:
  int fd_;
  const std::string& display_;
  uint64_t at_ = kHeaderSize;
  std::vector<uint8_t> buf_;
};

class CdbBuilder final : public MapBuilder {
 public:
  CdbBuilder(std::string name, const BuildOptions& options)
      : MapBuilder("cdb", std::move(name)),
        options_(options),
        display_(this->name() + ".cdb"),
        table_("cdb:" + display_) {}

  absl::Status Add(std::string_view key, std::string_view value) override {
    return AddWith(key, value, RecordOptionsOf(options_));
  }
  absl::Status AddWith(std::string_view key, std::string_view value,
                       const RecordOptions& record) override {
    std::optional<std::string> folded =
        PrepareKey(key, record.fold_case, options_.utf8, options_.utf8_messages,
                   options_.diagnostics, table_);
    if (!folded) return absl::OkStatus();
    // Postfix's cdb tables hold no trailing NUL unless postmap -N asks.
    const bool nul = record.nul == NulPolicy::kWith;
    std::string stored_key = *std::move(folded);
    std::string stored_value(value);
    if (nul) {
      stored_key.push_back('\0');
      stored_value.push_back('\0');
    }
    auto it = first_.find(stored_key);
    if (it == first_.end()) {
      first_.emplace(stored_key, records_.size());
      records_.push_back({std::move(stored_key), std::move(stored_value), true});
      return absl::OkStatus();
    }
    const std::string shown(nul ? std::string_view(stored_key).substr(0, stored_key.size() - 1)
                                : std::string_view(stored_key));
    switch (record.duplicates) {
      case DuplicatePolicy::kReplace:
        // As tinycdb's replace: the old record goes, the new one is added
        // at the end.
        records_[it->second].live = false;
        it->second = records_.size();
        records_.push_back({std::move(stored_key), std::move(stored_value), true});
        break;
      case DuplicatePolicy::kIgnore:
        // postmap -w stores the duplicate too (tinycdb's add, no check);
        // lookups find the first.
        records_.push_back({std::move(stored_key), std::move(stored_value), true});
        break;
      case DuplicatePolicy::kWarn:
        if (options_.diagnostics) {
          options_.diagnostics(Severity::kWarning,
                               absl::StrCat(name(), ": duplicate entry: \"",
                                            Printable(shown, options_.utf8_messages), "\""));
        }
        break;
      case DuplicatePolicy::kFail:
        return absl::InvalidArgumentError(absl::StrCat(
            name(), ": duplicate entry: \"", Printable(shown, options_.utf8_messages), "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    const std::string target = ResolveTarget(display_);
    if (absl::Status s = CheckReplaceable(target, display_, options_); !s.ok()) return s;
    std::vector<BdbRecord> live;
    live.reserve(records_.size());
    for (const Record& r : records_) {
      if (r.live) live.push_back(BdbRecord{r.key, r.value});
    }
    first_.clear();
    // Sizes first: the 4 GiB limit is a clear error before any write.
    uint64_t size = kHeaderSize;
    for (const BdbRecord& r : live) size += 8 + r.key.size() + r.value.size();
    const uint64_t records_end = size;
    size += uint64_t{live.size()} * 2 * 8;
    if (size > kMaxFile) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "write database ", display_, ": the table would take ", size,
          " bytes; the cdb format ends at 4 GiB (4294967295 bytes)"));
    }
    // Postfix's cdb readers take no lock: nothing to wait for before the
    // rename.
    return CommitNewFile(
        target, display_, options_.new_file_mode,
        [&](std::string_view w) {
          if (options_.diagnostics) options_.diagnostics(Severity::kWarning, w);
        },
        [&](int fd, const std::string&) { return Write(fd, live, records_end); },
        [] { return absl::OkStatus(); });
  }

 private:
  absl::Status Write(int fd, const std::vector<BdbRecord>& live, uint64_t records_end) {
    Output out(fd, display_);
    std::vector<uint32_t> hashes(live.size());
    std::vector<uint32_t> per_table(256, 0);
    uint64_t pos = kHeaderSize;
    std::vector<uint32_t> positions(live.size());
    for (size_t i = 0; i < live.size(); ++i) {
      const BdbRecord& r = live[i];
      hashes[i] = CdbHash(r.key);
      ++per_table[hashes[i] & 255];
      positions[i] = static_cast<uint32_t>(pos);
      uint8_t lens[8];
      Put32(lens, static_cast<uint32_t>(r.key.size()));
      Put32(lens + 4, static_cast<uint32_t>(r.value.size()));
      if (absl::Status s = out.Append(lens, 8); !s.ok()) return s;
      if (absl::Status s = out.Append(r.key.data(), r.key.size()); !s.ok()) return s;
      if (absl::Status s = out.Append(r.value.data(), r.value.size()); !s.ok()) return s;
      pos += 8 + r.key.size() + r.value.size();
    }
    // Each table, twice as many slots as records, filled in record order.
    std::vector<std::vector<size_t>> members(256);
    for (size_t t = 0; t < 256; ++t) members[t].reserve(per_table[t]);
    for (size_t i = 0; i < live.size(); ++i) members[hashes[i] & 255].push_back(i);
    uint8_t header[kHeaderSize] = {};
    pos = records_end;
    std::vector<uint8_t> table;
    for (size_t t = 0; t < 256; ++t) {
      const uint64_t slots = uint64_t{per_table[t]} * 2;
      Put32(header + 8 * t, static_cast<uint32_t>(pos));
      Put32(header + 8 * t + 4, static_cast<uint32_t>(slots));
      if (slots == 0) continue;
      table.assign(slots * 8, 0);
      for (size_t i : members[t]) {
        uint64_t j = (hashes[i] >> 8) % slots;
        while (Le32(table.data() + j * 8 + 4) != 0) j = (j + 1) % slots;
        Put32(table.data() + j * 8, hashes[i]);
        Put32(table.data() + j * 8 + 4, positions[i]);
      }
      if (absl::Status s = out.Append(table.data(), table.size()); !s.ok()) return s;
      pos += slots * 8;
    }
    if (absl::Status s = out.Flush(); !s.ok()) return s;
    return out.WriteAt(0, header, sizeof header);
  }

  // Records in file order. Unlike the other builders' RecordSet, a cdb
  // table may hold a key twice (postmap -w), and a replaced record moves to
  // the end (postmap -r), so that cmap's file is byte for byte postmap's.
  struct Record {
    std::string key;
    std::string value;
    bool live;
  };

  BuildOptions options_;
  std::string display_;  // NAME.cdb
  std::string table_;    // cdb:NAME.cdb
  std::vector<Record> records_;
  absl::flat_hash_map<std::string, size_t> first_;  // key -> its live record
};

}  // namespace

uint32_t CdbHash(std::string_view bytes) {
  uint32_t h = 5381;
  for (unsigned char c : bytes) h = (h + (h << 5)) ^ c;
  return h;
}

absl::StatusOr<std::unique_ptr<Map>> OpenCdbMap(std::string_view name,
                                                const OpenOptions& options) {
  const std::string path = std::string(name) + ".cdb";
  absl::StatusOr<std::shared_ptr<CdbFile>> file = CdbFile::Open(path);
  if (!file.ok()) return file.status();
  auto map = std::make_unique<CdbMap>(std::string(name), options, *std::move(file));
  map->WarnIfOlderThanSource();
  return map;
}

absl::StatusOr<std::unique_ptr<MapBuilder>> NewCdbBuilder(std::string_view name,
                                                          const BuildOptions& options) {
  return std::make_unique<CdbBuilder>(std::string(name), options);
}

}  // namespace libmaps::internal
