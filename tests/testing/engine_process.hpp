#pragma once
// Test helper: runs a real ckptd (fork/exec) with its own socket, shm prefix and state dir, so
// tests run in parallel without sharing anything. Kills it (SIGTERM or SIGKILL) on demand and
// removes every segment it made when destroyed.
#include <sys/types.h>

#include <string>
#include <vector>

namespace ckpt::testing {

/// A cluster key file (0600) made once per test process and removed at its exit: what the
/// engines a test starts authenticate their frames with.
const std::string& test_key_file();

class EngineProcess {
public:
    /// `tag` makes names unique; extra lines are appended to the configuration file. A
    /// configuration with a transport and no `auth...` line gets `auth_key_file = ` test_key_file()
    /// (every engine of the test process shares the key), unless a line says "# no test key".
    explicit EngineProcess(const std::string& tag, std::vector<std::string> extra_config = {});
    ~EngineProcess();

    /// Runs ckptd under a prefix command, e.g. in_netns(ns) from netns.hpp ("ip netns exec NS"),
    /// which must exec ckptd in the same process (so kill_hard() and the parent-death signal
    /// reach the engine itself). Call before start().
    void set_prefix_command(std::vector<std::string> argv) { prefix_cmd_ = std::move(argv); }

    /// Starts ckptd and waits until its socket answers; false (with stderr captured) on failure.
    bool start();
    void kill_hard(); ///< SIGKILL, reaped
    void stop();      ///< SIGTERM, reaped
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

    const std::string& socket() const { return socket_; }
    const std::string& prefix() const { return prefix_; }
    const std::string& state_dir() const { return state_dir_; }
    const std::string& config_path() const { return config_; }
    const std::string& dir() const { return dir_; }
    std::string log() const; ///< what ckptd wrote

    /// Names in /dev/shm starting with our prefix.
    std::vector<std::string> shm_objects() const;

private:
    std::string dir_, socket_, prefix_, state_dir_, config_, log_;
    std::vector<std::string> prefix_cmd_;
    pid_t pid_ = -1;
};

/// Path of the built ckptd ($CKPTD, set by meson).
std::string ckptd_path();
/// A name unique to this process and call.
std::string unique_name(const std::string& base);

} // namespace ckpt::testing
