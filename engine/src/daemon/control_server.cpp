#include "daemon/control_server.hpp"

#include "ckpt/common/control_messages.hpp"

#include "ckpt/common/clock.hpp"
#include "daemon/fs_util.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ckpt::engine {

using proto::Op;

namespace {
/// The per-checkpoint counters STATUS, LIST and INSPECT carry: the one place they are gathered.
proto::CheckpointCounters counters_of(const Checkpoint& c) {
    const auto& k = c.counters();
    proto::CheckpointCounters out;
    out.captures = k.commits;
    out.captured_bytes = k.dirty_bytes;
    out.spurious_doorbells = k.spurious_doorbells;
    out.rollbacks = k.rollbacks;
    out.corruptions = k.corruptions;
    out.invalid_words = k.invalid_words;
    out.damage = c.damage();
    return out;
}

Failure no_handle(std::uint64_t handle) {
    return fail(Error::kBadHandle, "no open handle " + std::to_string(handle));
}

Failure no_checkpoint(const std::string& name) {
    return fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'");
}
} // namespace

void ControlServer::attach(int epoll_fd, int node_fd, std::uint64_t node_size, int kick_fd, Replicator* repl,
                           const PeerLink* link) {
    epoll_fd_ = epoll_fd;
    node_fd_ = node_fd;
    node_size_ = node_size;
    kick_fd_ = kick_fd;
    repl_ = repl;
    link_ = link;
}

bool ControlServer::on_event(int fd, std::uint32_t events) {
    if (fd == listen_fd_.get()) {
        accept_clients();
    } else if (auto p = pidfd_to_sock_.find(fd); p != pidfd_to_sock_.end()) {
        close_session(p->second);
    } else if (sessions_.count(fd)) {
        if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN))
            close_session(fd);
        else
            serve(*sessions_[fd]);
    } else {
        return false;
    }
    return true;
}

bool ControlServer::authorised(const PeerCredentials& c) const {
    if (c.uid == 0 || c.uid == ::geteuid()) return true;
    if (std::find(cfg_.allow_uids.begin(), cfg_.allow_uids.end(), c.uid) != cfg_.allow_uids.end()) return true;
    return std::find(cfg_.allow_gids.begin(), cfg_.allow_gids.end(), c.gid) != cfg_.allow_gids.end();
}

Status ControlServer::listen() {
    listen_fd_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_fd_.valid()) return fail(Error::kNoResources, std::string("socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, cfg_.socket_path.c_str(), cfg_.socket_path.size() + 1);
    mode_t old_umask = ::umask(0177); // no window in which the socket is wider than intended
    int rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old_umask);
    if (rc != 0) return fail(Error::kAccess, "bind " + cfg_.socket_path + ": " + std::strerror(errno));
    if (::chmod(cfg_.socket_path.c_str(), cfg_.socket_mode) != 0)
        return fail(Error::kAccess, "chmod " + cfg_.socket_path + ": " + std::strerror(errno));
    if (cfg_.segment_gid != static_cast<gid_t>(-1) &&
        ::chown(cfg_.socket_path.c_str(), static_cast<uid_t>(-1), cfg_.segment_gid) != 0)
        return fail(Error::kAccess, "chown " + cfg_.socket_path + ": " + std::strerror(errno));
    if (::listen(listen_fd_.get(), 128) != 0)
        return fail(Error::kLibrary, std::string("listen: ") + std::strerror(errno));
    if (!watch(listen_fd_.get(), EPOLLIN, "the control socket"))
        return fail(Error::kNoResources, "cannot watch the control socket " + cfg_.socket_path +
                                             " (epoll_ctl: " + std::strerror(errno) + ")");
    return {};
}

