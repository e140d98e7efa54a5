// libSaCkpt: Hotspare's extensions (hsCkpt.h): hot-standby change and role delivery through
// saCkptDispatch, and zero-copy in-place writes and reads.
#include "handles.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

using namespace hotspare::sa;
using ckpt::Error;
namespace client = ckpt::client;

namespace {

constexpr Allowed kTrack = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                           bit(SA_AIS_ERR_EXIST) | bit(SA_AIS_ERR_NO_RESOURCES);
constexpr Allowed kWriteBegin = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                                bit(SA_AIS_ERR_ACCESS) | bit(SA_AIS_ERR_NOT_EXIST) | bit(SA_AIS_ERR_BUSY);
constexpr Allowed kCommit = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM);
constexpr Allowed kView = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                          bit(SA_AIS_ERR_ACCESS) | bit(SA_AIS_ERR_NOT_EXIST);

/// The watcher: one thread per library handle with tracked checkpoints. It waits on their notify
/// fds (one-shot) and posts an event per readiness; dispatch delivers and re-arms.
void watcher_loop(std::shared_ptr<Library> lib) {
    epoll_event evs[16];
    while (!lib->finalized.load()) {
        int n = ::epoll_wait(lib->watch_epoll, evs, 16, 100);
        for (int i = 0; i < n; ++i) {
            Event e;
            e.kind = Event::kChanges;
            e.checkpoint = evs[i].data.u64;
            lib->post(e);
        }
    }
}

} // namespace

