#include "libmaps/text.h"

#include <unicode/ucasemap.h>
#include <unicode/utypes.h>

#include <cstdint>
#include <memory>

namespace libmaps {
namespace {

constexpr bool IsAsciiUpper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

void LowerAsciiInPlace(std::string& s) {
  for (char& c : s) {
    if (IsAsciiUpper(static_cast<unsigned char>(c))) c = static_cast<char>(c + 32);
  }
}

struct CaseMapCloser {
  void operator()(UCaseMap* m) const { ucasemap_close(m); }
};

// One case map per thread: ICU's UCaseMap is not shareable across threads.
UCaseMap* ThreadCaseMap() {
  thread_local std::unique_ptr<UCaseMap, CaseMapCloser> map = [] {
    UErrorCode err = U_ZERO_ERROR;
    // Postfix asks for the "en_US" locale and default folding options.
    UCaseMap* m = ucasemap_open("en_US", U_FOLD_CASE_DEFAULT, &err);
    return std::unique_ptr<UCaseMap, CaseMapCloser>(U_FAILURE(err) ? nullptr : m);
  }();
  return map.get();
}

}  // namespace

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += len;
  }
  return true;
}

std::optional<std::string> FoldKey(std::string_view key, bool utf8) {
  std::string out(key);
  if (!utf8 || IsAscii(key)) {
    LowerAsciiInPlace(out);
    return out;
  }
  if (!IsValidUtf8(key)) return std::nullopt;
  UCaseMap* map = ThreadCaseMap();
  if (map == nullptr) return std::nullopt;
  // Full folding can grow a string (ß -> ss, ﬃ -> ffi): at most 3x per unit.
  out.resize(key.size() * 3 + 16);
  for (;;) {
    UErrorCode err = U_ZERO_ERROR;
    int32_t n = ucasemap_utf8FoldCase(map, out.data(),
                                      static_cast<int32_t>(out.size()),
                                      key.data(), static_cast<int32_t>(key.size()),
                                      &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.resize(static_cast<size_t>(n));
      continue;
    }
    if (U_FAILURE(err)) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
  }
}

std::string Printable(std::string_view s, bool utf8) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end && *p != 0) {
    unsigned char c = *p;
    if (c < 0x80 && c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
      ++p;
    } else if (utf8 && c >= 0xC2 && c <= 0xFE && p + 1 < end && p[1] >= 0x80 &&
               p[1] < 0xC0) {
      out.push_back(static_cast<char>(p[0]));
      out.push_back(static_cast<char>(p[1]));
      p += 2;
      while (p < end && *p >= 0x80 && *p < 0xC0) out.push_back(static_cast<char>(*p++));
    } else {
      out.push_back('?');
      ++p;
    }
  }
  return out;
}

namespace {
constexpr char kB64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
    out.push_back(kB64Alphabet[v & 63]);
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int have = 0;
    for (int j = 0; j < 4; ++j) {
      unsigned char c = static_cast<unsigned char>(text[i + j]);
      if (c == '=') break;
      v[j] = B64Value(c);
      if (v[j] < 0) return std::nullopt;
      ++have;
    }
    // '=' may only be the third or fourth character of a group.
    if (have < 2) return std::nullopt;
    if (have >= 2) out.push_back(static_cast<char>((v[0] << 2) | (v[1] >> 4)));
    if (have >= 3) out.push_back(static_cast<char>(((v[1] & 15) << 4) | (v[2] >> 2)));
    if (have == 4) out.push_back(static_cast<char>(((v[2] & 3) << 6) | v[3]));
    if (have < 4) break;  // stops at the first '='
  }
  return out;
}

}  // namespace libmaps