void ControlServer::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        auto s = std::make_unique<Session>();
        s->sock.reset(fd);
        auto cred = peer_credentials(fd);
        if (!cred) continue;
        s->cred = *cred;
        s->authorised = authorised(s->cred);
        s->start_time = process_start_time(s->cred.pid);
        s->pidfd.reset(pidfd_open(s->cred.pid));
        // A session the loop cannot hear would never be served nor closed: refuse it at once (the
        // client sees the connection close and retries), and say why.
        if (!watch(fd, EPOLLIN | EPOLLRDHUP, "a client's session socket")) {
            log_.log("client pid %d refused: its session cannot be watched", s->cred.pid);
            continue; // s (and its socket) go here
        }
        if (s->pidfd.valid()) {
            if (watch(s->pidfd.get(), EPOLLIN, "a client's pidfd"))
                pidfd_to_sock_[s->pidfd.get()] = fd;
            else
                s->pidfd.reset(); // the socket's hang-up still tells us when the client goes
        }
        if (cfg_.verbose)
            log_.log("client pid %d uid %u gid %u connected%s", s->cred.pid, s->cred.uid, s->cred.gid,
                     s->authorised ? "" : " (not authorised)");
        sessions_[fd] = std::move(s);
    }
}

void ControlServer::close_session(int sock) {
    auto it = sessions_.find(sock);
    if (it == sessions_.end()) return;
    std::unique_ptr<Session> s = std::move(it->second);
    sessions_.erase(it);
    // Closing the fds below removes them from the epoll set anyway; a failed DEL is worth a line
    // only because it means the set and our books disagree.
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sock, nullptr) != 0)
        log_.log("client pid %d: epoll_ctl(DEL) of its socket: %s", s->cred.pid, std::strerror(errno));
    if (auto p = pidfd_to_sock_.find(s->pidfd.get()); s->pidfd.valid() && p != pidfd_to_sock_.end()) {
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->pidfd.get(), nullptr) != 0)
            log_.log("client pid %d: epoll_ctl(DEL) of its pidfd: %s", s->cred.pid, std::strerror(errno));
        pidfd_to_sock_.erase(p);
    }
    if (cfg_.verbose || !s->handles.empty())
        log_.log("client pid %d gone; closing its %zu handles", s->cred.pid, s->handles.size());
    for (auto& [id, h] : s->handles) drop_handle(h);
}

void ControlServer::drop_handle(Handle& h) {
    auto c = h.ckpt;
    if (h.writer != proto::kNoWriterSlot) c->release_writer(h.writer);
    if (h.subscription.valid()) {
        auto& subs = c->subscribers;
        subs.erase(std::remove(subs.begin(), subs.end(), h.subscription.get()), subs.end());
    }
    if (--c->open_count == 0) reg_.last_close(c);
}

void ControlServer::serve(Session& s) {
    const int sock = s.sock.get();
    for (int budget = 0; budget < 64; ++budget) {
        auto r = receive_message(sock, proto::kMaxMessage);
        if (!r) {
            if (r.error() == Error::kTryAgain) return;
            close_session(sock);
            return;
        }
        if (r->eof) {
            close_session(sock);
            return;
        }
        if (r->truncated) {
            proto::Decoder d(r->payload);
            auto op = static_cast<proto::Op>(d.u16());
            d.u16();
            reply_failure(s, op, d.u32(),
                          fail(Error::kMessageError, "request larger than " + std::to_string(proto::kMaxMessage) +
                                                         " bytes or carrying more than 4 fds"));
            if (s.reply_failed) {
                close_session(sock);
                return;
            }
            continue;
        }
        dispatch(s, r->payload);
        if (!sessions_.count(sock)) return; // closed while handling
        if (s.reply_failed) {
            close_session(sock);
            return;
        }
    }
}

Status ControlServer::reply(Session& s, const proto::Encoder& e, std::span<const int> fds) {
    Status st = send_message(s.sock.get(), e.buffer(), fds);
    if (!st && !s.reply_failed) {
        s.reply_failed = true;
        const std::uint16_t op = e.buffer().size() >= 2
                                     ? static_cast<std::uint16_t>(std::to_integer<unsigned>(e.buffer()[0]) |
                                                                  std::to_integer<unsigned>(e.buffer()[1]) << 8)
                                     : 0;
        log_.log(
            "client pid %d: cannot send the reply to its op %u request (%s); closing its session and its %zu handles",
            s.cred.pid, op, st.message().c_str(), s.handles.size());
    }
    return st;
}

