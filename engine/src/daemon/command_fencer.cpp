#include "daemon/command_fencer.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace ckpt::engine {

CommandFencer::~CommandFencer() {
    // An engine that stops gives up its fencing: the command and what it started (its process
    // group) must not act for an engine that is gone (it may have been replaced by then).
    for (auto& [node, a] : attempts_)
        if (a.pid > 0) {
            ::kill(-a.pid, SIGKILL);
            ::waitpid(a.pid, nullptr, 0);
        }
    for (auto& [pid, node] : orphans_) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
}

void CommandFencer::start(std::uint16_t node, std::int64_t now_ns) {
    Attempt& a = attempts_[node];
    if (a.state == State::kRunning || a.state == State::kFenced) return;
    if (a.state == State::kFailed && now_ns - a.ended_ns < retry_ns_) return;
    const std::string arg = std::to_string(node);
    char* argv[] = {const_cast<char*>(command_.c_str()), const_cast<char*>(arg.c_str()), nullptr};
    pid_t pid = -1;
    // Its own process group (killed whole when the engine stops), and the signals ckptd blocks
    // (SIGTERM, SIGINT: read from a signalfd) unblocked again.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    const int rc = ::posix_spawn(&pid, command_.c_str(), nullptr, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        a.state = State::kFailed;
        a.ended_ns = now_ns;
        a.why = "cannot run " + command_ + ": " + std::strerror(rc);
        log_.log("fencing node %u failed: %s; sync commits fail until it succeeds or the node rejoins", node,
                 a.why.c_str());
        return;
    }
    a = Attempt{State::kRunning, pid, now_ns, 0, {}};
    log_.log("node %u is silent: fencing it before acknowledging without it (%s %u, pid %d)", node, command_.c_str(),
             node, static_cast<int>(pid));
}

void CommandFencer::finish(std::uint16_t node, Attempt& a, int status, std::int64_t now_ns) {
    a.pid = -1;
    a.ended_ns = now_ns;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        a.state = State::kFenced;
        log_.log("node %u fenced by %s after %lld ms: it cannot be promoted until it rejoins", node, command_.c_str(),
                 static_cast<long long>((now_ns - a.started_ns) / 1'000'000));
        return;
    }
    a.state = State::kFailed;
    a.why = WIFEXITED(status) ? command_ + " exited with status " + std::to_string(WEXITSTATUS(status))
                              : command_ + " was killed by signal " + std::to_string(WTERMSIG(status));
    log_.log("fencing node %u failed: %s; sync commits fail until it succeeds (retried every %lld ms) or the node "
             "rejoins",
             node, a.why.c_str(), static_cast<long long>(retry_ns_ / 1'000'000));
}

void CommandFencer::poll(std::int64_t now_ns) {
    for (auto it = orphans_.begin(); it != orphans_.end();)
        it = ::waitpid(it->first, nullptr, WNOHANG) == 0 ? std::next(it) : orphans_.erase(it);
    for (auto& [node, a] : attempts_) {
        if (a.state != State::kRunning || a.pid <= 0) continue;
        int status = 0;
        const pid_t r = ::waitpid(a.pid, &status, WNOHANG);
        if (r == a.pid) {
            finish(node, a, status, now_ns);
        } else if (r < 0) { // not our child any more (cannot happen unless someone reaped it)
            a.pid = -1;
            a.state = State::kFailed;
            a.ended_ns = now_ns;
            a.why = std::string("waitpid: ") + std::strerror(errno);
        } else if (now_ns - a.started_ns > timeout_ns_) {
            ::kill(-a.pid, SIGKILL);
            ::waitpid(a.pid, &status, 0);
            a.pid = -1;
            a.state = State::kFailed;
            a.ended_ns = now_ns;
            a.why = command_ + " did not answer within " + std::to_string(timeout_ns_ / 1'000'000) + " ms";
            log_.log("fencing node %u failed: %s (killed); sync commits fail until it succeeds or the node rejoins",
                     node, a.why.c_str());
        }
    }
}

PeerFencer::State CommandFencer::state(std::uint16_t node, std::string* why) const {
    auto it = attempts_.find(node);
    if (it == attempts_.end()) return State::kIdle;
    if (why) *why = it->second.why;
    return it->second.state;
}

void CommandFencer::reset(std::uint16_t node) {
    auto it = attempts_.find(node);
    if (it == attempts_.end()) return;
    if (it->second.pid > 0) orphans_[it->second.pid] = node; // its answer no longer matters
    attempts_.erase(it);
}

} // namespace ckpt::engine
