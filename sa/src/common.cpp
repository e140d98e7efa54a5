// libSaCkpt: error mapping, handle tables, the dispatch queue.
#include "handles.hpp"

#include <sys/epoll.h>
#include <unistd.h>

namespace hotspare::sa {

using ckpt::Error;

namespace {
// initial-exec: one load off the thread pointer, not a __tls_get_addr call on every success.
thread_local std::string t_last_error __attribute__((tls_model("initial-exec")));
thread_local bool t_has_error __attribute__((tls_model("initial-exec"))) = false;
} // namespace

SaAisErrorT error(SaAisErrorT code, std::string text) {
    t_last_error = std::move(text);
    t_has_error = true;
    return code;
}

SaAisErrorT success() {
    if (t_has_error) [[unlikely]] {
        t_last_error.clear();
        t_has_error = false;
    }
    return SA_AIS_OK;
}

SaAisErrorT map_failure(const ckpt::Failure& f, Allowed allowed) {
    auto code = static_cast<SaAisErrorT>(f.code);
    if (!(allowed & bit(code))) {
        switch (f.code) {
        case Error::kUnavailable: // no engine (yet): the service cannot be provided at this time
        case Error::kBusy:
            code = SA_AIS_ERR_TRY_AGAIN;
            break;
        case Error::kNameTooLong:
        case Error::kTooBig:
        case Error::kBadFlags:
            code = SA_AIS_ERR_INVALID_PARAM;
            break;
        case Error::kNoSpace:
            code = SA_AIS_ERR_NO_RESOURCES;
            break;
        case Error::kFailedOperation: // a CORRUPTED section (weak mode): not readable or writable
        case Error::kBadOperation:    // a standby replica on this node: no active replica here
            code = SA_AIS_ERR_NOT_EXIST;
            break;
        default:
            code = SA_AIS_ERR_LIBRARY;
            break;
        }
        if (!(allowed & bit(code)))
            code = (allowed & bit(SA_AIS_ERR_TRY_AGAIN)) && f.code == Error::kNoSpace ? SA_AIS_ERR_TRY_AGAIN
                                                                                      : SA_AIS_ERR_LIBRARY;
    }
    return error(code, f.message);
}

std::chrono::milliseconds to_wait(SaTimeT t) {
    constexpr SaTimeT kLong = SA_TIME_ONE_DAY * 365 * 10; // "no limit": ten years
    if (t <= 0) return std::chrono::milliseconds(0);
    if (t >= kLong) return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(kLong));
    return std::chrono::milliseconds((t + 999'999) / 1'000'000);
}

Table<Library>& libraries() {
    static auto* t = new Table<Library>(0x5A); // never destroyed: handles outlive static destructors
    return *t;
}
Table<Ckpt>& checkpoints() {
    static auto* t = new Table<Ckpt>(0x5B);
    return *t;
}
Table<Iteration>& iterations() {
    static auto* t = new Table<Iteration>(0x5C);
    return *t;
}
Table<Tx>& transactions() {
    static auto* t = new Table<Tx>(0x5D);
    return *t;
}

std::shared_ptr<Ckpt> live_checkpoint(SaCkptCheckpointHandleT h) {
    auto c = checkpoints().get(h);
    if (!c || c->closed.load(std::memory_order_acquire) || c->lib->finalized.load(std::memory_order_acquire))
        return nullptr;
    return c;
}

namespace {
struct CachedCheckpoint {
    SaCkptCheckpointHandleT handle = 0;
    std::uint64_t removals = 0;
    std::shared_ptr<Ckpt> ckpt;
};
thread_local CachedCheckpoint t_cached;
} // namespace

Ckpt* live_checkpoint_fast(SaCkptCheckpointHandleT h) {
    auto& table = checkpoints();
    CachedCheckpoint& cc = t_cached;
    const std::uint64_t removals = table.removals();
    if (cc.handle != h || cc.removals != removals || !cc.ckpt) {
        // The removal count is read before the lookup: a handle removed after it makes the next
        // call look again.
        cc.ckpt = table.get(h);
        cc.handle = h;
        cc.removals = removals;
    }
    Ckpt* c = cc.ckpt.get();
    if (!c || c->closed.load(std::memory_order_acquire) || c->lib->finalized.load(std::memory_order_acquire))
        return nullptr;
    return c;
}

void forget_cached_checkpoint() {
    t_cached = CachedCheckpoint{};
}

// ------------------------------------------------------------------------------------------
// Library: the dispatch queue behind the selection object
// ------------------------------------------------------------------------------------------

Library::~Library() {
    if (event_fd >= 0) ::close(event_fd);
    if (watch_epoll >= 0) ::close(watch_epoll);
}

void Library::post(const Event& e) {
    std::lock_guard lk(queue_mu);
    if (finalized.load(std::memory_order_acquire)) return;
    const bool was_empty = queue.empty();
    queue.push_back(e);
    if (was_empty) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(event_fd, &one, sizeof one);
    }
}

bool Library::pop(Event& e) {
    std::lock_guard lk(queue_mu);
    if (queue.empty()) return false;
    e = queue.front();
    queue.pop_front();
    if (queue.empty()) { // not readable any more: nothing left to dispatch
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(event_fd, &v, sizeof v);
    }
    return true;
}

void Library::cancel(SaCkptCheckpointHandleT ckpt) {
    std::lock_guard lk(queue_mu);
    const bool had = !queue.empty();
    std::erase_if(queue, [&](const Event& e) { return e.checkpoint == ckpt && e.kind != Event::kOpen; });
    if (had && queue.empty()) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(event_fd, &v, sizeof v);
    }
}

void Library::wake() {
    std::lock_guard lk(queue_mu);
    queue.clear();
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(event_fd, &one, sizeof one);
}

// ------------------------------------------------------------------------------------------
// Ckpt: section lookups
// ------------------------------------------------------------------------------------------

ckpt::Result<std::shared_ptr<ckpt::client::Section>> Ckpt::section(std::string_view id) {
    std::lock_guard lk(mu);
    if (auto it = cache.find(id); it != cache.end()) return it->second;
    auto r = ck.section(std::as_bytes(std::span(id.data(), id.size())));
    if (!r) return r.failure();
    auto s = std::make_shared<ckpt::client::Section>(std::move(*r));
    if (cache.size() >= kCacheLimit) cache.erase(cache.begin());
    cache.emplace(std::string(id), s);
    return s;
}

void Ckpt::forget(std::string_view id) {
    std::lock_guard lk(mu);
    if (auto it = cache.find(id); it != cache.end()) cache.erase(it);
}

std::optional<std::string_view> id_of(const SaCkptSectionIdT* sid, const Ckpt& c, std::string& why) {
    if (!sid) {
        why = "sectionId is NULL";
        return std::nullopt;
    }
    if (sid->idLen > 0 && !sid->id) {
        why = "sectionId has idLen " + std::to_string(sid->idLen) + " and a NULL id";
        return std::nullopt;
    }
    if (sid->idLen > c.attrs.maxSectionIdSize) {
        why = "sectionId is " + std::to_string(sid->idLen) + " bytes, maxSectionIdSize is " +
              std::to_string(c.attrs.maxSectionIdSize);
        return std::nullopt;
    }
    return std::string_view(reinterpret_cast<const char*>(sid->id), sid->idLen);
}

} // namespace hotspare::sa

extern "C" const char* hsCkptLastErrorText(void) {
    return hotspare::sa::t_last_error.c_str();
}
