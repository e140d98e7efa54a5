// libSaCkpt: the 24 functions of the SA Forum AIS Checkpoint Service (B.02.02) over libckpt.
// Which code each returns, and why: docs/SA_COMPATIBILITY.md.
#include "handles.hpp"
#include "mapping.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <thread>

using namespace hotspare::sa;
using ckpt::Error;
namespace client = ckpt::client;

namespace {

constexpr SaUint8T kRelease = 'B';
constexpr SaUint8T kMajor = 2;
constexpr SaUint8T kMinor = 2;

// The codes each function lists in the specification. Close, StatusGet and IterationInitialize
// map no engine failure (they fail only on what they check themselves); their lists stay for
// reference.
constexpr Allowed kInitialize = kCommon | bit(SA_AIS_ERR_INVALID_PARAM) | bit(SA_AIS_ERR_NO_MEMORY) |
                                bit(SA_AIS_ERR_NO_RESOURCES) | bit(SA_AIS_ERR_VERSION);
constexpr Allowed kOpen = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                          bit(SA_AIS_ERR_NO_MEMORY) | bit(SA_AIS_ERR_NO_RESOURCES) | bit(SA_AIS_ERR_NOT_EXIST) |
                          bit(SA_AIS_ERR_EXIST) | bit(SA_AIS_ERR_BAD_FLAGS);
constexpr Allowed kOpenCallback = kCommon | bit(SA_AIS_ERR_NO_MEMORY) | bit(SA_AIS_ERR_NO_RESOURCES) |
                                  bit(SA_AIS_ERR_NOT_EXIST) | bit(SA_AIS_ERR_EXIST) | bit(SA_AIS_ERR_BAD_FLAGS);
[[maybe_unused]] constexpr Allowed kClose = kCommon | bit(SA_AIS_ERR_BAD_HANDLE);
constexpr Allowed kUnlink =
    kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) | bit(SA_AIS_ERR_NOT_EXIST);
constexpr Allowed kRetention =
    kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) | bit(SA_AIS_ERR_BAD_OPERATION);
constexpr Allowed kActiveReplica =
    kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_ACCESS) | bit(SA_AIS_ERR_BAD_OPERATION);
[[maybe_unused]] constexpr Allowed kStatus =
    kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) | bit(SA_AIS_ERR_NOT_EXIST);
constexpr Allowed kSectionCreate = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                                   bit(SA_AIS_ERR_NO_MEMORY) | bit(SA_AIS_ERR_NO_RESOURCES) | bit(SA_AIS_ERR_NO_SPACE) |
                                   bit(SA_AIS_ERR_NOT_EXIST) | bit(SA_AIS_ERR_ACCESS) | bit(SA_AIS_ERR_EXIST);
constexpr Allowed kSectionDelete = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                                   bit(SA_AIS_ERR_NOT_EXIST) | bit(SA_AIS_ERR_ACCESS);
constexpr Allowed kExpiration = kSectionDelete;
[[maybe_unused]] constexpr Allowed kIterInit =
    kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) | bit(SA_AIS_ERR_NOT_EXIST);
constexpr Allowed kWrite = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                           bit(SA_AIS_ERR_NO_MEMORY) | bit(SA_AIS_ERR_NO_RESOURCES) | bit(SA_AIS_ERR_NOT_EXIST) |
                           bit(SA_AIS_ERR_ACCESS);
constexpr Allowed kRead = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                          bit(SA_AIS_ERR_NOT_EXIST) | bit(SA_AIS_ERR_ACCESS);
constexpr Allowed kSync = kCommon | bit(SA_AIS_ERR_BAD_HANDLE) | bit(SA_AIS_ERR_INVALID_PARAM) |
                          bit(SA_AIS_ERR_NO_MEMORY) | bit(SA_AIS_ERR_NO_RESOURCES) | bit(SA_AIS_ERR_NOT_EXIST) |
                          bit(SA_AIS_ERR_ACCESS) | bit(SA_AIS_ERR_BAD_OPERATION);
constexpr Allowed kSyncCallback = kSync & ~bit(SA_AIS_ERR_BAD_HANDLE);

SaAisErrorT bad_handle(const char* what, SaUint64T h) {
    return error(SA_AIS_ERR_BAD_HANDLE, std::string(what) + " " + std::to_string(h) +
                                            " is not valid (never returned, closed, or its library handle finalized)");
}

std::string_view name_of(const SaNameT* n) {
    return {reinterpret_cast<const char*>(n->value), n->length};
}

/// Checks what saCkptCheckpointOpen and OpenAsync check before any engine call.
SaAisErrorT check_open(const SaNameT* name, const SaCkptCheckpointCreationAttributesT* attrs, SaUint32T flags,
                       ckpt::CheckpointAttributes& eattrs) {
    if ((flags & ~SaUint32T{SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE | SA_CKPT_CHECKPOINT_CREATE}) != 0 ||
        (flags & (SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE)) == 0)
        return error(SA_AIS_ERR_BAD_FLAGS, "checkpointOpenFlags must hold SA_CKPT_CHECKPOINT_READ and/or _WRITE, "
                                           "optionally _CREATE; got " +
                                               std::to_string(flags));
    if (!name) return error(SA_AIS_ERR_INVALID_PARAM, "checkpointName is NULL");
    if (name->length == 0 || name->length > SA_MAX_NAME_LENGTH)
        return error(SA_AIS_ERR_INVALID_PARAM,
                     "checkpointName length is " + std::to_string(name->length) + " (1..256 allowed)");
    const bool create = (flags & SA_CKPT_CHECKPOINT_CREATE) != 0;
    if (create && !attrs)
        return error(SA_AIS_ERR_INVALID_PARAM, "SA_CKPT_CHECKPOINT_CREATE needs checkpointCreationAttributes");
    if (!create && attrs)
        return error(SA_AIS_ERR_INVALID_PARAM,
                     "checkpointCreationAttributes given without SA_CKPT_CHECKPOINT_CREATE (they must be NULL)");
    if (attrs) {
        std::string why;
        if (SaAisErrorT e = to_engine(*attrs, eattrs, why); e != SA_AIS_OK) return error(e, why);
    }
    return SA_AIS_OK;
}

