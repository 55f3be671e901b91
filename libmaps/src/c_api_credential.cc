// extern "C" shims for libmaps/libmaps_credential.h.

#include <cstdlib>
#include <memory>
#include <optional>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "c_api_internal.h"
#include "libmaps/credential.h"
#include "libmaps/libmaps.h"
#include "libmaps/sasl_maps.h"

// Both ways to a credential (libmaps_credential_parse, libmaps_sasl_maps_find)
// keep it in locked memory.
struct libmaps_credential {
  libmaps::LockedCredential credential;
};

struct libmaps_sasl_maps {
  std::unique_ptr<libmaps::SaslPasswordMaps> maps;
};

namespace {

using libmaps::internal::CopyToC;
using libmaps::internal::Guard;
using libmaps::internal::SetError;
using libmaps::internal::ToResult;

std::string_view OrEmpty(const char* s) {
  return s == nullptr ? std::string_view() : std::string_view(s);
}

int OutOfMemory(char** errmsg) {
  SetError(errmsg, "out of memory");
  return LIBMAPS_ERR_NOMEM;
}

void FreeKeys(char** keys) {
  if (keys == nullptr) return;
  for (char** p = keys; *p != nullptr; ++p) std::free(*p);
  std::free(keys);
}

libmaps::SaslLookupContext ContextOf(const libmaps_sasl_lookup& in) {
  libmaps::SaslLookupContext context;
  context.sender = std::string(OrEmpty(in.sender));
  context.sender_dependent_authentication =
      (in.flags & LIBMAPS_SASL_SENDER_DEPENDENT) != 0;
  context.lmtp = (in.flags & LIBMAPS_SASL_LMTP) != 0;
  context.owner_request_special =
      (in.flags & LIBMAPS_SASL_NO_OWNER_REQUEST_SPECIAL) == 0;
  context.recipient_delimiter =
      std::string(OrEmpty(in.recipient_delimiter));
  if (in.is_local_domain != nullptr) {
    libmaps_is_local_domain_fn fn = in.is_local_domain;
    void* arg = in.is_local_domain_arg;
    context.is_local_domain = [fn, arg](std::string_view domain) {
      const std::string copy(domain);  // NUL-terminated for C
      return fn(arg, copy.c_str(), copy.size()) != 0;
    };
  }
  context.host = std::string(OrEmpty(in.host));
  context.dest = std::string(OrEmpty(in.dest));

  return context;
}

}  // namespace

extern "C" {

int libmaps_credential_parse(const char* value, size_t len,
                             libmaps_credential** out, char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (out == nullptr) {
      SetError(errmsg, "libmaps_credential_parse: out is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    *out = nullptr;
    if (value == nullptr && len > 0) {
      SetError(errmsg, "libmaps_credential_parse: value is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    const std::string_view text =
        value == nullptr ? std::string_view() : std::string_view(value, len);
    absl::StatusOr<libmaps::Credential> credential =
        libmaps::ParseCredentialValue(text);
    if (!credential.ok()) return ToResult(credential.status(), errmsg);
    absl::StatusOr<libmaps::LockedCredential> locked = libmaps::LockedCredential::Make(
        credential->username, credential->password.view());
    if (!locked.ok()) return OutOfMemory(errmsg);
    *out = new (std::nothrow) libmaps_credential{*std::move(locked)};
    if (*out == nullptr) {
      return OutOfMemory(errmsg);
    }
    return LIBMAPS_OK;
  });
}

const char* libmaps_credential_username(const libmaps_credential* credential,
                                        size_t* len) noexcept {
  if (credential == nullptr) {
    if (len != nullptr) *len = 0;
    return nullptr;
  }
  if (len != nullptr) *len = credential->credential.username().size();
  return credential->credential.username_c_str();
}

const char* libmaps_credential_password(const libmaps_credential* credential,
                                        size_t* len) noexcept {
  if (credential == nullptr) {
    if (len != nullptr) *len = 0;
    return nullptr;
  }
  if (len != nullptr) *len = credential->credential.password().size();
  return credential->credential.password_c_str();
}

void libmaps_credential_free(libmaps_credential* credential) noexcept {
  delete credential;  // ~LockedCredential zeroes the locked memory.
}

int libmaps_sasl_lookup_keys(const libmaps_sasl_lookup* lookup, char*** keys,
                             size_t* count, char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (keys == nullptr) {
      SetError(errmsg, "libmaps_sasl_lookup_keys: keys is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    *keys = nullptr;
    if (lookup == nullptr) {
      SetError(errmsg, "libmaps_sasl_lookup_keys: lookup is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    const libmaps::SaslLookupContext context = ContextOf(*lookup);
    const std::vector<std::string> result = libmaps::SaslLookupKeys(context);
    char** array =
        static_cast<char**>(std::calloc(result.size() + 1, sizeof(char*)));
    if (array == nullptr) return OutOfMemory(errmsg);
    for (std::size_t i = 0; i < result.size(); ++i) {
      array[i] = CopyToC(result[i]);
      if (array[i] == nullptr) {
        FreeKeys(array);
        return OutOfMemory(errmsg);
      }
    }
    *keys = array;
    if (count != nullptr) *count = result.size();
    return LIBMAPS_OK;
  });
}

void libmaps_sasl_lookup_keys_free(char** keys) noexcept { FreeKeys(keys); }

int libmaps_sasl_maps_open(const char* tables, unsigned flags, libmaps_sasl_maps** out,
                           char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (out == nullptr || tables == nullptr) {
      SetError(errmsg, "libmaps_sasl_maps_open: tables or out is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    *out = nullptr;
    absl::StatusOr<std::unique_ptr<libmaps::SaslPasswordMaps>> maps =
        libmaps::SaslPasswordMaps::Open(tables, libmaps::internal::OptionsFromFlags(flags));
    if (!maps.ok()) return ToResult(maps.status(), errmsg);
    *out = new (std::nothrow) libmaps_sasl_maps{*std::move(maps)};
    if (*out == nullptr) return OutOfMemory(errmsg);
    return LIBMAPS_OK;
  });
}

int libmaps_sasl_maps_find(const libmaps_sasl_maps* maps, const libmaps_sasl_lookup* lookup,
                           libmaps_credential** out, char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (out == nullptr || maps == nullptr || lookup == nullptr) {
      SetError(errmsg, "libmaps_sasl_maps_find: maps, lookup or out is NULL");
      return LIBMAPS_ERR_CONFIG;
    }
    *out = nullptr;
    absl::StatusOr<std::optional<libmaps::LockedCredential>> found =
        maps->maps->Find(ContextOf(*lookup));
    if (!found.ok()) return ToResult(found.status(), errmsg);
    if (!found->has_value()) return LIBMAPS_NOTFOUND;
    *out = new (std::nothrow) libmaps_credential{**std::move(found)};
    if (*out == nullptr) return OutOfMemory(errmsg);
    return LIBMAPS_OK;
  });
}

void libmaps_sasl_maps_close(libmaps_sasl_maps* maps) noexcept { delete maps; }

const char* libmaps_credential_key(const libmaps_credential* credential) noexcept {
  return credential == nullptr ? "" : credential->credential.key_c_str();
}

const char* libmaps_credential_table(const libmaps_credential* credential) noexcept {
  return credential == nullptr ? "" : credential->credential.table_c_str();
}

}  // extern "C"