bool ControlServer::watch(int fd, std::uint32_t events, const char* what) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
    log_.log("cannot watch %s (fd %d): epoll_ctl: %s", what, fd, std::strerror(errno));
    return false;
}

Handle* ControlServer::find_handle(Session& s, std::uint64_t h) {
    auto it = s.handles.find(h);
    return it == s.handles.end() ? nullptr : &it->second;
}

Result<Handle*> ControlServer::open_handle(Session& s, std::uint64_t handle) {
    Handle* h = find_handle(s, handle);
    if (!h) return no_handle(handle);
    return h;
}

Result<Handle*> ControlServer::writable_handle(Session& s, std::uint64_t handle) {
    CKPT_TRY_ASSIGN(h, open_handle(s, handle));
    if (!(h->flags & kOpenWrite))
        return fail(Error::kAccess, "checkpoint '" + printable_name(h->ckpt->name()) + "' is open read-only");
    return h;
}

Result<Handle*> ControlServer::writer_handle(Session& s, std::uint64_t handle) {
    Handle* h = find_handle(s, handle);
    if (!h || h->writer == proto::kNoWriterSlot) return fail(Error::kBadHandle, "no handle open for write");
    return h;
}

void ControlServer::reply_failure(Session& s, Op op, std::uint32_t id, const Failure& f) {
    if (cfg_.verbose) log_.log("request %d failed: %s", static_cast<int>(op), f.message.c_str());
    (void)reply(s, proto::reply_error(op, id, f));
}

template <typename Req>
void ControlServer::serve_request(Session& s, std::uint32_t id, proto::Decoder& d) {
    auto req = Req::decode(d);
    if (!req) return reply_failure(s, Req::kOp, id, req.failure());
    auto rep = handle(s, *req);
    if (!rep) return reply_failure(s, Req::kOp, id, rep.failure());
    auto e = proto::reply_ok(Req::kOp, id);
    rep->encode(e);
    if constexpr (proto::CarriesFds<typename Req::Reply>) {
        const auto fds = rep->fds();
        (void)reply(s, e, fds);
    } else {
        (void)reply(s, e);
    }
}

void ControlServer::dispatch(Session& s, std::span<const std::byte> msg) {
    proto::Decoder d(msg);
    auto op = static_cast<Op>(d.u16());
    std::uint16_t version = d.u16();
    std::uint32_t id = d.u32();
    if (!d.ok()) return reply_failure(s, op, 0, fail(Error::kMessageError, "request shorter than its header"));
    if (version != proto::kProtocolVersion)
        return reply_failure(s, op, id,
                             fail(Error::kVersion, "client speaks control protocol " + std::to_string(version) +
                                                       ", ckptd speaks " + std::to_string(proto::kProtocolVersion)));
    if (!s.authorised) {
        reply_failure(s, op, id,
                      fail(Error::kAccess, "uid " + std::to_string(s.cred.uid) + " gid " + std::to_string(s.cred.gid) +
                                               " is not authorised by ckptd (allow_uids / allow_gids)"));
        close_session(s.sock.get());
        return;
    }
    switch (op) {
    case Op::kHello:
        return serve_request<proto::HelloRequest>(s, id, d);
    case Op::kOpen:
        return serve_request<proto::OpenRequest>(s, id, d);
    case Op::kClose:
        return serve_request<proto::CloseRequest>(s, id, d);
    case Op::kUnlink:
        return serve_request<proto::UnlinkRequest>(s, id, d);
    case Op::kStatus:
        return serve_request<proto::StatusRequest>(s, id, d);
    case Op::kSectionCreate:
        return serve_request<proto::SectionCreateRequest>(s, id, d);
    case Op::kSectionDelete:
        return serve_request<proto::SectionDeleteRequest>(s, id, d);
    case Op::kSectionExpiration:
        return serve_request<proto::SectionExpirationRequest>(s, id, d);
    case Op::kSubscribe:
        return serve_request<proto::SubscribeRequest>(s, id, d);
    case Op::kList:
        return serve_request<proto::ListRequest>(s, id, d);
    case Op::kInspect:
        return serve_request<proto::InspectRequest>(s, id, d);
    case Op::kRollback:
        return serve_request<proto::RollbackRequest>(s, id, d);
    case Op::kPeers:
        return on_peers(s, id, d);
    case Op::kPromote:
        return serve_request<proto::PromoteRequest>(s, id, d);
    case Op::kDemote:
        return serve_request<proto::DemoteRequest>(s, id, d);
    case Op::kRetention:
        return serve_request<proto::RetentionRequest>(s, id, d);
    case Op::kReserve:
        return serve_request<proto::ReserveRequest>(s, id, d);
    case Op::kDirectory:
        return serve_request<proto::DirectoryRequest>(s, id, d);
    case Op::kStats:
        return serve_request<proto::StatsRequest>(s, id, d);
    case Op::kActivate:
        return serve_request<proto::ActivateRequest>(s, id, d);
    }
    reply_failure(s, op, id,
                  fail(Error::kMessageError, "unknown request type " + std::to_string(static_cast<int>(op))));
}

