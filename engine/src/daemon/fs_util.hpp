#pragma once
/// Small host helpers of the daemon: directories, pidfds.
#include "ckpt/common/result.hpp"

#include <sys/types.h>

#include <string>

namespace ckpt::engine {

/// mkdir -p with `mode` for the directories it creates.
Status make_dirs(const std::string& path, mode_t mode);
/// The directory part of a path ("/" for "/x").
std::string dirname_of(const std::string& path);
/// A pidfd of `pid` (readable once it exited); -1 when it does not exist.
int pidfd_open(pid_t pid);

} // namespace ckpt::engine
