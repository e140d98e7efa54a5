#pragma once
/// The only way shared words are touched. Shared-memory fields are plain integers (a binary format),
/// so every cross-process access names its ordering here. Loads use the GCC builtins because they
/// accept `const` (the meta segment is mapped read-only in clients, and std::atomic_ref<T> needs a
/// mutable T); every access is at most 8 bytes, so a load is a plain MOV and never writes.
#include <atomic>
#include <cstdint>
#include <type_traits>

namespace ckpt::shm {

template <typename T>
concept SharedWord = std::is_integral_v<T> &&(sizeof(T) == 4 || sizeof(T) == 8);

/// Pairs with store_release: everything written before the store is visible after this load.
template <SharedWord T>
inline T load_acquire(const T& w) noexcept {
    return __atomic_load_n(&w, __ATOMIC_ACQUIRE);
}

/// For values whose ordering comes from a surrounding seqlock or fence.
template <SharedWord T>
inline T load_relaxed(const T& w) noexcept {
    return __atomic_load_n(&w, __ATOMIC_RELAXED);
}

/// For Dekker-style flag handshakes (engine-sleeping vs doorbell) that need a total order.
template <SharedWord T>
inline T load_seq_cst(const T& w) noexcept {
    return __atomic_load_n(&w, __ATOMIC_SEQ_CST);
}

/// Publishes everything written before it (the magic word, a commit, a captured sequence).
template <SharedWord T>
inline void store_release(T& w, std::type_identity_t<T> v) noexcept {
    std::atomic_ref<T>(w).store(v, std::memory_order_release);
}

template <SharedWord T>
inline void store_relaxed(T& w, std::type_identity_t<T> v) noexcept {
    std::atomic_ref<T>(w).store(v, std::memory_order_relaxed);
}

template <SharedWord T>
inline void store_seq_cst(T& w, std::type_identity_t<T> v) noexcept {
    std::atomic_ref<T>(w).store(v, std::memory_order_seq_cst);
}

/// Doorbell bits: release so the consumer that sees the bit sees the commit before it.
template <SharedWord T>
inline T fetch_or_release(T& w, std::type_identity_t<T> v) noexcept {
    return std::atomic_ref<T>(w).fetch_or(v, std::memory_order_release);
}

/// Consuming doorbells: acquire so the consumer sees the commits the bits announce.
template <SharedWord T>
inline T exchange_acq_rel(T& w, std::type_identity_t<T> v) noexcept {
    return std::atomic_ref<T>(w).exchange(v, std::memory_order_acq_rel);
}

template <SharedWord T>
inline T fetch_add_acq_rel(T& w, std::type_identity_t<T> v) noexcept {
    return std::atomic_ref<T>(w).fetch_add(v, std::memory_order_acq_rel);
}

template <SharedWord T>
inline T fetch_and_release(T& w, std::type_identity_t<T> v) noexcept {
    return std::atomic_ref<T>(w).fetch_and(v, std::memory_order_release);
}

/// Taking a section's write lock: acquire on success so the writer sees the previous commit.
template <SharedWord T>
inline bool compare_exchange_acquire(T& w, T& expected, std::type_identity_t<T> desired) noexcept {
    return std::atomic_ref<T>(w).compare_exchange_strong(expected, desired, std::memory_order_acquire,
                                                         std::memory_order_acquire);
}

/// Seqlock reader's fence between copying the data and re-reading the sequence.
inline void fence_acquire() noexcept {
    std::atomic_thread_fence(std::memory_order_acquire);
}
/// Seqlock writer's fence after making the sequence odd, before touching the data.
inline void fence_release() noexcept {
    std::atomic_thread_fence(std::memory_order_release);
}
inline void fence_seq_cst() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

} // namespace ckpt::shm
