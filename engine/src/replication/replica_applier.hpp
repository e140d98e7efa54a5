#pragma once
/// The replica applier: what a standby does to its copy of a checkpoint when the active's frames
/// arrive. It mirrors the directory (install, remove, expiration at the active's slot and extent:
/// the layouts are identical) and applies whole commits: receive() holds a fragment in the buffer
/// it arrived in (no copy; above the hold limit the commit is staged in the shadow instead,
/// stage()), apply() copies the held (or staged) bytes to the section under its seqlock, all of
/// them or (on false) none, discard() forgets a commit that never completed. The shadow, the
/// committed copy a promoted standby rolls back from, catches up with what was applied from held
/// buffers in settle(), after the ACK went out (docs/ARCHITECTURE.md 10.2.1).
/// Engine poll loop only; everything it is given came off the wire and is checked against the
/// checkpoint's layout.
#include "ckpt/common/result.hpp"
#include "ckpt/net/frame_pool.hpp"
#include "ckpt/net/wire_format.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace ckpt::engine {

class ReplicaApplier {
public:
    explicit ReplicaApplier(Checkpoint& c) : c_(c) {}

    /// Test seam (tests/unit/test_replication_errors.cpp): when set, runs between the applier's
    /// load of a section's lock word and its compare-and-swap, where a stale writer on a node
    /// just demoted can take the lock. One load of a null pointer otherwise.
    static inline void (*race_window_for_test)(std::uint64_t& lock_word) = nullptr;

    /// Makes `slot` hold this section at exactly this extent; keeps the bytes when the slot already
    /// holds the same id at the same extent (a resync then sends only the blocks that differ).
    Status install(std::uint32_t slot, std::span<const std::byte> id, std::uint64_t remote_generation,
                   std::uint64_t data_offset, std::uint64_t capacity, std::int64_t expiration_ns, std::uint64_t seq,
                   std::uint64_t size);
    /// Removes the section in `slot` if it holds `remote_generation` (any when 0); false when
    /// there was no such section (nothing was removed: the replica has diverged from the active).
    bool remove(std::uint32_t slot, std::uint64_t remote_generation);
    void set_expiration(std::uint32_t slot, std::uint64_t remote_generation, std::int64_t expiration_ns);
    /// A fragment of an incoming commit: `runs` (offsets in the section) whose bytes are `payload`,
    /// back to back. Held where they are (moved out of `buffer`, the carrier's buffer holding
    /// `payload`: no copy) until apply(); once the commit (with the members of its write group
    /// held) exceeds the hold limit, or a fragment comes without a buffer to keep (`buffer` null),
    /// what is held and every later fragment go to the shadow instead (stage(): the fallback).
    /// False when the slot, generation or a range does not fit (nothing of it is kept).
    bool receive(std::uint32_t slot, std::uint64_t remote_generation, std::span<const net::DataRun> runs,
                 std::span<const std::byte> payload, net::FrameBuf* buffer);
    /// Stages bytes of an incoming commit in the shadow (never seen by readers); false when the
    /// slot, generation or range does not fit. The fallback of receive() above the hold limit.
    bool stage(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t offset,
               std::span<const std::byte> bytes);
    /// Applies the staged commit to the section under its seqlock: all of it or, on false, none.
    /// With members of a write group held (hold()), this is the group's last member, and the whole
    /// group is applied: every member's lock taken, every staged byte copied, every lock published,
    /// or (on false) nothing.
    bool apply(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq, std::uint64_t size,
               bool overwrite);
    /// A write group's member, staged whole, that is not the group's last: kept staged until the
    /// last member's apply(). False (and everything staged forgotten) when it does not fit.
    bool hold(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq, std::uint64_t size,
              bool overwrite);
    /// Members of a write group are held, waiting for its last.
    bool holding_group() const { return !group_.empty(); }
    /// Forgets a partly received commit or write group: the shadow gets the live bytes back.
    void discard();
    /// After an engine restart on a standby: the shadow may still hold bytes of a commit that was
    /// staged and never applied (which ranges was only in memory). The live bytes are the last
    /// applied commit, so every section not locked by a writer takes them back into the shadow.
    void discard_after_restart();
    /// Bytes staged (or held) for the commit being received.
    bool staging() const { return !staged_.empty() || !held_.empty(); }

