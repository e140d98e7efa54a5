// libSaCkpt: Hotspare's extensions (hsCkpt.h): hot-standby change delivery through saCkptDispatch,
// and zero-copy in-place writes and reads.
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
    if (::epoll_ctl(lib.watch_epoll, EPOLL_CTL_ADD, c.track_fd, &ev) != 0)
        return error(SA_AIS_ERR_NO_RESOURCES, std::string("epoll_ctl: ") + std::strerror(errno));
    return SA_AIS_OK;
}

void unwatch(Ckpt& c) {
    std::lock_guard lk(c.mu);
    if (!c.tracked) return;
    c.tracked = false;
    if (c.lib->watch_epoll >= 0 && c.track_fd >= 0) ::epoll_ctl(c.lib->watch_epoll, EPOLL_CTL_DEL, c.track_fd, nullptr);
    c.track_fd = -1;
}

void deliver_changes(Library& lib, SaCkptCheckpointHandleT h) {
    auto c = live_checkpoint(h);
    if (!c) return;
    client::Checkpoint ck;
    hsCkptSectionChangedCallbackT cb;
    void* ctx;
    SaUint32T flags;
    std::uint64_t since;
    {
        std::lock_guard lk(c->mu);
        if (!c->tracked) return;
        ck = c->ck;
        cb = c->track_cb;
        ctx = c->track_ctx;
        flags = c->track_flags;
        since = c->track_seen;
    }
    std::vector<std::string> ids;
    const std::uint64_t upto = ck.changes_since(since, ids); // also re-arms the notify fd
    {
        std::lock_guard lk(c->mu);
        c->track_seen = upto;
        if (c->tracked) { // re-arm the one-shot registration: the next change posts again
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLONESHOT;
            ev.data.u64 = h;
            ::epoll_ctl(lib.watch_epoll, EPOLL_CTL_MOD, c->track_fd, &ev);
        }
    }
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
        auto fd = c->ck.notify_fd();
        if (!fd) return map_failure(fd.failure(), kTrack);
        c->track_fd = *fd;
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
    {
        std::lock_guard lk(c->mu);
        if (!c->tracked) return error(SA_AIS_ERR_NOT_EXIST, "checkpoint is not tracked");
    }
    unwatch(*c);
    c->lib->cancel(checkpointHandle);
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
