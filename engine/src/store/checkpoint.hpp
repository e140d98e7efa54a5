#pragma once
/// One checkpoint as ckptd owns it: its three segments (META, DATA, SHADOW), the engine-private
/// truth about every section (never read back from shared memory after adoption), the data-area
/// allocator, and the operations that change them: section create/delete/expire, commit capture,
/// and recovery of sections whose writer died.
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/common/result.hpp"
#include "ckpt/shm/checkpoint_view.hpp"
#include "ckpt/shm/shared_object.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "commit/commit_path.hpp"
#include "store/extent_allocator.hpp"
#include "store/lazy_zero_array.hpp"
#include "store/segment_guard.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace ckpt::engine {

/// The file-name part of a checkpoint's objects (after the prefix, before .meta/.data/.shadow).
/// A name of 1..200 bytes of [A-Za-z0-9._-] not starting with '.' is its own stem (readable in
/// /dev/shm, and what every earlier engine used, so their segments are still adopted); any other
/// name is "~" and the 32 hex digits of its XXH3-128. '~' is outside that set, so the two forms
/// never meet, and the stem is at most 200 bytes (NAME_MAX is 255 with a 40-byte prefix).
std::string segment_stem(std::string_view name);

/// Names of a checkpoint's three objects.
struct SegmentNames {
    shm::ObjectName meta, data, shadow;
};

/// Bytes one turn of the engine's loop copies into one checkpoint's shadow at most (at least one
/// commit): the rest of the pending commits wait for the next turn, so frames in, timers and
/// heartbeats keep running during a long fill.
inline constexpr std::uint64_t kCaptureTurnBudget = std::uint64_t{4} << 20;

/// A change the active replica ships to its standbys, produced by the commit path and the
/// section operations, in the order they happened.
struct ReplEvent {
    /// kGroup: a write group's commits (section_group.hpp), `members`, one kCommit each, in slot
    /// order: one unit, which every replica applies whole or not at all.
    enum class Kind : std::uint8_t { kCommit, kInstall, kDelete, kExpiration, kGroup };
    Kind kind = Kind::kCommit;
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t seq = 0;  ///< commit / install: the section's sequence
    std::uint64_t size = 0; ///< commit / install: the committed size
    bool overwrite = false;
    struct Run {
        std::uint64_t offset; ///< in the section
        std::uint64_t length;
    };
    std::vector<Run> runs;          ///< commit: changed blocks whose hash differs from the replicated one
    std::vector<ReplEvent> members; ///< group: its commits
    // install / expiration
    std::string id;
    std::uint64_t data_offset = 0, capacity = 0;
    std::int64_t expiration_ns = 0;
};

/// What a replica needs to know about one section to mirror it.
struct SectionState {
    std::string id;
    std::uint64_t generation = 0, data_offset = 0, capacity = 0, seq = 0, size = 0;
    std::int64_t expiration_ns = 0;
};

class Checkpoint {
public:
    /// Creates the three objects and initialises them; the META magic is written last.
    static Result<std::unique_ptr<Checkpoint>> create(const std::string& name, const CheckpointAttributes& attrs,
                                                      const SegmentNames& names, const shm::ObjectOptions& opts,
                                                      std::uint32_t node_id, bool local_stage = true);
    /// Maps existing objects after an engine restart and rebuilds the private state; refuses
    /// segments whose engine-written parts are inconsistent.
    static Result<std::unique_ptr<Checkpoint>> adopt(const SegmentNames& names, mode_t max_mode);

    ~Checkpoint();
    Checkpoint(const Checkpoint&) = delete;
    Checkpoint& operator=(const Checkpoint&) = delete;

    const std::string& name() const { return name_; }
    const CheckpointAttributes& attributes() const { return attrs_; }
    const SegmentNames& names() const { return names_; }
    const shm::MetaView& meta() const { return meta_; }
    const shm::DataView& data() const { return data_; }
    std::uint64_t meta_size() const { return meta_map_.size(); }
    std::uint64_t data_size() const { return data_map_.size(); }
    /// New fds for a client: META read-only, DATA read-write or read-only.
    Result<Fd> meta_fd_readonly() const;
    Result<Fd> data_fd(bool writable) const;