/// Opens on the engine and registers the handle. A write open of a standby replica is held
/// read-only until saCkptActiveReplicaSet promotes it (writes say NOT_EXIST: no active replica here).
ckpt::Result<SaCkptCheckpointHandleT> open_checkpoint(const std::shared_ptr<Library>& lib, std::string sa_name,
                                                      const std::optional<ckpt::CheckpointAttributes>& eattrs,
                                                      const SaCkptCheckpointCreationAttributesT* attrs,
                                                      SaUint32T flags) {
    auto c = std::make_shared<Ckpt>();
    c->lib = lib;
    c->engine_name = sa_name; // ckptd takes any SaNameT as it is
    c->sa_name = std::move(sa_name);
    c->flags = flags;
    const ckpt::CheckpointAttributes* ea = eattrs ? &*eattrs : nullptr;
    auto r = lib->session->open(c->engine_name, flags, ea);
    bool write = (flags & SA_CKPT_CHECKPOINT_WRITE) != 0;
    if (!r && r.error() == Error::kBadOperation && write) {
        // A standby replica here: ckptd takes no write opens until it is promoted.
        r = lib->session->open(c->engine_name, (flags & ~SaUint32T{SA_CKPT_CHECKPOINT_WRITE}) | SA_CKPT_CHECKPOINT_READ,
                               ea);
        write = false;
    }
    if (!r) return r.failure();
    c->ck = std::move(*r);
    c->engine_write = write;
    c->attrs = attrs ? *attrs : to_sa(c->ck.attributes());
    if (lib->finalized.load()) {
        (void)c->ck.close();
        return ckpt::fail(Error::kBadHandle, "the library handle was finalized during the open");
    }
    c->handle = checkpoints().add(c);
    return c->handle;
}

/// Runs `fn` with a limit of `timeout`: past it the call returns TIMEOUT and `abandon` gets what
/// fn returns later (to close a checkpoint opened too late, say).
template <typename T, typename F, typename A>
ckpt::Result<T> within(SaTimeT timeout, F&& fn, A&& abandon) {
    // ckptd answers control calls within its own limit (5 s); longer limits need no thread.
    if (timeout >= 5 * SA_TIME_ONE_SECOND) return fn();
    struct Shared {
        std::mutex mu;
        std::condition_variable cv;
        std::optional<ckpt::Result<T>> result;
        bool abandoned = false;
    };
    auto sh = std::make_shared<Shared>();
    std::thread([sh, fn = std::forward<F>(fn), abandon = std::forward<A>(abandon)]() mutable {
        auto r = fn();
        std::unique_lock lk(sh->mu);
        if (sh->abandoned) {
            lk.unlock();
            if (r) abandon(std::move(*r));
            return;
        }
        sh->result.emplace(std::move(r));
        sh->cv.notify_all();
    }).detach();
    std::unique_lock lk(sh->mu);
    if (!sh->cv.wait_for(lk, std::chrono::nanoseconds(timeout), [&] { return sh->result.has_value(); })) {
        sh->abandoned = true;
        return ckpt::fail(Error::kTimeout,
                          "the call did not complete within its timeout of " + std::to_string(timeout) + " ns");
    }
    return std::move(*sh->result);
}

void close_checkpoint(const std::shared_ptr<Ckpt>& c) {
    c->closed.store(true, std::memory_order_release);
    forget_cached_checkpoint(); // this thread's; another thread's goes at its next data call
    c->lib->cancel(c->handle);
    iterations().take_if([&](const Iteration& it) { return it.ckpt == c; });
    transactions().take_if([&](const Tx& t) { return t.ckpt == c; });
    unwatch(*c);
    std::lock_guard lk(c->mu);
    // Dropping the last reference closes it on ckptd without waiting for a reconnect (a dead
    // engine already closed it); a call still running on another thread keeps it until it returns.
    c->ck = client::Checkpoint{};
    c->cache.clear();
    for (void* p : c->allocated_ids) std::free(p);
    for (void* p : c->allocated_buffers) std::free(p);
    c->allocated_ids.clear();
    c->allocated_buffers.clear();
}

/// The checkpoint's mode asks every replica before a write returns.
bool all_replicas(const Ckpt& c) {
    return (c.attrs.creationFlags & 0x7) == SA_CKPT_WR_ALL_REPLICAS;
}

SaAisErrorT not_active_here(const Ckpt& c) {
    return error(SA_AIS_ERR_NOT_EXIST, "checkpoint '" + c.sa_name +
                                           "' has no active replica on this node (it is a standby replica here; "
                                           "saCkptActiveReplicaSet makes it active)");
}

/// Waits until every section's commits so far, and every section create, delete and expiration
/// change so far, are applied by every required replica.
ckpt::Status synchronize(Ckpt& c, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto ck = c.checkpoint();
    const std::uint64_t changes = ck.commit_seq(); // the directory changes made so far are numbered up to this
    for (const auto& d : ck.sections(client::SectionsChosen::kAny)) {
        auto sec = c.section(d.id);
        if (!sec) continue; // deleted meanwhile: nothing to wait for
        const std::uint64_t seq = (*sec)->sequence();
        for (;;) {
            if (c.closed.load()) return ckpt::fail(Error::kBadHandle, "the checkpoint was closed");
            auto rep = ck.replication();
            if (rep.role == "standby")
                return ckpt::fail(Error::kNotExist, "this node is no longer the active replica of '" + c.sa_name + "'");
            if (rep.sync_blocked_by != 0)
                return ckpt::fail(Error::kTryAgain, "required standby node " + std::to_string(rep.sync_blocked_by) +
                                                        " is down: replicas cannot be synchronized now");
            if ((*sec)->acked_sequence() >= seq) break;
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline)
                return ckpt::fail(Error::kTimeout, "replicas did not apply every commit within the timeout");
            auto slice = std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(50));
            auto st = (*sec)->wait_acked(seq, std::chrono::duration_cast<std::chrono::milliseconds>(slice) +
                                                  std::chrono::milliseconds(1));
            if (!st && st.error() != Error::kTimeout) {
                if (st.error() == Error::kNotExist) break; // deleted
                return st;
            }
        }
    }
    // Section creations and deletions travel in the same ordered stream as commits, but may come
    // after the last one: ask ckptd until no required standby lacks one (a slow path, as is this call).
    for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(20))) {
        if (c.closed.load()) return ckpt::fail(Error::kBadHandle, "the checkpoint was closed");
        auto done = ck.directory_replicated(changes);
        if (!done) return done.failure();
        if (*done) return {};
        auto rep = ck.replication();
        if (rep.role == "standby")
            return ckpt::fail(Error::kNotExist, "this node is no longer the active replica of '" + c.sa_name + "'");
        if (rep.sync_blocked_by != 0)
            return ckpt::fail(Error::kTryAgain, "required standby node " + std::to_string(rep.sync_blocked_by) +
                                                    " is down: replicas cannot be synchronized now");
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return ckpt::fail(Error::kTimeout,
                              "replicas did not apply every section creation and deletion within the timeout");
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(pause, deadline - now));
    }
}

