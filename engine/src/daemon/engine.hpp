#pragma once
/// ckptd's core: the checkpoint registry, client sessions, and the single-threaded poll loop that
/// serves the control socket, captures commits, and runs retention and expiration timers.
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/common/unix_socket.hpp"
#include "ckpt/engine/config.hpp"
#include "ckpt/shm/shared_object.hpp"
#include "daemon/stats_publisher.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"
#include "store/checkpoint.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ckpt::engine {

/// One open handle of a session.
struct Handle {
    std::shared_ptr<Checkpoint> ckpt;
    std::uint32_t flags = 0;
    std::uint32_t writer = proto::kNoWriterSlot;
    Fd subscription; ///< eventfd, when subscribed
};

/// One connected client process.
struct Session {
    Fd sock;
    Fd pidfd; ///< readable when the client process exits, even if it leaked the socket to a child
    PeerCredentials cred{};
    std::uint64_t start_time = 0;
    bool authorised = false;
    std::uint64_t next_handle = 1;
    std::map<std::uint64_t, Handle> handles;
};

class Engine final : private ReplicaHost {
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

    /// Shared-memory name of a checkpoint's objects on this node.
    SegmentNames segment_names(const std::string& name, bool persistent) const;

private:
    // control
    void accept_clients();
    void serve(Session& s);
    void close_session(int sock);
    void handle(Session& s, std::span<const std::byte> msg);
    Status reply(Session& s, const proto::Encoder& e, std::span<const int> fds = {});
    void on_hello(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_open(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_close(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_unlink(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_status(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_section_create(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_section_delete(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_section_expiration(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_subscribe(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_list(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_inspect(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_rollback(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_peers(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_promote(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_demote(Session& s, std::uint32_t id, proto::Decoder& d);
    Handle* find_handle(Session& s, std::uint64_t h);
    void drop_handle(Handle& h);

    // registry
    Result<std::shared_ptr<Checkpoint>> create_checkpoint(const std::string& name, const CheckpointAttributes& a);
    void adopt_existing();
    Status listen_control_socket();
    void destroy(const std::shared_ptr<Checkpoint>& c);
    void last_close(const std::shared_ptr<Checkpoint>& c);

    // ReplicaHost: the replicator's view of the registry
    std::shared_ptr<Checkpoint> find_checkpoint(const std::string& name) override;
    Result<std::shared_ptr<Checkpoint>> create_replica(const std::string& name,
                                                       const CheckpointAttributes& attrs) override;
    void unlink_replica(const std::shared_ptr<Checkpoint>& c) override;
    void replication_log(const std::string& line) override;
    void unlink(const std::shared_ptr<Checkpoint>& c);

    // data path and timers
    std::size_t poll_commits();
    void run_timers();
    void watch_orphans();
    bool authorised(const PeerCredentials& c) const;
    /// Copies the counters into the stats region of NODE, every stats_interval_ms (timer path).
    void publish_stats(std::int64_t now_ns);
    void log(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));

    Config cfg_;
    Fd listen_fd_, epoll_fd_, kick_fd_, signal_fd_, lock_fd_;
    Fd node_fd_;
    shm::Mapping node_map_;
    std::map<int, std::unique_ptr<Session>> sessions_;           ///< by socket fd
    std::map<int, int> pidfd_to_sock_;                           ///< pidfd -> session socket
    std::map<std::string, std::shared_ptr<Checkpoint>> by_name_; ///< linked checkpoints
    std::vector<std::shared_ptr<Checkpoint>> all_;               ///< linked and unlinked-but-open
    struct Orphan {
        std::shared_ptr<Checkpoint> ckpt;
        std::uint32_t slot;
        Fd pidfd;
    };
    std::map<int, Orphan> orphans_; ///< pidfd -> writer recorded before a restart
    std::int64_t grace_until_ns_ = 0;
    std::int64_t next_scan_ns_ = 0;
    std::int64_t next_expiry_check_ns_ = 0;
    std::unique_ptr<PeerLink> link_;   ///< null when node-local (transport none)
    std::unique_ptr<Replicator> repl_; ///< with link_
    int link_wait_fd_ = -1;            ///< readable when frames arrive, if the carrier has one
    std::atomic<bool> stop_{false};
    StatsPublisher stats_; ///< the stats region of NODE
    FILE* log_ = stderr;
};

} // namespace ckpt::engine
