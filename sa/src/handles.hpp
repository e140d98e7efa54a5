#pragma once
// libSaCkpt internals: handle tables, error mapping, the objects behind each kind of SA handle.
// Never installed.
#include "ckpt/client/session.hpp"
#include "hsCkpt.h"
#include "saCkpt.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hotspare::sa {

// ------------------------------------------------------------------------------------------
// Errors: every function returns only the codes the specification lists for it
// ------------------------------------------------------------------------------------------

using Allowed = std::uint64_t;
constexpr Allowed bit(SaAisErrorT e) {
    return std::uint64_t{1} << static_cast<unsigned>(e);
}
/// The four codes every function of the service lists.
constexpr Allowed kCommon =
    bit(SA_AIS_OK) | bit(SA_AIS_ERR_LIBRARY) | bit(SA_AIS_ERR_TIMEOUT) | bit(SA_AIS_ERR_TRY_AGAIN);

/// Records the sentence for hsCkptLastErrorText() and returns `code`.
SaAisErrorT error(SaAisErrorT code, std::string text);
/// SA_AIS_OK, clearing the last error text.
SaAisErrorT success();
/// A libckpt failure as the code this function may return (the mapping is in SA_COMPATIBILITY.md).
SaAisErrorT map_failure(const ckpt::Failure& f, Allowed allowed);

/// SaTimeT (ns; SA_TIME_END = no limit) as a wait; INVALID_PARAM for a negative one is the caller's.
std::chrono::milliseconds to_wait(SaTimeT t);

// ------------------------------------------------------------------------------------------
// Handle tables
// ------------------------------------------------------------------------------------------

/// Handles are never reused: a 64-bit counter behind a per-table tag, so a stale or foreign value
/// is BAD_HANDLE, never another object. Lookups take a shared lock; any thread may use any handle.
template <typename T>
class Table {
public:
    explicit Table(std::uint64_t tag) : next_((tag << 56) | 1) {}

    std::uint64_t add(std::shared_ptr<T> obj) {
        std::unique_lock lk(mu_);
        const std::uint64_t h = next_++;
        map_.emplace(h, std::move(obj));
        return h;
    }
    std::shared_ptr<T> get(std::uint64_t h) const {
        std::shared_lock lk(mu_);
        auto it = map_.find(h);
        return it == map_.end() ? nullptr : it->second;
    }
    /// Counts removals: a lookup cached while it is unchanged is still in the table.
    std::uint64_t removals() const { return removals_.load(std::memory_order_acquire); }
    /// Removes and returns the object (nullptr when absent: someone else took it first).
    std::shared_ptr<T> take(std::uint64_t h) {
        std::unique_lock lk(mu_);
        auto it = map_.find(h);
        if (it == map_.end()) return nullptr;
        auto obj = std::move(it->second);
        map_.erase(it);
        removals_.fetch_add(1, std::memory_order_release);
        return obj;
    }
    /// Removes and returns every object `pred` selects.
    template <typename P>
    std::vector<std::pair<std::uint64_t, std::shared_ptr<T>>> take_if(P&& pred) {
        std::vector<std::pair<std::uint64_t, std::shared_ptr<T>>> out;
        std::unique_lock lk(mu_);
        for (auto it = map_.begin(); it != map_.end();) {
            if (pred(*it->second)) {
                out.emplace_back(it->first, std::move(it->second));
                it = map_.erase(it);
                removals_.fetch_add(1, std::memory_order_release);
            } else {
                ++it;
            }
        }
        return out;
    }

private:
    mutable std::shared_mutex mu_;
    std::unordered_map<std::uint64_t, std::shared_ptr<T>> map_;
    std::atomic<std::uint64_t> removals_{0};
    std::uint64_t next_;
};

// ------------------------------------------------------------------------------------------
// Objects
// ------------------------------------------------------------------------------------------

struct Ckpt;

/// Hashes section ids (std::string keys looked up by string_view, with no allocation).
struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
};

/// A callback saCkptDispatch owes the application.
struct Event {
    enum Kind { kOpen, kSync, kChanges } kind = kOpen;
    SaInvocationT invocation = 0;
    SaCkptCheckpointHandleT checkpoint = 0;
    SaAisErrorT error = SA_AIS_OK;
};

/// One saCkptInitialize: the engine session, the callbacks, the dispatch queue and its eventfd.
struct Library {
    SaCkptHandleT handle = 0;
    SaCkptCallbacksT callbacks{};
    std::optional<ckpt::client::Session> session; ///< set once by saCkptInitialize
    int event_fd = -1;                            ///< the selection object: readable iff the queue holds work
    std::atomic<bool> finalized{false};

    std::mutex queue_mu;
    std::deque<Event> queue;

    std::mutex watch_mu;  ///< guards the watcher's start
    int watch_epoll = -1; ///< change-tracked checkpoints' notify fds (EPOLLONESHOT, data = checkpoint handle)
    bool watcher = false; ///< the thread that turns their readiness into events runs

