#include "tool_run.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace ckpt::testing {

namespace {
std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
} // namespace

ToolRun run_tool(const std::string& exe, const std::vector<std::string>& args,
                 const std::vector<std::string>& extra_env) {
    char dir_template[] = "/tmp/hotspare-tool-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr) return {};
    const std::string out_path = std::string(dir) + "/out", err_path = std::string(dir) + "/err";

    // Everything the child needs is built before fork (only async-signal-safe calls after it).
    std::vector<std::string> argv_s{exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string kv = *e;
        bool overridden = false;
        for (const auto& x : extra_env) overridden |= kv.substr(0, kv.find('=') + 1) == x.substr(0, x.find('=') + 1);
        if (!overridden) env_s.push_back(kv);
    }
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ToolRun r;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(err_fd, STDERR_FILENO);
        ::execve(exe.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    if (pid > 0) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    }
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return r;
}

std::string describe(const ToolRun& r) {
    return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "stderr:\n" + r.err;
}

} // namespace ckpt::testing
