// The extern "C" shims over the C++ API: no logic of their own.

#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "c_api_internal.h"
#include "libmaps/libmaps.h"
#include "libmaps/map.h"

struct libmaps_map {
  std::unique_ptr<libmaps::Map> map;
};

using libmaps::internal::CopyToC;
using libmaps::internal::Guard;
using libmaps::internal::SetError;
using libmaps::internal::ToResult;

extern "C" {

int libmaps_open(const char* spec, unsigned flags, libmaps_map** out,
                 char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (spec == nullptr || out == nullptr) {
      SetError(errmsg, "libmaps_open: null argument");
      return LIBMAPS_ERR_CONFIG;
    }
    auto map = libmaps::OpenMap(spec, libmaps::internal::OptionsFromFlags(flags));
    if (!map.ok()) return ToResult(map.status(), errmsg);
    *out = new libmaps_map{*std::move(map)};
    return LIBMAPS_OK;
  });
}

int libmaps_lookup(const libmaps_map* map, const char* key, size_t key_len,
                   char** value, size_t* value_len, char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (map == nullptr || (key == nullptr && key_len > 0) || value == nullptr) {
      SetError(errmsg, "libmaps_lookup: null argument");
      return LIBMAPS_ERR_CONFIG;
    }
    auto found = map->map->Lookup(std::string_view(key == nullptr ? "" : key, key_len));
    if (!found.ok()) return ToResult(found.status(), errmsg);
    if (!found->has_value()) return LIBMAPS_NOTFOUND;
    char* copy = CopyToC(**found);
    if (copy == nullptr) {
      SetError(errmsg, "out of memory");
      return LIBMAPS_ERR_NOMEM;
    }
    *value = copy;
    if (value_len != nullptr) *value_len = (*found)->size();
    return LIBMAPS_OK;
  });
}

int libmaps_lookup_each(const libmaps_map* map, const char* const* keys,
                        const size_t* key_lens, size_t n, libmaps_each_fn fn, void* ctx,
                        char** errmsg) noexcept {
  return Guard(errmsg, [&]() -> int {
    if (map == nullptr || fn == nullptr || (n > 0 && (keys == nullptr || key_lens == nullptr))) {
      SetError(errmsg, "libmaps_lookup_each: null argument");
      return LIBMAPS_ERR_CONFIG;
    }
    for (size_t i = 0; i < n; ++i) {
      if (keys[i] == nullptr && key_lens[i] > 0) {
        SetError(errmsg, "libmaps_lookup_each: null key");
        return LIBMAPS_ERR_CONFIG;
      }
    }
    std::vector<std::string_view> views;
    views.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      views.emplace_back(keys[i] == nullptr ? "" : keys[i], key_lens[i]);
    }
    int first_error = LIBMAPS_OK;
    map->map->LookupEach(
        views, [&](size_t i, const absl::StatusOr<std::optional<std::string_view>>& r) {
          if (!r.ok()) {
            int code = ToResult(r.status(), first_error == LIBMAPS_OK ? errmsg : nullptr);
            if (first_error == LIBMAPS_OK) first_error = code;
            return fn(ctx, i, code, nullptr, 0) != 0;
          }
          if (!r->has_value()) return fn(ctx, i, LIBMAPS_NOTFOUND, nullptr, 0) != 0;
          return fn(ctx, i, LIBMAPS_OK, (*r)->data(), (*r)->size()) != 0;
        });
    return first_error;
  });
}

void libmaps_close(libmaps_map* map) noexcept { delete map; }

void libmaps_free(void* p) noexcept { std::free(p); }

const char* libmaps_version(void) noexcept { return LIBMAPS_VERSION_STRING; }

void libmaps_set_read_into_memory(int enable) noexcept {
  libmaps::SetFileAccess(enable != 0 ? libmaps::FileAccess::kReadIntoMemory
                                     : libmaps::FileAccess::kMapWithSigbusHandler);
}

const char* libmaps_strerror(int result) noexcept {
  switch (result) {
    case LIBMAPS_OK: return "LIBMAPS_OK: success";
    case LIBMAPS_NOTFOUND: return "LIBMAPS_NOTFOUND: key not found";
    case LIBMAPS_ERR_RETRY: return "LIBMAPS_ERR_RETRY: temporary failure, try again later";
    case LIBMAPS_ERR_CONFIG: return "LIBMAPS_ERR_CONFIG: configuration or input error";
    case LIBMAPS_ERR_CORRUPT: return "LIBMAPS_ERR_CORRUPT: the file failed format checks";
    case LIBMAPS_ERR_NOMEM: return "LIBMAPS_ERR_NOMEM: out of memory";
    case LIBMAPS_ERR_INTERNAL: return "LIBMAPS_ERR_INTERNAL: internal error";
    default: return "unknown libmaps result";
  }
}

}  // extern "C"
