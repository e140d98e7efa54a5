#include "children.hpp"

#include "report.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace ckpt::bench {

std::atomic<bool> g_stop{false};

namespace {
void on_signal(int) {
    g_stop = true;
}
} // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

Child spawn(const std::vector<std::string>& argv, int cpu, const std::string& log, bool pipe_out) {
    int p[2] = {-1, -1};
    if (pipe_out && ::pipe2(p, O_CLOEXEC) != 0) return {};
    Child c;
    c.pid = ::fork();
    if (c.pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with us
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        ::sched_setaffinity(0, sizeof set, &set);
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(pipe_out ? p[1] : fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    if (pipe_out) {
        ::close(p[1]);
        c.out = p[0];
    }
    return c;
}

std::string read_all(Child& c, int timeout_ms) {
    std::string s;
    const std::uint64_t end = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    while (c.out >= 0 && now_ns() < end && !g_stop) {
        pollfd p{c.out, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char b[4096];
        ssize_t n = ::read(c.out, b, sizeof b);
        if (n <= 0) break;
        s.append(b, static_cast<std::size_t>(n));
    }
    if (c.out >= 0) ::close(c.out);
    c.out = -1;
    return s;
}

int reap(Child& c, int timeout_ms) {
    if (c.pid <= 0) return -1;
    int st = 0;
    const std::uint64_t end = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    for (;;) {
        pid_t r = ::waitpid(c.pid, &st, WNOHANG);
        if (r == c.pid) break;
        if (now_ns() > end || g_stop) {
            ::kill(c.pid, SIGKILL);
            ::waitpid(c.pid, &st, 0);
            break;
        }
        ::usleep(10'000);
    }
    c.pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

double json_num(const std::string& line, const std::string& key) {
    auto k = line.find("\"" + key + "\":");
    if (k == std::string::npos) return NAN;
    return std::strtod(line.c_str() + k + key.size() + 3, nullptr);
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> v;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        if (!l.empty() && l[0] == '{') v.push_back(l);
    return v;
}

namespace {
std::string beside_self(const std::string& rel) {
    char b[4096];
    ssize_t n = ::readlink("/proc/self/exe", b, sizeof b - 1);
    if (n <= 0) return {};
    b[n] = 0;
    return (std::filesystem::path(b).parent_path() / rel).lexically_normal().string();
}
} // namespace

std::string find_tool(const std::string& given, const char* env, std::initializer_list<const char*> rel) {
    if (!given.empty()) return given;
    if (const char* e = std::getenv(env); e && *e) return e;
    for (const char* r : rel) {
        std::string p = beside_self(r);
        if (!p.empty() && ::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

} // namespace ckpt::bench
