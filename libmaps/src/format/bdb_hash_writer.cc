#include "format/bdb_hash_writer.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/bdb_hash_format.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;

// The hash format version libdb 4.6 to 5.3 write; 5.3 cannot open 10.
constexpr uint32_t kVersion = 9;
// LSN (0, 1): "not logged", what libdb writes without transactions.
constexpr uint32_t kLsnOffset = 1;
// Page numbers are u32; page 0 is the meta page.
constexpr uint64_t kMaxPgno = std::numeric_limits<uint32_t>::max();
// db_verify rejects larger element counts as suspicious.
constexpr uint64_t kMaxNelem = 0x80000000u;
// Pages go to the sink in pieces of about this many bytes.
constexpr size_t kFlushBytes = size_t{1} << 20;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

using bdb::Encoder;

// Consecutive pages of the file, collected and handed to the sink in large
// pieces.
class PageRun {
 public:
  PageRun(BdbFileSink& sink, uint32_t page_size, uint64_t first_pgno)
      : sink_(sink), page_size_(page_size), next_(first_pgno), flushed_(first_pgno) {}

  uint64_t next_pgno() const { return next_; }

  // A zeroed page for number next_pgno(); valid until the next call.
  uint8_t* Append() {
    size_t at = buf_.size();
    buf_.resize(at + page_size_);
    ++next_;
    return buf_.data() + at;
  }

  absl::Status MaybeFlush() {
    return buf_.size() >= kFlushBytes ? Flush() : absl::OkStatus();
  }

  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    absl::Status s = sink_.Write(flushed_ * page_size_, buf_);
    buf_.clear();
    flushed_ = next_;
    return s;
  }

 private:
  BdbFileSink& sink_;
  uint64_t page_size_;
  uint64_t next_;     // number of the next page appended
  uint64_t flushed_;  // number of buf_'s first page
  std::vector<uint8_t> buf_;
};

// A stable merge sort of record indices. Unlike std::sort it stays within
// bounds even if `less` is not a consistent order, which libdb's key
// comparison is not for some keys without NULs (see the header).
template <typename Less>
void SortIndices(std::span<uint32_t> v, std::vector<uint32_t>& tmp, Less less) {
  constexpr size_t kRun = 8;
  const size_t n = v.size();
  for (size_t lo = 0; lo < n; lo += kRun) {
    const size_t hi = std::min(n, lo + kRun);
    for (size_t i = lo + 1; i < hi; ++i) {
      const uint32_t x = v[i];
      size_t j = i;
      for (; j > lo && less(x, v[j - 1]); --j) v[j] = v[j - 1];
      v[j] = x;
    }
  }
  if (n <= kRun) return;
  tmp.resize(n);
  for (size_t width = kRun; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      const size_t mid = std::min(n, lo + width), hi = std::min(n, lo + 2 * width);
      size_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) tmp[o++] = less(v[j], v[i]) ? v[j++] : v[i++];
      while (i < mid) tmp[o++] = v[i++];
      while (j < hi) tmp[o++] = v[j++];
    }
    std::copy(tmp.begin(), tmp.begin() + static_cast<ptrdiff_t>(n), v.begin());
  }
}

class Writer {
 public:
  Writer(std::span<const BdbRecord> records, const BdbHashWriterOptions& options,
         BdbFileSink& sink, std::span<const uint32_t> hashes)
      : records_(records),
        given_hashes_(hashes),
        options_(options),
        sink_(sink),
        enc_(options.big_endian),
        page_size_(options.page_size),
        usable_(options.page_size - b::kPageOverheadPlain),
        threshold_(options.page_size / 4) {}

  absl::StatusOr<BdbHashWriteStats> Run();

 private:
  bool Big(size_t n) const { return n > threshold_; }
  uint32_t ItemSize(size_t n) const {
    return Big(n) ? static_cast<uint32_t>(b::kOffPageSize) : static_cast<uint32_t>(n + 1);
  }
  // Bytes a pair takes on a bucket page, its two index slots included.
  uint32_t Footprint(const BdbRecord& r) const {
    return ItemSize(r.key.size()) + ItemSize(r.value.size()) + 4;
  }
  uint64_t OverflowPages(size_t n) const { return (n + usable_ - 1) / usable_; }

