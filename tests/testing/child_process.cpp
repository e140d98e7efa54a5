#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace ckpt::testing {

std::string test_app_path() {
    const char* p = std::getenv("CKPT_TEST_APP");
    return p ? p : "ckpt_test_app";
}

ChildProcess::ChildProcess(std::vector<std::string> argv) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(in[0]);
    out_ = out[0];
    in_ = in[1];
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && status_ < 0) {
        ::kill(pid_, SIGKILL);
        wait();
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
}

bool ChildProcess::fill(std::chrono::milliseconds timeout) {
    if (eof_) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::read(out_, tmp, sizeof tmp);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !fill(left)) {
            if (std::chrono::steady_clock::now() >= deadline || eof_) return std::nullopt;
        }
    }
}

std::vector<std::string> ChildProcess::drain_lines() {
    while (fill(std::chrono::milliseconds(0))) {
    }
    std::vector<std::string> lines;
    for (auto nl = buf_.find('\n'); nl != std::string::npos; nl = buf_.find('\n')) {
        lines.push_back(buf_.substr(0, nl));
        buf_.erase(0, nl + 1);
    }
    return lines;
}

void ChildProcess::write_line(const std::string& s) {
    std::string l = s + "\n";
    [[maybe_unused]] auto r = ::write(in_, l.data(), l.size());
}

void ChildProcess::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void ChildProcess::kill(int sig) {
    if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

int ChildProcess::wait() {
    if (status_ >= 0 || pid_ <= 0) return status_;
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
}

} // namespace ckpt::testing