Result<proto::HelloReply> ControlServer::handle(Session&, const proto::HelloRequest&) {
    Fd node_ro(::open(("/proc/self/fd/" + std::to_string(node_fd_)).c_str(), O_RDONLY | O_CLOEXEC));
    if (!node_ro.valid()) return fail(Error::kNoResources, "cannot reopen NODE segment");
    proto::HelloReply r;
    r.node_id = cfg_.node_id;
    r.engine_pid = static_cast<std::uint32_t>(::getpid());
    r.node_size = node_size_;
    r.node = proto::MessageFd(std::move(node_ro));
    r.kick = proto::MessageFd::lent(kick_fd_);
    return r;
}

Result<proto::OpenReply> ControlServer::handle(Session& s, const proto::OpenRequest& req) {
    const std::string& name = req.name;
    const std::uint32_t flags = req.flags;
    CKPT_TRY(validate_name(name));
    CKPT_TRY(validate_open_flags(flags));
    if (req.attrs.has_value() != ((flags & kOpenCreate) != 0))
        return fail(Error::kInvalidParam, "creation attributes go with the CREATE flag, and only with it");
    if (req.attrs) CKPT_TRY(validate_attributes(*req.attrs));
    std::shared_ptr<Checkpoint> c;
    bool created = false;
    if (auto it = reg_.by_name().find(name); it != reg_.by_name().end()) {
        c = it->second;
        if (req.attrs && !(*req.attrs == c->attributes()))
            return fail(Error::kExist,
                        "checkpoint '" + printable_name(name) + "' exists with other creation attributes");
    } else {
        if (!(flags & kOpenCreate)) return no_checkpoint(name);
        CKPT_TRY_ASSIGN(made, reg_.create_checkpoint(name, *req.attrs));
        c = made;
        created = true;
        if (repl_) repl_->activate(c); // created here: this node is its active replica
    }
    if ((flags & kOpenWrite) && c->role() == shm::kRoleStandby) {
        const auto active = c->meta().header().active_node;
        return fail(Error::kBadOperation,
                    "checkpoint '" + printable_name(name) + "' is a standby replica on this node" +
                        (active ? " (active: node " + std::to_string(active) + ")" : std::string()) +
                        "; open it read-only, or promote it first");
    }
    Handle h;
    h.ckpt = c;
    h.flags = flags;
    if (flags & kOpenWrite) {
        const std::uint32_t reattach = req.reattach_slot;
        bool reattached = false;
        if (reattach != proto::kNoWriterSlot && c->reattach_writer(reattach, s.cred.pid, s.start_time)) {
            reattached = true;
            h.writer = reattach;
            reg_.take_orphan(c, reattach, epoll_fd_); // the new handle takes over its hold
        }
        if (!reattached) {
            auto w = c->attach_writer(s.cred.pid, s.start_time);
            if (!w) {
                if (created && c->open_count == 0) reg_.last_close(c);
                return w.failure();
            }
            h.writer = *w;
        }
    }
    if (c->repair_data_header())
        log_.log("checkpoint '%s': repaired a scribbled DATA header", printable_name(name).c_str());
    auto meta_fd = c->meta_fd_readonly();
    auto data_fd = c->data_fd((flags & kOpenWrite) != 0);
    if (!meta_fd || !data_fd) {
        if (h.writer != proto::kNoWriterSlot) c->release_writer(h.writer);
        return meta_fd ? data_fd.failure() : meta_fd.failure();
    }
    c->open_count++;
    c->retention_deadline_ns = 0;
    proto::OpenReply r;
    r.handle = s.next_handle++;
    r.writer_slot = h.writer;
    r.meta_size = c->meta_size();
    r.data_size = c->data_size();
    r.created = created;
    r.meta = proto::MessageFd(std::move(*meta_fd));
    r.data = proto::MessageFd(std::move(*data_fd));
    s.handles.emplace(r.handle, std::move(h));
    if (cfg_.verbose)
        log_.log("pid %d opened '%s' flags %u handle %lu writer %d", s.cred.pid, printable_name(name).c_str(), flags,
                 static_cast<unsigned long>(r.handle), static_cast<int>(r.writer_slot));
    return r;
}