  void PageHeader(uint8_t* page, uint64_t pgno, uint64_t prev, uint64_t next,
                  uint8_t type) const {
    enc_.U32(page + b::kPageLsn, 0);
    enc_.U32(page + b::kPageLsn + 4, kLsnOffset);
    enc_.U32(page + b::kPagePgno, static_cast<uint32_t>(pgno));
    enc_.U32(page + b::kPagePrev, static_cast<uint32_t>(prev));
    enc_.U32(page + b::kPageNext, static_cast<uint32_t>(next));
    page[b::kPageLevel] = 0;
    page[b::kPageType] = type;
  }

  absl::Status WriteBucket(uint32_t bucket, std::span<const uint32_t> pairs);
  void WriteMeta(uint8_t* meta, uint32_t buckets, uint32_t log2_buckets,
                 uint64_t last_pgno) const;

  std::span<const BdbRecord> records_;
  std::span<const uint32_t> given_hashes_;
  const BdbHashWriterOptions& options_;
  BdbFileSink& sink_;
  const Encoder enc_;
  const uint32_t page_size_;
  const uint32_t usable_;
  const size_t threshold_;

  std::optional<PageRun> heads_;  // pages 1 .. buckets
  std::optional<PageRun> tail_;   // chained and overflow pages after them
  std::vector<uint32_t> page_starts_;
  std::vector<std::string_view> bigs_;
  BdbHashWriteStats stats_;
};

