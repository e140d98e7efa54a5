// The engine's control requests: decode (copy out, validate), act, reply.
#include "ckpt/common/clock.hpp"
#include "daemon/engine.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
            if (cfg_.verbose) log("request %d failed: %s", static_cast<int>(op), r_.message().c_str());                \
            (void)reply(s, proto::reply_error(op, id, r_.failure()));                                                  \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

void Engine::on_hello(Session& s, std::uint32_t id, proto::Decoder& d) {
    d.u32(); // client pid, informational (SO_PEERCRED is what counts)
    CKPT_DECODED(Op::kHello);
    auto e = proto::reply_ok(Op::kHello, id);
    e.u32(cfg_.node_id).u32(static_cast<std::uint32_t>(::getpid())).u64(node_map_.size());
    int fds[2];
    Fd node_ro(::open(("/proc/self/fd/" + std::to_string(node_fd_.get())).c_str(), O_RDONLY | O_CLOEXEC));
    fds[0] = node_ro.get();
    fds[1] = kick_fd_.get();
    if (!node_ro.valid()) {
        (void)reply(s, proto::reply_error(Op::kHello, id, fail(Error::kNoResources, "cannot reopen NODE segment")));
        return;
    }
    (void)reply(s, e, fds);
}

void Engine::on_open(Session& s, std::uint32_t id, proto::Decoder& d) {
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
    if (auto it = by_name_.find(name); it != by_name_.end()) {
        c = it->second;
        if (has_attrs && !(attrs == c->attributes())) {
            (void)reply(s, proto::reply_error(
                               Op::kOpen, id,
                               fail(Error::kExist, "checkpoint '" + name + "' exists with other creation attributes")));
            return;
        }
    } else {
        if (!(flags & kOpenCreate)) {
            (void)reply(s, proto::reply_error(Op::kOpen, id, fail(Error::kNotExist, "no checkpoint '" + name + "'")));
            return;
        }
        auto r = create_checkpoint(name, attrs);
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
                                       "checkpoint '" + name + "' is a standby replica on this node" +
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
            for (auto it = orphans_.begin(); it != orphans_.end(); ++it) {
                if (it->second.ckpt == c && it->second.slot == reattach) {
                    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->first, nullptr);
                    orphans_.erase(it);
                    --c->open_count; // the new handle takes over the orphan's hold
                    break;
                }
            }
        }
        if (!reattached) {
            auto w = c->attach_writer(s.cred.pid, s.start_time);
            if (!w) {
                if (created && c->open_count == 0) last_close(c);
                (void)reply(s, proto::reply_error(Op::kOpen, id, w.failure()));
                return;
            }
            h.writer = *w;
        }
    }
    if (c->repair_data_header()) log("checkpoint '%s': repaired a scribbled DATA header", name.c_str());
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
        log("pid %d opened '%s' flags %u handle %lu writer %d", s.cred.pid, name.c_str(), flags,
            static_cast<unsigned long>(handle), static_cast<int>(s.handles[handle].writer));
    (void)reply(s, e, fds);
}

void Engine::on_close(Session& s, std::uint32_t id, proto::Decoder& d) {
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

void Engine::on_unlink(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kUnlink);
    CKPT_REPLY_IF_FAILED(Op::kUnlink, validate_name(name));
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        (void)reply(s, proto::reply_error(Op::kUnlink, id, fail(Error::kNotExist, "no checkpoint '" + name + "'")));
        return;
    }
    auto c = it->second;
    if (c->role() == shm::kRoleStandby) {
        (void)reply(s, proto::reply_error(Op::kUnlink, id,
                                          fail(Error::kBadOperation, "checkpoint '" + name +
                                                                         "' is a standby replica here; unlink it on "
                                                                         "its active node")));
        return;
    }
    if (repl_) repl_->forget(c); // the standbys drop their replicas too
    unlink(c);
    log("unlinked checkpoint '%s'", name.c_str());
    (void)reply(s, proto::reply_ok(Op::kUnlink, id));
}

