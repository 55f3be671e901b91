#include "backends/hash_map.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "file_util.h"
#include "format/bdb_btree_reader.h"
#include "format/bdb_hash_reader.h"
#include "libmaps/text.h"
#include "lingering_lock.h"
#include "lookup_key.h"
#include "mapped_file.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

// Postfix's DICT_FLAG_TRY1NULL / TRY0NULL.
constexpr int kTryWithNul = 1;
constexpr int kTryWithoutNul = 2;

// ForEach reads about this many bytes of records per lock.
constexpr size_t kForEachChunk = size_t{1} << 20;

// A source file changed less than this many seconds ago is being edited;
// Postfix does not warn that the table is older than it.
constexpr time_t kSourceSettleSeconds = 100;

std::string ErrnoText(int err) { return std::strerror(err); }

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Pages read with pread for one cold lookup (BdbHashReader::PageSource):
// a table opened for one or a few lookups (a process per delivery) would
// otherwise take a page fault on its mapping for every page it reads, which
// costs several times a read here (docs/benchmarks.md). Wiped when done: a
// page may hold a password.
class PreadPages final : public BdbHashReader::PageSource {
 public:
  PreadPages(int fd, uint32_t page_size) : fd_(fd), page_size_(page_size) {}
  ~PreadPages() override {
    for (auto& [pgno, bytes] : pages_) ::explicit_bzero(bytes.get(), page_size_);
  }
  const uint8_t* Page(uint32_t pgno) const override {
    for (const auto& [n, bytes] : pages_) {
      if (n == pgno) return bytes.get();
    }
    std::unique_ptr<uint8_t[]> bytes(new uint8_t[page_size_]);
    const ssize_t read = PreadFull(fd_, bytes.get(), page_size_, off_t{pgno} * page_size_);
    const size_t got = read < 0 ? 0 : static_cast<size_t>(read);
    if (got < page_size_) {
      // Past the end (the file shrank: a writer that ignores the lock) or
      // unreadable: zeros, as a mapping that faulted reads.
      std::memset(bytes.get() + got, 0, page_size_ - got);
      failed_ = true;
    }
    pages_.emplace_back(pgno, std::move(bytes));
    return pages_.back().second.get();
  }
  bool failed() const { return failed_; }

 private:
  const int fd_;
  const uint32_t page_size_;
  mutable std::vector<std::pair<uint32_t, std::unique_ptr<uint8_t[]>>> pages_;
  mutable bool failed_ = false;
};

// One open file description of the .db file, its mapping and the reader over
// it: a consistent view of the file as it was when it was opened.
template <typename Reader>
class Snapshot {
 public:
  enum class State {
    kCurrent,   // the file is still what was mapped
    kReplaced,  // unlinked or renamed over; what was mapped is intact
    kModified,  // changed in place (or unreadable): the mapping is stale
  };

  ~Snapshot() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens `path` under a shared lock. Diagnostics about a file that is not a
  // hash database go to `sink`.
  // `linger`: see LingeringLock.
  static absl::StatusOr<std::shared_ptr<Snapshot>> Open(const std::string& path,
                                                        const DiagnosticSink& sink,
                                                        bool linger);

  const Reader& reader() const { return *reader_; }
  // Before many lookups: the whole file in the page tables at once.
  void Populate() {
    std::call_once(populated_, [this] { mapping_->Populate(); });
  }
  const struct stat& stat_at_open() const { return st_; }
  bool read_failed() const { return mapping_->faults() != 0; }

  // The quick check of a default-mode lookup, made under the shared lock
  // between full checks (Check(), at most once a second): the bytes are a
  // live mapping of the file and its meta page is as it was at open. Why
  // that is enough against writers that take Postfix's lock (postmap
  // rebuilding in place, postmap -i/-d, cmap -i/-d): all the reader keeps
  // of the file besides the mapping is what the meta page says (bucket
  // layout, last page), and every such writer leaves a meta page that
  // differs when any of it changes: a rebuild gets a new file id (kMetaUid)
  // and element count, an insertion or deletion changes the element count,
  // a split the bucket fields and the last page. Everything else (pages,
  // items, values) is read live from the shared mapping, under the lock, so
  // it is the writer's finished work. The page states the hash reader
  // caches (a bucket page's keys are sorted) stay true under those writers:
  // libdb and cmap keep every sorted page (type 13) sorted. A replaced file
  // (rename) is whole and unchanging; the full check moves to the new one.
  // A copy read into memory (FileAccess::kReadIntoMemory, or no mmap) never
  // shows the writer's work, so it always takes the full check.
  bool QuickCheck() const {
    return mapping_->is_mapped() && MetaAsOpened() && !read_failed();
  }

