#include "value_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "libmaps/text.h"
#include "string_view_compat.h"

namespace libmaps::internal {
namespace {

absl::Status FileError(std::string_view what, const std::string& name, int err) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(what), " ", name, ": ", std::strerror(err)));
}

absl::Status AppendFile(const std::string& name, std::string* out) {
  int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError("open", name, errno);
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return FileError("read", name, err);
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadValueFiles(std::string_view list) {
  constexpr std::string_view kSeparators = ", \t\r\n";
  std::string contents;
  bool any = false;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t start = list.find_first_not_of(kSeparators, pos);
    if (start == list.npos) break;
    size_t end = list.find_first_of(kSeparators, start);
    if (end == list.npos) end = list.size();
    if (any) contents.push_back('\n');
    any = true;
    if (absl::Status s = AppendFile(std::string(list.substr(start, end - start)),
                                    &contents);
        !s.ok()) {
      return s;
    }
    pos = end;
  }
  if (!any) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty pathname list: >>", ToAbsl(list), "<<'"));
  }
  return Base64Encode(contents);
}

}  // namespace libmaps::internal