Result<proto::CloseReply> ControlServer::handle(Session& s, const proto::CloseRequest& req) {
    auto it = s.handles.find(req.handle);
    if (it == s.handles.end()) return no_handle(req.handle);
    Handle h = std::move(it->second);
    s.handles.erase(it);
    drop_handle(h);
    return proto::CloseReply{};
}

Result<proto::UnlinkReply> ControlServer::handle(Session&, const proto::UnlinkRequest& req) {
    const std::string& name = req.name;
    CKPT_TRY(validate_name(name));
    auto it = reg_.by_name().find(name);
    if (it == reg_.by_name().end()) return no_checkpoint(name);
    auto c = it->second;
    if (c->role() == shm::kRoleStandby)
        return fail(Error::kBadOperation, "checkpoint '" + printable_name(name) +
                                              "' is a standby replica here; unlink it on its active node");
    if (repl_) repl_->forget(c); // the standbys drop their replicas too
    reg_.unlink(c);
    log_.log("unlinked checkpoint '%s'", printable_name(name).c_str());
    return proto::UnlinkReply{};
}

Result<proto::StatusReply> ControlServer::handle(Session& s, const proto::StatusRequest& req) {
    CKPT_TRY_ASSIGN(h, open_handle(s, req.handle));
    const Checkpoint& c = *h->ckpt;
    proto::StatusReply r;
    r.attrs = c.attributes();
    r.sections = c.meta().section_count();
    r.bytes_used = c.meta().bytes_used();
    r.commit_seq = c.meta().commit_seq();
    r.counters = counters_of(c);
    return r;
}

Result<proto::SectionCreateReply> ControlServer::handle(Session& s, const proto::SectionCreateRequest& req) {
    CKPT_TRY_ASSIGN(h, writable_handle(s, req.handle));
    const auto sid = std::as_bytes(std::span(req.id.data(), req.id.size()));
    // A replicated section's id travels in one SECTION frame: an id that cannot fit the link's mtu
    // is refused here, with the numbers, rather than found unsendable later (DPDK aborted on it).
    if (link_ && h->ckpt->replicating() && !req.generate &&
        sid.size() + net::kSectionBodyFixed > link_->max_frame_body()) {
        const std::size_t most = link_->max_frame_body() - net::kSectionBodyFixed;
        return fail(Error::kInvalidParam, "section id of " + std::to_string(sid.size()) +
                                              " bytes does not fit one replication frame: with mtu " +
                                              std::to_string(link_->config().mtu) +
                                              " a replicated section id holds at most " + std::to_string(most) +
                                              " bytes (shorten the id or raise mtu)");
    }
    CKPT_TRY_ASSIGN(made, h->ckpt->create_section(sid, req.generate, req.expiration_ns, req.capacity, req.data));
    h->ckpt->publish_acks();
    proto::SectionCreateReply r;
    r.id = made.id;
    r.slot = made.slot;
    r.generation = made.generation;
    return r;
}