  // Cold lookups: the first kColdLookups lookups of a mapped hash: file
  // read their pages with pread (PreadPages) instead of through the
  // mapping, and the checks read the meta page so too; so a table opened
  // for a lookup or two takes no page fault at all. Later lookups use the
  // mapping, where a page costs a fault once and nothing after.
  static constexpr int kColdLookups = 8;
  bool TakeCold() {
    if (cold_left_.load(std::memory_order_relaxed) <= 0) return false;
    return cold_left_.fetch_sub(1, std::memory_order_relaxed) > 0;
  }
  int fd() const { return fd_; }

  // The shared flock, held while any thread is inside the file, and for a
  // moment after (see LingeringLock) unless the map was opened with
  // LockPolicy::kSnapshot or kPerLookupStrict.
  // `*fresh` (if given): whether the lock was taken now rather than still
  // held from before (see LingeringLock::Acquire).
  absl::Status LockShared(bool* fresh = nullptr) { return lock_.Acquire(fresh); }
  void UnlockShared() { lock_.Release(); }
  void ReleaseLingering() { lock_.ReleaseNow(); }

  // Compares the file with what was mapped. Call with the lock held.
  absl::StatusOr<State> Check() const {
    struct stat now;
    if (::fstat(fd_, &now) != 0) {
      return absl::UnavailableError(
          absl::StrCat("stat database ", path_, ": ", ErrnoText(errno)));
    }
    if (read_failed() || now.st_size != st_.st_size ||
        !SameTime(now.st_mtim, st_.st_mtim) || !MetaAsOpened()) {
      return State::kModified;
    }
    if (now.st_nlink == 0) return State::kReplaced;
    return State::kCurrent;
  }

 private:
  // The meta page's first bytes are still those read at open: read with
  // pread while lookups are cold, else through the mapping.
  bool MetaAsOpened() const {
    if (cold_left_.load(std::memory_order_relaxed) > 0) {
      std::array<uint8_t, sizeof(meta_)> now;
      return PreadFull(fd_, now.data(), now.size(), 0) == static_cast<ssize_t>(now.size()) &&
             now == meta_;
    }
    return std::memcmp(mapping_->bytes().data(), meta_.data(), meta_.size()) == 0;
  }

  Snapshot(std::string path, bool linger)
      : path_(std::move(path)),
        lock_(
            [this](bool take) -> absl::Status {
              if (FlockRetry(fd_, take ? LOCK_SH : LOCK_UN) == 0 || !take) {
                return absl::OkStatus();
              }
              return absl::UnavailableError(
                  absl::StrCat("lock database ", path_, ": ", ErrnoText(errno)));
            },
            linger) {}

  std::string path_;
  int fd_ = -1;
  struct stat st_;
  std::unique_ptr<MappedFile> mapping_;
  // The start of the meta page as opened: the generic header, the bucket
  // fields and spares of a hash file, the root of a btree file.
  std::array<uint8_t, 256> meta_{};
  std::optional<Reader> reader_;
  LingeringLock lock_;
  std::atomic<int> cold_left_{0};
  std::once_flag populated_;
};

