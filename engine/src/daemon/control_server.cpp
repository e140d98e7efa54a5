#include "daemon/control_server.hpp"

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
Failure malformed(Op op) {
    return fail(Error::kMessageError, "malformed request (type " + std::to_string(static_cast<int>(op)) + ")");
}

void encode_counters(proto::Encoder& e, const Checkpoint& c) {
    const auto& k = c.counters();
    e.u64(k.captures)
        .u64(k.captured_bytes)
        .u64(k.spurious_doorbells)
        .u64(k.rollbacks)
        .u64(k.corruptions)
        .u64(k.invalid_words);
    e.str(c.damage());
}
} // namespace

#define CKPT_DECODED(op)                                                                                               \
    do {                                                                                                               \
        if (!d.at_end()) {                                                                                             \
            (void)reply(s, proto::reply_error(op, id, malformed(op)));                                                 \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CKPT_REPLY_IF_FAILED(op, expr)                                                                                 \
    do {                                                                                                               \
        auto r_ = (expr);                                                                                              \
        if (!r_.ok()) {                                                                                                \
            if (cfg_.verbose) log_.log("request %d failed: %s", static_cast<int>(op), r_.message().c_str());           \
            (void)reply(s, proto::reply_error(op, id, r_.failure()));                                                  \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

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
            (void)reply(s, proto::reply_error(op, d.u32(),
                                              fail(Error::kMessageError, "request larger than " +
                                                                             std::to_string(proto::kMaxMessage) +
                                                                             " bytes or carrying more than 4 fds")));
            if (s.reply_failed) {
                close_session(sock);
                return;
            }
            continue;
        }
        handle(s, r->payload);
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

void ControlServer::handle(Session& s, std::span<const std::byte> msg) {
    proto::Decoder d(msg);
    auto op = static_cast<proto::Op>(d.u16());
    std::uint16_t version = d.u16();
    std::uint32_t id = d.u32();
    if (!d.ok()) {
        (void)reply(s, proto::reply_error(op, 0, fail(Error::kMessageError, "request shorter than its header")));
        return;
    }
    if (version != proto::kProtocolVersion) {
        (void)reply(s, proto::reply_error(op, id,
                                          fail(Error::kVersion, "client speaks control protocol " +
                                                                    std::to_string(version) + ", ckptd speaks " +
                                                                    std::to_string(proto::kProtocolVersion))));
        return;
    }
    if (!s.authorised) {
        (void)reply(s,
                    proto::reply_error(op, id,
                                       fail(Error::kAccess,
                                            "uid " + std::to_string(s.cred.uid) + " gid " + std::to_string(s.cred.gid) +
                                                " is not authorised by ckptd (allow_uids / allow_gids)")));
        close_session(s.sock.get());
        return;
    }
    switch (op) {
    case proto::Op::kHello:
        return on_hello(s, id, d);
    case proto::Op::kOpen:
        return on_open(s, id, d);
    case proto::Op::kClose:
        return on_close(s, id, d);
    case proto::Op::kUnlink:
        return on_unlink(s, id, d);
    case proto::Op::kStatus:
        return on_status(s, id, d);
    case proto::Op::kSectionCreate:
        return on_section_create(s, id, d);
    case proto::Op::kSectionDelete:
        return on_section_delete(s, id, d);
    case proto::Op::kSectionExpiration:
        return on_section_expiration(s, id, d);
    case proto::Op::kSubscribe:
        return on_subscribe(s, id, d);
    case proto::Op::kList:
        return on_list(s, id, d);
    case proto::Op::kInspect:
        return on_inspect(s, id, d);
    case proto::Op::kRollback:
        return on_rollback(s, id, d);
    case proto::Op::kPeers:
        return on_peers(s, id, d);
    case proto::Op::kPromote:
        return on_promote(s, id, d, false);
    case proto::Op::kActivate:
        return on_promote(s, id, d, true);
    case proto::Op::kDemote:
        return on_demote(s, id, d);
    case proto::Op::kRetention:
        return on_retention(s, id, d);
    case proto::Op::kReserve:
        return on_reserve(s, id, d);
    case proto::Op::kDirectory:
        return on_directory(s, id, d);
    }
    (void)reply(
        s, proto::reply_error(
               op, id, fail(Error::kMessageError, "unknown request type " + std::to_string(static_cast<int>(op)))));
}

void ControlServer::on_hello(Session& s, std::uint32_t id, proto::Decoder& d) {
    d.u32(); // client pid, informational (SO_PEERCRED is what counts)
    CKPT_DECODED(Op::kHello);
    auto e = proto::reply_ok(Op::kHello, id);
    e.u32(cfg_.node_id).u32(static_cast<std::uint32_t>(::getpid())).u64(node_size_);
    int fds[2];
    Fd node_ro(::open(("/proc/self/fd/" + std::to_string(node_fd_)).c_str(), O_RDONLY | O_CLOEXEC));
    fds[0] = node_ro.get();
    fds[1] = kick_fd_;
    if (!node_ro.valid()) {
        (void)reply(s, proto::reply_error(Op::kHello, id, fail(Error::kNoResources, "cannot reopen NODE segment")));
        return;
    }
    (void)reply(s, e, fds);
}

void ControlServer::on_open(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    std::uint32_t flags = d.u32();
    bool has_attrs = d.u8() != 0;
    CheckpointAttributes attrs = d.attrs();
    std::uint32_t reattach = d.u32();
    CKPT_DECODED(Op::kOpen);
    CKPT_REPLY_IF_FAILED(Op::kOpen, validate_name(name));
    CKPT_REPLY_IF_FAILED(Op::kOpen, validate_open_flags(flags));
    if (has_attrs != ((flags & kOpenCreate) != 0)) {
        (void)reply(s, proto::reply_error(Op::kOpen, id,
                                          fail(Error::kInvalidParam,
                                               "creation attributes go with the CREATE flag, and only with it")));
        return;
    }
    if (has_attrs) CKPT_REPLY_IF_FAILED(Op::kOpen, validate_attributes(attrs));
    std::shared_ptr<Checkpoint> c;
    bool created = false;
    if (auto it = reg_.by_name().find(name); it != reg_.by_name().end()) {
        c = it->second;
        if (has_attrs && !(attrs == c->attributes())) {
            (void)reply(s, proto::reply_error(Op::kOpen, id,
                                              fail(Error::kExist, "checkpoint '" + printable_name(name) +
                                                                      "' exists with other creation attributes")));
            return;
        }
    } else {
        if (!(flags & kOpenCreate)) {
            (void)reply(s, proto::reply_error(Op::kOpen, id,
                                              fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'")));
            return;
        }
        auto r = reg_.create_checkpoint(name, attrs);
        CKPT_REPLY_IF_FAILED(Op::kOpen, r);
        c = *r;
        created = true;
        if (repl_) repl_->activate(c); // created here: this node is its active replica
    }
    if ((flags & kOpenWrite) && c->role() == shm::kRoleStandby) {
        const auto active = c->meta().header().active_node;
        (void)reply(
            s, proto::reply_error(Op::kOpen, id,
                                  fail(Error::kBadOperation,
                                       "checkpoint '" + printable_name(name) + "' is a standby replica on this node" +
                                           (active ? " (active: node " + std::to_string(active) + ")" : std::string()) +
                                           "; open it read-only, or promote it first")));
        return;
    }
    Handle h;
    h.ckpt = c;
    h.flags = flags;
    if (flags & kOpenWrite) {
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
                (void)reply(s, proto::reply_error(Op::kOpen, id, w.failure()));
                return;
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
        (void)reply(s, proto::reply_error(Op::kOpen, id, meta_fd ? data_fd.failure() : meta_fd.failure()));
        return;
    }
    c->open_count++;
    c->retention_deadline_ns = 0;
    std::uint64_t handle = s.next_handle++;
    auto e = proto::reply_ok(Op::kOpen, id);
    e.u64(handle).u32(h.writer).u64(c->meta_size()).u64(c->data_size()).u8(created ? 1 : 0);
    int fds[2] = {meta_fd->get(), data_fd->get()};
    s.handles.emplace(handle, std::move(h));
    if (cfg_.verbose)
        log_.log("pid %d opened '%s' flags %u handle %lu writer %d", s.cred.pid, printable_name(name).c_str(), flags,
                 static_cast<unsigned long>(handle), static_cast<int>(s.handles[handle].writer));
    (void)reply(s, e, fds);
}

void ControlServer::on_close(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    CKPT_DECODED(Op::kClose);
    auto it = s.handles.find(handle);
    if (it == s.handles.end()) {
        (void)reply(
            s, proto::reply_error(Op::kClose, id, fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    Handle h = std::move(it->second);
    s.handles.erase(it);
    drop_handle(h);
    (void)reply(s, proto::reply_ok(Op::kClose, id));
}

void ControlServer::on_unlink(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kUnlink);
    CKPT_REPLY_IF_FAILED(Op::kUnlink, validate_name(name));
    auto it = reg_.by_name().find(name);
    if (it == reg_.by_name().end()) {
        (void)reply(s, proto::reply_error(Op::kUnlink, id,
                                          fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'")));
        return;
    }
    auto c = it->second;
    if (c->role() == shm::kRoleStandby) {
        (void)reply(s, proto::reply_error(Op::kUnlink, id,
                                          fail(Error::kBadOperation, "checkpoint '" + printable_name(name) +
                                                                         "' is a standby replica here; unlink it on "
                                                                         "its active node")));
        return;
    }
    if (repl_) repl_->forget(c); // the standbys drop their replicas too
    reg_.unlink(c);
    log_.log("unlinked checkpoint '%s'", printable_name(name).c_str());
    (void)reply(s, proto::reply_ok(Op::kUnlink, id));
}

void ControlServer::on_status(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    CKPT_DECODED(Op::kStatus);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kStatus, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    const Checkpoint& c = *h->ckpt;
    auto e = proto::reply_ok(Op::kStatus, id);
    e.attrs(c.attributes()).u32(c.meta().section_count()).u64(c.meta().bytes_used()).u64(c.meta().commit_seq());
    encode_counters(e, c);
    (void)reply(s, e);
}

void ControlServer::on_section_create(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    auto sid = d.bytes();
    bool generate = d.u8() != 0;
    std::int64_t expiration = d.i64();
    std::uint64_t capacity = d.u64();
    auto data = d.bytes();
    CKPT_DECODED(Op::kSectionCreate);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kSectionCreate, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    if (!(h->flags & kOpenWrite)) {
        (void)reply(s, proto::reply_error(Op::kSectionCreate, id,
                                          fail(Error::kAccess, "checkpoint '" + printable_name(h->ckpt->name()) +
                                                                   "' is open read-only")));
        return;
    }
    // A replicated section's id travels in one SECTION frame: an id that cannot fit the link's mtu
    // is refused here, with the numbers, rather than found unsendable later (DPDK aborted on it).
    if (link_ && h->ckpt->replicating() && !generate && sid.size() + net::kSectionBodyFixed > link_->max_frame_body()) {
        const std::size_t most = link_->max_frame_body() - net::kSectionBodyFixed;
        (void)reply(s, proto::reply_error(Op::kSectionCreate, id,
                                          fail(Error::kInvalidParam,
                                               "section id of " + std::to_string(sid.size()) +
                                                   " bytes does not fit one replication frame: with mtu " +
                                                   std::to_string(link_->config().mtu) +
                                                   " a replicated section id holds at most " + std::to_string(most) +
                                                   " bytes (shorten the id or raise mtu)")));
        return;
    }
    auto r = h->ckpt->create_section(sid, generate, expiration, capacity, data);
    CKPT_REPLY_IF_FAILED(Op::kSectionCreate, r);
    h->ckpt->publish_acks();
    auto e = proto::reply_ok(Op::kSectionCreate, id);
    e.str(r->id).u32(r->slot).u64(r->generation);
    (void)reply(s, e);
}

void ControlServer::on_section_delete(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    auto sid = d.bytes();
    CKPT_DECODED(Op::kSectionDelete);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kSectionDelete, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    if (!(h->flags & kOpenWrite)) {
        (void)reply(s, proto::reply_error(Op::kSectionDelete, id,
                                          fail(Error::kAccess, "checkpoint '" + printable_name(h->ckpt->name()) +
                                                                   "' is open read-only")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kSectionDelete, h->ckpt->delete_section(sid));
    h->ckpt->publish_acks();
    (void)reply(s, proto::reply_ok(Op::kSectionDelete, id));
}

void ControlServer::on_section_expiration(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    auto sid = d.bytes();
    std::int64_t expiration = d.i64();
    CKPT_DECODED(Op::kSectionExpiration);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kSectionExpiration, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    if (!(h->flags & kOpenWrite)) {
        (void)reply(s, proto::reply_error(Op::kSectionExpiration, id,
                                          fail(Error::kAccess, "checkpoint '" + printable_name(h->ckpt->name()) +
                                                                   "' is open read-only")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kSectionExpiration, h->ckpt->set_expiration(sid, expiration));
    (void)reply(s, proto::reply_ok(Op::kSectionExpiration, id));
}

void ControlServer::on_subscribe(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    CKPT_DECODED(Op::kSubscribe);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kSubscribe, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    if (!h->subscription.valid()) {
        h->subscription.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!h->subscription.valid()) {
            (void)reply(
                s, proto::reply_error(Op::kSubscribe, id, fail(Error::kNoResources, "eventfd: out of descriptors")));
            return;
        }
        h->ckpt->subscribers.push_back(h->subscription.get());
    }
    int fds[1] = {h->subscription.get()};
    (void)reply(s, proto::reply_ok(Op::kSubscribe, id), fds);
}

void ControlServer::on_list(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint32_t cursor = d.u32();
    CKPT_DECODED(Op::kList);
    auto e = proto::reply_ok(Op::kList, id);
    proto::Encoder body;
    std::uint32_t count = 0, index = 0, next = 0;
    for (auto& [name, c] : reg_.by_name()) {
        if (index++ < cursor) continue;
        if (body.size() > proto::kMaxMessage - 2048) {
            next = index - 1;
            break;
        }
        const auto& a = c->attributes();
        body.str(name)
            .attrs(a)
            .u32(c->meta().section_count())
            .u64(c->meta().bytes_used())
            .u64(c->meta().commit_seq())
            .u32(static_cast<std::uint32_t>(c->open_count))
            .u64(c->meta().epoch());
        encode_counters(body, *c);
        ++count;
    }
    e.u32(count).u32(next);
    proto::Encoder full = e;
    for (std::byte b : body.buffer()) full.u8(static_cast<std::uint8_t>(b));
    (void)reply(s, full);
}

void ControlServer::on_inspect(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kInspect);
    auto it = reg_.by_name().find(name);
    if (it == reg_.by_name().end()) {
        (void)reply(s, proto::reply_error(Op::kInspect, id,
                                          fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'")));
        return;
    }
    auto& c = it->second;
    auto meta_fd = c->meta_fd_readonly();
    auto data_fd = c->data_fd(false);
    if (!meta_fd || !data_fd) {
        (void)reply(s, proto::reply_error(Op::kInspect, id, meta_fd ? data_fd.failure() : meta_fd.failure()));
        return;
    }
    auto e = proto::reply_ok(Op::kInspect, id);
    e.u64(c->meta_size()).u64(c->data_size()).u32(static_cast<std::uint32_t>(c->open_count));
    encode_counters(e, *c);
    int fds[2] = {meta_fd->get(), data_fd->get()};
    (void)reply(s, e, fds);
}

void ControlServer::on_rollback(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    std::uint32_t slot = d.u32();
    CKPT_DECODED(Op::kRollback);
    Handle* h = find_handle(s, handle);
    if (!h || h->writer == proto::kNoWriterSlot) {
        (void)reply(s, proto::reply_error(Op::kRollback, id, fail(Error::kBadHandle, "no handle open for write")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kRollback, h->ckpt->rollback(slot, h->writer));
    (void)reply(s, proto::reply_ok(Op::kRollback, id));
}

void ControlServer::on_reserve(Session& s, std::uint32_t id, proto::Decoder& d) {
    const std::uint64_t handle = d.u64();
    const std::uint32_t slot = d.u32();
    const std::uint64_t size = d.u64();
    CKPT_DECODED(Op::kReserve);
    Handle* h = find_handle(s, handle);
    if (!h || h->writer == proto::kNoWriterSlot) {
        (void)reply(s, proto::reply_error(Op::kReserve, id, fail(Error::kBadHandle, "no handle open for write")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kReserve, h->ckpt->reserve_size(slot, h->writer, size));
    (void)reply(s, proto::reply_ok(Op::kReserve, id));
}

void ControlServer::on_directory(Session& s, std::uint32_t id, proto::Decoder& d) {
    const std::uint64_t handle = d.u64();
    CKPT_DECODED(Op::kDirectory);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kDirectory, id, fail(Error::kBadHandle, "no such handle")));
        return;
    }
    auto e = proto::reply_ok(Op::kDirectory, id);
    e.u64(repl_ ? repl_->oldest_unapplied_directory_change(*h->ckpt) : 0);
    (void)reply(s, e);
}

void ControlServer::on_peers(Session& s, std::uint32_t id, proto::Decoder& d) {
    CKPT_DECODED(Op::kPeers);
    auto e = proto::reply_ok(Op::kPeers, id);
    e.str(net::carrier_name(cfg_.link.transport));
    const std::int64_t now = mono_ns();
    if (!link_) {
        e.u32(0);
    } else {
        e.u32(static_cast<std::uint32_t>(link_->peers().size()));
        for (const auto& p : link_->peers()) {
            e.u16(p.node_id).u8(static_cast<std::uint8_t>(p.state));
            e.i64(p.last_heard_ns ? now - p.last_heard_ns : -1).u64(p.rx_frames).u64(p.tx_frames).u64(p.restarts);
        }
    }
    if (link_) {
        const auto& c = link_->counters();
        std::uint64_t rejected = 0;
        for (auto r : c.rejected) rejected += r;
        e.u64(c.rx_frames).u64(c.tx_frames).u64(c.tx_dropped).u64(rejected).u64(c.unknown_peer + c.not_for_us);
        // Rejections by reason (net::Reject values 1..10), then the streams and the replication.
        for (std::size_t i = 1; i <= 10; ++i) e.u64(c.rejected[i]);
        std::uint64_t retransmits = 0, duplicates = 0, reordered = 0;
        for (const auto& p : link_->peers()) {
            retransmits += p.stream.counters().retransmits;
            duplicates += p.stream.counters().duplicates;
            reordered += p.stream.counters().reordered;
        }
        e.u64(retransmits).u64(duplicates).u64(reordered).u64(c.acks_sent).u64(c.nacks_sent);
        const auto& r = repl_->counters();
        e.u64(r.commits_sent).u64(r.data_frames).u64(r.data_bytes).u64(r.wire_bytes).u64(r.commits_applied);
        e.u64(r.commits_acked).u64(r.resyncs).u64(r.resync_blocks).u64(r.resync_bytes).u64(r.resync_blocks_same);
        e.u64(r.stale_epoch).u64(r.not_from_active).u64(r.unknown_checkpoint).u64(r.bad_commits);
        e.u64(r.promotions).u64(r.demotions);
        e.u64(r.refusals_sent).u64(r.refusals_received).u64(r.fenced).u64(c.acks_deferred);
    } else {
        e.u64(0).u64(0).u64(0).u64(0).u64(0);
        for (int i = 0; i < 10 + 5 + 16 + 4; ++i) e.u64(0);
    }
    (void)reply(s, e);
}

void ControlServer::on_promote(Session& s, std::uint32_t id, proto::Decoder& d, bool claim) {
    const Op op = claim ? Op::kActivate : Op::kPromote;
    std::string name = d.str();
    CKPT_DECODED(op);
    CKPT_REPLY_IF_FAILED(op, validate_name(name));
    auto c = reg_.find_checkpoint(name);
    if (!c) {
        (void)reply(s,
                    proto::reply_error(op, id, fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'")));
        return;
    }
    if (!repl_) {
        if (claim) { // node-local: the only replica is the active one
            auto e = proto::reply_ok(op, id);
            e.u64(c->epoch());
            (void)reply(s, e);
            return;
        }
        (void)reply(s, proto::reply_error(op, id,
                                          fail(Error::kBadOperation, "ckptd is node-local (transport none): "
                                                                     "checkpoint '" +
                                                                         printable_name(name) +
                                                                         "' is already its only, active copy")));
        return;
    }
    // Under a cluster manager (fence_peer_command, docs/CLUSTER.md) only its agent promotes.
    auto epoch = claim ? repl_->claim(c, !cfg_.fence_peer_command.empty()) : repl_->promote(c);
    CKPT_REPLY_IF_FAILED(op, epoch);
    auto e = proto::reply_ok(op, id);
    e.u64(*epoch);
    (void)reply(s, e);
}

void ControlServer::on_demote(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kDemote);
    CKPT_REPLY_IF_FAILED(Op::kDemote, validate_name(name));
    auto c = reg_.find_checkpoint(name);
    if (!c) {
        (void)reply(s, proto::reply_error(Op::kDemote, id,
                                          fail(Error::kNotExist, "no checkpoint '" + printable_name(name) + "'")));
        return;
    }
    if (!repl_) {
        (void)reply(s, proto::reply_error(
                           Op::kDemote, id,
                           fail(Error::kBadOperation, "ckptd is node-local (transport none): there is no other replica "
                                                      "to take over checkpoint '" +
                                                          printable_name(name) + "'")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kDemote, repl_->demote(c));
    (void)reply(s, proto::reply_ok(Op::kDemote, id));
}

void ControlServer::on_retention(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint64_t handle = d.u64();
    std::int64_t retention = d.i64();
    CKPT_DECODED(Op::kRetention);
    Handle* h = find_handle(s, handle);
    if (!h) {
        (void)reply(s, proto::reply_error(Op::kRetention, id,
                                          fail(Error::kBadHandle, "no open handle " + std::to_string(handle))));
        return;
    }
    if (retention < 0) {
        (void)reply(s, proto::reply_error(Op::kRetention, id, fail(Error::kInvalidParam, "retention is negative")));
        return;
    }
    if (h->ckpt->unlinked) {
        (void)reply(s, proto::reply_error(Op::kRetention, id,
                                          fail(Error::kBadOperation, "checkpoint '" + printable_name(h->ckpt->name()) +
                                                                         "' was unlinked: its retention is moot")));
        return;
    }
    h->ckpt->retention_set_ns = retention; // applies from the next last close
    (void)reply(s, proto::reply_ok(Op::kRetention, id));
}

} // namespace ckpt::engine
