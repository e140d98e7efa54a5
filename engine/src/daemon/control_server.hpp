#pragma once
/// ckptd's control server: the UNIX SOCK_SEQPACKET socket clients and tools talk to, one Session
/// per client process (authorised by SO_PEERCRED, watched by its pidfd), and the handlers of the
/// control protocol (common/control_messages.hpp). Engine poll loop only.
#include "ckpt/common/control_messages.hpp"
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/engine/config.hpp"
#include "daemon/logger.hpp"
#include "daemon/registry.hpp"
#include "daemon/session.hpp"

#include <cstdint>
#include <functional>
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
    /// What STATS runs before it replies: the engine publishes its stats region now.
    void set_stats_publisher(std::function<void()> publish) { publish_stats_ = std::move(publish); }
    /// Binds and listens on cfg.socket_path (mode, group), in the loop's epoll.
    Status listen();
    /// `fd` is readable (or hung up): new clients, a client's request or exit. False when the fd
    /// is not the server's.
    bool on_event(int fd, std::uint32_t events);

private:
    void accept_clients();
    void serve(Session& s);
    void close_session(int sock);
    /// Reads a request's header and hands its body to the op's handler (serve_request).
    void dispatch(Session& s, std::span<const std::byte> msg);
    /// Decodes the body as a Req, runs handle() on it and replies with what it returns: the reply
    /// with its descriptors, or the failure (reply_failure).
    template <typename Req>
    void serve_request(Session& s, std::uint32_t id, proto::Decoder& d);
    /// The one place a failed request becomes its error reply (and, when verbose, a log line).
    void reply_failure(Session& s, proto::Op op, std::uint32_t id, const Failure& f);
    /// Sends a reply; a failed send is logged and marks the session for closing (serve()).
    Status reply(Session& s, const proto::Encoder& e, std::span<const int> fds = {});
    /// epoll_ctl(ADD) on the loop's epoll set; false, logged with `what`, when the kernel refuses.
    bool watch(int fd, std::uint32_t events, const char* what);

    // The handlers: one per op, each returning its reply or why the request failed.
    Result<proto::HelloReply> handle(Session& s, const proto::HelloRequest& req);
    Result<proto::OpenReply> handle(Session& s, const proto::OpenRequest& req);
    Result<proto::CloseReply> handle(Session& s, const proto::CloseRequest& req);
    Result<proto::UnlinkReply> handle(Session& s, const proto::UnlinkRequest& req);
    Result<proto::StatusReply> handle(Session& s, const proto::StatusRequest& req);
    Result<proto::SectionCreateReply> handle(Session& s, const proto::SectionCreateRequest& req);
    Result<proto::SectionDeleteReply> handle(Session& s, const proto::SectionDeleteRequest& req);
    Result<proto::SectionExpirationReply> handle(Session& s, const proto::SectionExpirationRequest& req);
    Result<proto::SubscribeReply> handle(Session& s, const proto::SubscribeRequest& req);
    Result<proto::ListReply> handle(Session& s, const proto::ListRequest& req);
    Result<proto::InspectReply> handle(Session& s, const proto::InspectRequest& req);
    Result<proto::RollbackReply> handle(Session& s, const proto::RollbackRequest& req);
    Result<proto::PromoteReply> handle(Session& s, const proto::PromoteRequest& req);
    Result<proto::DemoteReply> handle(Session& s, const proto::DemoteRequest& req);
    Result<proto::RetentionReply> handle(Session& s, const proto::RetentionRequest& req);
    Result<proto::ReserveReply> handle(Session& s, const proto::ReserveRequest& req);
    Result<proto::DirectoryReply> handle(Session& s, const proto::DirectoryRequest& req);
    Result<proto::StatsReply> handle(Session& s, const proto::StatsRequest& req);
    /// ACTIVATE: an application's claim to the active role (Replicator::claim), where PROMOTE is
    /// an administrator's or the cluster manager's agent's.
    Result<proto::ActivateReply> handle(Session& s, const proto::ActivateRequest& req);
    /// PEERS, untyped: its body is encoded by hand here.
    void on_peers(Session& s, std::uint32_t id, proto::Decoder& d);

    /// The checkpoint of that (valid) name on this node, or NOT_EXIST.
    Result<std::shared_ptr<Checkpoint>> checkpoint_named(const std::string& name);
    /// The session's handle, or BAD_HANDLE.
    Result<Handle*> open_handle(Session& s, std::uint64_t handle);
    /// The session's handle opened for WRITE: BAD_HANDLE, or ACCESS when read-only.
    Result<Handle*> writable_handle(Session& s, std::uint64_t handle);
    /// The session's handle holding a writer slot, or BAD_HANDLE.
    Result<Handle*> writer_handle(Session& s, std::uint64_t handle);
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
    std::function<void()> publish_stats_;
    Fd listen_fd_;
    std::map<int, std::unique_ptr<Session>> sessions_; ///< by socket fd
    std::map<int, int> pidfd_to_sock_;                 ///< pidfd -> session socket
};

} // namespace ckpt::engine