Result<proto::SectionDeleteReply> ControlServer::handle(Session& s, const proto::SectionDeleteRequest& req) {
    CKPT_TRY_ASSIGN(h, writable_handle(s, req.handle));
    CKPT_TRY(h->ckpt->delete_section(std::as_bytes(std::span(req.id.data(), req.id.size()))));
    h->ckpt->publish_acks();
    return proto::SectionDeleteReply{};
}

Result<proto::SectionExpirationReply> ControlServer::handle(Session& s, const proto::SectionExpirationRequest& req) {
    CKPT_TRY_ASSIGN(h, writable_handle(s, req.handle));
    CKPT_TRY(h->ckpt->set_expiration(std::as_bytes(std::span(req.id.data(), req.id.size())), req.expiration_ns));
    return proto::SectionExpirationReply{};
}

Result<proto::SubscribeReply> ControlServer::handle(Session& s, const proto::SubscribeRequest& req) {
    CKPT_TRY_ASSIGN(h, open_handle(s, req.handle));
    if (!h->subscription.valid()) {
        h->subscription.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!h->subscription.valid()) return fail(Error::kNoResources, "eventfd: out of descriptors");
        h->ckpt->subscribers.push_back(h->subscription.get());
    }
    proto::SubscribeReply r;
    r.event = proto::MessageFd::lent(h->subscription.get());
    return r;
}

Result<proto::ListReply> ControlServer::handle(Session&, const proto::ListRequest& req) {
    proto::ListReply r;
    proto::Encoder body; // what the entries so far take on the wire
    std::uint32_t index = 0;
    for (auto& [name, c] : reg_.by_name()) {
        if (index++ < req.cursor) continue;
        if (body.size() > proto::ListReply::kBodyBudget) {
            r.next_cursor = index - 1;
            break;
        }
        proto::ListEntry l;
        l.name = name;
        l.attrs = c->attributes();
        l.sections = c->meta().section_count();
        l.bytes_used = c->meta().bytes_used();
        l.commit_seq = c->meta().commit_seq();
        l.open_count = static_cast<std::uint32_t>(c->open_count);
        l.epoch = c->meta().epoch();
        l.counters = counters_of(*c);
        l.encode(body);
        r.entries.push_back(std::move(l));
    }
    return r;
}

Result<proto::InspectReply> ControlServer::handle(Session&, const proto::InspectRequest& req) {
    auto it = reg_.by_name().find(req.name);
    if (it == reg_.by_name().end()) return no_checkpoint(req.name);
    auto& c = it->second;
    CKPT_TRY_ASSIGN(meta_fd, c->meta_fd_readonly());
    CKPT_TRY_ASSIGN(data_fd, c->data_fd(false));
    proto::InspectReply r;
    r.meta_size = c->meta_size();
    r.data_size = c->data_size();
    r.open_count = static_cast<std::uint32_t>(c->open_count);
    r.counters = counters_of(*c);
    r.meta = proto::MessageFd(std::move(meta_fd));
    r.data = proto::MessageFd(std::move(data_fd));
    return r;
}

Result<proto::RollbackReply> ControlServer::handle(Session& s, const proto::RollbackRequest& req) {
    CKPT_TRY_ASSIGN(h, writer_handle(s, req.handle));
    CKPT_TRY(h->ckpt->rollback(req.slot, h->writer));
    return proto::RollbackReply{};
}