namespace hotspare::sa {

SaAisErrorT watch(Ckpt& c) {
    Library& lib = *c.lib;
    {
        std::lock_guard lk(c.mu);
        if (c.watched) return SA_AIS_OK; // the other kind of tracking registered the fd already
    }
    {
        std::lock_guard lk(lib.watch_mu);
        if (lib.watch_epoll < 0) {
            lib.watch_epoll = ::epoll_create1(EPOLL_CLOEXEC);
            if (lib.watch_epoll < 0) return error(SA_AIS_ERR_NO_RESOURCES, "epoll_create1: out of descriptors");
        }
        if (!lib.watcher) {
            auto self = libraries().get(lib.handle);
            if (!self) return error(SA_AIS_ERR_BAD_HANDLE, "the library handle was finalized");
            std::thread(watcher_loop, std::move(self)).detach();
            lib.watcher = true;
        }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = c.handle;
    std::lock_guard lk(c.mu);
    if (c.watched) return SA_AIS_OK;
    if (::epoll_ctl(lib.watch_epoll, EPOLL_CTL_ADD, c.track_fd, &ev) != 0)
        return error(SA_AIS_ERR_NO_RESOURCES, std::string("epoll_ctl: ") + std::strerror(errno));
    c.watched = true;
    return SA_AIS_OK;
}

namespace {
/// Drops the watcher registration once neither kind of tracking wants it (c.mu held).
void unwatch_if_idle(Ckpt& c) {
    if (c.tracked || c.role_tracked || !c.watched) return;
    if (c.lib->watch_epoll >= 0 && c.track_fd >= 0) ::epoll_ctl(c.lib->watch_epoll, EPOLL_CTL_DEL, c.track_fd, nullptr);
    c.watched = false;
    c.track_fd = -1;
}
} // namespace

void rewatch_locked(Ckpt& c) {
    if (!c.watched) return;
    // The old handle's fd left the epoll set when it was closed (or goes now).
    if (c.lib->watch_epoll >= 0 && c.track_fd >= 0) ::epoll_ctl(c.lib->watch_epoll, EPOLL_CTL_DEL, c.track_fd, nullptr);
    c.watched = false;
    c.track_fd = -1;
    auto fd = c.ck.notify_fd();
    if (!fd) {
        // Tracking cannot go on with the new handle: stop it rather than go silent unnoticed.
        c.tracked = false;
        c.role_tracked = false;
        (void)error(SA_AIS_ERR_NO_RESOURCES, "change and role tracking stopped: " + fd.message());
        return;
    }
    c.track_fd = *fd;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = c.handle;
    if (::epoll_ctl(c.lib->watch_epoll, EPOLL_CTL_ADD, c.track_fd, &ev) == 0) c.watched = true;
    // A change or role event may have come between the old handle's close and now.
    Event e;
    e.kind = Event::kChanges;
    e.checkpoint = c.handle;
    c.lib->post(e);
}

void unwatch(Ckpt& c) {
    std::lock_guard lk(c.mu);
    c.tracked = false;
    c.role_tracked = false;
    unwatch_if_idle(c);
}

void deliver_changes(Library& lib, SaCkptCheckpointHandleT h) {
    auto c = live_checkpoint(h);
    if (!c) return;
    client::Checkpoint ck;
    hsCkptSectionChangedCallbackT cb;
    void* ctx;
    SaUint32T flags;
    std::uint64_t since;
    bool changes;
    hsCkptRoleCallbackT role_cb = nullptr;
    void* role_ctx = nullptr;
    {
        std::lock_guard lk(c->mu);
        if (!c->tracked && !c->role_tracked) return;
        ck = c->ck;
        changes = c->tracked;
        cb = c->track_cb;
        ctx = c->track_ctx;
        flags = c->track_flags;
        since = c->track_seen;
        if (c->role_tracked) {
            role_cb = c->role_cb;
            role_ctx = c->role_ctx;
        }
    }
    // The role first (it also re-arms the notify fd). An application told "active" takes the write
    // side with saCkptActiveReplicaSet, which is idempotent once the cluster promoted the replica.
    if (role_cb) {
        auto r = ck.role_event();
        if (r) { // a reopened handle reports the current role again: deliver changes only
            std::lock_guard lk(c->mu);
            const int role = r->role == client::Role::kActive    ? HS_CKPT_ROLE_ACTIVE
                             : r->role == client::Role::kStandby ? HS_CKPT_ROLE_STANDBY
                                                                 : HS_CKPT_ROLE_LOCAL;
            if (role == c->role_last && r->epoch == c->epoch_last && r->lost_commits == 0) {
                r.reset();
            } else {
                c->role_last = role;
                c->epoch_last = r->epoch;
            }
        }
        if (r) {
            hsCkptRoleEventT e{};
            e.role = r->role == client::Role::kActive    ? HS_CKPT_ROLE_ACTIVE
                     : r->role == client::Role::kStandby ? HS_CKPT_ROLE_STANDBY
                                                         : HS_CKPT_ROLE_LOCAL;
            e.epoch = r->epoch;
            e.activeNode = r->active_node;
            e.lostCommits = r->lost_commits;
            e.lostFirstChange = r->lost_first_change;
            e.lostLastChange = r->lost_last_change;
            role_cb(h, &e, role_ctx);
            if (c->closed.load()) return; // the callback closed it
        }
    }
    std::vector<std::string> ids;
    const std::uint64_t upto = changes ? ck.changes_since(since, ids) : since; // also re-arms the notify fd
    {
        std::lock_guard lk(c->mu);
        if (changes) c->track_seen = upto;
        if (c->watched) { // re-arm the one-shot registration: the next change posts again
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLONESHOT;
            ev.data.u64 = h;
            ::epoll_ctl(lib.watch_epoll, EPOLL_CTL_MOD, c->track_fd, &ev);
        }
    }
    if (!changes) return;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::byte> buf;
    for (const auto& id : ids) {
        auto sec = c->section(id);
        if (!sec) continue; // deleted since
        SaCkptSectionIdT sid{static_cast<SaUint16T>(id.size()),
                             reinterpret_cast<SaUint8T*>(const_cast<char*>(id.data()))};
        if (flags & HS_CKPT_TRACK_DATA) {
            auto n = (*sec)->read_view([&](std::span<const std::byte> b) {
                buf.assign(b.begin(), b.end());
                return b.size();
            });
            if (!n) {
                if (n.error() == Error::kNotExist) c->forget(id);
                continue;
            }
            cb(h, &sid, buf.data(), buf.size(), upto, ctx);
        } else {
            cb(h, &sid, nullptr, (*sec)->size(), upto, ctx);
        }
        if (c->closed.load()) return; // the callback closed it
    }
}

} // namespace hotspare::sa

extern "C" SaAisErrorT hsCkptSectionChangeTrack(SaCkptCheckpointHandleT checkpointHandle, SaUint32T flags,
                                                hsCkptSectionChangedCallbackT callback, void* context) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    if (!callback) return error(SA_AIS_ERR_INVALID_PARAM, "callback is NULL");
    if (flags & ~SaUint32T{HS_CKPT_TRACK_DATA}) return error(SA_AIS_ERR_INVALID_PARAM, "unknown flags");
    {
        std::lock_guard lk(c->mu);
        if (c->tracked) return error(SA_AIS_ERR_EXIST, "checkpoint is already tracked");
        if (c->track_fd < 0) {
            auto fd = c->ck.notify_fd();
            if (!fd) return map_failure(fd.failure(), kTrack);
            c->track_fd = *fd;
        }
        c->track_seen = c->ck.commit_seq();
        c->track_cb = callback;
        c->track_ctx = context;
        c->track_flags = flags;
        c->tracked = true;
    }
    if (SaAisErrorT e = watch(*c); e != SA_AIS_OK) {
        std::lock_guard lk(c->mu);
        c->tracked = false;
        return e;
    }
    return success();
}