absl::StatusOr<BdbHashWriteStats> Writer::Run() {
  const size_t n = records_.size();
  if (n > std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError("too many records for one hash file");
  }
  uint64_t bytes = 0;
  for (const BdbRecord& r : records_) {
    if (r.key.size() >= kMaxPgno || r.value.size() >= kMaxPgno) {
      return absl::ResourceExhaustedError(
          "a key or value of 4 GiB or more does not fit in a hash file");
    }
    bytes += Footprint(r);
  }

  // The bucket count: a power of two, so that max_bucket = high_mask; the
  // smallest (densest file) at which at most a quarter of the buckets hold
  // more than a page of pairs and so need a chained page. The search starts
  // where the pairs would just fill one page per bucket.
  std::vector<uint32_t> hashes(n);
  if (given_hashes_.size() == n) {
    std::copy(given_hashes_.begin(), given_hashes_.end(), hashes.begin());
  } else {
    for (size_t i = 0; i < n; ++i) hashes[i] = b::Hash(Bytes(records_[i].key));
  }
  uint32_t log2_buckets = 1;
  while (log2_buckets < 31 && (uint64_t{usable_} << log2_buckets) < bytes) ++log2_buckets;
  std::vector<uint64_t> load;
  for (; log2_buckets < 31; ++log2_buckets) {
    const uint32_t mask = (uint32_t{1} << log2_buckets) - 1;
    load.assign(size_t{mask} + 1, 0);
    for (size_t i = 0; i < n; ++i) load[hashes[i] & mask] += Footprint(records_[i]);
    uint64_t chained = 0;
    for (uint64_t l : load) chained += l > usable_;
    if (chained * 4 <= uint64_t{mask} + 1) break;
  }
  load = {};
  const uint32_t buckets = uint32_t{1} << log2_buckets;
  const uint32_t mask = buckets - 1;
  stats_.buckets = buckets;

  // Records grouped by bucket (a counting sort), then sorted per bucket.
  std::vector<uint32_t>& bucket_of = hashes;
  std::vector<uint32_t> start(size_t{buckets} + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    bucket_of[i] &= mask;
    ++start[bucket_of[i] + 1];
  }
  for (uint32_t i = 0; i < buckets; ++i) start[i + 1] += start[i];
  std::vector<uint32_t> order(n);
  {
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) order[fill[bucket_of[i]]++] = static_cast<uint32_t>(i);
  }
  hashes = {};

  heads_.emplace(sink_, page_size_, 1);
  tail_.emplace(sink_, page_size_, uint64_t{buckets} + 1);
  std::vector<uint32_t> tmp;
  // The records come in bucket order, which is random in memory: fetch
  // the next buckets' records ahead (their entries two buckets ahead, their
  // keys one bucket ahead), and sort each bucket on copies of its keys, so
  // that the sort's comparisons touch cache-hot bytes only.
  auto prefetch_entries = [&](uint32_t b) {
    if (b >= buckets) return;
    for (uint32_t i = start[b]; i < start[b + 1]; ++i) __builtin_prefetch(&records_[order[i]]);
  };
  auto prefetch_keys = [&](uint32_t b) {
    if (b >= buckets) return;
    for (uint32_t i = start[b]; i < start[b + 1]; ++i) {
      __builtin_prefetch(records_[order[i]].key.data());
    }
  };
  prefetch_entries(0);
  prefetch_entries(1);
  prefetch_keys(0);
  std::string local_keys;
  std::vector<std::string_view> local;
  std::vector<uint32_t> slots;
  std::vector<uint32_t> sorted;
  for (uint32_t bucket = 0; bucket < buckets; ++bucket) {
    prefetch_entries(bucket + 2);
    prefetch_keys(bucket + 1);
    std::span<uint32_t> pairs(order.data() + start[bucket], start[bucket + 1] - start[bucket]);
    local_keys.clear();
    size_t total = 0;
    for (uint32_t r : pairs) total += records_[r].key.size();
    local_keys.reserve(total);
    local.clear();
    for (uint32_t r : pairs) local_keys.append(records_[r].key);
    for (size_t i = 0, at = 0; i < pairs.size(); ++i) {
      const size_t len = records_[pairs[i]].key.size();
      local.emplace_back(local_keys.data() + at, len);
      at += len;
    }
    slots.resize(pairs.size());
    for (uint32_t i = 0; i < pairs.size(); ++i) slots[i] = i;
    SortIndices(slots, tmp, [&](uint32_t x, uint32_t y) {
      return CompareBdbKeys(local[x], local[y], threshold_) < 0;
    });
    sorted.resize(pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) sorted[i] = pairs[slots[i]];
    std::copy(sorted.begin(), sorted.end(), pairs.begin());
    for (size_t i = 1; i < pairs.size(); ++i) {
      if (local[slots[i - 1]] == local[slots[i]]) {
        return absl::InvalidArgumentError(
            absl::StrCat("records ", pairs[i - 1], " and ", pairs[i], " have the same key"));
      }
    }
    if (absl::Status s = WriteBucket(bucket, pairs); !s.ok()) return s;
  }
  if (absl::Status s = heads_->Flush(); !s.ok()) return s;
  if (absl::Status s = tail_->Flush(); !s.ok()) return s;

  const uint64_t last_pgno = tail_->next_pgno() - 1;
  std::vector<uint8_t> meta(page_size_, 0);
  WriteMeta(meta.data(), buckets, log2_buckets, last_pgno);
  if (absl::Status s = sink_.Write(0, meta); !s.ok()) return s;
  stats_.pages = static_cast<uint32_t>(last_pgno + 1);
  return stats_;
}