/// Copies out a consistent state of `sec` from `offset`: into `buf` (up to `cap` bytes), or, when
/// `buf` is NULL, into a buffer it allocates (returned in `buf`).
ckpt::Result<std::size_t> read_section(const client::Section& sec, std::uint64_t offset, void*& buf, std::size_t cap,
                                       bool& allocated) {
    for (;;) {
        auto snap = sec.begin_read();
        if (!snap) return snap.failure();
        const std::size_t n = offset >= snap->size ? 0 : snap->size - offset;
        std::size_t take = n;
        if (!buf || allocated) {
            if (allocated) std::free(buf);
            buf = std::malloc(n ? n : 1);
            if (!buf) return ckpt::fail(Error::kNoMemory, "out of memory for a " + std::to_string(n) + "-byte buffer");
            allocated = true;
        } else {
            take = std::min(n, cap);
        }
        if (take) std::memcpy(buf, snap->bytes + offset, take);
        if (sec.end_read(*snap)) return take;
    }
}

} // namespace

// ==========================================================================================
// Library life cycle
// ==========================================================================================

extern "C" SaAisErrorT saCkptInitialize(SaCkptHandleT* ckptHandle, const SaCkptCallbacksT* callbacks,
                                        SaVersionT* version) {
    if (!version) return error(SA_AIS_ERR_INVALID_PARAM, "version is NULL");
    if (!ckptHandle) return error(SA_AIS_ERR_INVALID_PARAM, "ckptHandle is NULL");
    const SaUint8T want_release = version->releaseCode, want_major = version->majorVersion;
    // One release ('B') with majors 1 and 2: B.01.x and B.02.x are served by B.02.02.
    const bool supported = want_release == kRelease && want_major <= kMajor;
    version->releaseCode = kRelease;
    version->majorVersion = kMajor;
    version->minorVersion = kMinor;
    if (!supported)
        return error(SA_AIS_ERR_VERSION,
                     std::string("version ") + static_cast<char>(want_release ? want_release : '?') + "." +
                         std::to_string(want_major) + " is not supported (B.01 and B.02 are; B.02.02 returned)");
    auto lib = std::make_shared<Library>();
    if (callbacks) lib->callbacks = *callbacks;
    lib->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lib->event_fd < 0) return error(SA_AIS_ERR_NO_RESOURCES, "eventfd: out of descriptors");
    auto s = client::Session::connect({});
    if (!s) {
        if (s.error() == Error::kUnavailable || s.error() == Error::kAccess || s.error() == Error::kTimeout)
            return error(s.error() == Error::kTimeout ? SA_AIS_ERR_TIMEOUT : SA_AIS_ERR_TRY_AGAIN, s.message());
        return map_failure(s.failure(), kInitialize);
    }
    lib->session.emplace(std::move(*s));
    lib->handle = libraries().add(lib);
    *ckptHandle = lib->handle;
    return success();
}

