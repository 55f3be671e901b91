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
      key_(std::move(other.key_)),
      table_(std::move(other.table_)) {
  other.data_ = nullptr;
  other.capacity_ = other.username_size_ = other.password_size_ = 0;
}

LockedCredential& LockedCredential::operator=(LockedCredential&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = other.data_;
    capacity_ = other.capacity_;
    username_size_ = other.username_size_;
    password_size_ = other.password_size_;
    key_ = std::move(other.key_);
    table_ = std::move(other.table_);
    other.data_ = nullptr;
    other.capacity_ = other.username_size_ = other.password_size_ = 0;
  }
  return *this;
}

void LockedCredential::Clear() noexcept {
  internal::ReleaseLocked({data_, capacity_});
  data_ = nullptr;
  capacity_ = username_size_ = password_size_ = 0;
}

absl::StatusOr<LockedCredential> LockedCredential::Make(std::string_view username,
                                                        std::string_view password) {
  const internal::LockedBlock block =
      internal::AllocateLocked(username.size() + password.size() + 2);
  if (block.data == nullptr) {
    return absl::ResourceExhaustedError("out of locked memory for a credential");
  }
  LockedCredential c;
  c.data_ = block.data;
  c.capacity_ = block.size;
  if (!username.empty()) std::memcpy(c.data_, username.data(), username.size());
  c.data_[username.size()] = '\0';
  if (!password.empty()) std::memcpy(c.data_ + username.size() + 1, password.data(), password.size());
  c.data_[username.size() + 1 + password.size()] = '\0';
  c.username_size_ = username.size();
  c.password_size_ = password.size();
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
  size_t best_key = views.size();
  std::optional<LockedCredential> best;
  absl::Status best_error;
  for (size_t t = 0; t < maps_.size() && best_key > 0; ++t) {
    const Map& map = *maps_[t];
    maps_[t]->LookupEach(
        std::span<const std::string_view>(views.data(), best_key),
        [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& result) {
          if (!result.ok()) {
            std::string_view m(result.status().message().data(),
                               result.status().message().size());
            best_error = m.find(map.name()) != std::string_view::npos
                             ? result.status()
                             : absl::Status(result.status().code(),
                                            absl::StrCat("table ", specs_[t], ": ", internal::ToAbsl(m)));
            best.reset();
            best_key = i;
            return false;
          }
          if (!result->has_value()) return true;
          const std::string_view value = **result;
          const size_t colon = value.find(':');
          absl::StatusOr<LockedCredential> c =
              colon == std::string_view::npos
                  ? LockedCredential::Make(value, {})
                  : LockedCredential::Make(value.substr(0, colon), value.substr(colon + 1));
          if (!c.ok()) {
            best_error = c.status();
            best.reset();
          } else {
            c->key_ = keys[i];
            c->table_ = specs_[t];
            best = *std::move(c);
            best_error = absl::OkStatus();
          }
          best_key = i;
          return false;
        });
  }
  if (!best_error.ok()) return best_error;
  return best;
}

}  // namespace libmaps
