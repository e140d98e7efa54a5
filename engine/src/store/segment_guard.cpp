#include "store/segment_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <new>

namespace ckpt::engine {

/// One guarded mapping. The handler reads it concurrently with nothing but itself: `begin` is
/// published last (release) and cleared first, the other fields are constant while it is set.
struct SegmentGuard::Entry {
    std::atomic<std::uintptr_t> begin{0}; ///< 0 = free
    std::uintptr_t end = 0;
    std::uintptr_t area = 0; ///< first address stood in for by the shadow
    int shadow_fd = -1;
    std::uint64_t shadow_area_offset = 0;
    std::uint64_t shadow_size = 0;
    std::atomic<std::uint64_t> faults{0};
    std::atomic<std::uint64_t> low_water{UINT64_MAX};
    bool claimed = false; ///< registration side only
};

namespace {

// Chunks are allocated on demand and never freed, so the handler can walk them without locks.
constexpr std::size_t kChunkEntries = 256;
constexpr std::size_t kMaxChunks = 4096; // a million guarded checkpoints
std::atomic<SegmentGuard::Entry*> g_chunks[kMaxChunks];
std::atomic<std::size_t> g_chunk_count{0};
std::atomic<std::uint64_t> g_total_faults{0};
std::mutex g_register_mutex;
std::uintptr_t g_page = 4096;
struct sigaction g_previous {};

bool map_fixed(std::uintptr_t at, std::uintptr_t len, int fd, std::uint64_t offset) {
    if (len == 0) return true;
    void* p = ::mmap(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, static_cast<off_t>(offset));
    return p != MAP_FAILED;
}

/// Stands in for [page, e.end): zero pages below the area, the shadow's bytes from the area on
/// (as far as the shadow reaches), zero pages beyond. Only async-signal-safe calls (mmap).
bool stand_in(const SegmentGuard::Entry& e, std::uintptr_t page) {
    std::uintptr_t at = page;
    if (at < e.area) {
        const std::uintptr_t stop = e.area < e.end ? e.area : e.end;
        if (!map_fixed(at, stop - at, -1, 0)) return false;
        at = stop;
    }
    if (at < e.end && e.shadow_fd >= 0) {
        const std::uint64_t off = e.shadow_area_offset + (at - e.area);
        if (off < e.shadow_size) {
            std::uintptr_t len = e.end - at;
            if (len > e.shadow_size - off) len = static_cast<std::uintptr_t>(e.shadow_size - off) & ~(g_page - 1);
            if (!map_fixed(at, len, e.shadow_fd, off)) return false;
            at += len;
        }
    }
    return map_fixed(at, e.end - at, -1, 0);
}

void on_sigbus(int sig, siginfo_t* si, void* uctx) {
    const auto addr = reinterpret_cast<std::uintptr_t>(si->si_addr);
    if (si->si_code > 0) { // raised by a fault, not by kill()
        const std::size_t chunks = g_chunk_count.load(std::memory_order_acquire);
        for (std::size_t c = 0; c < chunks; ++c) {
            SegmentGuard::Entry* chunk = g_chunks[c].load(std::memory_order_acquire);
            for (std::size_t i = 0; chunk && i < kChunkEntries; ++i) {
                SegmentGuard::Entry& e = chunk[i];
                const std::uintptr_t b = e.begin.load(std::memory_order_acquire);
                if (b == 0 || addr < b || addr >= e.end) continue;
                const std::uintptr_t page = addr & ~(g_page - 1);
                if (!stand_in(e, page)) break; // cannot stand in: die as before
                const std::uint64_t off = page - b;
                std::uint64_t lw = e.low_water.load(std::memory_order_relaxed);
                while (off < lw && !e.low_water.compare_exchange_weak(lw, off, std::memory_order_relaxed)) {
                }
                e.faults.fetch_add(1, std::memory_order_release);
                g_total_faults.fetch_add(1, std::memory_order_release);
                return; // the faulting access runs again, on the stand-in pages
            }
        }
    }
    // Not ours: whoever handled SIGBUS before us, else the default action (the process dies of
    // SIGBUS exactly as it would have without the guard).
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, si, uctx);
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        return g_previous.sa_handler(sig);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGBUS, &dfl, nullptr);
    if (si->si_code <= 0) ::raise(SIGBUS); // a sent signal does not repeat by itself
}

void install_handler() {
    static bool installed = false;
    if (installed) return;
    installed = true;
    g_page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
}

} // namespace

SegmentGuard& SegmentGuard::operator=(SegmentGuard&& o) noexcept {
    if (this != &o) {
        reset();
        entry_ = o.entry_;
        o.entry_ = nullptr;
    }
    return *this;
}

bool SegmentGuard::arm(std::byte* data, std::uint64_t data_size, std::uint64_t area_offset, int shadow_fd,
                       std::uint64_t shadow_area_offset, std::uint64_t shadow_size) {
    reset();
    std::lock_guard lock(g_register_mutex);
    install_handler();
    Entry* found = nullptr;
    const std::size_t chunks = g_chunk_count.load(std::memory_order_relaxed);
    for (std::size_t c = 0; c < chunks && !found; ++c) {
        Entry* chunk = g_chunks[c].load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < kChunkEntries; ++i)
            if (!chunk[i].claimed) {
                found = &chunk[i];
                break;
            }
    }
    if (!found) {
        if (chunks == kMaxChunks) return false;
        auto* chunk = new (std::nothrow) Entry[kChunkEntries];
        if (!chunk) return false;
        g_chunks[chunks].store(chunk, std::memory_order_release);
        g_chunk_count.store(chunks + 1, std::memory_order_release);
        found = &chunk[0];
    }
    found->claimed = true;
    const auto b = reinterpret_cast<std::uintptr_t>(data);
    found->end = b + data_size;
    found->area = b + area_offset;
    found->shadow_fd = shadow_fd;
    found->shadow_area_offset = shadow_area_offset;
    found->shadow_size = shadow_size;
    found->faults.store(0, std::memory_order_relaxed);
    found->low_water.store(UINT64_MAX, std::memory_order_relaxed);
    found->begin.store(b, std::memory_order_release);
    entry_ = found;
    return true;
}

void SegmentGuard::reset() {
    if (!entry_) return;
    std::lock_guard lock(g_register_mutex);
    entry_->begin.store(0, std::memory_order_release);
    entry_->claimed = false;
    entry_ = nullptr;
}

std::uint64_t SegmentGuard::faults() const {
    return entry_ ? entry_->faults.load(std::memory_order_acquire) : 0;
}

std::uint64_t SegmentGuard::low_water() const {
    return entry_ ? entry_->low_water.load(std::memory_order_relaxed) : UINT64_MAX;
}

void SegmentGuard::clear_low_water() {
    if (entry_) entry_->low_water.store(UINT64_MAX, std::memory_order_relaxed);
}

std::uint64_t SegmentGuard::total_faults() {
    return g_total_faults.load(std::memory_order_acquire);
}

} // namespace ckpt::engine
