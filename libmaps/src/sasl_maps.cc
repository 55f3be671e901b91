#include "libmaps/sasl_maps.h"

#include <cstring>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backends/rule_table.h"
#include "locked_memory.h"
#include "string_view_compat.h"

namespace libmaps {

LockedCredential::~LockedCredential() { Clear(); }

LockedCredential::LockedCredential(LockedCredential&& other) noexcept
    : data_(other.data_),
      capacity_(other.capacity_),
      username_size_(other.username_size_),
      password_size_(other.password_size_),
      key_size_(other.key_size_),
      table_size_(other.table_size_) {
  other.data_ = nullptr;
  other.capacity_ = other.username_size_ = other.password_size_ = 0;
  other.key_size_ = other.table_size_ = 0;
}

LockedCredential& LockedCredential::operator=(LockedCredential&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = other.data_;
    capacity_ = other.capacity_;
    username_size_ = other.username_size_;
    password_size_ = other.password_size_;
    key_size_ = other.key_size_;
    table_size_ = other.table_size_;
    other.data_ = nullptr;
    other.capacity_ = other.username_size_ = other.password_size_ = 0;
    other.key_size_ = other.table_size_ = 0;
  }
  return *this;
}

void LockedCredential::Clear() noexcept {
  internal::ReleaseLocked({data_, capacity_});
  data_ = nullptr;
  capacity_ = username_size_ = password_size_ = key_size_ = table_size_ = 0;
}

absl::StatusOr<LockedCredential> LockedCredential::Make(std::string_view username,
                                                        std::string_view password) {
  return MakeFound(username, password, {}, {});
}

absl::StatusOr<LockedCredential> LockedCredential::MakeFound(std::string_view username,
                                                             std::string_view password,
                                                             std::string_view key,
                                                             std::string_view table) {
  const internal::LockedBlock block = internal::AllocateLocked(
      username.size() + password.size() + key.size() + table.size() + 4);
  if (block.data == nullptr) {
    return absl::ResourceExhaustedError("out of locked memory for a credential");
  }
  LockedCredential c;
  c.data_ = block.data;
  c.capacity_ = block.size;
  char* p = c.data_;
  for (std::string_view part : {username, password, key, table}) {
    if (!part.empty()) std::memcpy(p, part.data(), part.size());
    p += part.size();
    *p++ = '\0';
  }
  c.username_size_ = username.size();
  c.password_size_ = password.size();
  c.key_size_ = key.size();
  c.table_size_ = table.size();
  return c;
}

std::string_view LockedCredential::username() const noexcept {
  return data_ == nullptr ? std::string_view() : std::string_view(data_, username_size_);
}
std::string_view LockedCredential::password() const noexcept {
  return data_ == nullptr ? std::string_view()
                          : std::string_view(data_ + username_size_ + 1, password_size_);
}
const char* LockedCredential::username_c_str() const noexcept {
  return data_ == nullptr ? "" : data_;
}
const char* LockedCredential::password_c_str() const noexcept {
  return data_ == nullptr ? "" : data_ + username_size_ + 1;
}
const char* LockedCredential::key_c_str() const noexcept {
  return data_ == nullptr ? "" : data_ + username_size_ + password_size_ + 2;
}
const char* LockedCredential::table_c_str() const noexcept {
  return data_ == nullptr ? "" : key_c_str() + key_size_ + 1;
}
std::string_view LockedCredential::key() const noexcept { return {key_c_str(), key_size_}; }
std::string_view LockedCredential::table() const noexcept {
  return {table_c_str(), table_size_};
}

absl::StatusOr<std::unique_ptr<SaslPasswordMaps>> SaslPasswordMaps::Open(
    std::string_view tables, const OpenOptions& options) {
  std::unique_ptr<SaslPasswordMaps> maps(new SaslPasswordMaps());
  for (std::string_view item : internal::SplitBraceList(tables)) {
    absl::StatusOr<std::unique_ptr<Map>> map = OpenMap(item, options);
    if (!map.ok()) return map.status();
    maps->maps_.push_back(*std::move(map));
    maps->specs_.emplace_back(item);
  }
  if (maps->maps_.empty()) {
    return absl::InvalidArgumentError("no table in the list (smtp_sasl_password_maps is empty)");
  }
  return maps;
}

absl::StatusOr<std::optional<LockedCredential>> SaslPasswordMaps::Find(
    const SaslLookupContext& context) const {
  return FindKeys(SaslLookupKeys(context));
}

absl::StatusOr<std::optional<LockedCredential>> SaslPasswordMaps::FindKeys(
    const std::vector<std::string>& keys) const {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  // Postfix asks key by key, each key of every table in turn. Here each
  // table answers all the keys that still matter in one LookupEach() (one
  // lock for them): a hit or an error at key i of table t is the answer
  // unless an earlier table meets something at a key before i, so table t
  // is only asked the keys before the best event so far.
  struct Search {
    const SaslPasswordMaps* self;
    const std::vector<std::string>* keys;
    size_t table = 0;
    size_t best_key = 0;
    std::optional<LockedCredential> best;
    absl::Status best_error;

    bool On(size_t i, const absl::StatusOr<std::optional<std::string_view>>& result) {
      if (!result.ok()) {
        const std::string_view m(result.status().message().data(),
                                 result.status().message().size());
        best_error = m.find(self->maps_[table]->name()) != std::string_view::npos
                         ? result.status()
                         : absl::Status(result.status().code(),
                                        absl::StrCat("table ", self->specs_[table], ": ",
                                                     internal::ToAbsl(m)));
        best.reset();
        best_key = i;
        return false;
      }
      if (!result->has_value()) return true;
      const std::string_view value = **result;
      const size_t colon = value.find(':');
      absl::StatusOr<LockedCredential> c = LockedCredential::MakeFound(
          value.substr(0, colon),
          colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1),
          (*keys)[i], self->specs_[table]);
      if (!c.ok()) {
        best_error = c.status();
        best.reset();
      } else {
        best = *std::move(c);
        best_error = absl::OkStatus();
      }
      best_key = i;
      return false;
    }
  } search{this, &keys};
  search.best_key = views.size();
  for (; search.table < maps_.size() && search.best_key > 0; ++search.table) {
    // One pointer captured: the std::function holds it without allocating.
    maps_[search.table]->LookupEach(
        std::span<const std::string_view>(views.data(), search.best_key),
        [s = &search](size_t i, const absl::StatusOr<std::optional<std::string_view>>& r) {
          return s->On(i, r);
        });
  }
  if (!search.best_error.ok()) return search.best_error;
  return std::move(search.best);
}

}  // namespace libmaps
