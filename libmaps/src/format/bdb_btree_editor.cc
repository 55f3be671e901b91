#include "format/bdb_btree_editor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/bdb_btree_format.h"
#include "format/bdb_btree_reader.h"
#include "format/bdb_btree_writer.h"
#include "mapped_file.h"
#include "file_util.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

namespace b = bdb;

absl::Status IoError(std::string_view op, std::string_view display) {
  return absl::UnavailableError(
      absl::StrCat(ToAbsl(op), " database ", ToAbsl(display), ": ", std::strerror(errno)));
}

class Editor final : public BdbEditor, private BdbFileSink {
 public:
  Editor(int fd, std::string display) : fd_(fd), display_(std::move(display)) {}

  // Maps the file as it is now and checks it.
  absl::Status Load() {
    reader_.reset();
    mapping_.reset();
    if (::fstat(fd_, &st_) != 0) return IoError("stat", display_);
    absl::StatusOr<std::unique_ptr<MappedFile>> mapping =
        MappedFile::Map(fd_, static_cast<uint64_t>(st_.st_size), display_);
    if (!mapping.ok()) return mapping.status();
    mapping_ = *std::move(mapping);
    absl::StatusOr<BdbBtreeReader> reader = BdbBtreeReader::Open(mapping_->bytes());
    if (!reader.ok()) return reader.status();
    if ((reader->flags() & b::kBtFlagRecnum) != 0) {
      return absl::FailedPreconditionError(
          "page 0: the btree keeps record numbers (DB_RECNUM), which a Postfix table "
          "never does; it can be read but not changed");
    }
    if (reader->root() != 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "page 0: the root is page ", reader->root(),
          ", not page 1; libdb never writes such a file, and it is not changed"));
    }
    reader_.emplace(*std::move(reader));
    return Unchanged();
  }

  absl::StatusOr<std::optional<std::string>> Find(std::string_view key) override {
    auto it = pending_.find(std::string(key));
    if (it != pending_.end()) return it->second;
    absl::StatusOr<std::optional<std::string>> found = reader_->Find(key);
    if (absl::Status s = Unchanged(); !s.ok()) return s;
    return found;
  }

  absl::Status Put(std::string_view key, std::string_view value) override {
    pending_[std::string(key)] = std::string(value);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Delete(std::string_view key) override {
    absl::StatusOr<std::optional<std::string>> old = Find(key);
    if (!old.ok()) return old.status();
    if (!old->has_value()) return false;
    pending_[std::string(key)] = std::nullopt;
    return true;
  }

  bool changed() const override { return !pending_.empty(); }

  absl::Status Commit() override;

  std::string Summary() const override {
    std::string s = absl::StrCat("rewritten in place: ", tree_pages_, " tree pages (",
                                 appended_, " appended), ", freed_, " free pages");
    if (!free_error_.empty()) absl::StrAppend(&s, "; ", free_error_);
    return s;
  }

 private:
  absl::Status Unchanged() const {
    if (mapping_->faults() != 0) {
      return absl::UnavailableError(absl::StrCat(
          "read database ", display_, ": the file shrank while it was being read"));
    }
    return absl::OkStatus();
  }

  // The tree writer's sink: everything but the root page (page 1) goes to
  // the file at once; the root waits in root_page_ for the commit point.
  absl::Status Write(uint64_t offset, std::span<const uint8_t> bytes) override {
    const uint64_t p = page_size_;
    if (holding_root_ && offset < 2 * p && offset + bytes.size() > p) {
      if (offset < p) {
        if (absl::Status s = WriteFile(offset, bytes.first(p - offset)); !s.ok()) return s;
        bytes = bytes.subspan(p - offset);
        offset = p;
      }
      const size_t here = std::min<uint64_t>(bytes.size(), 2 * p - offset);
      root_page_.resize(p);
      std::memcpy(root_page_.data() + (offset - p), bytes.data(), here);
      bytes = bytes.subspan(here);
      offset += here;
      if (bytes.empty()) return absl::OkStatus();
    }
    return WriteFile(offset, bytes);
  }

  absl::Status WriteFile(uint64_t offset, std::span<const uint8_t> bytes) {
    return PwriteAll(fd_, offset, bytes, display_);
  }

  absl::Status Sync() {
    if (::fdatasync(fd_) != 0) return IoError("fsync", display_);
    return absl::OkStatus();
  }

  absl::Status WriteMeta(const BdbBtreeWriterOptions& options, uint32_t root,
                         uint32_t last_pgno, uint32_t free_head) {
    std::vector<uint8_t> meta(options.page_size);
    FillBdbBtreeMeta(options, root, last_pgno, free_head, meta);
    if (absl::Status s = WriteFile(0, meta); !s.ok()) return s;
    return Sync();
  }

  // The records of the table with the pending changes applied, in key
  // order, copied out of the file (whose pages are about to be reused).
  absl::Status Merged(std::string* arena, std::vector<BdbRecord>* records) {
    std::vector<std::pair<size_t, size_t>> ends;  // key end, value end
    auto add = [&](std::string_view k, std::string_view v) {
      arena->append(k.data(), k.size());
      const size_t key_end = arena->size();
      arena->append(v.data(), v.size());
      ends.emplace_back(key_end, arena->size());
    };
    auto next = pending_.begin();
    auto flush_below = [&](std::string_view key) {
      for (; next != pending_.end() && std::string_view(next->first) < key; ++next) {
        if (next->second.has_value()) add(next->first, *next->second);
      }
    };
    absl::Status s = reader_->ForEach([&](std::string_view k, std::string_view v) {
      flush_below(k);
      if (next != pending_.end() && next->first == k) {
        if (next->second.has_value()) add(k, *next->second);
        ++next;
      } else {
        add(k, v);
      }
      return true;
    });
    if (!s.ok()) return s;
    if (absl::Status u = Unchanged(); !u.ok()) return u;
    for (; next != pending_.end(); ++next) {
      if (next->second.has_value()) add(next->first, *next->second);
    }
    records->clear();
    records->reserve(ends.size());
    size_t start = 0;
    std::string_view all(*arena);
    for (const auto& [key_end, value_end] : ends) {
      records->push_back(BdbRecord{all.substr(start, key_end - start),
                                   all.substr(key_end, value_end - key_end)});
      start = value_end;
    }
    return absl::OkStatus();
  }

  int fd_;
  std::string display_;
  struct stat st_;
  std::unique_ptr<MappedFile> mapping_;
  std::optional<BdbBtreeReader> reader_;
  std::map<std::string, std::optional<std::string>> pending_;  // nullopt: delete
  uint32_t page_size_ = 0;
  bool holding_root_ = false;
  std::vector<uint8_t> root_page_;
  uint32_t tree_pages_ = 0;
  uint32_t appended_ = 0;
  uint32_t freed_ = 0;
  std::string free_error_;
};