    // --- sections (control path) ---
    struct Created {
        std::string id;
        std::uint32_t slot;
        std::uint64_t generation;
    };
    Result<Created> create_section(std::span<const std::byte> id, bool generate, std::int64_t expiration_ns,
                                   std::uint64_t capacity, std::span<const std::byte> initial);
    Status delete_section(std::span<const std::byte> id);
    Status set_expiration(std::span<const std::byte> id, std::int64_t expiration_ns);
    /// Deletes sections whose expiration passed; returns how many.
    std::size_t expire_sections(std::int64_t now_ns);
    /// Earliest expiration among sections, kTimeEnd when none.
    std::int64_t next_expiration() const;

    // --- writers ---
    /// Gives a process a writer slot (NO_RESOURCES when all kMaxWriters are taken).
    Result<std::uint32_t> attach_writer(pid_t pid, std::uint64_t start_time);
    /// Re-attaches a slot recorded before an engine restart, if `pid`/`start_time` match it.
    bool reattach_writer(std::uint32_t slot, pid_t pid, std::uint64_t start_time);
    /// The writer is gone (closed, died, or never came back): recover its sections, free the slot.
    void release_writer(std::uint32_t slot);
    /// Aborts a write transaction: restores the section if `writer` holds it. NOT_EXIST / BAD_OPERATION
    /// when there is no such section or the writer does not hold it.
    Status rollback(std::uint32_t slot, std::uint32_t writer);
    /// kFlagNetSize: the transaction `writer` holds on `slot` grows the section to `size` bytes; counts
    /// them against checkpoint_size until the commit is captured or rolled back. NO_SPACE when the
    /// sections would hold more than checkpoint_size; BAD_OPERATION when `writer` does not hold the
    /// section; INVALID_PARAM beyond its capacity. A checkpoint without the flag: nothing to count, OK.
    Status reserve_size(std::uint32_t slot, std::uint32_t writer, std::uint64_t size);
    /// Slots recorded in META at adoption whose process is still alive, awaiting reattach.
    std::vector<std::pair<std::uint32_t, pid_t>> orphan_writers() const;

    // --- the commit path (engine poll loop; hot): commit/commit_path.hpp ---
    /// Consumes doorbells and captures announced commits, about `budget_bytes` at most (the rest
    /// stays rung for the next call); returns commits captured.
    std::size_t poll_commits(std::uint64_t budget_bytes = kCaptureTurnBudget);
    /// Captures every section whose lock sequence moved past what the shadow holds (doorbells
    /// can be missing after a crash); returns commits captured.
    std::size_t scan_all();
    /// Publishes a capture batch: bumps the ack futex and wakes sleeping sync committers.
    void publish_acks();

    // --- lifetime ---
    int open_count = 0;                     ///< handles held by sessions
    bool unlinked = false;                  ///< name removed from the registry
    std::int64_t retention_deadline_ns = 0; ///< 0 = not pending
    std::int64_t retention_set_ns = -1;     ///< saCkptCheckpointRetentionDurationSet's value (-1: none)
    /// The retention in force: the last one set, else the creation attribute.
    std::int64_t retention_ns() const { return retention_set_ns >= 0 ? retention_set_ns : attrs_.retention_ns; }
    /// Set when application-writable words were found invalid; the message says which.
    const std::string& damage() const { return damage_; }
    /// This checkpoint's counters in the stats region's type: the commit path counts its own
    /// (commits, dirty_bytes, rollbacks ...), replication its figures (commits_sent .. commits_lost,
    /// the lag entries, the ack-latency histogram: mutable overload). The publisher adds the
    /// identity and the META-derived fields and copies it into the checkpoint's slot.
    const shm::CheckpointStats& counters() const { return counters_; }
    shm::CheckpointStats& counters() { return counters_; }

    /// Rewrites the DATA header if an application scribbled it (it is derivable from the layout),
    /// so new openers can attach; true when it had to.
    bool repair_data_header();

    /// A client with a write handle may ftruncate DATA (its descriptor is O_RDWR; named objects
    /// cannot be sealed). Called by the loop when the SIGBUS guard absorbed a fault and at every
    /// scan: if DATA's size changed or a fault was absorbed, restores the size, maps DATA again
    /// at the same address, and rolls every section in the lost range back from the shadow.
    /// Returns what it found and did (for the log), nullopt when DATA is as it should be.
    std::optional<std::string> check_resized();

