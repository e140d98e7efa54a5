#pragma once
/// The engine's figures in the stats region of NODE (shm/stats_layout.hpp), for ckptstat. Timer
/// path: every stats_interval_ms, what the components count privately, each in an instance of
/// the region's own struct (a checkpoint's CheckpointStats, the link's LinkStats, each peer
/// stream's PeerStats, the replicator's ReplicationTotals), is copied into the region whole,
/// each part under its seqlock. Every checkpoint keeps the slot it got until it goes; one that
/// finds none is counted as untracked.
#include "ckpt/shm/stats_view.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace ckpt::engine {

class PeerLink;
class Replicator;

class StatsPublisher {
public:
    /// Lays the region out at `region` (checkpoints slots) and starts publishing at once.
    void init(std::byte* region, std::uint32_t checkpoints, std::uint32_t node_id, std::int64_t started_ns,
              std::uint32_t interval_ms);
    /// Publishes when the interval passed since the last publication (`now_ns` CLOCK_MONOTONIC),
    /// or at once when `force` (a reader asked: STATS). `repl` and `peer_link` are null on a
    /// node-local engine; `captures` is NODE's capture counter.
    void publish(std::int64_t now_ns, const std::vector<std::shared_ptr<Checkpoint>>& all, Replicator* repl,
                 const PeerLink* peer_link, std::uint64_t captures, bool force = false);

private:
    shm::StatsWriter stats_;
    std::uint32_t interval_ms_ = 10;
    std::int64_t next_stats_ns_ = 0;
    struct StatsSlot {
        std::uint32_t slot = 0;
        std::uint64_t round = 0;                      ///< last publication that saw the checkpoint
        std::uint64_t hist_count = ~std::uint64_t{0}; ///< histogram count last published
    };
    std::unordered_map<std::uint64_t, StatsSlot> stats_slots_; ///< by MetaHeader::incarnation
    std::vector<std::uint32_t> stats_free_;                    ///< free checkpoint slots
    std::uint64_t stats_round_ = 0;
};

} // namespace ckpt::engine
