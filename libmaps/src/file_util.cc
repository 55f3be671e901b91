#include "file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <string_view>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

absl::Status Error(std::string_view what, const std::string& path, int err) {
  std::string message = absl::StrCat(absl::string_view(what.data(), what.size()),
                                     " ", path, ": ", std::strerror(err));
  return err == ENOENT ? absl::NotFoundError(message)
                       : absl::UnavailableError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          std::string_view open_what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(open_what, path, errno);
  std::string data;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    data.reserve(static_cast<size_t>(st.st_size));
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Error("read", path, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

absl::Status LockWholeFile(int fd, short type, std::string_view path) {
  struct flock lock = {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;
  lock.l_pid = 0;  // required by F_OFD_*
  while (::fcntl(fd, F_OFD_SETLKW, &lock) < 0) {
    if (errno == EINTR) continue;
    const char* what = type == F_UNLCK ? "unlock" : "lock";
    return absl::UnavailableError(
        absl::StrCat(what, " database ", std::string(path), ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

ssize_t PreadFull(int fd, void* buf, size_t n, off_t at) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(buf) + got, n - got, at + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

int FlockRetry(int fd, int op) {
  int rc;
  do {
    rc = ::flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

// A temporary file this old, unlocked, is a killed build's: a live build
// takes its lock right after creating the file, and the age keeps a sweep
// from taking a file in that instant for dead.
constexpr time_t kStaleTempSeconds = 5;

// Removes what killed builds of a table left in `dir`: files named
// `prefix` + six characters that are regular, ours, old enough and not
// locked. Best effort: anything unexpected leaves the file alone.
void RemoveStaleTempFiles(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const int dfd = ::dirfd(d);
  const time_t now = ::time(nullptr);
  while (const struct dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.size() != prefix.size() + 6 || name.substr(0, prefix.size()) != prefix) {
      continue;
    }
    UniqueFd fd(::openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) continue;
    struct stat st, again;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        st.st_mtime + kStaleTempSeconds > now || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;
    }
    // Still the file we hold (not one made under the same name since)?
    if (::fstatat(dfd, e->d_name, &again, AT_SYMLINK_NOFOLLOW) == 0 &&
        again.st_ino == st.st_ino && again.st_dev == st.st_dev) {
      ::unlinkat(dfd, e->d_name, 0);
    }
  }
  ::closedir(d);
}

}  // namespace

absl::StatusOr<std::string> CreateTempFileNear(const std::string& target,
                                               UniqueFd* fd) {
  std::string dir = DirName(target);
  size_t slash = target.rfind('/');
  std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  RemoveStaleTempFiles(dir, "." + base + ".cmap-");
  std::string tmpl = (dir == "." && slash == std::string::npos ? std::string()
                                                               : dir + "/") +
                     "." + base + ".cmap-XXXXXX";
  int tfd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (tfd < 0) {
    int err = errno;
    std::string message =
        absl::StrCat("open database ", target, ": ", std::strerror(err));
    if (err == EACCES || err == EPERM || err == EROFS) {
      return absl::PermissionDeniedError(message);
    }
    return absl::UnavailableError(message);
  }
  *fd = UniqueFd(tfd);
  // The mark of a live build (see RemoveStaleTempFiles). On a file system
  // without flock this fails, and so does every sweep's flock there: such
  // files are never swept, live or not.
  (void)::flock(tfd, LOCK_EX | LOCK_NB);
  return tmpl;
}

absl::Status MatchTargetModeAndOwner(int fd, const std::string& target,
                                     mode_t new_mode, mode_t* narrowed) {
  if (narrowed != nullptr) *narrowed = 0;
  struct stat st;
  if (::stat(target.c_str(), &st) == 0) {
    if ((st.st_uid != ::geteuid() || st.st_gid != ::getegid()) &&
        ::fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) {
      return absl::UnavailableError(
          absl::StrCat("chown ", target, ": ", std::strerror(errno)));
    }
    const mode_t kept = st.st_mode & 07777 & ~(0006 & ~new_mode);
    if (kept != (st.st_mode & 07777) && narrowed != nullptr) *narrowed = st.st_mode & 07777;
    new_mode = kept;
  }
  if (::fchmod(fd, new_mode) < 0) {
    return absl::UnavailableError(
        absl::StrCat("chmod ", target, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string NarrowedModeWarning(std::string_view target, mode_t old_mode,
                                mode_t new_mode) {
  const mode_t now = old_mode & ~(0006 & ~new_mode);
  return absl::StrFormat(
      "%s: was mode %04o, which lets other users read it, unlike its source: "
      "the new table has mode %04o",
      target, static_cast<unsigned>(old_mode), static_cast<unsigned>(now));
}

absl::Status SyncFile(int fd, const std::string& path) {
  if (::fsync(fd) < 0) {
    return absl::UnavailableError(
        absl::StrCat("fsync ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectoryOf(const std::string& path) {
  std::string dir = DirName(path);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::UnavailableError(
        absl::StrCat("open directory ", dir, ": ", std::strerror(errno)));
  }
  return SyncFile(fd.get(), dir);
}

std::string ResolveTarget(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real != nullptr) {
      std::string out(real);
      std::free(real);
      return out;
    }
  }
  return path;
}

absl::Status ReplaceFile(const std::string& tmp, const std::string& target,
                         int tmp_fd) {
  if (::rename(tmp.c_str(), target.c_str()) < 0) {
    return absl::UnavailableError(absl::StrCat("rename ", tmp, " to ", target,
                                               ": ", std::strerror(errno)));
  }
  if (tmp_fd >= 0) ::flock(tmp_fd, LOCK_UN);
  return SyncDirectoryOf(target);
}

absl::Status PwriteAll(int fd, uint64_t offset, std::span<const uint8_t> bytes,
                       std::string_view display) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("write database ", ToAbsl(display),
                                                 ": ", std::strerror(errno)));
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status CommitNewFile(const std::string& target, std::string_view display,
                           mode_t new_file_mode,
                           absl::FunctionRef<void(std::string_view warning)> warn,
                           absl::FunctionRef<absl::Status(int fd, const std::string& tmp)> write,
                           absl::FunctionRef<absl::Status()> lock_target) {
  UniqueFd fd;
  absl::StatusOr<std::string> tmp = CreateTempFileNear(target, &fd);
  if (!tmp.ok()) return tmp.status();
  absl::Status s = write(fd.get(), *tmp);
  if (s.ok()) {
    mode_t narrowed = 0;
    s = MatchTargetModeAndOwner(fd.get(), target, new_file_mode, &narrowed);
    if (s.ok() && narrowed != 0) warn(NarrowedModeWarning(display, narrowed, new_file_mode));
  }
  if (s.ok()) s = SyncFile(fd.get(), *tmp);
  if (s.ok()) s = lock_target();
  if (s.ok()) s = ReplaceFile(*tmp, target, fd.get());
  if (!s.ok()) ::unlink(tmp->c_str());
  return s;
}

}  // namespace libmaps::internal
