// Helpers shared by the extern "C" shims (c_api.cc, c_api_credential.cc).

#ifndef LIBMAPS_SRC_C_API_INTERNAL_H_
#define LIBMAPS_SRC_C_API_INTERNAL_H_

#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "absl/status/status.h"
#include "libmaps/libmaps.h"
#include "libmaps/map.h"
#include "string_view_compat.h"

namespace libmaps::internal {

// The OpenOptions of libmaps_open's LIBMAPS_OPEN_* flags.
inline OpenOptions OptionsFromFlags(unsigned flags) {
  OpenOptions options;
  options.fold_case = (flags & LIBMAPS_OPEN_NO_FOLD) == 0;
  options.utf8 = (flags & LIBMAPS_OPEN_NO_UTF8) == 0;
  options.values_are_files = (flags & LIBMAPS_OPEN_VALUES_ARE_FILES) != 0;
  if (flags & LIBMAPS_OPEN_SNAPSHOT) {
    options.lock = LockPolicy::kSnapshot;
  } else if (flags & LIBMAPS_OPEN_NO_LINGER) {
    options.lock = LockPolicy::kPerLookupStrict;
  }
  if (flags & LIBMAPS_OPEN_DUP_REPLACE) {
    options.duplicates = DuplicatePolicy::kReplace;
  } else if (flags & LIBMAPS_OPEN_DUP_WARN) {
    options.duplicates = DuplicatePolicy::kIgnore;
  }
  return options;
}

// A malloc'ed, NUL-terminated copy of `s`, or nullptr when out of memory.
inline char* CopyToC(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}

// Stores `message` in *errmsg (if errmsg is not null) as the C API promises.
inline void SetError(char** errmsg, std::string_view message) {
  if (errmsg == nullptr) return;
  std::free(*errmsg);
  *errmsg = CopyToC(message);
}

// Maps a status onto a libmaps_result and fills *errmsg on failure.
inline int ToResult(const absl::Status& status, char** errmsg) {
  if (status.ok()) return LIBMAPS_OK;
  SetError(errmsg, ToStd(status.message()));
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return LIBMAPS_ERR_RETRY;
    case absl::StatusCode::kDataLoss:
      return LIBMAPS_ERR_CORRUPT;
    case absl::StatusCode::kResourceExhausted:
      return LIBMAPS_ERR_NOMEM;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return LIBMAPS_ERR_INTERNAL;
    default:
      return LIBMAPS_ERR_CONFIG;
  }
}

// Runs `body` (returning int) and turns any escaping exception into a result
// code: no exception may cross into C.
template <typename F>
int Guard(char** errmsg, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    SetError(errmsg, "out of memory");
    return LIBMAPS_ERR_NOMEM;
  } catch (...) {
    SetError(errmsg, "internal error");
    return LIBMAPS_ERR_INTERNAL;
  }
}

}  // namespace libmaps::internal

#endif  // LIBMAPS_SRC_C_API_INTERNAL_H_
