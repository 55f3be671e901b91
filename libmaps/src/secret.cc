#include "libmaps/secret.h"

#include <sodium.h>

#include <cstring>
#include <ostream>

namespace libmaps {
namespace {

// sodium_init() must run once before other libsodium calls; it is itself safe
// to call repeatedly, but the function-local static makes the first call
// thread-safe and the later ones free. Its result is deliberately ignored:
// sodium_memzero and sodium_memcmp need no initialised state, so a failure
// (which only concerns the random number generator) cannot affect them.
void EnsureSodiumInitialized() noexcept {
  static const int kInitResult = sodium_init();
  static_cast<void>(kInitResult);
}

void WipeAndFree(char* data, std::size_t size) noexcept {
  if (data == nullptr) return;
  sodium_memzero(data, size + 1);
  delete[] data;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  EnsureSodiumInitialized();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

SecretString::SecretString(std::string_view bytes) {
  EnsureSodiumInitialized();
  if (bytes.empty()) return;
  data_ = new char[bytes.size() + 1];
  std::memcpy(data_, bytes.data(), bytes.size());
  data_[bytes.size()] = '\0';
  size_ = bytes.size();
}

SecretString::~SecretString() { Clear(); }

SecretString::SecretString(SecretString&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretString SecretString::Clone() const { return SecretString(view()); }

std::string_view SecretString::view() const noexcept {
  if (data_ == nullptr) return std::string_view();
  return std::string_view(data_, size_);
}

const char* SecretString::c_str() const noexcept {
  return data_ == nullptr ? "" : data_;
}

void SecretString::Clear() noexcept {
  EnsureSodiumInitialized();
  WipeAndFree(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

bool operator==(const SecretString& a, const SecretString& b) noexcept {
  return ConstantTimeEquals(a.view(), b.view());
}

bool operator==(const SecretString& a, std::string_view b) noexcept {
  return ConstantTimeEquals(a.view(), b);
}

std::ostream& operator<<(std::ostream& os, const SecretString& /*secret*/) {
  return os << kRedacted;
}

void PrintTo(const SecretString& /*secret*/, std::ostream* os) {
  *os << kRedacted;
}

void WipeString(std::string* s) noexcept {
  if (s == nullptr) return;
  EnsureSodiumInitialized();
  // Growing to the capacity never reallocates, and makes every byte of the
  // buffer (short-string storage included) part of the string, so all of it
  // can be overwritten through data().
  s->resize(s->capacity());
  sodium_memzero(s->data(), s->size());
  s->clear();
}

}  // namespace libmaps
