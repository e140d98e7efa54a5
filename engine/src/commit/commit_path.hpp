#pragma once
/// One checkpoint's node-local commit path (engine poll loop; hot): drains the doorbells commits
/// ring, captures each announced commit into the shadow (the committed copy: a consistent copy of
/// the dirty blocks, hashed when replicating), recovers a section whose writer died mid-write, and
/// ends a capture batch with one wake-up (ack futex, subscribers). It works on its checkpoint's
/// private state (store/checkpoint.hpp), which it shares with the control path and the replica
/// applier.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ckpt::engine {

class Checkpoint;

class CommitPath {
public:
    explicit CommitPath(Checkpoint& c) : c_(c) {}

    /// Consumes doorbells and captures announced commits; returns commits captured. A turn of the
    /// engine's loop captures at most about `budget_bytes` (at least one commit): the doorbells
    /// left are rung again for the next turn, so one turn never copies every pending commit.
    std::size_t drain_doorbells(std::uint64_t budget_bytes = ~std::uint64_t{0});
    /// Captures every section whose lock sequence moved past what the shadow holds (doorbells
    /// can be missing after a crash); returns commits captured.
    std::size_t scan_all();
    /// Captures the commit of `slot` if there is a new one; false when there is none (or it was
    /// not consistent: its writer rings again).
    bool capture(std::uint32_t slot);
    /// Ends a transaction that will never commit. `writer_died`: weak mode marks the section
    /// corrupted (SA semantics); otherwise, and always for an abort, the shadow restores it.
    void recover(std::uint32_t slot, std::uint64_t lock, bool writer_died = true);
    /// Publishes a capture batch: bumps the ack futex and wakes sleeping sync committers.
    void publish_acks();
    /// Clears the dirty bits of blocks [first_block, first_block + count) word by word.
    void clear_dirty(std::uint64_t first_block, std::uint64_t count);

private:
    struct ChangedBlock {
        std::uint64_t block, hash;
    };
    Checkpoint& c_;
    std::uint64_t copied_total_ = 0;    ///< bytes capture() copied (the turn budget's measure)
    std::vector<ChangedBlock> changed_; ///< scratch of capture(), kept to avoid an allocation per commit
};

} // namespace ckpt::engine