absl::Status Writer::WriteBucket(uint32_t bucket, std::span<const uint32_t> pairs) {
  // Where the pages break: a pair goes on the current page if it fits.
  page_starts_.assign(1, 0);
  uint32_t room = usable_;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const uint32_t need = Footprint(records_[pairs[i]]);
    if (need > room) {
      page_starts_.push_back(static_cast<uint32_t>(i));
      room = usable_;
    }
    room -= need;
  }
  page_starts_.push_back(static_cast<uint32_t>(pairs.size()));

  // Page numbers: the chained pages first, then the overflow pages of the
  // bucket's big items in the order they appear.
  const uint64_t head = uint64_t{bucket} + 1;
  const uint64_t chain_first = tail_->next_pgno();
  const size_t chained = page_starts_.size() - 2;
  uint64_t overflow_next = chain_first + chained;
  auto pgno_of = [&](size_t j) { return j == 0 ? head : chain_first + j - 1; };
  bigs_.clear();

  for (size_t j = 0; j + 1 < page_starts_.size(); ++j) {
    uint8_t* page = j == 0 ? heads_->Append() : tail_->Append();
    PageHeader(page, pgno_of(j), j == 0 ? 0 : pgno_of(j - 1),
               j < chained ? pgno_of(j + 1) : 0, b::kPageHash);
    uint32_t entries = 0;
    uint32_t low = page_size_;  // lowest item offset so far
    auto put = [&](std::string_view item) {
      const uint32_t size = ItemSize(item.size());
      low -= size;
      uint8_t* p = page + low;
      if (Big(item.size())) {
        p[0] = b::kItemOffPage;
        enc_.U32(p + b::kOffPagePgno, static_cast<uint32_t>(overflow_next));
        enc_.U32(p + b::kOffPageLength, static_cast<uint32_t>(item.size()));
        overflow_next += OverflowPages(item.size());
        bigs_.push_back(item);
      } else {
        p[0] = b::kItemKeyData;
        if (!item.empty()) std::memcpy(p + 1, item.data(), item.size());
      }
      enc_.U16(page + b::kPageOverheadPlain + 2 * entries, low);
      ++entries;
    };
    for (uint32_t i = page_starts_[j]; i < page_starts_[j + 1]; ++i) {
      put(records_[pairs[i]].key);
      put(records_[pairs[i]].value);
    }
    enc_.U16(page + b::kPageEntries, entries);
    enc_.U16(page + b::kPageHfOffset, low);
  }
  if (overflow_next > kMaxPgno + 1) {
    return absl::ResourceExhaustedError("the hash file would need more than 2^32 pages");
  }
  stats_.chained_pages += static_cast<uint32_t>(chained);

  for (std::string_view item : bigs_) {
    const uint64_t count = OverflowPages(item.size());
    const uint64_t first = tail_->next_pgno();
    for (uint64_t k = 0; k < count; ++k) {
      const size_t off = static_cast<size_t>(k) * usable_;
      const size_t len = std::min<size_t>(usable_, item.size() - off);
      uint8_t* page = tail_->Append();
      PageHeader(page, first + k, k == 0 ? 0 : first + k - 1,
                 k + 1 < count ? first + k + 1 : 0, b::kPageOverflow);
      enc_.U16(page + b::kPageEntries, 1);  // reference count
      enc_.U16(page + b::kPageHfOffset, static_cast<uint32_t>(len));
      std::memcpy(page + b::kPageOverheadPlain, item.data() + off, len);
    }
    stats_.overflow_pages += static_cast<uint32_t>(count);
    if (absl::Status s = tail_->MaybeFlush(); !s.ok()) return s;
  }
  if (absl::Status s = heads_->MaybeFlush(); !s.ok()) return s;
  return tail_->MaybeFlush();
}

void Writer::WriteMeta(uint8_t* m, uint32_t buckets, uint32_t log2_buckets,
                       uint64_t last_pgno) const {
  enc_.U32(m + b::kMetaLsn, 0);
  enc_.U32(m + b::kMetaLsn + 4, kLsnOffset);
  enc_.U32(m + b::kMetaPgno, 0);
  enc_.U32(m + b::kMetaMagic, b::kHashMagic);
  enc_.U32(m + b::kMetaVersion, kVersion);
  enc_.U32(m + b::kMetaPageSize, page_size_);
  m[b::kMetaEncryptAlg] = 0;
  m[b::kMetaType] = b::kPageHashMeta;
  m[b::kMetaMetaFlags] = 0;
  enc_.U32(m + b::kMetaFree, 0);
  enc_.U32(m + b::kMetaLastPgno, static_cast<uint32_t>(last_pgno));
  enc_.U32(m + b::kMetaNparts, 0);
  enc_.U32(m + b::kMetaKeyCount, 0);
  enc_.U32(m + b::kMetaRecordCount, 0);
  enc_.U32(m + b::kMetaFlags, 0);
  std::memcpy(m + b::kMetaUid, options_.uid.data(), options_.uid.size());
  enc_.U32(m + b::kMetaMaxBucket, buckets - 1);
  enc_.U32(m + b::kMetaHighMask, buckets - 1);
  enc_.U32(m + b::kMetaLowMask, buckets / 2 - 1);
  enc_.U32(m + b::kMetaFfactor, 0);
  const uint64_t nelem =
      std::min<uint64_t>(uint64_t{options_.nelem_base} + records_.size(), kMaxNelem);
  enc_.U32(m + b::kMetaNelem, static_cast<uint32_t>(nelem));
  enc_.U32(m + b::kMetaCharKey, b::Hash(b::kCharKey));
  for (uint32_t i = 0; i <= log2_buckets; ++i) enc_.U32(m + b::kMetaSpares + 4 * i, 1);
}

