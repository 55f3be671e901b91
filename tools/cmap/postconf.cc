#include "postconf.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace cmap {
namespace {

}  // namespace

std::string FindPostconf() {
  // CMAP_POSTCONF names the program, or (empty) says there is none: for
  // tests of the fallback, and for a postconf outside $PATH.
  if (const char* forced = std::getenv("CMAP_POSTCONF"); forced != nullptr) return forced;
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs;
  if (path != nullptr) dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/usr/local/sbin");
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/postconf";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

namespace {


// postconf -M prints one service per logical line; long ones are folded
// onto lines that start with whitespace.
std::vector<MasterService> ParseServices(const std::string& text) {
  std::vector<std::string> logical;
  for (const std::string& line : Lines(text)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !logical.empty()) {
      logical.back() += " " + line;
    } else {
      logical.push_back(line);
    }
  }
  std::vector<MasterService> services;
  for (const std::string& line : logical) {
    std::vector<std::string> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 8) continue;
    MasterService s{f[0], f[1], f[7], {}};
    for (size_t i = 8; i + 1 < f.size(); ++i) {
      if (f[i] == "-o") s.overrides.push_back(f[++i]);
    }
    services.push_back(std::move(s));
  }
  return services;
}

}  // namespace

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

int RunProgram(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return -1;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> args;
  std::vector<std::string> storage(argv);
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  // argv[0] is the program's base name: Postfix prefixes its messages with
  // it ("postconf: warning: ...").
  const std::string path = storage[0];
  const size_t slash = storage[0].rfind('/');
  if (slash != std::string::npos) storage[0].erase(0, slash + 1);
  args[0] = storage[0].data();
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return -1;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

std::optional<PostconfView> ReadPostconf(const std::string& config_dir, std::string* error) {
  PostconfView view;
  view.program = FindPostconf();
  if (view.program.empty()) return std::nullopt;
  // Only -x must work; -m, -A and -M add what they can.
  std::string ignored;
  auto run = [&](const char* option, std::string* out) -> bool {
    std::string* error_text = option == std::string_view("-x") ? error : &ignored;
    std::string err;
    const int status = RunProgram({view.program, "-c", config_dir, option}, out, &err);
    for (const std::string& line : Lines(err)) {
      absl::string_view text = line;
      if (absl::ConsumePrefix(&text, "postconf: warning: ")) {
        // Every run repeats main.cf's warnings; keep each once.
        std::string w(text);
        bool seen = false;
        for (const std::string& old : view.warnings) seen = seen || old == w;
        if (!seen) view.warnings.push_back(std::move(w));
      } else if (status != 0 && error_text->empty()) {
        absl::ConsumePrefix(&text, "postconf: fatal: ");
        *error_text = std::string(text);
      }
    }
    if (status != 0 && error_text->empty()) {
      *error_text = view.program + " " + option + (status < 0 ? ": could not run" : ": failed");
    }
    return status == 0;
  };
  std::string out;
  if (!run("-x", &out)) return view;
  for (const std::string& line : Lines(out)) {
    const size_t eq = line.find(" = ");
    if (eq != std::string::npos) {
      view.parameters[line.substr(0, eq)] = line.substr(eq + 3);
    } else if (!line.empty() && line.back() == '=') {
      view.parameters[std::string(absl::StripTrailingAsciiWhitespace(
          absl::string_view(line).substr(0, line.size() - 1)))] = "";
    }
  }
  out.clear();
  if (run("-m", &out)) {
    for (const std::string& t : Lines(out)) view.table_types.insert(t);
  }
  out.clear();
  if (run("-A", &out)) {
    for (const std::string& t : Lines(out)) view.client_sasl_types.insert(t);
  }
  out.clear();
  if (run("-M", &out)) view.services = ParseServices(out);
  return view;
}

}  // namespace cmap