extern "C" SaAisErrorT saCkptSelectionObjectGet(SaCkptHandleT ckptHandle, SaSelectionObjectT* selectionObject) {
    auto lib = libraries().get(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    if (!selectionObject) return error(SA_AIS_ERR_INVALID_PARAM, "selectionObject is NULL");
    *selectionObject = static_cast<SaSelectionObjectT>(lib->event_fd);
    return success();
}

namespace {
void run(Library& lib, const Event& e) {
    switch (e.kind) {
    case Event::kOpen:
        if (lib.callbacks.saCkptCheckpointOpenCallback)
            lib.callbacks.saCkptCheckpointOpenCallback(e.invocation, e.checkpoint, e.error);
        break;
    case Event::kSync:
        if (lib.callbacks.saCkptCheckpointSynchronizeCallback)
            lib.callbacks.saCkptCheckpointSynchronizeCallback(e.invocation, e.error);
        break;
    case Event::kChanges:
        deliver_changes(lib, e.checkpoint);
        break;
    }
}
} // namespace

extern "C" SaAisErrorT saCkptDispatch(SaCkptHandleT ckptHandle, SaDispatchFlagsT dispatchFlags) {
    auto lib = libraries().get(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    if (dispatchFlags != SA_DISPATCH_ONE && dispatchFlags != SA_DISPATCH_ALL && dispatchFlags != SA_DISPATCH_BLOCKING)
        return error(SA_AIS_ERR_INVALID_PARAM,
                     "dispatchFlags must be SA_DISPATCH_ONE, _ALL or _BLOCKING; got " + std::to_string(dispatchFlags));
    Event e;
    switch (dispatchFlags) {
    case SA_DISPATCH_ONE:
        if (lib->pop(e)) run(*lib, e);
        break;
    case SA_DISPATCH_ALL:
        while (!lib->finalized.load() && lib->pop(e)) run(*lib, e);
        break;
    default: // BLOCKING: until saCkptFinalize
        while (!lib->finalized.load()) {
            if (lib->pop(e)) {
                run(*lib, e);
                continue;
            }
            pollfd p{lib->event_fd, POLLIN, 0};
            ::poll(&p, 1, 100);
        }
        break;
    }
    return success();
}

extern "C" SaAisErrorT saCkptFinalize(SaCkptHandleT ckptHandle) {
    auto lib = libraries().take(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    lib->finalized.store(true, std::memory_order_release);
    for (auto& [h, c] : checkpoints().take_if([&](const Ckpt& c) { return c.lib == lib; })) close_checkpoint(c);
    lib->wake(); // a blocking dispatch returns
    return success();
}

// ==========================================================================================
// Checkpoint management
// ==========================================================================================

extern "C" SaAisErrorT saCkptCheckpointOpen(SaCkptHandleT ckptHandle, const SaNameT* checkpointName,
                                            const SaCkptCheckpointCreationAttributesT* checkpointCreationAttributes,
                                            SaCkptCheckpointOpenFlagsT checkpointOpenFlags, SaTimeT timeout,
                                            SaCkptCheckpointHandleT* checkpointHandle) {
    auto lib = libraries().get(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    if (!checkpointHandle) return error(SA_AIS_ERR_INVALID_PARAM, "checkpointHandle is NULL");
    if (timeout < 0) return error(SA_AIS_ERR_INVALID_PARAM, "timeout is negative");
    ckpt::CheckpointAttributes ea;
    if (SaAisErrorT e = check_open(checkpointName, checkpointCreationAttributes, checkpointOpenFlags, ea);
        e != SA_AIS_OK)
        return e;
    std::optional<ckpt::CheckpointAttributes> eattrs;
    std::optional<SaCkptCheckpointCreationAttributesT> attrs;
    if (checkpointCreationAttributes) {
        eattrs = ea;
        attrs = *checkpointCreationAttributes;
    }
    std::string name(name_of(checkpointName));
    auto r = within<SaCkptCheckpointHandleT>(
        timeout, [=] { return open_checkpoint(lib, name, eattrs, attrs ? &*attrs : nullptr, checkpointOpenFlags); },
        [](SaCkptCheckpointHandleT h) {
            if (auto c = checkpoints().take(h)) close_checkpoint(c);
        });
    if (!r) return map_failure(r.failure(), kOpen);
    *checkpointHandle = *r;
    return success();
}

extern "C" SaAisErrorT
saCkptCheckpointOpenAsync(SaCkptHandleT ckptHandle, SaInvocationT invocation, const SaNameT* checkpointName,
                          const SaCkptCheckpointCreationAttributesT* checkpointCreationAttributes,
                          SaCkptCheckpointOpenFlagsT checkpointOpenFlags) {
    auto lib = libraries().get(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    if (!lib->callbacks.saCkptCheckpointOpenCallback)
        return error(SA_AIS_ERR_INIT, "saCkptInitialize was given no saCkptCheckpointOpenCallback");
    ckpt::CheckpointAttributes ea;
    if (SaAisErrorT e = check_open(checkpointName, checkpointCreationAttributes, checkpointOpenFlags, ea);
        e != SA_AIS_OK)
        return e;
    std::optional<ckpt::CheckpointAttributes> eattrs;
    std::optional<SaCkptCheckpointCreationAttributesT> attrs;
    if (checkpointCreationAttributes) {
        eattrs = ea;
        attrs = *checkpointCreationAttributes;
    }
    std::string name(name_of(checkpointName));
    std::thread([lib, invocation, name, eattrs, attrs, checkpointOpenFlags] {
        auto r = open_checkpoint(lib, name, eattrs, attrs ? &*attrs : nullptr, checkpointOpenFlags);
        Event e;
        e.kind = Event::kOpen;
        e.invocation = invocation;
        if (r) {
            e.checkpoint = *r;
            e.error = SA_AIS_OK;
        } else {
            e.error = map_failure(r.failure(), kOpenCallback);
        }
        if (lib->finalized.load()) {
            if (r)
                if (auto c = checkpoints().take(*r)) close_checkpoint(c);
            return;
        }
        lib->post(e);
    }).detach();
    return success();
}

extern "C" SaAisErrorT saCkptCheckpointClose(SaCkptCheckpointHandleT checkpointHandle) {
    auto c = checkpoints().take(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (c->lib->finalized.load()) return bad_handle("checkpointHandle", checkpointHandle);
    close_checkpoint(c);
    return success();
}

extern "C" SaAisErrorT saCkptCheckpointUnlink(SaCkptHandleT ckptHandle, const SaNameT* checkpointName) {
    auto lib = libraries().get(ckptHandle);
    if (!lib) return bad_handle("ckptHandle", ckptHandle);
    if (!checkpointName) return error(SA_AIS_ERR_INVALID_PARAM, "checkpointName is NULL");
    if (checkpointName->length == 0 || checkpointName->length > SA_MAX_NAME_LENGTH)
        return error(SA_AIS_ERR_INVALID_PARAM,
                     "checkpointName length is " + std::to_string(checkpointName->length) + " (1..256 allowed)");
    auto st = lib->session->unlink(name_of(checkpointName));
    if (!st && st.error() == Error::kBadOperation) // a standby replica here: only its active node unlinks
        return error(SA_AIS_ERR_TRY_AGAIN, st.message());
    if (!st) return map_failure(st.failure(), kUnlink);
    return success();
}

extern "C" SaAisErrorT saCkptCheckpointRetentionDurationSet(SaCkptCheckpointHandleT checkpointHandle,
                                                            SaTimeT retentionDuration) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (retentionDuration < 0) return error(SA_AIS_ERR_INVALID_PARAM, "retentionDuration is negative");
    auto st =
        c->checkpoint().set_retention(retentionDuration > kRetentionForever ? kRetentionForever : retentionDuration);
    if (!st) return map_failure(st.failure(), kRetention);
    return success();
}

extern "C" SaAisErrorT saCkptActiveReplicaSet(SaCkptCheckpointHandleT checkpointHandle) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    if (!(c->attrs.creationFlags & SA_CKPT_CHECKPOINT_COLLOCATED) || all_replicas(*c))
        return error(SA_AIS_ERR_BAD_OPERATION, "checkpoint '" + c->sa_name +
                                                   "' is not a collocated checkpoint with the asynchronous update "
                                                   "option (SA_CKPT_CHECKPOINT_COLLOCATED with ACTIVE_REPLICA[_WEAK])");
    // This node's replica is the active one already (the cluster manager promoted it, or it is the
    // only one), or becomes it with a higher epoch that fences the previous active. ckptd refuses
    // (BAD_OPERATION, logged) where that would make a second active: the active node is alive, or
    // a cluster manager owns promotion and has not promoted this node.
    auto epoch = c->lib->session->activate(c->engine_name);
    if (!epoch) return map_failure(epoch.failure(), kActiveReplica);
    std::lock_guard lk(c->mu);
    if (!c->engine_write) {
        // Held read-only while a standby: take the write open the application asked for.
        auto w = c->lib->session->open(c->engine_name, c->flags & ~SaUint32T{SA_CKPT_CHECKPOINT_CREATE});
        if (!w) return map_failure(w.failure(), kActiveReplica);
        (void)c->ck.close();
        c->ck = std::move(*w);
        c->engine_write = true;
        c->cache.clear();
        rewatch_locked(*c); // change and role tracking follow the new handle (hs_ckpt.cpp)
    }
    return success();
}

extern "C" SaAisErrorT saCkptCheckpointStatusGet(SaCkptCheckpointHandleT checkpointHandle,
                                                 SaCkptCheckpointDescriptorT* checkpointStatus) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!checkpointStatus) return error(SA_AIS_ERR_INVALID_PARAM, "checkpointStatus is NULL");
    SaCkptCheckpointDescriptorT d{};
    d.checkpointCreationAttributes = c->attrs;
    for (const auto& s : c->checkpoint().sections(client::SectionsChosen::kAny)) {
        ++d.numberOfSections;
        d.memoryUsed += s.size;
    }
    *checkpointStatus = d;
    return success();
}

// ==========================================================================================
// Section management
// ==========================================================================================

extern "C" SaAisErrorT saCkptSectionCreate(SaCkptCheckpointHandleT checkpointHandle,
                                           SaCkptSectionCreationAttributesT* sectionCreationAttributes,
                                           const void* initialData, SaSizeT initialDataSize) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!sectionCreationAttributes || !sectionCreationAttributes->sectionId)
        return error(SA_AIS_ERR_INVALID_PARAM, "sectionCreationAttributes or its sectionId is NULL");
    std::string why;
    auto id = id_of(sectionCreationAttributes->sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (initialDataSize > c->attrs.maxSectionSize)
        return error(SA_AIS_ERR_INVALID_PARAM, "initialDataSize " + std::to_string(initialDataSize) +
                                                   " exceeds maxSectionSize " +
                                                   std::to_string(c->attrs.maxSectionSize));
    if (initialDataSize > 0 && !initialData)
        return error(SA_AIS_ERR_INVALID_PARAM, "initialData is NULL with initialDataSize > 0");
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    if (c->attrs.maxSections == 1)
        return error(SA_AIS_ERR_EXIST,
                     "checkpoint '" + c->sa_name + "' has maxSections 1: its one section is the default section");
    auto ck = c->checkpoint();
    if (!c->engine_write.load()) return not_active_here(*c);
    client::SectionCreate sc;
    sc.generate_id = id->empty();
    sc.id = std::string(*id);
    sc.expiration_ns = sectionCreationAttributes->expirationTime;
    sc.initial = std::span(static_cast<const std::byte*>(initialData), initialDataSize);
    auto r = ck.create_section(sc);
    if (!r) return map_failure(r.failure(), kSectionCreate);
    if (sc.generate_id) {
        const std::string& gid = r->id();
        auto* p = static_cast<SaUint8T*>(std::malloc(gid.size() ? gid.size() : 1));
        if (!p) return error(SA_AIS_ERR_NO_MEMORY, "out of memory for the generated section id");
        std::memcpy(p, gid.data(), gid.size());
        {
            std::lock_guard lk(c->mu);
            c->allocated_ids.insert(p);
        }
        sectionCreationAttributes->sectionId->id = p;
        sectionCreationAttributes->sectionId->idLen = static_cast<SaUint16T>(gid.size());
    }
    c->forget(r->id()); // a previous section of that id may be cached
    return success();
}

extern "C" SaAisErrorT saCkptSectionDelete(SaCkptCheckpointHandleT checkpointHandle,
                                           const SaCkptSectionIdT* sectionId) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    std::string why;
    auto id = id_of(sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    if (id->empty() && c->attrs.maxSections == 1)
        return error(SA_AIS_ERR_INVALID_PARAM, "the default section cannot be deleted");
    if (!c->engine_write.load()) return not_active_here(*c);
    auto st = c->checkpoint().delete_section(*id);
    c->forget(*id);
    if (!st) return map_failure(st.failure(), kSectionDelete);
    return success();
}

extern "C" SaAisErrorT saCkptSectionIdFree(SaCkptCheckpointHandleT checkpointHandle, SaUint8T* id) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, "id is NULL");
    {
        std::lock_guard lk(c->mu);
        if (!c->allocated_ids.erase(id))
            return error(SA_AIS_ERR_INVALID_PARAM, "id was not allocated by saCkptSectionCreate on this handle");
    }
    std::free(id);
    return success();
}

