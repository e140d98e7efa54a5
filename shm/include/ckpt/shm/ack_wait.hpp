#pragma once
/// The ack wait: the one place MetaHeader::ack_futex and DataHeader::sync_waiters are read or
/// written, and the one futex wrapper.
///
///   word                     who writes it                        who reads it
///   MetaHeader::ack_futex    the engine: +1 per capture batch     clients: the value they sleep on
///   DataHeader::sync_waiters clients: +1 around each sleep        the engine: wake only if non-zero
///
/// A waiter takes a ticket (the futex word, acquire) *before* it checks its condition (acked_seq,
/// captured_seq, ...), then registers, checks once more, and sleeps only while the word still
/// equals the ticket. The engine publishes its words (release) *before* it bumps the futex word.
/// So a publish either comes before the ticket (the check sees it) or after (the kernel sees a
/// different value and FUTEX_WAIT returns at once): no wake-up is lost, whatever sync_waiters
/// says. sync_waiters only spares the engine a syscall when nobody sleeps: the engine's bump is an
/// RMW and its load of sync_waiters seq_cst, the waiter's registration an RMW before its check.
/// It is application-writable, so it is a hint; every sleep has a timeout as well.
///
/// The futex is shared (no FUTEX_PRIVATE_FLAG): waiter and engine are different processes mapping
/// the same object, and the waiter's META mapping is read-only, which FUTEX_WAIT allows.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <chrono>
#include <cstdint>

namespace ckpt::shm::ack_wait {

/// How a sleep ended.
enum class Woke {
    kDone,     ///< the condition held after registering: no sleep
    kChanged,  ///< the word had moved past the ticket (a publish came first): no sleep
    kWoken,    ///< woken by a publish (or by a signal: check the condition again)
    kTimedOut, ///< the slice passed without a wake-up
};

// --- the engine's end ------------------------------------------------------------------------

/// Wakes every thread sleeping in FUTEX_WAIT on `word` (any process). The futex wrapper's wake side.
void wake_all(std::uint32_t& word) noexcept;

/// Ends a capture batch: bumps the futex word (after the batch's release stores of acked_seq and
/// captured_seq) and wakes the sleepers if any registered. Returns whether it made the syscall.
inline bool publish(MetaHeader& meta, const DataHeader& data) noexcept {
    fetch_add_acq_rel(meta.ack_futex, 1u);
    if (load_seq_cst(data.sync_waiters) == 0) return false;
    wake_all(meta.ack_futex);
    return true;
}

// --- the waiter's end ------------------------------------------------------------------------

/// The value to sleep on; take it before checking the condition.
inline std::uint32_t ticket(const MetaHeader& meta) noexcept {
    return load_acquire(meta.ack_futex);
}

/// Sleeps while `word` equals `expected`, at most `slice`. The futex wrapper's wait side.
Woke futex_wait(const std::uint32_t& word, std::uint32_t expected, std::chrono::nanoseconds slice) noexcept;

/// Sleeps on `meta`'s ack word until a publish after `ticket`, or `slice` passes. `data` is where
/// the waiter registers (null when DATA is mapped read-only: no registration, so the engine may
/// not wake it and the caller should keep `slice` short). `done` is checked after registering, so
/// a publish between the caller's last check and the registration is not slept through.
template <typename Done>
Woke sleep(const MetaHeader& meta, DataHeader* data, std::uint32_t ticket, std::chrono::nanoseconds slice,
           Done&& done) {
    if (data) fetch_add_acq_rel(data->sync_waiters, 1u);
    const Woke r = done() ? Woke::kDone : futex_wait(meta.ack_futex, ticket, slice);
    if (data) fetch_add_acq_rel(data->sync_waiters, static_cast<std::uint32_t>(-1));
    return r;
}

} // namespace ckpt::shm::ack_wait