template <typename Reader>
absl::StatusOr<std::shared_ptr<Snapshot<Reader>>> Snapshot<Reader>::Open(
    const std::string& path, const DiagnosticSink& sink, bool linger) {
  std::shared_ptr<Snapshot> snap(new Snapshot(path, linger));
  // The reaper's pointer keeps the whole snapshot (and its descriptor) alive.
  snap->lock_.SetSelf(std::shared_ptr<LingeringLock>(snap, &snap->lock_));
  const std::string what = absl::StrCat("open database ", path, ": ");
  snap->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (snap->fd_ < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(what + ErrnoText(err));
    return absl::UnavailableError(what + ErrnoText(err));
  }
  if (absl::Status s = snap->lock_.Acquire(); !s.ok()) return s;
  // The lock is dropped with the descriptor on every error return below.
  if (::fstat(snap->fd_, &snap->st_) != 0) {
    return absl::UnavailableError(what + ErrnoText(errno));
  }
  if (S_ISDIR(snap->st_.st_mode)) {
    return absl::UnavailableError(what + ErrnoText(EISDIR));
  }
  if (snap->st_.st_size <= 0) {
    return absl::DataLossError(what + ErrnoText(EINVAL));
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> mapping = MappedFile::Map(
      snap->fd_, static_cast<uint64_t>(snap->st_.st_size), path);
  if (!mapping.ok()) return mapping.status();
  snap->mapping_ = *std::move(mapping);
  // The meta page read with pread: for a hash: file, neither the reader
  // nor the checks touch the mapping until a lookup that is no longer cold
  // (see TakeCold).
  std::array<uint8_t, 512> meta_bytes{};
  const ssize_t meta_got = PreadFull(snap->fd_, meta_bytes.data(), meta_bytes.size(), 0);
  if (meta_got < 0) return absl::UnavailableError(what + ErrnoText(errno));
  const std::span<const uint8_t> meta(meta_bytes.data(), static_cast<size_t>(meta_got));
  absl::StatusOr<Reader> reader = absl::InternalError("unreached");
  if constexpr (std::is_same_v<Reader, BdbHashReader>) {
    reader = Reader::Open(snap->mapping_->bytes(), meta);
    if (snap->mapping_->is_mapped()) snap->cold_left_.store(kColdLookups);
  } else {
    reader = Reader::Open(snap->mapping_->bytes());
  }
  if (snap->read_failed()) {
    return absl::UnavailableError(
        absl::StrCat("read database ", path, ": the file shrank while it was opened"));
  }
  if (!reader.ok()) {
    const absl::Status& s = reader.status();
    if (s.code() == absl::StatusCode::kInvalidArgument) {
      // Not a database of this type at all. postmap says just this; the reason is
      // worth a line of its own, as libdb prints one.
      if (sink) sink(Severity::kError, absl::StrCat(path, ": ", s.message()));
      return absl::DataLossError(what + ErrnoText(EINVAL));
    }
    return absl::Status(s.code(), what + std::string(s.message()));
  }
  snap->reader_.emplace(*std::move(reader));
  // The reader accepted the file, so it holds a whole meta page (>= 512 bytes).
  std::memcpy(snap->meta_.data(), meta_bytes.data(), snap->meta_.size());
  if (snap->read_failed()) {
    return absl::UnavailableError(
        absl::StrCat("read database ", path, ": the file shrank while it was opened"));
  }
  // Lingers: the first lookup, if it comes soon, finds the lock still held.
  snap->lock_.Release();
  return snap;
}

// Holds a snapshot's shared lock for as long as it lives.
template <typename Reader>
class LockedSnapshot {
  using Snapshot = internal::Snapshot<Reader>;

 public:
  LockedSnapshot() = default;
  explicit LockedSnapshot(std::shared_ptr<Snapshot> snap) : snap_(std::move(snap)) {}
  LockedSnapshot(LockedSnapshot&& other) noexcept : snap_(std::move(other.snap_)) {}
  LockedSnapshot& operator=(LockedSnapshot&& other) noexcept {
    Release();
    snap_ = std::move(other.snap_);
    return *this;
  }
  ~LockedSnapshot() { Release(); }

  Snapshot* operator->() const { return snap_.get(); }
  Snapshot& operator*() const { return *snap_; }
  const std::shared_ptr<Snapshot>& get() const { return snap_; }

  void Release() {
    if (snap_) snap_->UnlockShared();
    snap_.reset();
  }

 private:
  std::shared_ptr<Snapshot> snap_;
};

// The stored value as Postfix hands it out: a C string.
std::string_view UpToNul(std::string_view s) {
  size_t nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

// hash: (Reader = BdbHashReader) and btree: (BdbBtreeReader) tables.
template <typename Reader>
class BdbMap final : public Map {
  using Snapshot = internal::Snapshot<Reader>;
  using LockedSnapshot = internal::LockedSnapshot<Reader>;
  static constexpr bool kHashed = std::is_same_v<Reader, BdbHashReader>;

 public:
  BdbMap(std::string_view type, std::string name, const OpenOptions& options,
         std::shared_ptr<Snapshot> snapshot)
      : Map(std::string(type), std::move(name)),
        type_(type),
        path_(this->name() + ".db"),
        fold_case_(options.fold_case),
        utf8_(options.utf8),
        utf8_messages_(options.utf8_messages),
        sink_(options.diagnostics),
        nul_flags_(options.nul == NulPolicy::kWith      ? kTryWithNul
                   : options.nul == NulPolicy::kWithout ? kTryWithoutNul
                                                        : kTryWithNul | kTryWithoutNul),
        table_(std::string(type) + ":" + path_),
        snapshot_policy_(options.lock == LockPolicy::kSnapshot),
        lock_(options.lock),
        snapshot_(std::move(snapshot)) {
    // The snapshot was just opened and checked under the lock: the first
    // full check is due a second from now, not at the first lookup.
    timer_.Checked();
  }

  ~BdbMap() override {
    // Closing lets writers in at once (see LingeringLock::ReleaseNow).
    snapshot_->ReleaseLingering();
  }

  void WarnIfOlderThanSource() const {
    struct stat source;
    if (::stat(name().c_str(), &source) != 0) return;
    const struct stat& db = snapshot_->stat_at_open();
    if (source.st_mtime > db.st_mtime &&
        source.st_mtime + kSourceSettleSeconds < ::time(nullptr)) {
      Warn(absl::StrCat("database ", path_, " is older than source file ", name()));
    }
  }

  absl::StatusOr<std::optional<std::string>> Lookup(
      std::string_view key) const override {
    return LookupByLookupInto(key);
  }

  absl::StatusOr<bool> LookupInto(std::string_view key,
                                  std::string* value) const override {
    ProbeKey probe;
    if (!probe.Prepare(key, fold_case_, utf8_, utf8_messages_, sink_, table_)) {
      return false;
    }
    std::string scratch;  // a big value's pieces (may be a password)
    ScopedWipe wipe_scratch(&scratch);
    std::string_view found_value;
    if (snapshot_policy_ && !timer_.Due()) {
      // LockPolicy::kSnapshot between checks: no lock, no system call.
      std::shared_ptr<Snapshot> snap = Current();
      absl::StatusOr<bool> found = Probe(snap->reader(), probe, &scratch, &found_value);
      // Copied before the check: a read of the mapping that fails (the
      // file shrank) must be seen, and the copy is a read.
      if (found.ok() && *found) value->assign(found_value);
      if (!snap->read_failed()) return Finish(key, found, *value);
      timer_.Expire();  // the file shrank under us: check it, under the lock
    }
    absl::StatusOr<LockedSnapshot> locked = AcquireCurrent();
    if (!locked.ok()) return locked.status();
    if (snapshot_policy_) timer_.Checked();
    const Reader* reader = &(*locked)->reader();
    std::optional<PreadPages> pages;
    std::optional<Reader> cold;
    if constexpr (kHashed) {
      if ((*locked)->TakeCold()) {
        // A cold lookup (see Snapshot::TakeCold): its pages by pread.
        pages.emplace((*locked)->fd(), reader->page_size());
        reader = &cold.emplace(reader->WithPages(&*pages));
      }
    }
    absl::StatusOr<bool> found = Probe(*reader, probe, &scratch, &found_value);
    // Copied while the lock is held (an in-place writer may change the page
    // as soon as it is released), while the pages read for it live, and
    // before the check of the reads.
    if (found.ok() && *found) value->assign(found_value);
    if ((pages && pages->failed()) || (*locked)->read_failed()) return Vanished();
    locked->Release();
    return Finish(key, found, *value);
  }

  void LookupEach(std::span<const std::string_view> keys,
                  const LookupEachFn& fn) const override {
    // Also for a single key: the value reaches `fn` as a view of the mapped
    // file (or of the pieces of a big value), never copied into a string.
    // kPerLookup: one shared lock (and one check of the file) for all the
    // keys, taken when the first key that gets as far as the file needs
    // it. kSnapshot: one snapshot for all the keys (a due check, as in
    // LookupInto, first).
    std::optional<LockedSnapshot> locked;
    std::shared_ptr<Snapshot> snap;
    ProbeKey probe;
    std::string scratch;
    std::string_view value;
    Ahead ahead;
    // A big value's pieces may be a password (libmaps/sasl_maps.h): zeroed
    // on the way out.
    ScopedWipe wipe_scratch(&scratch);
    using Result = absl::StatusOr<std::optional<std::string_view>>;
    HoldBound hold;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (locked && hold.Expired()) {
        // Held long enough (HoldBound::kMaxHoldNs): writers get their turn
        // before the next key takes the lock again.
        locked.reset();
        snap.reset();
      }
      if (!probe.Prepare(keys[i], fold_case_, utf8_, utf8_messages_, sink_, table_)) {
        if (!fn(i, Result(std::nullopt))) return;
        continue;
      }
      if (snap == nullptr) {
        if (snapshot_policy_ && !timer_.Due()) {
          snap = Current();
        } else {
          absl::StatusOr<LockedSnapshot> acquired = AcquireCurrent();
          if (!acquired.ok()) {
            if (!fn(i, Result(acquired.status()))) return;
            continue;
          }
          if (snapshot_policy_) {
            timer_.Checked();
            snap = acquired->get();  // the check is done; no need to hold the lock
          } else {
            locked.emplace(*std::move(acquired));
            snap = locked->get();
            hold.Start();
          }
        }
      }
      if (i == 0 && keys.size() >= kPopulateBatch) snap->Populate();
      absl::StatusOr<bool> found = false;
      if constexpr (kHashed) {
        Prefetch(*snap, keys, i, &ahead);
        const typename Ahead::Entry& mine = ahead.at(i);
        found = mine.valid && mine.key == probe.without_nul()
                    ? Probe(snap->reader(), probe, &scratch, &value, &mine.hash, mine.style)
                    : Probe(snap->reader(), probe, &scratch, &value);
      } else {
        found = Probe(snap->reader(), probe, &scratch, &value);
      }
      if (snap->read_failed()) {
        // The file shrank under us (a writer that ignores the lock): what
        // was read cannot be trusted. Start afresh with the next key.
        locked.reset();
        snap.reset();
        if (snapshot_policy_) timer_.Expire();
        if (!fn(i, Result(Vanished()))) return;
        continue;
      }
      found = Finish(keys[i], found, value);
      if (!found.ok()) {
        if (!fn(i, Result(found.status()))) return;
        continue;
      }
      const bool go_on = fn(i, *found ? Result(value) : Result(std::nullopt));
      if (*found && snap->read_failed()) {
        // `fn` read the value from the mapping while a writer that ignores
        // the lock shrank the file: what it read may be zeros. It hears so
        // (see Map::LookupEach), and the next key starts afresh.
        locked.reset();
        snap.reset();
        if (snapshot_policy_) timer_.Expire();
        if (!fn(i, Result(Vanished()))) return;
        continue;
      }
      if (!go_on) return;
    }
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    absl::StatusOr<LockedSnapshot> first = AcquireCurrent();
    if (!first.ok()) return first.status();
    LockedSnapshot locked = *std::move(first);
    const std::shared_ptr<Snapshot> snap = locked.get();
    const Reader& reader = snap->reader();
    BdbPageSet seen(reader.page_count());
    std::string arena;
    std::vector<std::pair<size_t, size_t>> records;  // key end, value end
    uint64_t cursor = 0;
    bool done = false;
    while (!done) {
      if (!locked.get()) {
        if (absl::Status s = snap->LockShared(); !s.ok()) return s;
        locked = LockedSnapshot(snap);
        absl::StatusOr<typename Snapshot::State> state = snap->Check();
        if (!state.ok()) return state.status();
        if (*state == Snapshot::State::kModified) {
          return absl::UnavailableError(absl::StrCat(
              "database ", path_, " changed while it was being read"));
        }
      }
      arena.clear();
      records.clear();
      while (!done && arena.size() < kForEachChunk) {
        absl::Status s = reader.WalkStep(
            &cursor, &done, seen, [&](std::string_view key, std::string_view value) {
              arena.append(UpToNul(key));
              size_t key_end = arena.size();
              arena.append(UpToNul(value));
              records.emplace_back(key_end, arena.size());
              return true;
            });
        if (snap->read_failed()) return Vanished();
        if (!s.ok()) return Corrupt(s);
      }
      locked.Release();
      size_t start = 0;
      for (const auto& [key_end, value_end] : records) {
        std::string_view all(arena);
        if (!fn(all.substr(start, key_end - start),
                all.substr(key_end, value_end - key_end))) {
          return absl::OkStatus();
        }
        start = value_end;
      }
    }
    return absl::OkStatus();
  }

 private:
  void Warn(std::string_view message) const {
    if (sink_) sink_(Severity::kWarning, message);
  }

  absl::Status Vanished() const {
    return absl::UnavailableError(absl::StrCat(
        "database ", path_, " shrank or could not be read while it was in use"));
  }

  absl::Status Corrupt(const absl::Status& s) const {
    if (s.code() != absl::StatusCode::kDataLoss) return s;
    return absl::DataLossError(
        absl::StrCat("database ", path_, " is corrupt: ", s.message()));
  }

  // Postfix's NUL probing: key+NUL, then the key alone, as the flags allow.
  // On a hit `*value` is the value up to its first NUL: a view of the
  // mapped file, or of `*scratch` for a value spread over several pages.
  // `hint`, if given, is the KeyHash() of the key in the NUL style
  // `hint_style` (computed ahead by a batch).
  absl::StatusOr<bool> Probe(const Reader& reader, const ProbeKey& key,
                             std::string* scratch, std::string_view* value,
                             const uint32_t* hint = nullptr, int hint_style = 0) const {
    const int flags = nul_flags_.load(std::memory_order_acquire);
    for (int style : {kTryWithNul, kTryWithoutNul}) {
      if ((flags & style) == 0) continue;
      const std::string_view stored =
          style == kTryWithNul ? key.with_nul() : key.without_nul();
      absl::StatusOr<std::optional<std::string_view>> found;
      if constexpr (kHashed) {
        found = reader.FindView(stored, scratch, style == hint_style ? hint : nullptr);
      } else {
        found = reader.FindView(stored, scratch);
      }
      if (!found.ok()) return found.status();
      if (!found->has_value()) continue;
      if (flags != style) Settle(style);
      *value = UpToNul(**found);
      return true;
    }
    return false;
  }

  // Errors as Postfix reports them, and its UTF-8 check of a found value.
  absl::StatusOr<bool> Finish(std::string_view key, const absl::StatusOr<bool>& found,
                              std::string_view value) const {
    if (!found.ok()) return Corrupt(found.status());
    if (!*found) return false;
    if (utf8_ && !IsAsciiText(value) && !IsValidUtf8(value)) {
      // Postfix quotes the value here; a value may be a password, so we
      // do not.
      Warn(absl::StrCat(type_, ":", path_, ": key \"", Printable(key, utf8_messages_),
                        "\": non-UTF-8 value \"...\": malformed UTF-8 or "
                        "invalid codepoint"));
      return absl::FailedPreconditionError(
          absl::StrCat("table ", type_, ":", path_, ": query error"));
    }
    return true;
  }

  // Batch lookups overlap their memory accesses: while key i is looked up,
  // the bucket page of key i + kAhead is being fetched, and the keys on the
  // page of key i + kAhead / 2 (whose page was fetched earlier). Keys are
  // folded here without checks or messages (ASCII only; others are not
  // prefetched), in the NUL style the map has settled on; each key's hash
  // is computed once, here, for both hints and the lookup itself.
  static constexpr size_t kAhead = 8;
  // A batch this long populates the mapping first (see MappedFile).
  static constexpr size_t kPopulateBatch = 64;
  struct Ahead {
    struct Entry {
      bool valid = false;
      int style = 0;
      uint32_t hash = 0;
      std::string key;  // folded, without NUL: the lookup checks it matches
    };
    std::array<Entry, 2 * kAhead> ring;
    Entry& at(size_t i) { return ring[i % ring.size()]; }
  };
  void Prefetch(const Snapshot& snap, std::span<const std::string_view> keys, size_t i,
                Ahead* ahead) const {
    const int flags = nul_flags_.load(std::memory_order_relaxed);
    const int style = (flags & kTryWithNul) != 0 ? kTryWithNul : kTryWithoutNul;
    auto stage1 = [&](size_t j) {
      if (j >= keys.size()) return;
      typename Ahead::Entry& e = ahead->at(j);
      e.valid = false;
      const std::string_view k = keys[j];
      if (!IsAsciiText(k)) return;
      if (fold_case_) {
        FoldAscii(k, &e.key);
      } else {
        e.key.assign(k);
      }
      if (style == kTryWithNul) e.key.push_back('\0');
      e.hash = BdbHashReader::KeyHash(e.key);
      if (style == kTryWithNul) e.key.pop_back();
      e.style = style;
      e.valid = true;
      snap.reader().Prefetch(e.hash, 1);
    };
    auto stage2 = [&](size_t j) {
      if (j >= keys.size() || !ahead->at(j).valid) return;
      snap.reader().Prefetch(ahead->at(j).hash, 2);
    };
    if (i == 0) {
      for (size_t j = 0; j < kAhead; ++j) stage1(j);
      for (size_t j = 0; j < kAhead / 2; ++j) stage2(j);
    }
    stage1(i + kAhead);
    stage2(i + kAhead / 2);
  }

  // The current snapshot, without lock or check (LockPolicy::kSnapshot).
  std::shared_ptr<Snapshot> Current() const {
    std::lock_guard<std::mutex> guard(mu_);
    return snapshot_;
  }

  // The first hit decides whether keys carry a NUL, for good. Only the
  // undecided state may change, so two threads that hit in different styles
  // at once cannot leave both styles switched off.
  void Settle(int style) const {
    int expected = kTryWithNul | kTryWithoutNul;
    nul_flags_.compare_exchange_strong(expected, style, std::memory_order_acq_rel);
  }

  // The current snapshot, locked and checked against the file; reopens the
  // file when it was changed in place or replaced. The full check (fstat:
  // size, time, links; the meta page) runs at most once a second
  // (timer_); lookups in between make the quick check. So a file replaced
  // by rename is read, whole, for up to a second more, as a Postfix daemon
  // reads it until it notices the change after a request.
  absl::StatusOr<LockedSnapshot> AcquireCurrent() const {
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::shared_ptr<Snapshot> snap;
      {
        std::lock_guard<std::mutex> guard(mu_);
        snap = snapshot_;
      }
      bool lock_taken = true;
      if (absl::Status s = snap->LockShared(&lock_taken); !s.ok()) return s;
      LockedSnapshot locked(snap);
      // kPerLookup: between full checks, the quick one (see QuickCheck): no
      // system call besides the lock; none at all while the lock has been
      // held since the last lookup (no writer that locks can have come in).
      if (!snapshot_policy_ && !timer_.Due() && (!lock_taken || snap->QuickCheck())) {
        return locked;
      }
      absl::StatusOr<typename Snapshot::State> state = snap->Check();
      if (!state.ok()) return state.status();
      if (*state == Snapshot::State::kCurrent) {
        timer_.Checked();
        return locked;
      }
      locked.Release();
      absl::StatusOr<std::shared_ptr<Snapshot>> fresh = Snapshot::Open(path_, sink_, Lingers(lock_));
      if (!fresh.ok()) {
        // A replaced file whose replacement cannot be opened: the old one is
        // still whole, and Postfix would go on reading it too.
        if (*state == Snapshot::State::kReplaced) {
          if (absl::Status s = snap->LockShared(); !s.ok()) return s;
          return LockedSnapshot(snap);
        }
        return fresh.status();
      }
      std::lock_guard<std::mutex> guard(mu_);
      if (snapshot_ == snap) snapshot_ = *std::move(fresh);
    }
    return absl::UnavailableError(
        absl::StrCat("database ", path_, " keeps changing; try again later"));
  }

  const std::string type_;
  const std::string path_;
  const bool fold_case_;
  const bool utf8_;
  const bool utf8_messages_;
  const DiagnosticSink sink_;
  mutable std::atomic<int> nul_flags_;
  const std::string table_;  // "TYPE:NAME.db", for messages
  const bool snapshot_policy_;
  const LockPolicy lock_;
  mutable RecheckTimer timer_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<Snapshot> snapshot_;
};

template <typename Reader>
absl::StatusOr<std::unique_ptr<Map>> OpenBdbMap(std::string_view type, std::string_view name,
                                                const OpenOptions& options) {
  std::string map_name(name);
  absl::StatusOr<std::shared_ptr<Snapshot<Reader>>> snapshot =
      Snapshot<Reader>::Open(map_name + ".db", options.diagnostics, Lingers(options.lock));
  if (!snapshot.ok()) return snapshot.status();
  auto map = std::make_unique<BdbMap<Reader>>(type, std::move(map_name), options,
                                              *std::move(snapshot));
  map->WarnIfOlderThanSource();
  return map;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> OpenHashMap(std::string_view name,
                                                 const OpenOptions& options) {
  return OpenBdbMap<BdbHashReader>("hash", name, options);
}

absl::StatusOr<std::unique_ptr<Map>> OpenBtreeMap(std::string_view name,
                                                  const OpenOptions& options) {
  return OpenBdbMap<BdbBtreeReader>("btree", name, options);
}

}  // namespace libmaps::internal
