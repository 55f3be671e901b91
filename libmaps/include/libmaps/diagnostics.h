// libmaps/diagnostics.h: how libmaps reports warnings that are not errors.
//
// Postfix keeps going after most problems in a source file (a line without a
// value, a duplicate key, invalid UTF-8) and logs a warning. libmaps does the
// same and hands each warning to a DiagnosticSink supplied by the caller. The
// text is Postfix's wording without the program name and severity prefix,
// e.g. `sasl_passwd, line 3: expected format: key whitespace value`.
//
// Secrets: a diagnostic never contains the value part of a source line. Where
// Postfix quotes a whole input line, libmaps quotes it up to the end of its
// first word and replaces the rest with `...` (see docs/source-format.md).
//
// Thread safety: a sink may be called from any thread that calls into a map
// holding it; sinks shared between threads must synchronise themselves.

#ifndef LIBMAPS_INCLUDE_LIBMAPS_DIAGNOSTICS_H_
#define LIBMAPS_INCLUDE_LIBMAPS_DIAGNOSTICS_H_

#include <functional>
#include <string_view>

namespace libmaps {

enum class Severity {
  kWarning,  // Postfix "warning:": processing goes on.
  kError,    // Postfix "error:": the operation failed but the caller goes on.
  kVerbose,  // Postfix -v output: only of interest when debugging.
};

// Receives one diagnostic. `message` is only valid during the call.
using DiagnosticSink = std::function<void(Severity, std::string_view message)>;

}  // namespace libmaps

#endif  // LIBMAPS_INCLUDE_LIBMAPS_DIAGNOSTICS_H_