absl::Status Editor::Commit() {
  if (!changed()) return absl::OkStatus();
  const BdbBtreeReader& old = *reader_;
  std::string arena;
  std::vector<BdbRecord> records;
  if (absl::Status s = Merged(&arena, &records); !s.ok()) return s;

  // Pages the old tree uses; every other page may take the new tree.
  const uint32_t old_last = old.page_count() - 1;
  std::vector<bool> in_old(old.page_count(), false);
  if (absl::Status s = old.ForEachTreePage([&](uint32_t pgno) { in_old[pgno] = true; });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Unchanged(); !s.ok()) return s;

  BdbBtreeWriterOptions options;
  options.page_size = old.page_size();
  options.big_endian = old.big_endian();
  options.checksums = old.has_checksums();
  std::memcpy(options.uid.data(), mapping_->bytes().data() + b::kMetaUid, options.uid.size());

  // 1. Detach the free list if its pages may be reused.
  if (old.free_list() != 0) {
    if (absl::Status s = WriteMeta(options, old.root(), old_last, 0); !s.ok()) return s;
  }

  // 2. The new tree, on pages the old one does not use, but for its root,
  // which is held back: page 1 is the old tree's root too.
  uint32_t scan = 1;
  uint32_t last = old_last;
  std::vector<uint32_t> used = {1};
  auto alloc = [&]() -> uint32_t {
    while (scan <= old_last && in_old[scan]) ++scan;
    uint32_t pgno = scan <= old_last ? scan++ : ++last;
    used.push_back(pgno);
    return pgno;
  };
  page_size_ = options.page_size;
  holding_root_ = true;
  root_page_.clear();
  absl::StatusOr<BdbBtreeWriteStats> written = WriteBdbBtreeTree(records, options, alloc, *this);
  holding_root_ = false;
  absl::Status s = written.ok() ? Sync() : written.status();
  if (s.ok() && root_page_.size() != options.page_size) {
    s = absl::InternalError("the tree writer did not write a root page");
  }
  bool meta_grown = false;
  if (s.ok()) {
    last = std::max(last, written->last_pgno);
    // The new pages belong to the file (unreferenced) before the root is
    // written: libdb allocates after the meta page's last page.
    if (last > old_last) {
      meta_grown = true;  // even if only part of the write or its sync failed
      s = WriteMeta(options, 1, last, 0);
    }
  }
  // 3. The commit point: the new root replaces the old one.
  bool committed = false;
  if (s.ok()) {
    s = WriteFile(uint64_t{1} * options.page_size, root_page_);
    committed = s.ok();
  }
  if (s.ok()) s = Sync();
  if (!s.ok() && !committed) {
    // The old tree is whole: give back what was appended (the meta page
    // first, if it claimed the new pages already).
    if (meta_grown) (void)WriteMeta(options, 1, old_last, 0);
    if (last > old_last && ::ftruncate(fd_, st_.st_size) == 0) (void)::fdatasync(fd_);
    return s;
  }
  if (!s.ok()) {
    // The new root was written but not synced: the new tree is the table
    // (its pages were synced before), whether or not it reaches the disk.
    NudgeMtime(fd_, st_.st_mtim);
    pending_.clear();
    return s;
  }
  tree_pages_ = static_cast<uint32_t>(used.size());
  appended_ = last > old_last ? last - old_last : 0;

  // 4. Every page the new tree does not use goes on the free list.
  std::vector<bool> in_new(size_t{last} + 1, false);
  for (uint32_t pgno : used) in_new[pgno] = true;
  const b::Encoder enc(options.big_endian);
  // Free pages are chained in ascending order and written in runs of
  // consecutive pages, one pwrite per run (of at most 1 MiB).
  std::vector<uint32_t> free_pages;
  for (uint32_t pgno = 1; pgno <= last; ++pgno) {
    if (!in_new[pgno]) free_pages.push_back(pgno);
  }
  const uint32_t head = free_pages.empty() ? 0 : free_pages[0];
  freed_ = static_cast<uint32_t>(free_pages.size());
  absl::Status f;
  std::vector<uint8_t> run;
  uint32_t run_first = 0;
  for (size_t i = 0; i < free_pages.size() && f.ok(); ++i) {
    const uint32_t pgno = free_pages[i];
    if (run.empty()) run_first = pgno;
    const size_t at = run.size();
    run.resize(at + options.page_size, 0);
    uint8_t* page = run.data() + at;
    enc.U32(page + b::kPageLsn + 4, 1);
    enc.U32(page + b::kPagePgno, pgno);
    enc.U32(page + b::kPageNext, i + 1 < free_pages.size() ? free_pages[i + 1] : 0);
    enc.U16(page + b::kPageHfOffset, options.page_size);
    page[b::kPageType] = b::kPageInvalid;
    if (options.checksums) {
      enc.U32(page + b::kPageChecksum,
              b::PageChecksum(std::span<const uint8_t>(page, options.page_size), false));
    }
    const bool run_ends = i + 1 == free_pages.size() || free_pages[i + 1] != pgno + 1 ||
                          run.size() >= (size_t{1} << 20);
    if (run_ends) {
      f = WriteFile(uint64_t{run_first} * options.page_size, run);
      run.clear();
    }
  }
  if (f.ok()) f = Sync();
  if (f.ok()) f = WriteMeta(options, 1, last, head);
  if (!f.ok()) {
    // The new tree is in place; only the free list is missing (the pages
    // stay unreferenced until the next change reuses them).
    free_error_ = absl::StrCat("free list not written: ", f.message());
  }
  NudgeMtime(fd_, st_.st_mtim);
  pending_.clear();
  return Load();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BdbEditor>> BdbBtreeEditor::Open(int fd,
                                                               std::string_view display) {
  auto editor = std::make_unique<Editor>(fd, std::string(display));
  if (absl::Status s = editor->Load(); !s.ok()) return s;
  return std::unique_ptr<BdbEditor>(std::move(editor));
}

}  // namespace libmaps::internal
