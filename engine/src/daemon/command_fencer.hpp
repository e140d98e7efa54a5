#pragma once
/// The PeerFencer of ckptd: runs `fence_peer_command NODE` (a child process, never waited for on
/// the poll loop: reaped by poll() from the timer path) and takes exit status 0 as "the node
/// cannot be promoted now". Any other status, a signal, or no answer within fence_timeout_ms is a
/// failure; it is tried again fence_retry_ms later. Every attempt and result is logged.
#include "daemon/logger.hpp"
#include "replication/peer_fencer.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace ckpt::engine {

class CommandFencer final : public PeerFencer {
public:
    CommandFencer(std::string command, std::uint32_t timeout_ms, std::uint32_t retry_ms, const Logger& log)
        : command_(std::move(command)), timeout_ns_(std::int64_t{timeout_ms} * 1'000'000),
          retry_ns_(std::int64_t{retry_ms} * 1'000'000), log_(log) {}
    ~CommandFencer() override;

    void start(std::uint16_t node, std::int64_t now_ns) override;
    State state(std::uint16_t node, std::string* why) const override;
    void reset(std::uint16_t node) override;
    /// Reaps finished commands, kills those past their timeout (timer path).
    void poll(std::int64_t now_ns);

private:
    struct Attempt {
        State state = State::kIdle;
        pid_t pid = -1;
        std::int64_t started_ns = 0, ended_ns = 0;
        std::string why;
    };
    void finish(std::uint16_t node, Attempt& a, int status, std::int64_t now_ns);

    std::string command_;
    std::int64_t timeout_ns_, retry_ns_;
    const Logger& log_;
    std::map<std::uint16_t, Attempt> attempts_;
    std::map<pid_t, std::uint16_t> orphans_; ///< commands of a node reset meanwhile: reaped, ignored
};

} // namespace ckpt::engine