extern "C" SaAisErrorT hsCkptSectionChangeTrackStop(SaCkptCheckpointHandleT checkpointHandle) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    bool roles;
    {
        std::lock_guard lk(c->mu);
        if (!c->tracked) return error(SA_AIS_ERR_NOT_EXIST, "checkpoint is not tracked");
        c->tracked = false;
        roles = c->role_tracked;
        unwatch_if_idle(*c);
    }
    // Pending deliveries are dropped, unless role tracking still needs them (the one-shot watch
    // is re-armed by a delivery).
    if (!roles) c->lib->cancel(checkpointHandle);
    return success();
}

extern "C" SaAisErrorT hsCkptRoleTrack(SaCkptCheckpointHandleT checkpointHandle, hsCkptRoleCallbackT callback,
                                       void* context) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    if (!callback) return error(SA_AIS_ERR_INVALID_PARAM, "callback is NULL");
    {
        std::lock_guard lk(c->mu);
        if (c->role_tracked) return error(SA_AIS_ERR_EXIST, "the checkpoint's role is already tracked");
        if (c->track_fd < 0) {
            auto fd = c->ck.notify_fd();
            if (!fd) return map_failure(fd.failure(), kTrack);
            c->track_fd = *fd;
        }
        c->role_cb = callback;
        c->role_ctx = context;
        c->role_tracked = true;
        c->role_last = -1; // the first delivery reports the current role
    }
    if (SaAisErrorT e = watch(*c); e != SA_AIS_OK) {
        std::lock_guard lk(c->mu);
        c->role_tracked = false;
        return e;
    }
    // The first delivery reports the current role, at the next dispatch.
    Event e;
    e.kind = Event::kChanges;
    e.checkpoint = checkpointHandle;
    c->lib->post(e);
    return success();
}

extern "C" SaAisErrorT hsCkptRoleTrackStop(SaCkptCheckpointHandleT checkpointHandle) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    std::lock_guard lk(c->mu);
    if (!c->role_tracked) return error(SA_AIS_ERR_NOT_EXIST, "the checkpoint's role is not tracked");
    c->role_tracked = false;
    unwatch_if_idle(*c);
    // A pending delivery finds role_tracked false and delivers no role; one still owed to change
    // tracking is kept.
    return success();
}

