#include "backends/hash_map.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/bdb_hash_reader.h"
#include "libmaps/text.h"
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

int FlockRetry(int fd, int op) {
  int rc;
  do {
    rc = ::flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// One open file description of the .db file, its mapping and the reader over
// it: a consistent view of the file as it was when it was opened.
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
  static absl::StatusOr<std::shared_ptr<Snapshot>> Open(const std::string& path,
                                                        const DiagnosticSink& sink);

  const BdbHashReader& reader() const { return *reader_; }
  const struct stat& stat_at_open() const { return st_; }
  bool read_failed() const { return mapping_->faults() != 0; }

  // The shared flock, held while any thread is inside the file.
  absl::Status LockShared() {
    std::lock_guard<std::mutex> guard(lock_mu_);
    if (holders_ == 0 && FlockRetry(fd_, LOCK_SH) != 0) {
      return absl::UnavailableError(
          absl::StrCat("lock database ", path_, ": ", ErrnoText(errno)));
    }
    ++holders_;
    return absl::OkStatus();
  }
  void UnlockShared() {
    std::lock_guard<std::mutex> guard(lock_mu_);
    if (--holders_ == 0) FlockRetry(fd_, LOCK_UN);
  }

  // Compares the file with what was mapped. Call with the lock held.
  absl::StatusOr<State> Check() const {
    struct stat now;
    if (::fstat(fd_, &now) != 0) {
      return absl::UnavailableError(
          absl::StrCat("stat database ", path_, ": ", ErrnoText(errno)));
    }
    if (read_failed() || now.st_size != st_.st_size ||
        !SameTime(now.st_mtim, st_.st_mtim)) {
      return State::kModified;
    }
    if (now.st_nlink == 0) return State::kReplaced;
    return State::kCurrent;
  }

 private:
  explicit Snapshot(std::string path) : path_(std::move(path)) {}

  std::string path_;
  int fd_ = -1;
  struct stat st_;
  std::unique_ptr<MappedFile> mapping_;
  std::optional<BdbHashReader> reader_;
  std::mutex lock_mu_;
  int holders_ = 0;
};

absl::StatusOr<std::shared_ptr<Snapshot>> Snapshot::Open(
    const std::string& path, const DiagnosticSink& sink) {
  std::shared_ptr<Snapshot> snap(new Snapshot(path));
  const std::string what = absl::StrCat("open database ", path, ": ");
  snap->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (snap->fd_ < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(what + ErrnoText(err));
    return absl::UnavailableError(what + ErrnoText(err));
  }
  if (FlockRetry(snap->fd_, LOCK_SH) != 0) {
    return absl::UnavailableError(
        absl::StrCat("lock database ", path, ": ", ErrnoText(errno)));
  }
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
  absl::StatusOr<BdbHashReader> reader =
      BdbHashReader::Open(snap->mapping_->bytes());
  if (snap->read_failed()) {
    return absl::UnavailableError(
        absl::StrCat("read database ", path, ": the file shrank while it was opened"));
  }
  if (!reader.ok()) {
    const absl::Status& s = reader.status();
    if (s.code() == absl::StatusCode::kInvalidArgument) {
      // Not a hash database at all. postmap says just this; the reason is
      // worth a line of its own, as libdb prints one.
      if (sink) sink(Severity::kError, absl::StrCat(path, ": ", s.message()));
      return absl::DataLossError(what + ErrnoText(EINVAL));
    }
    return absl::Status(s.code(), what + std::string(s.message()));
  }
  snap->reader_.emplace(*std::move(reader));
  FlockRetry(snap->fd_, LOCK_UN);
  return snap;
}

// Holds a snapshot's shared lock for as long as it lives.
class LockedSnapshot {
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

class HashMap final : public Map {
 public:
  HashMap(std::string name, const OpenOptions& options,
          std::shared_ptr<Snapshot> snapshot)
      : Map("hash", std::move(name)),
        path_(this->name() + ".db"),
        fold_case_(options.fold_case),
        utf8_(options.utf8),
        utf8_messages_(options.utf8_messages),
        sink_(options.diagnostics),
        nul_flags_(options.nul == NulPolicy::kWith      ? kTryWithNul
                   : options.nul == NulPolicy::kWithout ? kTryWithoutNul
                                                        : kTryWithNul | kTryWithoutNul),
        snapshot_(std::move(snapshot)) {}

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
    if (utf8_ && !IsAscii(key) && !IsValidUtf8(key)) {
      Warn(absl::StrCat("hash:", path_, ": non-UTF-8 key \"",
                        Printable(key, utf8_messages_),
                        "\": malformed UTF-8 or invalid codepoint"));
      return std::nullopt;
    }
    std::string stored;
    if (fold_case_) {
      std::optional<std::string> folded = FoldKey(key, utf8_);
      if (!folded) return std::nullopt;  // invalid UTF-8: handled above
      stored = *std::move(folded);
    } else {
      stored.assign(key);
    }

    absl::StatusOr<LockedSnapshot> locked = AcquireCurrent();
    if (!locked.ok()) return locked.status();
    absl::StatusOr<std::optional<std::string>> found = Probe(*locked, &stored);
    if ((*locked)->read_failed()) return Vanished();
    locked->Release();
    if (!found.ok()) return Corrupt(found.status());
    if (!found->has_value()) return std::nullopt;

    std::string& value = **found;
    value.resize(UpToNul(value).size());
    if (utf8_ && !IsAscii(value) && !IsValidUtf8(value)) {
      // Postfix quotes the value here; a value may be a password, so we
      // do not.
      Warn(absl::StrCat("hash:", path_, ": key \"", Printable(key, utf8_messages_),
                        "\": non-UTF-8 value \"...\": malformed UTF-8 or "
                        "invalid codepoint"));
      return absl::FailedPreconditionError(
          absl::StrCat("table hash:", path_, ": query error"));
    }
    return found;
  }

  absl::Status ForEach(const std::function<bool(std::string_view, std::string_view)>&
                           fn) const override {
    absl::StatusOr<LockedSnapshot> first = AcquireCurrent();
    if (!first.ok()) return first.status();
    LockedSnapshot locked = *std::move(first);
    const std::shared_ptr<Snapshot> snap = locked.get();
    const BdbHashReader& reader = snap->reader();
    BdbPageSet seen(reader.page_count());
    std::string arena;
    std::vector<std::pair<size_t, size_t>> records;  // key end, value end
    uint32_t bucket = 0;
    while (bucket < reader.bucket_count()) {
      if (!locked.get()) {
        if (absl::Status s = snap->LockShared(); !s.ok()) return s;
        locked = LockedSnapshot(snap);
        absl::StatusOr<Snapshot::State> state = snap->Check();
        if (!state.ok()) return state.status();
        if (*state == Snapshot::State::kModified) {
          return absl::UnavailableError(absl::StrCat(
              "database ", path_, " changed while it was being read"));
        }
      }
      arena.clear();
      records.clear();
      while (bucket < reader.bucket_count() && arena.size() < kForEachChunk) {
        absl::Status s = reader.ForEachInBucket(
            bucket++, seen, [&](std::string_view key, std::string_view value) {
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

  // Postfix's NUL probing over the stored key `*key` (restored on return).
  absl::StatusOr<std::optional<std::string>> Probe(const LockedSnapshot& locked,
                                                   std::string* key) const {
    const BdbHashReader& reader = locked->reader();
    const int flags = nul_flags_.load(std::memory_order_acquire);
    if (flags & kTryWithNul) {
      key->push_back('\0');
      absl::StatusOr<std::optional<std::string>> found = reader.Find(*key);
      key->pop_back();
      if (!found.ok() || found->has_value()) {
        if (found.ok()) Settle(kTryWithNul);
        return found;
      }
    }
    if (flags & kTryWithoutNul) {
      absl::StatusOr<std::optional<std::string>> found = reader.Find(*key);
      if (found.ok() && found->has_value()) Settle(kTryWithoutNul);
      return found;
    }
    return std::nullopt;
  }

  // The first hit decides whether keys carry a NUL, for good. Only the
  // undecided state may change, so two threads that hit in different styles
  // at once cannot leave both styles switched off.
  void Settle(int style) const {
    int expected = kTryWithNul | kTryWithoutNul;
    nul_flags_.compare_exchange_strong(expected, style, std::memory_order_acq_rel);
  }

  // The current snapshot, locked and checked against the file; reopens the
  // file when it was changed in place or replaced.
  absl::StatusOr<LockedSnapshot> AcquireCurrent() const {
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::shared_ptr<Snapshot> snap;
      {
        std::lock_guard<std::mutex> guard(mu_);
        snap = snapshot_;
      }
      if (absl::Status s = snap->LockShared(); !s.ok()) return s;
      LockedSnapshot locked(snap);
      absl::StatusOr<Snapshot::State> state = snap->Check();
      if (!state.ok()) return state.status();
      if (*state == Snapshot::State::kCurrent) return locked;
      locked.Release();
      absl::StatusOr<std::shared_ptr<Snapshot>> fresh = Snapshot::Open(path_, sink_);
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

  const std::string path_;
  const bool fold_case_;
  const bool utf8_;
  const bool utf8_messages_;
  const DiagnosticSink sink_;
  mutable std::atomic<int> nul_flags_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<Snapshot> snapshot_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Map>> OpenHashMap(std::string_view name,
                                                 const OpenOptions& options) {
  std::string map_name(name);
  absl::StatusOr<std::shared_ptr<Snapshot>> snapshot =
      Snapshot::Open(map_name + ".db", options.diagnostics);
  if (!snapshot.ok()) return snapshot.status();
  auto map = std::make_unique<HashMap>(std::move(map_name), options,
                                       *std::move(snapshot));
  map->WarnIfOlderThanSource();
  return map;
}

}  // namespace libmaps::internal