    /// Persistent checkpoints: starts write-back of the segments to their files (MS_ASYNC).
    void flush_to_disk() const;

    /// Removes the segment names (data stays mapped by whoever has it).
    void remove_objects();

    // --- replication (engine poll loop) ---
    std::uint32_t role() const;
    std::uint64_t epoch() const { return meta_.epoch(); }
    /// Sets role, epoch and the active node's id in META (readers see them).
    void set_role(std::uint32_t role, std::uint64_t epoch, std::uint32_t active_node);
    using EventSink = std::function<void(ReplEvent&&)>;
    /// With a sink, commits and section changes go to it the moment they happen (the shadow then
    /// holds exactly that commit, so the sink can copy consistent bytes) and are acknowledged by
    /// set_acked(). Without one, a capture is its own acknowledgement; `ack_captured` then marks
    /// what is captured as acknowledged (false on demotion: those commits were never replicated).
    void set_replicating(EventSink sink);
    void stop_replicating(bool ack_captured);
    bool replicating() const { return replicating_; }
    /// Adopted as the active replica after an engine restart: commits captured before a replicator
    /// takes the checkpoint over are not acknowledged (no standby is known to hold them). True
    /// until set_replicating() (the replicator then waits for a standby) or release_held_acks().
    bool holding_acks() const { return hold_acks_; }
    /// No replication after all (an engine without peers): captures are acknowledgements again.
    void release_held_acks();
    /// Sections whose captured commits are not all acknowledged, by slot.
    std::vector<std::pair<std::uint32_t, SectionState>> unacknowledged_sections() const;
    /// Every replica applied `seq` of the section in `slot` (if it still has `generation`).
    void set_acked(std::uint32_t slot, std::uint64_t generation, std::uint64_t seq);
    /// This active stepped down and gave up `commits` unacknowledged commits, changes first..last
    /// of its change sequence: published in META for the library (the role event says so).
    void record_lost(std::uint32_t commits, std::uint64_t first_change, std::uint64_t last_change);
    /// Replication figures for readers (ckptstat, async writers' window).
    void publish_lag(std::uint64_t commits, std::uint64_t bytes, std::uint32_t replicas, std::uint32_t sync_blocked);
    void set_window(std::uint32_t commits, std::uint32_t policy);
    /// Section state of a slot (nullopt when free).
    std::optional<SectionState> section_state(std::uint32_t slot) const;
    std::uint32_t max_sections() const { return attrs_.max_sections; }
    /// The committed bytes of a section (the shadow: stable between captures).
    std::span<const std::byte> committed_bytes(std::uint32_t slot) const;
    /// XXH3-64 of each block of a section's committed copy (active) or live bytes (standby).
    std::vector<std::uint64_t> block_hashes(std::uint32_t slot, bool live) const;
    /// Sets the replicated-hash cache of a section's blocks (after a resync sent them).
    void set_replicated_hashes(std::uint32_t slot, std::span<const std::uint64_t> hashes);

    std::uint64_t remote_generation(std::uint32_t slot) const { return slots_[slot].remote_generation; }
    /// The engine holds a replica open while it is a standby (no retention countdown).
    bool held_by_replication() const { return role() == shm::kRoleStandby; }