void Engine::on_status(Session& s, std::uint32_t id, proto::Decoder& d) {
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

void Engine::on_section_create(Session& s, std::uint32_t id, proto::Decoder& d) {
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
        (void)reply(s,
                    proto::reply_error(Op::kSectionCreate, id,
                                       fail(Error::kAccess, "checkpoint '" + h->ckpt->name() + "' is open read-only")));
        return;
    }
    auto r = h->ckpt->create_section(sid, generate, expiration, capacity, data);
    CKPT_REPLY_IF_FAILED(Op::kSectionCreate, r);
    h->ckpt->publish_acks();
    auto e = proto::reply_ok(Op::kSectionCreate, id);
    e.str(r->id).u32(r->slot).u64(r->generation);
    (void)reply(s, e);
}

void Engine::on_section_delete(Session& s, std::uint32_t id, proto::Decoder& d) {
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
        (void)reply(s,
                    proto::reply_error(Op::kSectionDelete, id,
                                       fail(Error::kAccess, "checkpoint '" + h->ckpt->name() + "' is open read-only")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kSectionDelete, h->ckpt->delete_section(sid));
    h->ckpt->publish_acks();
    (void)reply(s, proto::reply_ok(Op::kSectionDelete, id));
}

void Engine::on_section_expiration(Session& s, std::uint32_t id, proto::Decoder& d) {
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
        (void)reply(s,
                    proto::reply_error(Op::kSectionExpiration, id,
                                       fail(Error::kAccess, "checkpoint '" + h->ckpt->name() + "' is open read-only")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kSectionExpiration, h->ckpt->set_expiration(sid, expiration));
    (void)reply(s, proto::reply_ok(Op::kSectionExpiration, id));
}

void Engine::on_subscribe(Session& s, std::uint32_t id, proto::Decoder& d) {
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

void Engine::on_list(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::uint32_t cursor = d.u32();
    CKPT_DECODED(Op::kList);
    auto e = proto::reply_ok(Op::kList, id);
    proto::Encoder body;
    std::uint32_t count = 0, index = 0, next = 0;
    for (auto& [name, c] : by_name_) {
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

void Engine::on_inspect(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kInspect);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        (void)reply(s, proto::reply_error(Op::kInspect, id, fail(Error::kNotExist, "no checkpoint '" + name + "'")));
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

void Engine::on_rollback(Session& s, std::uint32_t id, proto::Decoder& d) {
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

void Engine::on_peers(Session& s, std::uint32_t id, proto::Decoder& d) {
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

void Engine::on_promote(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kPromote);
    CKPT_REPLY_IF_FAILED(Op::kPromote, validate_name(name));
    auto c = find_checkpoint(name);
    if (!c) {
        (void)reply(s, proto::reply_error(Op::kPromote, id, fail(Error::kNotExist, "no checkpoint '" + name + "'")));
        return;
    }
    if (!repl_) {
        (void)reply(s, proto::reply_error(Op::kPromote, id,
                                          fail(Error::kBadOperation, "ckptd is node-local (transport none): "
                                                                     "checkpoint '" +
                                                                         name + "' is already its only, active copy")));
        return;
    }
    auto epoch = repl_->promote(c);
    CKPT_REPLY_IF_FAILED(Op::kPromote, epoch);
    auto e = proto::reply_ok(Op::kPromote, id);
    e.u64(*epoch);
    (void)reply(s, e);
}

void Engine::on_demote(Session& s, std::uint32_t id, proto::Decoder& d) {
    std::string name = d.str();
    CKPT_DECODED(Op::kDemote);
    CKPT_REPLY_IF_FAILED(Op::kDemote, validate_name(name));
    auto c = find_checkpoint(name);
    if (!c) {
        (void)reply(s, proto::reply_error(Op::kDemote, id, fail(Error::kNotExist, "no checkpoint '" + name + "'")));
        return;
    }
    if (!repl_) {
        (void)reply(s, proto::reply_error(
                           Op::kDemote, id,
                           fail(Error::kBadOperation, "ckptd is node-local (transport none): there is no other replica "
                                                      "to take over checkpoint '" +
                                                          name + "'")));
        return;
    }
    CKPT_REPLY_IF_FAILED(Op::kDemote, repl_->demote(c));
    (void)reply(s, proto::reply_ok(Op::kDemote, id));
}

} // namespace ckpt::engine