bool IsValidPageSize(uint32_t p) {
  return p >= b::kMinPageSize && p <= b::kMaxPageSize && (p & (p - 1)) == 0;
}

}  // namespace

int CompareBdbKeys(std::string_view a, std::string_view b, size_t big_threshold) {
  const size_t n = std::min(a.size(), b.size());
  if (n > 0) {
    const int c = std::memcmp(a.data(), b.data(), n);
    if (c != 0) return c < 0 ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  // One is a prefix of the other. Among on-page keys libdb puts the longer
  // first; as soon as a big key is involved, the shorter.
  const bool big = a.size() > big_threshold || b.size() > big_threshold;
  const bool a_first = big ? a.size() < b.size() : a.size() > b.size();
  return a_first ? -1 : 1;
}

absl::StatusOr<BdbHashWriteStats> WriteBdbHash(std::span<const BdbRecord> records,
                                               const BdbHashWriterOptions& options,
                                               BdbFileSink& sink,
                                               std::span<const uint32_t> hashes) {
  if (!IsValidPageSize(options.page_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page size ", options.page_size, " is not a power of two from 512 to 65536"));
  }
  Writer writer(records, options, sink, hashes);
  return writer.Run();
}

absl::Status BdbStringSink::Write(uint64_t offset, std::span<const uint8_t> bytes) {
  const size_t end = static_cast<size_t>(offset) + bytes.size();
  if (out_->size() < end) out_->resize(end);
  if (!bytes.empty()) std::memcpy(out_->data() + offset, bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> WriteBdbHashToString(std::span<const BdbRecord> records,
                                                 const BdbHashWriterOptions& options,
                                                 BdbHashWriteStats* stats) {
  std::string out;
  BdbStringSink sink(&out);
  absl::StatusOr<BdbHashWriteStats> written = WriteBdbHash(records, options, sink);
  if (!written.ok()) return written.status();
  if (stats != nullptr) *stats = *written;
  return out;
}

uint32_t BdbPageSizeForBlockSize(uint64_t block_size) {
  constexpr uint32_t kMaxChosen = 16384;
  uint32_t size = b::kMinPageSize;
  while (size < kMaxChosen && uint64_t{size} * 2 <= block_size) size *= 2;
  return size;
}

std::array<uint8_t, 20> MakeBdbFileUid(uint64_t inode, uint64_t device) {
  std::array<uint8_t, 20> uid = {};
  const uint32_t ino = static_cast<uint32_t>(inode);
  const uint32_t dev = static_cast<uint32_t>(device);
  uint32_t unique = 0;
  if (::getrandom(&unique, sizeof unique, GRND_NONBLOCK) != sizeof unique) {
    struct timespec now;
    ::clock_gettime(CLOCK_REALTIME, &now);
    unique = static_cast<uint32_t>(now.tv_nsec) ^ static_cast<uint32_t>(now.tv_sec);
  }
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  std::memcpy(uid.data(), &ino, 4);
  std::memcpy(uid.data() + 4, &dev, 4);
  std::memcpy(uid.data() + 8, &unique, 4);
  std::memcpy(uid.data() + 12, &pid, 4);
  return uid;
}

}  // namespace libmaps::internal
