// Where cmap's warnings and fatal errors go besides standard error: the
// mail log, as Postfix's own commands log. postmap logs every message it
// prints to syslog (facility $syslog_facility, tag "$syslog_name/postmap"),
// or, when main.cf sets maillog_file, to the postlogd(8) socket
// $queue_directory/public/postlog (refusing to run when maillog_file does
// not start with one of $maillog_file_prefixes). cmap does the same with
// the tag "$syslog_name/cmap". Messages are logged exactly as printed,
// so the same redaction applies: no message of cmap holds a value.

#ifndef LIBMAPS_TOOLS_CMAP_LOG_H_
#define LIBMAPS_TOOLS_CMAP_LOG_H_

#include <string>
#include <string_view>

#include "libmaps/postfix_config.h"

namespace cmap {

enum class LogLevel { kInfo, kWarning, kError, kFatal };

// "warning: ", "error: ", "fatal: ", or "" for kInfo: the word Postfix
// puts before a message, on stderr and in the log alike.
const char* LevelWord(LogLevel level);

class LogTrail {
 public:
  // The process's trail (syslog is per process). Until Configure, messages
  // go to syslog as "postfix/cmap", as postmap's do before it reads main.cf.
  static LogTrail& Get();

  // Takes syslog_name, syslog_facility, maillog_file and its prefixes from
  // main.cf. Returns the fatal message when maillog_file is not allowed
  // (postmap's wording), else "".
  std::string Configure(const libmaps::PostfixConfig& config);

  // Logs "LEVEL: text" ("text" for kInfo).
  void Write(LogLevel level, std::string_view text);

 private:
  LogTrail() = default;
  void SendPostlog(LogLevel level, std::string_view text);

  std::string ident_ = "postfix/cmap";
  int facility_ = 0;  // 0: LOG_MAIL
  bool syslog_open_ = false;
  std::string postlog_socket_;  // not empty: maillog_file is set
};

}  // namespace cmap

#endif  // LIBMAPS_TOOLS_CMAP_LOG_H_