extern "C" SaAisErrorT saCkptSectionExpirationTimeSet(SaCkptCheckpointHandleT checkpointHandle,
                                                      const SaCkptSectionIdT* sectionId, SaTimeT expirationTime) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    std::string why;
    auto id = id_of(sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    if (id->empty() && c->attrs.maxSections == 1)
        return error(SA_AIS_ERR_INVALID_PARAM, "the default section's expiration time cannot be changed");
    if (!c->engine_write.load()) return not_active_here(*c);
    auto st = c->checkpoint().set_expiration(*id, expirationTime);
    if (!st) return map_failure(st.failure(), kExpiration);
    return success();
}

extern "C" SaAisErrorT saCkptSectionIterationInitialize(SaCkptCheckpointHandleT checkpointHandle,
                                                        SaCkptSectionsChosenT sectionsChosen, SaTimeT expirationTime,
                                                        SaCkptSectionIterationHandleT* sectionIterationHandle) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!sectionIterationHandle) return error(SA_AIS_ERR_INVALID_PARAM, "sectionIterationHandle is NULL");
    if (sectionsChosen < SA_CKPT_SECTIONS_FOREVER || sectionsChosen > SA_CKPT_SECTIONS_ANY)
        return error(SA_AIS_ERR_INVALID_PARAM, "sectionsChosen " + std::to_string(sectionsChosen) + " is not 1..5");
    auto it = std::make_shared<Iteration>();
    it->ckpt = c;
    it->sections = c->checkpoint().sections(static_cast<client::SectionsChosen>(sectionsChosen), expirationTime);
    *sectionIterationHandle = iterations().add(std::move(it));
    return success();
}