    /// Eventfds of subscribers, signalled after each capture batch (owned by sessions).
    std::vector<int> subscribers;

private:
    /// The standby side writes the directory and the sections through the same private state
    /// (replication/replica_applier.hpp): one owner of the truth, two writers of it.
    friend class ReplicaApplier;
    friend class CommitPath;
    Checkpoint() = default;
    struct Slot {
        bool used = false;
        std::uint64_t generation = 0;
        std::uint64_t offset = 0;   ///< bytes from area start
        std::uint64_t capacity = 0; ///< bytes, block-rounded
        std::uint64_t captured_seq = 0;
        std::uint64_t committed_size = 0;
        std::int64_t expiration_ns = kTimeEnd;
        std::string id;                      ///< the engine's own copy: META is never read back after adoption
        std::uint64_t remote_generation = 0; ///< standby: the active's generation of this section
        std::uint32_t list_pos = 0;          ///< index in used_list_ while used
        std::uint64_t reserved = 0;          ///< kFlagNetSize: size RESERVE granted the open transaction
        std::uint64_t reserved_at =
            0; ///< the reserving transaction's (odd) sequence; stale once captured_seq passed it
    };
    /// kFlagNetSize: the bytes the sections hold (committed sizes, or a live reservation if larger),
    /// leaving out `except`.
    std::uint64_t held_bytes(std::uint32_t except) const;
    /// Sections in use, in no order: what the periodic scan walks (O(sections), not O(max_sections)).
    std::vector<std::uint32_t> used_list_;
    void list_add(std::uint32_t slot);
    void list_remove(std::uint32_t slot);
    /// Deadlines of sections that expire (kTimeEnd ones are not here), earliest first.
    std::set<std::pair<std::int64_t, std::uint32_t>> expiry_;
    /// Sets a used slot's expiration, private copy and deadline set together (not META).
    void set_slot_expiration(std::uint32_t slot, std::int64_t expiration_ns);

    Status map_views();
    void begin_dir_edit();
    void end_dir_edit();
    void index_insert(std::span<const std::byte> id, std::uint32_t slot);
    void index_remove(std::span<const std::byte> id, std::uint32_t slot);
    std::optional<std::uint32_t> lookup(std::span<const std::byte> id) const;
    void rebuild_index();
    void record_change(std::uint32_t slot);
    void mark_corrupted(std::uint32_t slot, const std::string& why);
    /// Counts an invalid word and keeps the first message (`headline`: this one replaces it).
    void note_damage(const std::string& what, bool headline = false);
    void remove_section(std::uint32_t slot);
    shm::ShadowEntry& shadow_entry(std::uint32_t slot) const;
    std::byte* shadow_area() const;

    std::string name_;
    CheckpointAttributes attrs_;
    SegmentNames names_;
    shm::Layout layout_{};
    std::uint64_t data_bytes_ = 0; ///< the DATA object's size: layout_.data_size, + the local stage when it has one
    Fd meta_fd_, data_fd_, shadow_fd_;
    shm::Mapping meta_map_, data_map_, shadow_map_;
    SegmentGuard guard_;           ///< SIGBUS stand-in over data_map_ (declared after it: disarmed first)
    std::uint64_t guard_seen_ = 0; ///< guard_.faults() already handled by check_resized
    void arm_guard();
    shm::MetaView meta_;
    shm::DataView data_;
    ExtentAllocator alloc_;
    std::vector<Slot> slots_;
    std::set<std::uint32_t> free_slots_; ///< lowest first; O(log n) to take a given one (a standby's install)
    std::unordered_map<std::string, std::uint32_t> by_id_; ///< engine-private twin of the shared index
    std::uint32_t tombstones_ = 0;
    std::uint64_t commit_seq_ = 0;
    bool batch_dirty_ = false;
    std::string damage_;
    shm::CheckpointStats counters_{};
    std::vector<pid_t> orphan_pids_; ///< per writer slot, pid alive at adoption (0 = none)

    /// Puts a section into a free slot at a reserved extent: zeroed bytes plus `initial`, control
    /// words, directory entry, change record.
    void occupy(std::uint32_t slot, const std::string& id, std::uint64_t offset, std::uint64_t capacity,
                std::int64_t expiration_ns, std::span<const std::byte> initial);
    ReplEvent install_event(std::uint32_t slot) const;
    std::uint64_t zero_block_hash() const;
    void emit(ReplEvent&& ev) { sink_(std::move(ev)); }
    bool replicating_ = false;
    bool hold_acks_ = false; ///< see holding_acks()
    EventSink sink_;
    /// XXH3 of each area block as the replicas hold it (0: unknown, always sent).
    LazyZeroArray<std::uint64_t> block_hash_;
    CommitPath commit_{*this}; ///< the hot path over this state (commit/commit_path.hpp)
};

/// Process start time (/proc/PID/stat field 22), 0 if the process does not exist.
std::uint64_t process_start_time(pid_t pid);

} // namespace ckpt::engine
