#include "log.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cmap {

const char* LevelWord(LogLevel level) {
  switch (level) {
    case LogLevel::kWarning: return "warning: ";
    case LogLevel::kError: return "error: ";
    case LogLevel::kFatal: return "fatal: ";
    case LogLevel::kInfo: break;
  }
  return "";
}

namespace {

// Postfix's mapping of its levels onto syslog priorities (fatal is crit).
int Priority(LogLevel level) {
  switch (level) {
    case LogLevel::kWarning: return LOG_WARNING;
    case LogLevel::kError: return LOG_ERR;
    case LogLevel::kFatal: return LOG_CRIT;
    case LogLevel::kInfo: break;
  }
  return LOG_INFO;
}

int Facility(std::string_view name) {
  static constexpr struct {
    const char* name;
    int facility;
  } kFacilities[] = {
      {"mail", LOG_MAIL},     {"user", LOG_USER},     {"daemon", LOG_DAEMON},
      {"auth", LOG_AUTH},     {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
  };
  for (const auto& f : kFacilities) {
    if (name == f.name) return f.facility;
  }
  return LOG_MAIL;
}

}  // namespace

LogTrail& LogTrail::Get() {
  static LogTrail trail;
  return trail;
}

std::string LogTrail::Configure(const libmaps::PostfixConfig& config) {
  ident_ = libmaps::GetParameter(config, "syslog_name", "postfix") + "/cmap";
  facility_ = Facility(libmaps::GetParameter(config, "syslog_facility", "mail"));
  if (syslog_open_) {
    ::closelog();
    syslog_open_ = false;
  }
  const std::string file = libmaps::GetParameter(config, "maillog_file");
  if (file.empty()) return "";
  const std::string prefixes =
      libmaps::GetParameter(config, "maillog_file_prefixes", "/var, /dev/stdout");
  bool allowed = false;
  for (absl::string_view prefix :
       absl::StrSplit(prefixes, absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty())) {
    if (file.compare(0, prefix.size(), prefix.data(), prefix.size()) == 0) allowed = true;
  }
  if (!allowed) {
    return "maillog_file value '" + file +
           "' does not match any prefix in maillog_file_prefixes";
  }
  postlog_socket_ = libmaps::GetParameter(config, "queue_directory", "/var/spool/postfix") +
                    "/public/" + libmaps::GetParameter(config, "postlog_service_name", "postlog");
  return "";
}

void LogTrail::Write(LogLevel level, std::string_view text) {
  if (!postlog_socket_.empty()) {
    SendPostlog(level, text);
    return;
  }
  if (!syslog_open_) {
    // openlog keeps the pointer: ident_ lives as long as the process.
    ::openlog(ident_.c_str(), LOG_PID, facility_ != 0 ? facility_ : LOG_MAIL);
    syslog_open_ = true;
  }
  const std::string line = LevelWord(level) + std::string(text);
  ::syslog(Priority(level), "%s", line.c_str());
}

// One datagram per message, in the form postlogd writes to maillog_file:
// "Mon dd hh:mm:ss host tag[pid]: text". A missing socket (postlogd not
// running) loses the message, as it does for postmap.
void LogTrail::SendPostlog(LogLevel level, std::string_view text) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (postlog_socket_.size() >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, postlog_socket_.c_str(), postlog_socket_.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  char stamp[32] = "";
  const time_t now = ::time(nullptr);
  struct tm tm;
  if (::localtime_r(&now, &tm) != nullptr) std::strftime(stamp, sizeof stamp, "%b %d %H:%M:%S", &tm);
  char host[256] = "localhost";
  (void)::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  const std::string line = std::string(stamp) + " " + host + " " + ident_ + "[" +
                           std::to_string(::getpid()) + "]: " + LevelWord(level) +
                           std::string(text);
  (void)::sendto(fd, line.data(), line.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::close(fd);
}

}  // namespace cmap
