// extern "C" shims for libmaps/libmaps_credential.h.

#include <cstdlib>
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

struct libmaps_credential {
  libmaps::Credential credential;
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
    *out = new (std::nothrow) libmaps_credential{*std::move(credential)};
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
  if (len != nullptr) *len = credential->credential.username.size();
  return credential->credential.username.c_str();
}

const char* libmaps_credential_password(const libmaps_credential* credential,
                                        size_t* len) noexcept {
  if (credential == nullptr) {
    if (len != nullptr) *len = 0;
    return nullptr;
  }
  if (len != nullptr) *len = credential->credential.password.size();
  return credential->credential.password.c_str();
}

void libmaps_credential_free(libmaps_credential* credential) noexcept {
  delete credential;  // ~SecretString wipes the password.
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
    libmaps::SaslLookupContext context;
    context.sender = std::string(OrEmpty(lookup->sender));
    context.sender_dependent_authentication =
        (lookup->flags & LIBMAPS_SASL_SENDER_DEPENDENT) != 0;
    context.lmtp = (lookup->flags & LIBMAPS_SASL_LMTP) != 0;
    context.owner_request_special =
        (lookup->flags & LIBMAPS_SASL_NO_OWNER_REQUEST_SPECIAL) == 0;
    context.recipient_delimiter =
        std::string(OrEmpty(lookup->recipient_delimiter));
    if (lookup->is_local_domain != nullptr) {
      libmaps_is_local_domain_fn fn = lookup->is_local_domain;
      void* arg = lookup->is_local_domain_arg;
      context.is_local_domain = [fn, arg](std::string_view domain) {
        const std::string copy(domain);  // NUL-terminated for C
        return fn(arg, copy.c_str(), copy.size()) != 0;
      };
    }
    context.host = std::string(OrEmpty(lookup->host));
    context.dest = std::string(OrEmpty(lookup->dest));

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

}  // extern "C"