extern "C" SaAisErrorT saCkptSectionIterationNext(SaCkptSectionIterationHandleT sectionIterationHandle,
                                                  SaCkptSectionDescriptorT* sectionDescriptor) {
    auto it = iterations().get(sectionIterationHandle);
    if (!it || it->ckpt->closed.load() || it->ckpt->lib->finalized.load())
        return bad_handle("sectionIterationHandle", sectionIterationHandle);
    if (!sectionDescriptor) return error(SA_AIS_ERR_INVALID_PARAM, "sectionDescriptor is NULL");
    if (it->next >= it->sections.size()) return error(SA_AIS_ERR_NO_SECTIONS, "no more sections");
    const auto& s = it->sections[it->next++];
    it->id = s.id;
    SaCkptSectionDescriptorT d{};
    d.sectionId.idLen = static_cast<SaUint16T>(it->id.size());
    d.sectionId.id = it->id.empty() ? nullptr : reinterpret_cast<SaUint8T*>(it->id.data());
    d.expirationTime = s.expiration_ns;
    d.sectionSize = s.size;
    d.sectionState = s.corrupted ? SA_CKPT_SECTION_CORRUPTED : SA_CKPT_SECTION_VALID;
    d.lastUpdate = s.last_update_ns;
    *sectionDescriptor = d;
    return success();
}

extern "C" SaAisErrorT saCkptSectionIterationFinalize(SaCkptSectionIterationHandleT sectionIterationHandle) {
    auto it = iterations().take(sectionIterationHandle);
    if (!it || it->ckpt->closed.load() || it->ckpt->lib->finalized.load())
        return bad_handle("sectionIterationHandle", sectionIterationHandle);
    return success();
}

// ==========================================================================================
// Data access
// ==========================================================================================

extern "C" SaAisErrorT saCkptCheckpointWrite(SaCkptCheckpointHandleT checkpointHandle,
                                             const SaCkptIOVectorElementT* ioVector, SaUint32T numberOfElements,
                                             SaUint32T* erroneousVectorIndex) {
    Ckpt* c = live_checkpoint_fast(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!ioVector && numberOfElements > 0) return error(SA_AIS_ERR_INVALID_PARAM, "ioVector is NULL");
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    auto at = [&](SaUint32T k, SaAisErrorT e) {
        if (erroneousVectorIndex) *erroneousVectorIndex = k;
        return e;
    };
    if (numberOfElements == 1 && ioVector[0].dataOffset == 0 &&
        (c->attrs.creationFlags & 0x7) != SA_CKPT_WR_ACTIVE_REPLICA_WEAK) {
        // One element from offset 0 (the common case): one transaction, no bookkeeping.
        const SaCkptIOVectorElementT& e = ioVector[0];
        std::string why;
        auto id = id_of(&e.sectionId, *c, why);
        if (!id) return at(0, error(SA_AIS_ERR_INVALID_PARAM, why));
        if (e.dataSize > c->attrs.maxSectionSize)
            return at(0, error(SA_AIS_ERR_INVALID_PARAM,
                               "element 0 writes past maxSectionSize " + std::to_string(c->attrs.maxSectionSize)));
        if (e.dataSize > 0 && !e.dataBuffer)
            return at(0, error(SA_AIS_ERR_INVALID_PARAM, "element 0 has a NULL dataBuffer"));
        for (int attempt = 0;; ++attempt) {
            auto sec = c->section(*id);
            if (!sec) return at(0, map_failure(sec.failure(), kWrite));
            if (!c->engine_write.load()) return not_active_here(*c);
            auto r = (*sec)->write(0, std::span(static_cast<const std::byte*>(e.dataBuffer), e.dataSize));
            if (r) return success();
            if (r.error() == Error::kNotExist && attempt == 0) { // a cached section that was deleted
                c->forget(*id);
                continue;
            }
            if (r.error() == Error::kUnavailable) return at(0, error(SA_AIS_ERR_TIMEOUT, r.message()));
            return at(0, map_failure(r.failure(), kWrite));
        }
    }
    // 1. Every element is checked and every section found before anything changes.
    struct Target {
        std::shared_ptr<client::Section> sec;
        SaUint32T first = 0; ///< the first element naming it
        std::optional<client::WriteTx> tx;
    };
    boost::container::small_vector<Target, 4> targets;
    boost::container::small_vector<std::uint16_t, 8> target_of(numberOfElements);
    for (SaUint32T k = 0; k < numberOfElements; ++k) {
        const SaCkptIOVectorElementT& e = ioVector[k];
        std::string why;
        auto id = id_of(&e.sectionId, *c, why);
        if (!id) return at(k, error(SA_AIS_ERR_INVALID_PARAM, why));
        if (e.dataSize > c->attrs.maxSectionSize || e.dataOffset > c->attrs.maxSectionSize - e.dataSize)
            return at(k,
                      error(SA_AIS_ERR_INVALID_PARAM, "element " + std::to_string(k) + " writes past maxSectionSize " +
                                                          std::to_string(c->attrs.maxSectionSize)));
        if (e.dataSize > 0 && !e.dataBuffer)
            return at(k, error(SA_AIS_ERR_INVALID_PARAM, "element " + std::to_string(k) + " has a NULL dataBuffer"));
        auto sec = c->section(*id);
        if (!sec) return at(k, map_failure(sec.failure(), kWrite));
        std::size_t t = 0;
        while (t < targets.size() && targets[t].sec->slot() != (*sec)->slot()) ++t;
        if (t == targets.size()) {
            if (targets.size() >= 0xFFFF)
                return at(k, error(SA_AIS_ERR_NO_RESOURCES, "too many sections in one write"));
            targets.push_back(Target{*sec, k, std::nullopt});
        }
        target_of[k] = static_cast<std::uint16_t>(t);
    }
    if (!c->engine_write.load()) return not_active_here(*c);
    // 2. Lock the sections in slot order (two multi-section writers never wait for each other in a
    //    circle). A corrupted section (weak mode) is refused before anything changes.
    boost::container::small_vector<std::size_t, 4> order(targets.size());
    for (std::size_t t = 0; t < order.size(); ++t) order[t] = t;
    if (order.size() > 1)
        std::sort(order.begin(), order.end(),
                  [&](auto a, auto b) { return targets[a].sec->slot() < targets[b].sec->slot(); });
    if ((c->attrs.creationFlags & 0x7) == SA_CKPT_WR_ACTIVE_REPLICA_WEAK) {
        for (const auto& d : c->checkpoint().sections(client::SectionsChosen::kCorrupted))
            for (auto& t : targets)
                if (t.sec->id() == d.id)
                    return at(t.first, error(SA_AIS_ERR_NOT_EXIST, "section is corrupted (a writer died mid-write); "
                                                                   "only saCkptSectionOverwrite repairs it"));
    }
    for (std::size_t t : order) {
        auto tx = targets[t].sec->write();
        if (!tx) {
            if (tx.error() == Error::kNotExist) c->forget(targets[t].sec->id());
            return at(targets[t].first, map_failure(tx.failure(), kWrite));
        }
        targets[t].tx.emplace(std::move(*tx));
    }
    // 3. The elements in order, in place.
    for (SaUint32T k = 0; k < numberOfElements; ++k) {
        const SaCkptIOVectorElementT& e = ioVector[k];
        client::WriteTx& tx = *targets[target_of[k]].tx;
        if (e.dataOffset > tx.size()) { // a hole up to the offset reads as zeros
            auto gap = tx.span(tx.size(), e.dataOffset - tx.size());
            std::memset(gap.data(), 0, gap.size());
        }
        tx.write(e.dataOffset, std::span(static_cast<const std::byte*>(e.dataBuffer), e.dataSize));
    }
    // 4. Sections that grow need room in checkpointSize (the bytes sections hold): all granted
    // before any is published, or none published (the open transactions roll back as they go).
    for (std::size_t t : order) {
        if (auto st = targets[t].tx->reserve(); !st) return at(targets[t].first, map_failure(st.failure(), kWrite));
    }
    // 5. Publish as one write group: readers, a writer's death, the engine and every replica see
    //    all of the sections change or none. In ALL_REPLICAS mode it returns once every replica
    //    applied the whole group.
    boost::container::small_vector<client::WriteTx, 4> txs;
    for (std::size_t t : order) txs.push_back(std::move(*targets[t].tx));
    if (txs.empty()) return success(); // no element: nothing to write
    const bool sync = all_replicas(*c);
    auto st = client::commit_group(std::span<client::WriteTx>(txs.data(), txs.size()),
                                   sync ? client::Ack::kSync : client::Ack::kAsync);
    if (!st) {
        // Which element: the first one naming a section the failure was about is not known; the
        // group changed nothing unless the wait for the replicas failed (then all of it holds here).
        auto code = st.error() == Error::kUnavailable ? SA_AIS_ERR_TIMEOUT : map_failure(st.failure(), kWrite);
        return at(targets[order.front()].first, error(code, st.message()));
    }
    return success();
}

