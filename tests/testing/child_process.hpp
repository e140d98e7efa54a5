#pragma once
// Test helper: a fork/exec'd child with piped stdin/stdout, read line by line with a deadline.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::testing {

class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv);
    ~ChildProcess(); ///< SIGKILLs and reaps a child still running
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    bool started() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    /// Next line of stdout (without '\n'); nullopt at EOF or when `timeout` passes.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Every complete line available now, without waiting.
    std::vector<std::string> drain_lines();
    void write_line(const std::string& s);
    void close_stdin();
    void kill(int sig);
    /// Waits for exit; returns the exit code, 128+signal when killed.
    int wait();

private:
    bool fill(std::chrono::milliseconds timeout);
    pid_t pid_ = -1;
    int out_ = -1, in_ = -1;
    std::string buf_;
    bool eof_ = false;
    int status_ = -1;
};

/// Path of the test application ($CKPT_TEST_APP).
std::string test_app_path();

} // namespace ckpt::testing