Result<proto::ReserveReply> ControlServer::handle(Session& s, const proto::ReserveRequest& req) {
    CKPT_TRY_ASSIGN(h, writer_handle(s, req.handle));
    CKPT_TRY(h->ckpt->reserve_size(req.slot, h->writer, req.size));
    return proto::ReserveReply{};
}

Result<proto::DirectoryReply> ControlServer::handle(Session& s, const proto::DirectoryRequest& req) {
    Handle* h = find_handle(s, req.handle);
    if (!h) return fail(Error::kBadHandle, "no such handle");
    proto::DirectoryReply r;
    r.oldest_unapplied = repl_ ? repl_->oldest_unapplied_directory_change(*h->ckpt) : 0;
    return r;
}

void ControlServer::on_peers(Session& s, std::uint32_t id, proto::Decoder& d) {
    if (!d.at_end()) return reply_failure(s, Op::kPeers, id, proto::malformed_request(Op::kPeers));
    reply_failure(s, Op::kPeers, id,
                  fail(Error::kNotSupported,
                       "PEERS is retired: this ckptd publishes its link and replication figures in the stats "
                       "region only (read them with a client library of this release: Session::peers(), "
                       "ckptctl peers, ckptstat)"));
}

Result<proto::StatsReply> ControlServer::handle(Session&, const proto::StatsRequest&) {
    if (publish_stats_) publish_stats_();
    return proto::StatsReply{};
}

Result<std::shared_ptr<Checkpoint>> ControlServer::checkpoint_named(const std::string& name) {
    CKPT_TRY(validate_name(name));
    auto c = reg_.find_checkpoint(name);
    if (!c) return no_checkpoint(name);
    return c;
}

Result<proto::ActivateReply> ControlServer::handle(Session&, const proto::ActivateRequest& req) {
    const std::string& name = req.name;
    CKPT_TRY_ASSIGN(c, checkpoint_named(name));
    proto::ActivateReply r;
    if (!repl_) { // node-local: the only replica is the active one
        r.epoch = c->epoch();
        return r;
    }
    // Under a cluster manager (fence_peer_command, docs/CLUSTER.md) only its agent promotes.
    CKPT_TRY_ASSIGN(epoch, repl_->claim(c, !cfg_.fence_peer_command.empty()));
    r.epoch = epoch;
    return r;
}

Result<proto::PromoteReply> ControlServer::handle(Session&, const proto::PromoteRequest& req) {
    const std::string& name = req.name;
    CKPT_TRY_ASSIGN(c, checkpoint_named(name));
    if (!repl_)
        return fail(Error::kBadOperation, "ckptd is node-local (transport none): checkpoint '" + printable_name(name) +
                                              "' is already its only, active copy");
    CKPT_TRY_ASSIGN(epoch, repl_->promote(c));
    proto::PromoteReply r;
    r.epoch = epoch;
    return r;
}

Result<proto::DemoteReply> ControlServer::handle(Session&, const proto::DemoteRequest& req) {
    const std::string& name = req.name;
    CKPT_TRY_ASSIGN(c, checkpoint_named(name));
    if (!repl_)
        return fail(Error::kBadOperation,
                    "ckptd is node-local (transport none): there is no other replica to take over checkpoint '" +
                        printable_name(name) + "'");
    CKPT_TRY(repl_->demote(c));
    return proto::DemoteReply{};
}

Result<proto::RetentionReply> ControlServer::handle(Session& s, const proto::RetentionRequest& req) {
    CKPT_TRY_ASSIGN(h, open_handle(s, req.handle));
    if (req.retention_ns < 0) return fail(Error::kInvalidParam, "retention is negative");
    if (h->ckpt->unlinked)
        return fail(Error::kBadOperation,
                    "checkpoint '" + printable_name(h->ckpt->name()) + "' was unlinked: its retention is moot");
    h->ckpt->retention_set_ns = req.retention_ns; // applies from the next last close
    return proto::RetentionReply{};
}

} // namespace ckpt::engine
