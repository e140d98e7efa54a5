#pragma once
/// The stats region's reader and writer APIs (layout: stats_layout.hpp). Readers (ckptstat, tests)
/// attach to a NODE mapping, which validates the region once (magic, major version, every offset
/// and size recomputed and compared); then each read copies one part out under its seqlock and
/// returns the copy, so no caller touches shared bytes itself. The writer is ckptd's engine thread
/// alone: it never blocks and never allocates while publishing.
#include "ckpt/common/result.hpp"
#include "ckpt/shm/checkpoint_view.hpp"
#include "ckpt/shm/stats_layout.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::shm {

/// The node part of one publication: header (live words included), link and peers.
struct NodeStatsSample {
    StatsHeader header{};
    LinkStats link{};
    std::vector<PeerStats> peers; ///< header.peer_count of them
};

/// One checkpoint's slot, copied out whole (histogram included).
struct CheckpointStatsSample {
    CheckpointStats stats{};
    std::string name() const { return std::string(stats.name, stats.name_len); }
};

class StatsView {
public:
    StatsView() = default;
    /// Classifies the region of a NODE mapping: kNotReady while the engine has not finished it
    /// (or the engine predates it: layout minor < 3), kVersionMismatch for another stats major.
    static HeaderState classify(const std::byte* node_base, std::uint64_t node_size);
    /// Validates the NODE header and its stats region. TRY_AGAIN: not ready yet; VERSION: another
    /// major version (of NODE or of the region), or an engine without a stats region;
    /// FAILED_OPERATION: a region whose geometry disagrees with this reader's.
    static Result<StatsView> attach(const std::byte* node_base, std::uint64_t node_size);

    /// Geometry as validated at attach (a copy).
    const StatsHeader& geometry() const { return geometry_; }

    /// The node part, one whole publication; nullopt when the writer kept it busy for every try
    /// (a live engine publishes in well under a microsecond, so this does not happen in practice).
    std::optional<NodeStatsSample> read_node() const;
    /// Every used checkpoint slot, each one whole publication, in slot order.
    std::vector<CheckpointStatsSample> read_checkpoints() const;
    /// The slot of the checkpoint called `name`, if it has one.
    std::optional<CheckpointStatsSample> read_checkpoint(std::string_view name) const;

private:
    const std::byte* region_ = nullptr;
    StatsHeader geometry_{};
    std::optional<CheckpointStatsSample> read_slot(std::uint32_t slot) const;
};

/// Value at quantile q (0..1] of a histogram: the highest value of the bucket holding the
/// ceil(q * count)-th smallest sample, clamped to [min_ns, max_ns], so it never understates and
/// overstates by at most a bucket's width (1/32). 0 when the histogram is empty.
std::uint64_t histogram_percentile(const LatencyHistogram& h, double q);

/// The engine's side: lays the region out in a NODE mapping and publishes into it.
class StatsWriter {
public:
    StatsWriter() = default;
    /// Lays out a region of `slots` checkpoint slots at `region` (zero-filled, stats_region_size
    /// bytes), writing the magic last. `region` must stay mapped while the writer is used.
    static StatsWriter init(std::byte* region, std::uint32_t slots, std::uint32_t node_id, std::uint32_t engine_pid,
                            std::int64_t started_ns, std::uint32_t interval_ms);
    explicit operator bool() const { return region_ != nullptr; }
    std::uint32_t slots() const { return slots_; }

    /// Publishes the node part: `header`'s live words (node_seq onwards), link and peers.
    void publish_node(const StatsHeader& header, const LinkStats& link, const PeerStats* peers, std::uint32_t n);
    /// Publishes a checkpoint's slot: every field before the histogram from `s`, and the histogram
    /// too when `histogram` is not null (it changes only when a commit was acknowledged).
    void publish_checkpoint(std::uint32_t slot, const CheckpointStats& s, const LatencyHistogram* histogram);
    /// Frees a slot (its checkpoint is gone): state free, counters zero.
    void clear_checkpoint(std::uint32_t slot);

private:
    std::byte* region_ = nullptr;
    std::uint32_t slots_ = 0;
    CheckpointStats& slot(std::uint32_t i) const;
};

} // namespace ckpt::shm
