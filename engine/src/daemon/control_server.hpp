#pragma once
/// ckptd's control server: the UNIX SOCK_SEQPACKET socket clients and tools talk to, one Session
/// per client process (authorised by SO_PEERCRED, watched by its pidfd), and the handlers of the
/// control protocol (common/control_protocol.hpp). Engine poll loop only.
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/engine/config.hpp"
#include "daemon/logger.hpp"
#include "daemon/registry.hpp"
#include "daemon/session.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <span>

namespace ckpt::engine {

class PeerLink;
class Replicator;

class ControlServer {
public:
    ControlServer(const Config& cfg, Registry& reg, const Logger& log) : cfg_(cfg), reg_(reg), log_(log) {}

    /// What the handlers hand out or use: the loop's epoll, NODE (fd and size), the kick eventfd,
    /// and replication (null when node-local).
    void attach(int epoll_fd, int node_fd, std::uint64_t node_size, int kick_fd, Replicator* repl,
                const PeerLink* link);
    /// Binds and listens on cfg.socket_path (mode, group), in the loop's epoll.
    Status listen();
    /// `fd` is readable (or hung up): new clients, a client's request or exit. False when the fd
    /// is not the server's.
    bool on_event(int fd, std::uint32_t events);

private:
    void accept_clients();
    void serve(Session& s);
    void close_session(int sock);
    void handle(Session& s, std::span<const std::byte> msg);
    /// Sends a reply; a failed send is logged and marks the session for closing (serve()).
    Status reply(Session& s, const proto::Encoder& e, std::span<const int> fds = {});
    /// epoll_ctl(ADD) on the loop's epoll set; false, logged with `what`, when the kernel refuses.
    bool watch(int fd, std::uint32_t events, const char* what);
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
    /// PROMOTE (`claim` false: an administrator or the cluster manager's agent) and ACTIVATE
    /// (`claim` true: an application, Replicator::claim).
    void on_promote(Session& s, std::uint32_t id, proto::Decoder& d, bool claim);
    void on_demote(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_retention(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_reserve(Session& s, std::uint32_t id, proto::Decoder& d);
    void on_directory(Session& s, std::uint32_t id, proto::Decoder& d);
    Handle* find_handle(Session& s, std::uint64_t h);
    void drop_handle(Handle& h);
    bool authorised(const PeerCredentials& c) const;

    const Config& cfg_;
    Registry& reg_;
    const Logger& log_;
    int epoll_fd_ = -1, node_fd_ = -1, kick_fd_ = -1;
    std::uint64_t node_size_ = 0;
    Replicator* repl_ = nullptr;
    const PeerLink* link_ = nullptr;
    Fd listen_fd_;
    std::map<int, std::unique_ptr<Session>> sessions_; ///< by socket fd
    std::map<int, int> pidfd_to_sock_;                 ///< pidfd -> session socket
};

} // namespace ckpt::engine
