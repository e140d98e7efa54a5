#pragma once
/// ckptd: start-up (the single-engine lock, the peer link, the NODE segment, adoption, the control
/// socket) and the single-threaded poll loop: commits captured, frames in and out, the control
/// server served, timers (heartbeats, scans, expiration, retention, stats). The registry
/// (daemon/registry.hpp) and the control server (daemon/control_server.hpp) are its parts.
#include "ckpt/common/fd.hpp"
#include "ckpt/engine/config.hpp"
#include "ckpt/shm/shared_object.hpp"
#include "daemon/command_fencer.hpp"
#include "daemon/control_server.hpp"
#include "daemon/logger.hpp"
#include "daemon/registry.hpp"
#include "daemon/stats_publisher.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"

#include <atomic>
#include <cstdint>
#include <memory>

namespace ckpt::engine {

class Engine final {
public:
    explicit Engine(Config cfg);
    ~Engine();

    /// Binds the socket (refusing when another ckptd serves it), creates the NODE segment and
    /// adopts existing checkpoints. Clear error on failure.
    Status start();
    /// Runs until stop() or SIGTERM/SIGINT; returns the exit code.
    int run();
    /// Async-signal-safe.
    void stop() { stop_.store(true, std::memory_order_relaxed); }

private:
    std::size_t poll_commits(std::int64_t now_ns);
    void run_timers();
    /// SIGHUP: reads auth_key_file again (key rotation); the outcome goes to the log.
    void reload_key();
    /// Copies the counters into the stats region of NODE, every stats_interval_ms (timer path).
    /// Publishes the stats region when its interval passed, or at once when `now`.
    void publish_stats(std::int64_t now_ns, bool now = false);
    /// DATA objects a client resized: restore them and say so (Checkpoint::check_resized).
    void check_segments();
    std::uint64_t guard_faults_seen_ = 0;

    Config cfg_;
    Logger log_;
    Registry reg_;
    ControlServer control_;
    Fd epoll_fd_, kick_fd_, signal_fd_, lock_fd_;
    Fd node_fd_;
    shm::Mapping node_map_;
    std::int64_t next_scan_ns_ = 0;
    std::int64_t next_expiry_check_ns_ = 0;
    std::unique_ptr<PeerLink> link_;        ///< null when node-local (transport none)
    std::unique_ptr<Replicator> repl_;      ///< with link_
    std::unique_ptr<CommandFencer> fencer_; ///< with link_, when fence_peer_command is set
    int link_wait_fd_ = -1;                 ///< readable when frames arrive, if the carrier has one
    /// memif with its wake-up (memif_wakeup = true): frames waiting only for their ACK do not keep
    /// the engine spinning, the ACK's wake-up does (other carriers: off, BENCHMARKS.md says why).
    bool sleep_in_flight_ = false;
    std::atomic<bool> stop_{false};
    StatsPublisher stats_; ///< the stats region of NODE
};

} // namespace ckpt::engine
