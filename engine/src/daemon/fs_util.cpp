#include "daemon/fs_util.hpp"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ckpt::engine {

Status make_dirs(const std::string& path, mode_t mode) {
    std::string cur;
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            cur = path.substr(0, i);
            if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
                return fail(Error::kAccess, "mkdir " + cur + ": " + std::strerror(errno));
        }
    }
    return {};
}

std::string dirname_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

} // namespace ckpt::engine
