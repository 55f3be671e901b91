#include "mapped_file.h"

#include "libmaps/map.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

#include "absl/strings/str_cat.h"
#include "file_util.h"

namespace libmaps::internal {

// One registered mapping. Entries are never freed: an entry whose mapping is
// gone is marked free and reused, so the handler can walk the list at any
// moment without locks.
struct MappedRegion {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<uint64_t> faults{0};
  std::atomic<bool> in_use{false};
  MappedRegion* next = nullptr;  // fixed before the entry is published
};

namespace {

static_assert(std::atomic<uintptr_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// Files up to this size are mapped with MAP_POPULATE: one system call maps
// every page that is in the page cache, instead of one page fault (13-24 us
// on our VMs) per page touched.
constexpr uint64_t kPopulateLimit = uint64_t{1} << 20;

std::atomic<MappedRegion*> g_regions{nullptr};
struct sigaction g_previous;
uintptr_t g_page_size = 4096;
bool g_handler_installed = false;
std::once_flag g_install_once;
// libmaps::SetFileAccess(FileAccess::kReadIntoMemory): no handler, no mmap.
std::atomic<bool> g_read_into_memory{false};

// Hands a signal that is not ours to whoever had SIGBUS before us.
void PassOn(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = g_previous;
  if ((prev.sa_flags & SA_SIGINFO) != 0) {
    if (prev.sa_sigaction != nullptr) prev.sa_sigaction(sig, info, context);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  const bool sent = info == nullptr || info->si_code <= 0;  // kill(), raise()
  if (prev.sa_handler == SIG_IGN && sent) return;
  // The default action. For a fault, returning re-executes the instruction,
  // which faults again and ends the process with the usual status and core.
  // A sent signal is raised again; it is delivered when this handler returns.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  if (sent) raise(SIGBUS);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (info != nullptr && info->si_code > 0) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (MappedRegion* r = g_regions.load(std::memory_order_acquire);
         r != nullptr; r = r->next) {
      const uintptr_t begin = r->begin.load(std::memory_order_acquire);
      const uintptr_t end = r->end.load(std::memory_order_acquire);
      if (addr < begin || addr >= end) continue;
      // Put a page of zeros where the file's page was. The restarted read
      // then succeeds, and faults tells the reader not to trust it.
      void* page = reinterpret_cast<void*>(addr & ~(g_page_size - 1));
      if (mmap(page, g_page_size, PROT_READ,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
        r->faults.fetch_add(1, std::memory_order_acq_rel);
        errno = saved_errno;
        return;
      }
      break;
    }
  }
  errno = saved_errno;
  PassOn(sig, info, context);
}

void InstallHandler() {
  long page = sysconf(_SC_PAGESIZE);
  if (page > 0) g_page_size = static_cast<uintptr_t>(page);
  // Record the previous action first, so that the handler never sees a
  // half-written copy of it.
  if (sigaction(SIGBUS, nullptr, &g_previous) != 0) return;
  struct sigaction act;
  std::memset(&act, 0, sizeof act);
  act.sa_sigaction = &OnSigbus;
  act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&act.sa_mask);
  if (sigaction(SIGBUS, &act, nullptr) != 0) return;
  // Some runtimes (sanitizers) accept the call but keep their own handler;
  // then the mappings would be unprotected, so Map() reads files instead.
  struct sigaction now;
  g_handler_installed = sigaction(SIGBUS, nullptr, &now) == 0 &&
                        (now.sa_flags & SA_SIGINFO) != 0 &&
                        now.sa_sigaction == &OnSigbus;
}

MappedRegion* Register(uintptr_t begin, uintptr_t end) {
  MappedRegion* r = g_regions.load(std::memory_order_acquire);
  for (; r != nullptr; r = r->next) {
    bool expected = false;
    if (r->in_use.compare_exchange_strong(expected, true,
                                          std::memory_order_acq_rel)) {
      break;
    }
  }
  if (r == nullptr) {
    r = new (std::nothrow) MappedRegion;
    if (r == nullptr) return nullptr;
    r->in_use.store(true, std::memory_order_relaxed);
    MappedRegion* head = g_regions.load(std::memory_order_acquire);
    do {
      r->next = head;
    } while (!g_regions.compare_exchange_weak(head, r, std::memory_order_acq_rel,
                                              std::memory_order_acquire));
  }
  r->faults.store(0, std::memory_order_relaxed);
  r->begin.store(begin, std::memory_order_release);
  r->end.store(end, std::memory_order_release);
  return r;
}

void Unregister(MappedRegion* r) {
  r->end.store(0, std::memory_order_release);
  r->begin.store(0, std::memory_order_release);
  r->in_use.store(false, std::memory_order_release);
}

absl::Status ReadError(std::string_view name, int err) {
  return absl::UnavailableError(absl::StrCat(
      "read ", absl::string_view(name.data(), name.size()), ": ",
      std::strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Map(
    int fd, uint64_t size, std::string_view name) {
  std::unique_ptr<MappedFile> file(new MappedFile);
  if (size == 0) return file;
  if (size > SIZE_MAX / 2) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "map ", absl::string_view(name.data(), name.size()),
        ": file too large for the address space"));
  }
  const bool read_into_memory = g_read_into_memory.load(std::memory_order_relaxed);
  if (!read_into_memory) std::call_once(g_install_once, InstallHandler);
  const size_t length = static_cast<size_t>(size);
  if (!read_into_memory && g_handler_installed) {
    const size_t rounded = (length + g_page_size - 1) & ~(g_page_size - 1);
    int flags = MAP_SHARED;
    if (size <= kPopulateLimit) flags |= MAP_POPULATE;
    void* p = mmap(nullptr, length, PROT_READ, flags, fd, 0);
    if (p != MAP_FAILED) {
      const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
      MappedRegion* region = Register(begin, begin + rounded);
      if (region != nullptr) {
        file->data_ = static_cast<const uint8_t*>(p);
        file->size_ = length;
        file->mapped_length_ = length;
        file->region_ = region;
        return file;
      }
      munmap(p, length);
    }
  }
  // The fallback: a private copy, which no truncation can touch.
  std::unique_ptr<uint8_t[]> copy(new (std::nothrow) uint8_t[length]);
  if (copy == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "read ", absl::string_view(name.data(), name.size()),
        ": out of memory"));
  }
  const ssize_t done = PreadFull(fd, copy.get(), length, 0);
  if (done < 0) return ReadError(name, errno);
  if (static_cast<size_t>(done) < length) {
    // The file shrank while we read it: report it like a mapping would.
    std::memset(copy.get() + done, 0, length - static_cast<size_t>(done));
    file->copy_faults_ = 1;
  }
  file->data_ = copy.get();
  file->size_ = length;
  file->copy_ = std::move(copy);
  return file;
}

}  // namespace libmaps::internal