extern "C" SaAisErrorT saCkptSectionOverwrite(SaCkptCheckpointHandleT checkpointHandle,
                                              const SaCkptSectionIdT* sectionId, const void* dataBuffer,
                                              SaSizeT dataSize) {
    Ckpt* c = live_checkpoint_fast(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    std::string why;
    auto id = id_of(sectionId, *c, why);
    if (!id) return error(SA_AIS_ERR_INVALID_PARAM, why);
    if (dataSize > c->attrs.maxSectionSize)
        return error(SA_AIS_ERR_INVALID_PARAM, "dataSize " + std::to_string(dataSize) + " exceeds maxSectionSize " +
                                                   std::to_string(c->attrs.maxSectionSize));
    if (dataSize > 0 && !dataBuffer) return error(SA_AIS_ERR_INVALID_PARAM, "dataBuffer is NULL");
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    for (int attempt = 0;; ++attempt) {
        auto sec = c->section(*id);
        if (!sec) return map_failure(sec.failure(), kWrite);
        if (!c->engine_write.load()) return not_active_here(*c);
        auto r = (*sec)->overwrite(std::span(static_cast<const std::byte*>(dataBuffer), dataSize));
        if (r) return success();
        if (r.error() == Error::kNotExist && attempt == 0) { // a cached section that was deleted
            c->forget(*id);
            continue;
        }
        if (r.error() == Error::kUnavailable) return error(SA_AIS_ERR_TIMEOUT, r.message());
        return map_failure(r.failure(), kWrite);
    }
}

extern "C" SaAisErrorT saCkptCheckpointRead(SaCkptCheckpointHandleT checkpointHandle, SaCkptIOVectorElementT* ioVector,
                                            SaUint32T numberOfElements, SaUint32T* erroneousVectorIndex) {
    Ckpt* c = live_checkpoint_fast(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!ioVector && numberOfElements > 0) return error(SA_AIS_ERR_INVALID_PARAM, "ioVector is NULL");
    if (!(c->flags & SA_CKPT_CHECKPOINT_READ))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for read");
    auto at = [&](SaUint32T k, SaAisErrorT e) {
        if (erroneousVectorIndex) *erroneousVectorIndex = k;
        return e;
    };
    // What every element is checked for, one element or several: its id, and an offset within
    // maxSectionSize. Sets `code` (and the erroneous index) when it fails.
    auto checked_id = [&](SaUint32T k, SaAisErrorT& code) {
        const SaCkptIOVectorElementT& e = ioVector[k];
        std::string why;
        auto id = id_of(&e.sectionId, *c, why);
        if (!id) {
            code = at(k, error(SA_AIS_ERR_INVALID_PARAM, why));
        } else if (e.dataOffset > c->attrs.maxSectionSize) {
            code = at(k, error(SA_AIS_ERR_INVALID_PARAM,
                               "element " + std::to_string(k) + " has dataOffset above maxSectionSize"));
            id.reset();
        }
        return id;
    };
    if (numberOfElements <= 1) {
        for (SaUint32T k = 0; k < numberOfElements; ++k) {
            SaCkptIOVectorElementT& e = ioVector[k];
            SaAisErrorT code = SA_AIS_OK;
            auto id = checked_id(k, code);
            if (!id) return code;
            for (int attempt = 0;; ++attempt) {
                auto sec = c->section(*id);
                if (!sec) return at(k, map_failure(sec.failure(), kRead));
                void* buf = e.dataBuffer;
                bool allocated = false;
                auto n = read_section(**sec, e.dataOffset, buf, e.dataSize, allocated);
                if (!n) {
                    if (allocated) std::free(buf);
                    if (n.error() == Error::kNotExist && attempt == 0) {
                        c->forget(*id);
                        continue;
                    }
                    return at(k, map_failure(n.failure(), kRead));
                }
                if (allocated) {
                    std::lock_guard lk(c->mu);
                    c->allocated_buffers.insert(buf);
                    e.dataBuffer = buf;
                }
                e.readSize = *n;
                break;
            }
        }
        return success();
    }
    // Several elements are one state: every element is checked and its section found, all are
    // copied, then every section's lock word is checked again (and all copied again if one
    // changed). saCkptCheckpointWrite is one write group (a member is not readable until every
    // member is published), so a read sees all of one write's elements or none.
    struct Element {
        std::shared_ptr<client::Section> sec;
        client::ReadSnapshot snap;
        void* buf = nullptr; ///< allocated here when the application's dataBuffer is NULL
        std::size_t size = 0;
    };
    boost::container::small_vector<Element, 4> els(numberOfElements);
    auto free_all = [&] {
        for (auto& el : els)
            if (el.buf) std::free(el.buf);
    };
    for (SaUint32T k = 0; k < numberOfElements; ++k) {
        SaAisErrorT code = SA_AIS_OK;
        auto id = checked_id(k, code);
        if (!id) return code;
        auto sec = c->section(*id);
        if (!sec) return at(k, map_failure(sec.failure(), kRead));
        els[k].sec = std::move(*sec);
    }
    for (bool looked_again = false;;) {
        bool whole = true;
        for (SaUint32T k = 0; k < numberOfElements && whole; ++k) {
            const SaCkptIOVectorElementT& e = ioVector[k];
            Element& el = els[k];
            auto snap = el.sec->begin_read();
            if (!snap) {
                if (snap.error() == Error::kNotExist && !looked_again) { // a cached section that was deleted
                    looked_again = true;
                    const std::string id = el.sec->id();
                    c->forget(id);
                    auto sec = c->section(id);
                    if (!sec) {
                        free_all();
                        return at(k, map_failure(sec.failure(), kRead));
                    }
                    el.sec = std::move(*sec);
                    whole = false; // copy every element again
                    break;
                }
                free_all();
                return at(k, map_failure(snap.failure(), kRead));
            }
            const std::size_t n = e.dataOffset >= snap->size ? 0 : snap->size - e.dataOffset;
            void* dst = e.dataBuffer;
            el.size = std::min<std::size_t>(n, e.dataSize);
            if (!dst) {
                if (el.buf) std::free(el.buf);
                el.buf = std::malloc(n ? n : 1);
                if (!el.buf) {
                    free_all();
                    return at(k, map_failure(ckpt::fail(Error::kNoMemory,
                                                        "out of memory for a " + std::to_string(n) + "-byte buffer"),
                                             kRead));
                }
                dst = el.buf;
                el.size = n;
            }
            if (el.size) std::memcpy(dst, snap->bytes + e.dataOffset, el.size);
            el.snap = *snap;
        }
        for (SaUint32T k = 0; k < numberOfElements && whole; ++k) whole = els[k].sec->end_read(els[k].snap);
        if (whole) break;
    }
    for (SaUint32T k = 0; k < numberOfElements; ++k) {
        SaCkptIOVectorElementT& e = ioVector[k];
        if (els[k].buf) {
            std::lock_guard lk(c->mu);
            c->allocated_buffers.insert(els[k].buf);
            e.dataBuffer = els[k].buf;
        }
        e.readSize = els[k].size;
    }
    return success();
}

extern "C" SaAisErrorT saCkptIOVectorElementDataFree(SaCkptCheckpointHandleT checkpointHandle, void* data) {
    Ckpt* c = live_checkpoint_fast(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!data) return error(SA_AIS_ERR_INVALID_PARAM, "data is NULL");
    {
        std::lock_guard lk(c->mu);
        if (!c->allocated_buffers.erase(data))
            return error(SA_AIS_ERR_INVALID_PARAM, "data was not allocated by saCkptCheckpointRead on this handle");
    }
    std::free(data);
    return success();
}

namespace {
SaAisErrorT check_sync(const std::shared_ptr<Ckpt>& c) {
    if (!(c->flags & SA_CKPT_CHECKPOINT_WRITE))
        return error(SA_AIS_ERR_ACCESS, "checkpoint '" + c->sa_name + "' is not open for write");
    if (all_replicas(*c))
        return error(SA_AIS_ERR_BAD_OPERATION, "checkpoint '" + c->sa_name +
                                                   "' has the synchronous update option (SA_CKPT_WR_ALL_REPLICAS): "
                                                   "its replicas are always synchronized");
    if (!c->engine_write.load()) return not_active_here(*c);
    return SA_AIS_OK;
}
} // namespace

extern "C" SaAisErrorT saCkptCheckpointSynchronize(SaCkptCheckpointHandleT checkpointHandle, SaTimeT timeout) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (timeout < 0) return error(SA_AIS_ERR_INVALID_PARAM, "timeout is negative");
    if (SaAisErrorT e = check_sync(c); e != SA_AIS_OK) return e;
    auto st = synchronize(*c, to_wait(timeout));
    if (!st) return map_failure(st.failure(), kSync);
    return success();
}

extern "C" SaAisErrorT saCkptCheckpointSynchronizeAsync(SaCkptCheckpointHandleT checkpointHandle,
                                                        SaInvocationT invocation) {
    auto c = live_checkpoint(checkpointHandle);
    if (!c) return bad_handle("checkpointHandle", checkpointHandle);
    if (!c->lib->callbacks.saCkptCheckpointSynchronizeCallback)
        return error(SA_AIS_ERR_INIT, "saCkptInitialize was given no saCkptCheckpointSynchronizeCallback");
    if (SaAisErrorT e = check_sync(c); e != SA_AIS_OK) return e;
    std::thread([c, invocation] {
        auto st = synchronize(*c, to_wait(SA_TIME_END));
        Event e;
        e.kind = Event::kSync;
        e.invocation = invocation;
        e.checkpoint = c->handle;
        e.error = st ? SA_AIS_OK : map_failure(st.failure(), kSyncCallback);
        if (!c->closed.load()) c->lib->post(e);
    }).detach();
    return success();
}
