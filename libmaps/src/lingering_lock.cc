#include "lingering_lock.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <new>
#include <condition_variable>
#include <thread>
#include <utility>
#include <vector>

namespace libmaps::internal {
namespace {

// Incremented in every child of fork(): a lock a parent took is not the
// child's to trust.
std::atomic<uint64_t> g_fork_generation{0};

// The process's one reaper thread: it lets go of lingering locks nobody has
// used for kLingerNs. Started on first need; it sleeps on a condition
// variable while no lock lingers, so an idle process has no wake-ups.
class Reaper {
 public:
  static Reaper& Get() {
    static Reaper* reaper = new Reaper;  // never destroyed: the thread may outlive main
    return *reaper;
  }

  // False when there is no thread to let the lock go (none could be
  // started): the caller lets it go itself.
  bool Add(std::weak_ptr<LingeringLock> lock, int64_t due) {
    std::lock_guard<std::mutex> guard(mu_);
    if (!running_ && !Start()) return false;
    try {
      pending_.push_back(std::move(lock));
    } catch (const std::bad_alloc&) {
      return false;  // out of memory: the caller lets the lock go now
    }
    if (due < wake_at_) cv_.notify_one();
    return true;
  }

 private:
  Reaper() {
    pthread_atfork([] { Get().mu_.lock(); }, [] { Get().mu_.unlock(); },
                   [] {
                     Reaper& r = Get();
                     g_fork_generation.fetch_add(1, std::memory_order_relaxed);
                     // The parent's thread does not exist here; the weak
                     // pointers are the parent's business too.
                     r.running_ = false;
                     // The parent's thread may have been waiting on cv_: in
                     // the child its state would block the next notify for
                     // ever. A fresh one (the old one is left as it is).
                     new (&r.cv_) std::condition_variable;
                     r.pending_.clear();
                     r.wake_at_ = 0;
                     r.mu_.unlock();
                   });
  }

  // With mu_ held. The thread gets every signal blocked, so that signals go
  // to the application's threads.
  bool Start() {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      std::thread([this] { Run(); }).detach();
      running_ = true;
      wake_at_ = INT64_MAX;
    } catch (const std::system_error&) {
      // No thread (out of resources): try again at the next Add.
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return running_;
  }

  void Run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (pending_.empty()) {
        wake_at_ = INT64_MAX;
        cv_.wait(lk, [&] { return !pending_.empty(); });
      }
      std::vector<std::weak_ptr<LingeringLock>> work;
      work.swap(pending_);
      wake_at_ = 0;  // busy: an Add meanwhile needs no notify (see below)
      lk.unlock();
      // Each lock's own mutex is taken without mu_ held (Release() takes
      // them in the other order).
      int64_t next = INT64_MAX;
      std::vector<std::weak_ptr<LingeringLock>> keep;
      const int64_t now = LingeringLock::Now();
      for (std::weak_ptr<LingeringLock>& weak : work) {
        std::shared_ptr<LingeringLock> lock = weak.lock();
        if (lock == nullptr) continue;
        const int64_t due = lock->ReleaseIfIdle(now);
        if (due == 0) continue;
        next = std::min(next, due);
        keep.push_back(std::move(weak));
      }
      work.clear();
      lk.lock();
      // Locks added while this pass ran are due within kLingerNs.
      if (!pending_.empty()) next = std::min(next, LingeringLock::Now() + LingeringLock::kLingerNs);
      for (auto& weak : keep) pending_.push_back(std::move(weak));
      if (!pending_.empty()) {
        wake_at_ = next;
        const int64_t wait_ns = std::max<int64_t>(next - LingeringLock::Now(), 0);
        cv_.wait_for(lk, std::chrono::nanoseconds(wait_ns));
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<LingeringLock>> pending_;
  bool running_ = false;
  int64_t wake_at_ = 0;  // when the thread wakes by itself (INT64_MAX: never)
};

}  // namespace

int64_t LingeringLock::Now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool LingeringLock::HeldHere() const {
  return held_ && fork_generation_ == g_fork_generation.load(std::memory_order_relaxed);
}

absl::Status LingeringLock::Acquire(bool* fresh) {
  std::lock_guard<std::mutex> guard(mu_);
  if (fresh != nullptr) *fresh = false;
  if (holders_ > 0 && HeldHere()) {
    ++holders_;
    return absl::OkStatus();
  }
  if (!HeldHere()) {
    // Never held, let go by the reaper, or a parent's (after fork: the
    // child's counts start afresh).
    held_ = false;
    registered_ = false;
    holders_ = 0;
  } else if (Now() - taken_at_ >= kMaxHoldNs) {
    // Held long enough: a writer waiting for the file gets its turn now.
    // Letting go is not enough: the kernel wakes a waiting writer, but a
    // shared lock asked for at once is granted before the writer runs
    // (flock grants whatever does not conflict with locks held, waiters
    // aside), and a reader that looks up without a pause would starve it
    // for good (tests/unit/fastpath_test.cc:
    // AWaitingWriterGetsInWhileLookupsGoOn). So the lookup waits kTurnNs
    // first; other threads wait for it on mu_. At most 1/40 of a busy
    // reader's time.
    (void)lock_(false);
    held_ = false;
    const struct timespec turn = {0, kTurnNs};
    ::nanosleep(&turn, nullptr);
  }
  if (!held_) {
    if (absl::Status s = lock_(true); !s.ok()) return s;
    held_ = true;
    fork_generation_ = g_fork_generation.load(std::memory_order_relaxed);
    taken_at_ = Now();
    if (fresh != nullptr) *fresh = true;
  }
  ++holders_;
  return absl::OkStatus();
}

void LingeringLock::Release() {
  std::lock_guard<std::mutex> guard(mu_);
  if (holders_ == 0 || --holders_ > 0 || !held_) return;
  if (linger_ && !self_.expired()) {
    idle_since_ = Now();
    if (registered_) return;
    if (Reaper::Get().Add(self_, idle_since_ + kLingerNs)) {
      registered_ = true;
      return;
    }
  }
  (void)lock_(false);
  held_ = false;
}

void LingeringLock::ReleaseNow() {
  std::lock_guard<std::mutex> guard(mu_);
  if (holders_ > 0 || !HeldHere()) return;
  (void)lock_(false);
  held_ = false;
}

int64_t LingeringLock::ReleaseIfIdle(int64_t now) {
  std::lock_guard<std::mutex> guard(mu_);
  if (!HeldHere()) {
    registered_ = false;
    return 0;
  }
  if (holders_ > 0) return now + kLingerNs;  // in use: look again later
  if (now - idle_since_ < kLingerNs) return idle_since_ + kLingerNs;
  (void)lock_(false);
  held_ = false;
  registered_ = false;
  return 0;
}

}  // namespace libmaps::internal
