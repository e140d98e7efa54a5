#pragma once
// One engine's core in the test's own process: its checkpoints (segments in /dev/shm under a prefix
// of this process), its peer link over a carrier the test gives it (a MemoryCarrier, wrapped in the
// fault shim or not) and its Replicator, all driven by step(now) with the test's clock. No ckptd, no
// socket, no root: a replication scenario runs in milliseconds and is deterministic (the fault
// shim's decisions are seeded, the clock is the test's).
#include "bytes.hpp"
#include "ckpt/common/attributes.hpp"
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "link/peer_link.hpp"
#include "replication/replicator.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::testing {

class InProcessNode final : public engine::ReplicaHost {
public:
    /// `now` is the clock every component reads (CLOCK_MONOTONIC-like nanoseconds the test advances).
    InProcessNode(std::uint16_t id, std::vector<std::uint16_t> peers, std::unique_ptr<net::Transport> carrier,
                  const std::int64_t& now, engine::LinkConfig base = {});
    ~InProcessNode() override;
    InProcessNode(const InProcessNode&) = delete;
    InProcessNode& operator=(const InProcessNode&) = delete;

    /// Creates a checkpoint active on this node (as ckptd does for a client's create).
    std::shared_ptr<engine::Checkpoint> create(const std::string& name, const CheckpointAttributes& attrs);
    std::shared_ptr<engine::Checkpoint> find(const std::string& name) const;
    /// One turn of ckptd's loop: frames in, commits captured, frames out, timers.
    void step();
    /// ckptd restarted in place: the link and the replicator go (a new boot id), the segments stay,
    /// and every checkpoint is adopted again in the role its META records, as Registry does.
    /// Callers drop their own references to this node's checkpoints first (find() them again).
    void restart(std::unique_ptr<net::Transport> carrier);

    std::uint16_t id() const { return id_; }
    engine::PeerLink& link() { return *link_; }
    /// The link's log lines so far (ckptd writes them to its log).
    const std::vector<std::string>& events() const { return events_; }
    engine::Replicator& replicator() { return *repl_; }
    const std::vector<std::string>& log() const { return log_; }
    /// From now on create_replica fails with NO_RESOURCES and `why` (as a full /dev/shm would).
    void fail_replica_creation(std::string why) { fail_create_ = std::move(why); }
    /// True when a line of the log contains `text`.
    bool logged(std::string_view text) const;

    // ReplicaHost
    std::shared_ptr<engine::Checkpoint> find_checkpoint(const std::string& name) override { return find(name); }
    Result<std::shared_ptr<engine::Checkpoint>> create_replica(const std::string& name,
                                                               const CheckpointAttributes& attrs) override;
    void unlink_replica(const std::shared_ptr<engine::Checkpoint>& c) override;
    void replication_log(const std::string& line) override { log_.push_back(line); }

private:
    Result<std::shared_ptr<engine::Checkpoint>> make(const std::string& name, const CheckpointAttributes& attrs);

    std::uint16_t id_;
    std::string prefix_;
    engine::LinkConfig cfg_;
    std::uint64_t boots_ = 0;
    const std::int64_t& now_;
    std::map<std::string, std::shared_ptr<engine::Checkpoint>> by_name_;
    std::unique_ptr<engine::PeerLink> link_;
    std::vector<std::string> events_;
    std::unique_ptr<engine::Replicator> repl_;
    std::vector<std::string> log_;
    std::string fail_create_;
};

/// Segment names of this process only (so parallel tests share nothing).
engine::SegmentNames in_process_names(const std::string& prefix, const std::string& name);

/// A checkpoint on its own (no link, no replicator) in /dev/shm, under a prefix of this process
/// and `tag`; removes leftovers of a crashed run first. Null (and a gtest failure) when it fails.
/// The fixed cluster key in-process nodes authenticate with by default (`id` 1 unless given).
net::ClusterKey in_process_key(std::uint8_t id = 1);

std::unique_ptr<engine::Checkpoint> local_checkpoint(const std::string& tag, const CheckpointAttributes& attrs,
                                                     std::uint16_t node_id = 1);

/// What libckpt's WriteTx does, on the engine's own mapping: takes the section's lock as writer
/// `writer` (a slot from Checkpoint::attach_writer), stores `bytes` at `offset`, marks them dirty
/// and, with `commit`, publishes the commit (lock even) and rings the doorbell. Without it the
/// section stays locked mid-write, as a writer killed there leaves it.
void write_section(engine::Checkpoint& c, std::uint32_t writer, std::uint32_t slot, std::uint64_t offset,
                   std::span<const std::byte> bytes, bool commit = true);

/// What libckpt's commit_group does, on the engine's own mapping: takes the lock of every section
/// in `slots` (ascending) as writer `writer`, fills each whole capacity with `fill`, joins them in a
/// write group, publishes the first `publish` of them and, when that is all of them, rings their
/// doorbells. Fewer: the rest stay held, as a writer killed between two publications leaves them.
void write_group(engine::Checkpoint& c, std::uint32_t writer, std::span<const std::uint32_t> slots, std::byte fill,
                 std::size_t publish);

/// The section's bytes as readers see them (its committed size).
std::vector<std::byte> section_bytes(const engine::Checkpoint& c, std::uint32_t slot);
/// The section's commit sequence (its lock word's, even when no write is open).
inline std::uint64_t seq_of(const engine::Checkpoint& c, std::uint32_t slot) {
    return shm::lock_seq(shm::section_lock::load(c.data().control(slot)));
}
/// The sequence every required standby acknowledged.
inline std::uint64_t acked_of(const engine::Checkpoint& c, std::uint32_t slot) {
    return shm::load_acquire(c.meta().desc(slot).acked_seq);
}

} // namespace ckpt::testing
