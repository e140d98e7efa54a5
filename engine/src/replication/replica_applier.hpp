#pragma once
/// The replica applier: what a standby does to its copy of a checkpoint when the active's frames
/// arrive. It mirrors the directory (install, remove, expiration at the active's slot and extent:
/// the layouts are identical) and applies whole commits: stage() puts a fragment's bytes in the
/// shadow, where no reader looks, apply() copies the staged ranges to the section under its
/// seqlock, all of them or (on false) none, discard() forgets a commit that never completed.
/// Engine poll loop only; everything it is given came off the wire and is checked against the
/// checkpoint's layout.
#include "ckpt/common/result.hpp"
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
    /// Stages bytes of an incoming commit in the shadow (never seen by readers); false when the
    /// slot, generation or range does not fit.
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
    /// Bytes staged for the commit being received.
    bool staging() const { return !staged_.empty(); }

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
    bool fits(const Member& m) const;
    /// Takes the section's lock for the engine (voiding a stale local writer's transaction) at a
    /// sequence past both the active's and its own; returns the even sequence to publish.
    std::uint64_t take(std::uint32_t slot, std::uint64_t seq);
    /// Publishes a member whose bytes were copied, and its directory entry.
    void finish(const Member& m);
    Checkpoint& c_;
    std::vector<Staged> staged_;
    std::vector<Member> group_; ///< members of a write group held for its last
};

} // namespace ckpt::engine