    /// Brings the shadow up to the commits applied from held buffers since the last call (live
    /// to shadow, the ranges they wrote) and then lets local writers at those sections
    /// (desc.captured_seq); gives back the buffers of applied or discarded commits. Every loop
    /// turn after the link's flush; also before the applier takes a section's lock, before the
    /// shadow stages anything, and at a promotion. Returns bytes copied.
    std::uint64_t settle();

    /// How much one commit (or write group) may hold in received buffers before it is staged in
    /// the shadow instead: the RX pool must not run dry (a DPDK port has 8,191 RX mbufs).
    struct Limits {
        std::size_t frames = 1024;                    ///< buffers held
        std::uint64_t bytes = std::uint64_t{2} << 20; ///< payload bytes held
        /// Bytes applied and not yet in the shadow beyond which apply() settles at once: bounds
        /// what a promotion copies (settle() at the promotion) whatever the checkpoint's size.
        std::uint64_t unsettled = std::uint64_t{4} << 20;
    };
    void set_limits(const Limits& l) { limits_ = l; }
    const Limits& limits() const { return limits_; }
    /// What the applier copied, per payload byte (tests count passes with them).
    struct Counters {
        std::uint64_t held_bytes = 0;    ///< applied straight from the buffer they arrived in
        std::uint64_t copied_in = 0;     ///< copied into the shadow before the apply (the fallback)
        std::uint64_t applied_bytes = 0; ///< copied into the live area (the apply)
        std::uint64_t settled_bytes = 0; ///< live to shadow after the ACK (settle)
        std::uint64_t fallbacks = 0;     ///< commits or groups that went over the hold limit
        std::uint64_t unheld = 0;        ///< ... or had a fragment that came without a buffer to keep
        std::uint64_t buffers_held = 0;  ///< buffers held now (a gauge)
    };
    const Counters& counters() const { return counters_; }

private:
    struct Staged {
        std::uint64_t area_offset, length;
    };
    struct Member {
        std::uint32_t slot;
        std::uint64_t remote_generation, seq, size;
        bool overwrite;
        std::uint64_t next = 0; ///< the sequence its lock was taken at
    };
    struct Held { ///< a run of a held fragment
        std::uint32_t slot;
        std::uint64_t area_offset, length;
        const std::byte* bytes; ///< in a buffer of bufs_
    };
    struct Unsettled { ///< a range applied from held buffers, not yet in the shadow
        std::uint32_t slot;
        std::uint64_t generation, seq, area_offset, length;
    };
    bool fits(const Member& m) const;
    /// Over the hold limit: everything held goes to the shadow; the rest of the commit follows.
    void fall_back();
    /// Gives the held buffers up (back to the carrier's pool at the next settle()).
    void release_held();
    /// settle() for one section only (before its lock is taken).
    void settle_slot(std::uint32_t slot);
    /// Copies `u` live to shadow (when the section still holds that commit); false if it did not.
    bool settle_one(const Unsettled& u);
    /// Takes the section's lock for the engine (voiding a stale local writer's transaction) at a
    /// sequence past both the active's and its own; returns the even sequence to publish.
    std::uint64_t take(std::uint32_t slot, std::uint64_t seq);
    /// Publishes a member whose bytes were copied, and its directory entry; `shadow_behind`: its
    /// bytes came from held buffers, and desc.captured_seq moves only once settle() copied them.
    void finish(const Member& m, bool shadow_behind);
    Checkpoint& c_;
    std::vector<Staged> staged_;
    std::vector<Member> group_;          ///< members of a write group held for its last
    std::vector<Held> held_;             ///< the commit's (and its group's) held runs, in arrival order
    std::vector<net::FrameBuf> bufs_;    ///< the buffers they are in
    std::vector<net::FrameBuf> retired_; ///< buffers of applied or discarded commits: given back by settle()
    std::vector<Unsettled> unsettled_;   ///< applied from held buffers, not in the shadow yet
    std::uint64_t held_bytes_ = 0, unsettled_bytes_ = 0;
    bool fell_back_ = false; ///< this commit or group is staged in the shadow
    Limits limits_;
    Counters counters_;
};

} // namespace ckpt::engine
