#pragma once
/// The doorbell: the one place the words that announce commits to the engine are read or written.
///
///   word (object)                              set by                  cleared by
///   pending[s / 64], bit s % 64 (DATA)         a committer: ring(s)    the engine: drain
///   summary[s / 4096], bit (s / 64) % 64 (DATA) a committer: ring(s)   the engine: drain
///   DataHeader::pending_any (DATA)             a committer: ring(s)    the engine: drain
///   NodeHeader::engine_sleeping (NODE)         the engine: announce_sleep, end_sleep
///
/// Ringing sets the three levels bottom-up (pending bit, summary bit, pending_any) and draining
/// clears them top-down, each with an exchange: a ring that races with a drain leaves at least
/// pending_any set for the next drain, so no commit is announced to nobody. Ringing is
/// unconditional: skipping a bit that looks set could race with the engine's exchange of that
/// word. The RMWs are release (ring) and acq_rel (drain): the engine that takes a bit sees the
/// commit that rang it (the section lock's release store came first).
///
/// Sleeping is a Dekker handshake with seq_cst on both sides: the engine stores engine_sleeping = 1,
/// then drains once more before it blocks; a committer rings, then looks at engine_sleeping and
/// kicks the engine's eventfd when it is set. Either the engine's last drain finds the bell or the
/// committer sees the flag.
///
/// The words are application-writable: the engine validates every slot it takes (on_damage, and
/// its own max_sections check) and a commit whose bell is lost is still found by its periodic scan.
/// Header only: ring and drain are on the commit path (tens of nanoseconds).
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <bit>
#include <cstdint>

namespace ckpt::shm::doorbell {

/// One checkpoint's doorbell words, as DataView locates them (or a test lays them out).
struct Bells {
    DataHeader* header = nullptr;     ///< pending_any
    std::uint64_t* summary = nullptr; ///< summary_words words
    std::uint64_t* pending = nullptr; ///< pending_words words
    std::uint32_t summary_words = 0;
    std::uint32_t pending_words = 0;
};

// --- the committer's end ---------------------------------------------------------------------

/// Announces a commit of section `slot` (which the caller checked is below max_sections).
inline void ring(const Bells& b, std::uint32_t slot) noexcept {
    fetch_or_release(b.pending[slot / 64], 1ull << (slot % 64));
    fetch_or_release(b.summary[slot / 4096], 1ull << ((slot / 64) % 64));
    exchange_acq_rel(b.header->pending_any, 1u);
}

/// After ringing: true when the engine announced that it sleeps, so the committer must kick it.
inline bool engine_asleep(const NodeHeader& node) noexcept {
    fence_seq_cst(); // the bell is visible before the flag is looked at (pairs with announce_sleep)
    return load_relaxed(node.engine_sleeping) != 0;
}

// --- the engine's end ------------------------------------------------------------------------

/// Takes every rung bell: calls on_slot(slot) for each, in slot order within a word. Before each
/// slot it asks may_take(); on false it rings again what it has not taken (bits, summary bit,
/// pending_any), exactly as a committer would, and returns true (cut short). on_damage(what) is
/// told of a summary bit that points past the pending words. Returns false when all was taken.
template <typename MayTake, typename OnSlot, typename OnDamage>
inline bool drain(const Bells& b, MayTake&& may_take, OnSlot&& on_slot, OnDamage&& on_damage) {
    if (load_relaxed(b.header->pending_any) == 0) return false;
    exchange_acq_rel(b.header->pending_any, 0u);
    for (std::uint32_t sw = 0; sw < b.summary_words; ++sw) {
        if (load_relaxed(b.summary[sw]) == 0) continue;
        std::uint64_t sbits = exchange_acq_rel(b.summary[sw], std::uint64_t{0});
        while (sbits) {
            const std::uint64_t sbit = sbits & (~sbits + 1);
            const std::uint32_t pw = sw * 64 + static_cast<std::uint32_t>(std::countr_zero(sbits));
            sbits &= sbits - 1;
            if (pw >= b.pending_words) {
                on_damage("doorbell summary bit beyond the pending words");
                continue;
            }
            std::uint64_t bits = exchange_acq_rel(b.pending[pw], std::uint64_t{0});
            while (bits) {
                if (!may_take()) {
                    fetch_or_release(b.pending[pw], bits);
                    fetch_or_release(b.summary[sw], sbits | sbit);
                    fetch_or_release(b.header->pending_any, 1u);
                    return true;
                }
                const std::uint32_t slot = pw * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
                bits &= bits - 1;
                on_slot(slot);
            }
        }
    }
    return false;
}

/// The engine is about to block: committers from now on kick it. It must drain once more after
/// this before blocking (the Dekker pairing with engine_asleep).
inline void announce_sleep(NodeHeader& node) noexcept {
    store_seq_cst(node.engine_sleeping, 1u);
    fence_seq_cst(); // the flag is visible before the last look at the bells (any architecture)
}

/// The engine is polling again: committers need not kick it.
inline void end_sleep(NodeHeader& node) noexcept {
    store_seq_cst(node.engine_sleeping, 0u);
}

} // namespace ckpt::shm::doorbell
