#pragma once
/// What replication counts: node-wide (ReplicationCounters) and per checkpoint (CheckpointFigures,
/// published into the stats region by daemon/stats_publisher).
#include "ckpt/shm/stats_layout.hpp"

#include <cstdint>

namespace ckpt::engine {

struct ReplicationCounters {
    std::uint64_t commits_sent = 0;         ///< commits shipped (per standby)
    std::uint64_t data_frames = 0;          ///< DATA frames queued
    std::uint64_t data_bytes = 0;           ///< DATA payload bytes queued (changed blocks)
    std::uint64_t wire_bytes = 0;           ///< whole frames queued (headers included), all types
    std::uint64_t commits_applied = 0;      ///< standby: whole commits applied
    std::uint64_t commits_acked = 0;        ///< active: commits every required standby applied
    std::uint64_t resyncs = 0;              ///< resync exchanges completed (active side)
    std::uint64_t announces_over_limit = 0; ///< ANNOUNCEs refused: replica over replica_max_bytes/_sections
    std::uint64_t resyncs_started = 0;      ///< resyncs whose sending began (HASHES received in full)
    std::uint64_t resync_blocks = 0;        ///< blocks sent by resyncs
    std::uint64_t resync_bytes = 0;         ///< their payload bytes
    std::uint64_t resync_blocks_same = 0;   ///< blocks a resync found identical and did not send
    std::uint64_t stale_epoch = 0;          ///< frames (or announces) from an older epoch: refused
    std::uint64_t not_from_active = 0;      ///< frames for a replica from a node that is not its active
    std::uint64_t unknown_checkpoint = 0;   ///< frames naming a checkpoint id never announced
    std::uint64_t bad_commits = 0;          ///< DATA that did not fit (slot, generation, range, order): discarded
    std::uint64_t promotions = 0, demotions = 0;
    std::uint64_t commits_lost = 0;      ///< given up unacknowledged by actives that stepped down
    std::uint64_t refusals_sent = 0;     ///< standby: REFUSED frames sent (frames it did not apply)
    std::uint64_t refusals_received = 0; ///< active: REFUSED frames received
    std::uint64_t fenced = 0;            ///< active: stepped down because a standby follows a newer active
    /// active: HASHES frames refused because their block hashes exceed what the checkpoint can hold
    /// (a section's blocks beyond checkpoint_size / block_size, or more blocks in total): bounded memory
    std::uint64_t hashes_refused = 0;
};

/// One checkpoint's replication figures for the stats region.
struct CheckpointFigures {
    std::uint64_t commits_sent = 0, data_frames = 0, data_bytes = 0, wire_bytes = 0;
    std::uint64_t commits_acked = 0, commits_applied = 0;
    std::uint64_t commits_lost = 0;      ///< given up unacknowledged when this active stepped down
    shm::LatencyHistogram ack_latency{}; ///< capture to acknowledged by every required standby
    std::uint32_t peer_count = 0;        ///< lag entries (required standbys, active only)
    shm::PeerLag peers[shm::kStatsMaxPeers] = {};
};

} // namespace ckpt::engine