namespace libmaps {

void SetFileAccess(FileAccess access) noexcept {
  internal::g_read_into_memory.store(access == FileAccess::kReadIntoMemory,
                                     std::memory_order_relaxed);
}

}  // namespace libmaps

namespace libmaps::internal {

MappedFile::~MappedFile() {
  if (region_ == nullptr) return;
  // Leave the registry before the range can be reused by another mapping.
  Unregister(region_);
  munmap(const_cast<uint8_t*>(data_), mapped_length_);
}

BigBuffer::~BigBuffer() { Clear(); }

void BigBuffer::Clear() {
  if (data_ != nullptr) munmap(data_, capacity_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

void BigBuffer::Reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  // Whole huge pages (2 MiB), and at least double, so that appends stay
  // amortised O(1) and the mapping keeps huge-page alignment in its size.
  constexpr size_t kStep = size_t{2} << 20;
  size_t want = bytes > capacity_ * 2 ? bytes : capacity_ * 2;
  if (want > SIZE_MAX - kStep) throw std::bad_alloc();
  want = (want + kStep - 1) & ~(kStep - 1);
  void* p = data_ == nullptr
                ? mmap(nullptr, want, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                : mremap(data_, capacity_, want, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (huge_pages_) madvise(p, want, MADV_HUGEPAGE);
  data_ = static_cast<uint8_t*>(p);
  capacity_ = want;
}

void BigBuffer::AssignZero(size_t bytes) {
  Clear();
  Reserve(bytes);
  size_ = bytes;
}

void MappedFile::Populate() const {
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14; older kernels answer EINVAL
#endif
  if (region_ != nullptr) {
    madvise(const_cast<uint8_t*>(data_), mapped_length_, MADV_POPULATE_READ);
  }
}

uint64_t MappedFile::faults() const {
  if (region_ == nullptr) return copy_faults_;
  return region_->faults.load(std::memory_order_acquire);
}

}  // namespace libmaps::internal