extern "C" SaAisErrorT hsCkptSectionWriteBegin(SaCkptCheckpointHandleT checkpointHandle,
                                               const SaCkptSectionIdT* sectionId, SaTimeT timeout, void** data,
                                               SaSizeT* capacity, SaSizeT* size, hsCkptWriteTxHandleT* tx) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    std::string why;
    auto id = id_of(sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (!data || !tx || timeout < 0) return error(SA_AIS_ERR_INVALID_PARAM, "data or tx is NULL, or timeout < 0");
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE)) return error(SA_AIS_ERR_ACCESS, "checkpoint is not open for write");
    if (!c->engine_write.load())
        return error(SA_AIS_ERR_NOT_EXIST, "no active replica on this node (saCkptActiveReplicaSet first)");
    for (int attempt = 0;; ++attempt) {
        auto sec = c->section(*id);
        if (!sec) return map_failure(sec.failure(), kWriteBegin);
        auto w = (*sec)->write(to_wait(timeout));
        if (!w) {
            if (w.error() == Error::kNotExist && attempt == 0) {
                c->forget(*id);
                continue;
            }
            return map_failure(w.failure(), kWriteBegin);
        }
        *data = w->data().data();
        if (capacity) *capacity = w->capacity();
        if (size) *size = w->size();
        *tx = transactions().add(std::make_shared<Tx>(c, std::move(*w)));
        return success();
    }
}

extern "C" SaAisErrorT hsCkptSectionWriteMark(hsCkptWriteTxHandleT tx, SaOffsetT offset, SaSizeT length) {
    auto t = transactions().get(tx);
    if (!t) return error(SA_AIS_ERR_BAD_HANDLE, "tx is not an open transaction");
    if (offset > t->tx.capacity() || length > t->tx.capacity() - offset)
        return error(SA_AIS_ERR_INVALID_PARAM, "range is outside the section's capacity");
    t->tx.mark_dirty(offset, length);
    return success();
}

extern "C" SaAisErrorT hsCkptSectionWriteCommit(hsCkptWriteTxHandleT tx, SaSizeT newSize, SaTimeT timeout) {
    auto t0 = transactions().get(tx);
    if (!t0) return error(SA_AIS_ERR_BAD_HANDLE, "tx is not an open transaction");
    if (newSize > t0->tx.capacity() || timeout < 0)
        return error(SA_AIS_ERR_INVALID_PARAM, "newSize is above the section's capacity, or timeout < 0");
    auto t = transactions().take(tx);
    if (!t) return error(SA_AIS_ERR_BAD_HANDLE, "tx is not an open transaction");
    t->tx.resize(newSize);
    auto r = t->tx.commit(timeout == 0 ? client::Ack::kAsync : client::Ack::kSync, to_wait(timeout));
    if (!r) {
        if (r.error() == Error::kUnavailable) return error(SA_AIS_ERR_TRY_AGAIN, r.message());
        return map_failure(r.failure(), kCommit);
    }
    return success();
}

extern "C" SaAisErrorT hsCkptSectionWriteAbort(hsCkptWriteTxHandleT tx) {
    auto t = transactions().take(tx);
    if (!t) return error(SA_AIS_ERR_BAD_HANDLE, "tx is not an open transaction");
    auto st = t->tx.abort();
    if (!st) return map_failure(st.failure(), kCommon | bit(SA_AIS_ERR_BAD_HANDLE));
    return success();
}

extern "C" SaAisErrorT hsCkptSectionReadView(SaCkptCheckpointHandleT checkpointHandle,
                                             const SaCkptSectionIdT* sectionId, hsCkptSectionViewCallbackT view,
                                             void* context) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return error(SA_AIS_ERR_BAD_HANDLE, "checkpointHandle is not valid");
    std::string why;
    auto id = id_of(sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (!view) return error(SA_AIS_ERR_INVALID_PARAM, "view is NULL");
    if (!(c->flags & SA_CKPT_CHECKPOINT_READ)) return error(SA_AIS_ERR_ACCESS, "checkpoint is not open for read");
    for (int attempt = 0;; ++attempt) {
        auto sec = c->section(*id);
        if (!sec) return map_failure(sec.failure(), kView);
        auto r = (*sec)->read_view([&](std::span<const std::byte> b) {
            view(b.data(), b.size(), context);
            return 0;
        });
        if (r) return success();
        if (r.error() == Error::kNotExist && attempt == 0) {
            c->forget(*id);
            continue;
        }
        return map_failure(r.failure(), kView);
    }
}
