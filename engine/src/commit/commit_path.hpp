#pragma once
/// One checkpoint's node-local commit path (engine poll loop; hot): drains the doorbells commits
/// ring, captures each announced commit into the shadow (the committed copy: a consistent copy of
/// the dirty blocks, hashed when replicating), recovers a section whose writer died mid-write, and
/// ends a capture batch with one wake-up (ack futex, subscribers). It works on its checkpoint's
/// private state (store/checkpoint.hpp), which it shares with the control path and the replica
/// applier.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ckpt::engine {

class Checkpoint;
struct ReplEvent;
} // namespace ckpt::engine
namespace ckpt::shm {
struct SectionControl;
}
namespace ckpt::engine {

class CommitPath {
public:
    explicit CommitPath(Checkpoint& c); // out of line: ReplEvent is incomplete here
    ~CommitPath();

    /// Consumes doorbells and captures announced commits; returns commits captured. A turn of the
    /// engine's loop captures at most about `budget_bytes` (at least one commit): the doorbells
    /// left are rung again for the next turn, so one turn never copies every pending commit.
    std::size_t drain_doorbells(std::uint64_t budget_bytes = ~std::uint64_t{0});
    /// Captures every section whose lock sequence moved past what the shadow holds (doorbells
    /// can be missing after a crash); returns commits captured.
    std::size_t scan_all();
    /// Captures the commit of `slot` if there is a new one; false when there is none (or it was
    /// not consistent: its writer rings again). A member of a write group (section_group.hpp) is
    /// captured with the whole group once it is complete, and not at all while it is open.
    bool capture(std::uint32_t slot);
    /// The writer in slot `writer` died: every member of its groups still open that it published
    /// already is rolled back as its held ones are (all of a group or none of it). Returns how many.
    std::size_t recover_open_groups(std::uint32_t writer);
    /// Ends a transaction that will never commit. `writer_died`: weak mode marks the section
    /// corrupted (SA semantics); otherwise, and always for an abort, the shadow restores it.
    void recover(std::uint32_t slot, std::uint64_t lock, bool writer_died = true);
    /// Publishes a capture batch: bumps the ack futex and wakes sleeping sync committers.
    void publish_acks();
    /// Clears the dirty bits of blocks [first_block, first_block + count) word by word.
    void clear_dirty(std::uint64_t first_block, std::uint64_t count);
    /// The section's slot is freed or reused: a stage record it names is given back, its stage
    /// word cleared (local_stage.hpp).
    void drop_stage(std::uint32_t slot);
    /// Gives back stage records nobody will name or finish: filling ones of a writer `alive` says
    /// is gone, ready ones their section's word does not name (and no live writer is about to).
    void sweep_stage(const std::function<bool(std::uint32_t writer)>& alive);

private:
    struct ChangedBlock {
        std::uint64_t block, hash;
    };
    struct GroupMember {
        std::uint32_t slot;
        std::uint64_t lock;
    };
    /// Captures the commit whose free lock word `lock` was loaded from `slot`; a group's member
    /// hands its replication event to `group` instead of emitting it. Claims the section's stage
    /// word around the copy (local_stage.hpp).
    bool capture_one(std::uint32_t slot, std::uint64_t lock, std::vector<ReplEvent>* group);
    /// capture_one's copy of the live bytes, under the claim.
    bool capture_live(std::uint32_t slot, std::uint64_t lock, std::vector<ReplEvent>* group);
    /// The stage word before a live capture of the commit at `lock`: a commit staged meanwhile is
    /// captured (false: `lock` is stale, the live commit rings again), a writer's claim respected
    /// (false), anything else taken over as the engine's claim (true).
    bool claim_live(std::uint32_t slot, shm::SectionControl& ctl, std::uint64_t lock);
    /// Captures the commit a writer staged for `slot`, if its stage word names a valid record.
    bool capture_staged(std::uint32_t slot);
    /// Before a rollback of the transaction held at `lock`: the commit it started from is put in
    /// the shadow if only a stage record (or the live bytes, mid-staging) holds it.
    void settle_stage(std::uint32_t slot, std::uint64_t lock);
    /// The bookkeeping of a capture whose bytes are in the shadow (changed_ holds the replicated
    /// blocks' hashes): shadow entry, directory words, acknowledgement or replication event.
    /// `live`: captured from the live bytes (the control words' group tag is this commit's).
    void record_capture(std::uint32_t slot, std::uint64_t seq, std::uint64_t committed, std::uint32_t flags,
                        std::uint64_t copied, std::vector<ReplEvent>* group, bool live);
    void stage_damage(const std::string& what);
    /// A group member's control word, or nullptr for a slot without a section (section_group::walk).
    const shm::SectionControl* member_control(std::uint32_t slot) const;
    /// `slot`'s commit is a group member: captures the group if complete (one replication event).
    bool capture_group(std::uint32_t slot, std::uint64_t lock);
    Checkpoint& c_;
    std::vector<GroupMember> members_; ///< scratch of capture_group()
    std::vector<ReplEvent> group_events_;
    std::uint64_t copied_total_ = 0;    ///< bytes capture() copied (the turn budget's measure)
    std::vector<ChangedBlock> changed_; ///< scratch of capture(), kept to avoid an allocation per commit
};

} // namespace ckpt::engine