    ~Library();
    void post(const Event& e);
    bool pop(Event& e);
    /// Drops queued events of one checkpoint (its close cancels them).
    void cancel(SaCkptCheckpointHandleT ckpt);
    /// Wakes a blocked saCkptDispatch (finalize).
    void wake();
};

/// One open checkpoint handle.
struct Ckpt {
    std::shared_ptr<Library> lib;
    SaCkptCheckpointHandleT handle = 0;
    std::string sa_name;     ///< the SaNameT's bytes
    std::string engine_name; ///< the name ckptd knows it by (SA_COMPATIBILITY.md, names)
    SaCkptCheckpointOpenFlagsT flags = 0;
    SaCkptCheckpointCreationAttributesT attrs{}; ///< as the application gave them at creation
    std::atomic<bool> closed{false};

    /// ckptd opened it for write (false on a standby replica until saCkptActiveReplicaSet).
    std::atomic<bool> engine_write{false};

    std::mutex mu; ///< guards everything below
    ckpt::client::Checkpoint ck;
    /// Sections looked up by id (at most kCacheLimit): a write or read of a cached one touches no
    /// directory and allocates nothing. A stale entry (deleted, maybe re-created) is found out by
    /// the Section's generation check (NOT_EXIST), dropped and looked up again.
    std::unordered_map<std::string, std::shared_ptr<ckpt::client::Section>, IdHash, std::equal_to<>> cache;
    static constexpr std::size_t kCacheLimit = 4096;
    std::unordered_set<void*> allocated_ids, allocated_buffers;
    // hot-standby change tracking (hsCkptSectionChangeTrack)
    bool tracked = false;
    SaUint32T track_flags = 0;
    hsCkptSectionChangedCallbackT track_cb = nullptr;
    void* track_ctx = nullptr;
    std::uint64_t track_seen = 0;
    int track_fd = -1; ///< the checkpoint's notify fd, shared by change and role tracking
    // role tracking (hsCkptRoleTrack): same fd, same watcher registration
    bool role_tracked = false;
    hsCkptRoleCallbackT role_cb = nullptr;
    void* role_ctx = nullptr;
    bool watched = false; ///< track_fd is registered with the library's watcher
    int role_last = -1;   ///< the role (HS_CKPT_ROLE_*) and epoch last delivered: a reopen repeats neither
    std::uint64_t epoch_last = 0;

    ckpt::client::Checkpoint checkpoint() {
        std::lock_guard lk(mu);
        return ck;
    }
    /// The section `id`, from the cache or looked up (NOT_EXIST when absent).
    ckpt::Result<std::shared_ptr<ckpt::client::Section>> section(std::string_view id);
    /// Forgets a cached section (it was deleted; a new one may carry the id).
    void forget(std::string_view id);
};

struct Iteration {
    std::shared_ptr<Ckpt> ckpt;
    std::vector<ckpt::client::SectionDescriptor> sections;
    std::size_t next = 0;
    std::string id; ///< the bytes the last descriptor points at
};

struct Tx {
    std::shared_ptr<Ckpt> ckpt;
    ckpt::client::WriteTx tx;
    explicit Tx(std::shared_ptr<Ckpt> c, ckpt::client::WriteTx t) : ckpt(std::move(c)), tx(std::move(t)) {}
};

Table<Library>& libraries();
Table<Ckpt>& checkpoints();
Table<Iteration>& iterations();
Table<Tx>& transactions();

/// The checkpoint handle's object, if open and its library not finalized.
std::shared_ptr<Ckpt> live_checkpoint(SaCkptCheckpointHandleT h);
/// As live_checkpoint, for the data calls (write, overwrite, read), which run no application code:
/// from this thread's one-entry cache while no checkpoint handle was removed since it was filled
/// (no lock, no reference count), else from the table. The pointer is valid until this thread's
/// next lookup; the cache's reference keeps a handle closed by another thread alive until then
/// (its `closed` flag makes it BAD_HANDLE meanwhile).
Ckpt* live_checkpoint_fast(SaCkptCheckpointHandleT h);
/// Empties this thread's cache (close and finalize: what it kept alive goes now).
void forget_cached_checkpoint();

/// Registers `c`'s notify fd (track_fd) with its library's watcher, once for change and role
/// tracking together (hs_ckpt.cpp).
SaAisErrorT watch(Ckpt& c);
/// Stops both change and role tracking (the checkpoint is closed).
void unwatch(Ckpt& c);
/// `c.ck` was replaced (saCkptActiveReplicaSet reopened it for write): moves the watcher
/// registration to the new handle's notify fd. c.mu held.
void rewatch_locked(Ckpt& c);
/// Delivers the changes and the role an Event::kChanges announced (on the dispatching thread).
void deliver_changes(Library& lib, SaCkptCheckpointHandleT h);

/// The section id as bytes; INVALID_PARAM text when malformed.
std::optional<std::string_view> id_of(const SaCkptSectionIdT* sid, const Ckpt& c, std::string& why);

} // namespace hotspare::sa
