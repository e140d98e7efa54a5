#pragma once
/// ckptctl's exit codes and how a failure reaches the operator. Scripts branch on the code, people
/// read the line on stderr, so each failure gets both.
#include "ckpt/common/result.hpp"

#include <string_view>

namespace ckpt::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        ///< the engine (or the system) refused: the message says why
inline constexpr int kExitNoEngine = 2;     ///< no ckptd at the socket (SA_AIS_ERR_UNAVAILABLE)
inline constexpr int kExitNotAvailable = 3; ///< the command exists but its feature is not built yet
inline constexpr int kExitUsage = 64;       ///< bad command line (EX_USAGE of sysexits.h)

/// Writes "ckptctl: <message> (SA_AIS_ERR_...)" to stderr and returns kExitNoEngine for
/// SA_AIS_ERR_UNAVAILABLE, kExitError for every other code.
int report_failure(const Failure& f);

/// Writes "ckptctl: <message>" to stderr and returns `exit_code`: for failures that carry no SA code.
int report_error(std::string_view message, int exit_code = kExitError);

} // namespace ckpt::tools
