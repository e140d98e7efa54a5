#include "ckpt/shm/stats_view.hpp"

#include "ckpt/shm/atomics.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ckpt::shm {
namespace {

static_assert(sizeof(StatsHeader) % 8 == 0 && sizeof(LinkStats) % 8 == 0 && sizeof(PeerStats) % 8 == 0 &&
              sizeof(CheckpointStats) % 8 == 0 && offsetof(CheckpointStats, ack_latency) % 8 == 0);

/// Copies `bytes` (a multiple of 8, 8-aligned) out of shared memory word by word. Relaxed: the
/// surrounding seqlock orders it.
void load_words(void* dst, const void* src, std::size_t bytes) {
    auto* d = static_cast<std::uint64_t*>(dst);
    const auto* s = static_cast<const std::uint64_t*>(src);
    for (std::size_t i = 0; i < bytes / 8; ++i) d[i] = load_relaxed(s[i]);
}

/// Copies into shared memory word by word (the single writer, inside its seqlock).
void store_words(void* dst, const void* src, std::size_t bytes) {
    auto* d = static_cast<std::uint64_t*>(dst);
    const auto* s = static_cast<const std::uint64_t*>(src);
    for (std::size_t i = 0; i < bytes / 8; ++i) store_relaxed(d[i], s[i]);
}

/// Writer: the sequence goes odd before any field changes...
void seq_begin(std::uint64_t& seq) {
    store_relaxed(seq, load_relaxed(seq) + 1);
    fence_release(); // the odd value is ordered before the field stores that follow
}
/// ...and even again after the last one (release: a reader that sees it sees the fields).
void seq_end(std::uint64_t& seq) {
    store_release(seq, load_relaxed(seq) + 1);
}

/// Reader: runs `copy` until it completes inside one even, unchanged sequence; false when the
/// writer was busy for every try.
template <typename F>
bool under_seqlock(const std::uint64_t& seq, F&& copy) {
    for (unsigned tries = 0; tries < 10'000; ++tries) {
        const std::uint64_t s1 = load_acquire(seq);
        if ((s1 & 1) == 0) {
            copy();
            fence_acquire(); // the copied loads complete before the sequence is checked again
            if (load_relaxed(seq) == s1) return true;
        }
        if (tries > 64) sched_yield(); // the engine publishes for a microsecond or so
    }
    return false;
}

const StatsHeader& header_at(const std::byte* region) {
    return *reinterpret_cast<const StatsHeader*>(region);
}

} // namespace

HeaderState StatsView::classify(const std::byte* node_base, std::uint64_t node_size) {
    auto v = attach(node_base, node_size);
    if (v) return HeaderState::kReady;
    if (v.error() == Error::kTryAgain) return HeaderState::kNotReady;
    if (v.error() == Error::kVersion) return HeaderState::kVersionMismatch;
    return HeaderState::kCorrupt;
}

Result<StatsView> StatsView::attach(const std::byte* node_base, std::uint64_t node_size) {
    CKPT_TRY_ASSIGN(node, attach_node(node_base, node_size));
    const std::uint16_t node_minor = load_relaxed(node->header_size) >= 64 ? node->layout_minor : 0;
    const std::uint64_t offset = load_relaxed(node->stats_offset);
    const std::uint64_t size = load_relaxed(node->stats_size);
    if (node_minor < 3 || offset == 0)
        return fail(Error::kVersion, "the engine has no stats region (NODE layout " +
                                         std::to_string(node->layout_major) + "." + std::to_string(node_minor) +
                                         "; this reader needs 1.3 or later)");
    if (offset % 64 != 0 || size < sizeof(StatsHeader) || offset > node_size || size > node_size - offset)
        return fail(Error::kFailedOperation, "the NODE header places its stats region outside the segment");
    const std::byte* region = node_base + offset;
    const std::uint64_t magic = load_acquire(header_at(region).magic);
    if (magic == 0) return fail(Error::kTryAgain, "the engine has not finished its stats region yet");
    if (magic != kStatsMagic) return fail(Error::kFailedOperation, "the stats region has no valid magic");
    StatsHeader h{};
    load_words(&h, region, sizeof h); // copied once: everything below checks the copy
    if (h.layout_major != kStatsLayoutMajor)
        return fail(Error::kVersion, "the engine writes stats layout " + std::to_string(h.layout_major) + "." +
                                         std::to_string(h.layout_minor) + ", this reader reads " +
                                         std::to_string(kStatsLayoutMajor) + ".x");
    const bool same = h.header_size >= sizeof(StatsHeader) && h.link_offset == kStatsLinkOffset &&
                      h.peers_offset == kStatsPeersOffset && h.peer_slots == kStatsMaxPeers &&
                      h.peer_stride == sizeof(PeerStats) && h.checkpoints_offset == kStatsCheckpointsOffset &&
                      h.checkpoint_stride == sizeof(CheckpointStats) && h.hist_sub_bucket_bits == kHistSubBucketBits &&
                      h.hist_buckets == kHistBuckets && h.stats_size == stats_region_size(h.checkpoint_slots) &&
                      h.stats_size <= size;
    if (!same) return fail(Error::kFailedOperation, "the stats region's geometry disagrees with its layout version");
    StatsView v;
    v.region_ = region;
    v.geometry_ = h;
    return v;
}

std::optional<NodeStatsSample> StatsView::read_node() const {
    NodeStatsSample s;
    PeerStats peers[kStatsMaxPeers];
    const bool ok = under_seqlock(header_at(region_).node_seq, [&] {
        load_words(&s.header, region_, sizeof s.header);
        load_words(&s.link, region_ + kStatsLinkOffset, sizeof s.link);
        load_words(peers, region_ + kStatsPeersOffset, sizeof peers);
    });
    if (!ok) return std::nullopt;
    s.header.peer_count = std::min(s.header.peer_count, kStatsMaxPeers); // bounds from the copy, not trust
    s.peers.assign(peers, peers + s.header.peer_count);
    return s;
}

std::optional<CheckpointStatsSample> StatsView::read_slot(std::uint32_t slot) const {
    const auto* src = region_ + kStatsCheckpointsOffset + std::uint64_t{slot} * sizeof(CheckpointStats);
    const auto& shared = *reinterpret_cast<const CheckpointStats*>(src);
    if (load_relaxed(shared.state) != kStatsSlotUsed) return std::nullopt; // cheap skip of free slots
    CheckpointStatsSample s;
    if (!under_seqlock(shared.seq, [&] { load_words(&s.stats, src, sizeof s.stats); })) return std::nullopt;
    if (s.stats.state != kStatsSlotUsed || s.stats.name_len == 0 || s.stats.name_len > kStatsNameMax)
        return std::nullopt;
    s.stats.peer_count = std::min(s.stats.peer_count, kStatsMaxPeers);
    return s;
}

std::vector<CheckpointStatsSample> StatsView::read_checkpoints() const {
    std::vector<CheckpointStatsSample> v;
    for (std::uint32_t i = 0; i < geometry_.checkpoint_slots; ++i)
        if (auto s = read_slot(i)) v.push_back(std::move(*s));
    return v;
}

std::optional<CheckpointStatsSample> StatsView::read_checkpoint(std::string_view name) const {
    for (std::uint32_t i = 0; i < geometry_.checkpoint_slots; ++i)
        if (auto s = read_slot(i); s && s->name() == name) return s;
    return std::nullopt;
}

std::uint64_t histogram_percentile(const LatencyHistogram& h, double q) {
    if (h.count == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(h.count))));
    std::uint64_t seen = 0, v = h.max_ns; // a rank beyond the buckets lies in the overflow
    for (std::uint32_t b = 0; b < kHistBuckets; ++b) {
        seen += h.buckets[b];
        if (seen >= rank) {
            v = hist_upper(b);
            break;
        }
    }
    return std::clamp(v, h.min_ns, std::max(h.min_ns, h.max_ns));
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

StatsWriter StatsWriter::init(std::byte* region, std::uint32_t slots, std::uint32_t node_id, std::uint32_t engine_pid,
                              std::int64_t started_ns, std::uint32_t interval_ms) {
    auto& h = *reinterpret_cast<StatsHeader*>(region);
    store_release(h.magic, std::uint64_t{0}); // readers see "not ready" while the layout changes
    StatsHeader n{};
    n.layout_major = kStatsLayoutMajor;
    n.layout_minor = kStatsLayoutMinor;
    n.header_size = sizeof(StatsHeader);
    n.stats_size = stats_region_size(slots);
    n.link_offset = kStatsLinkOffset;
    n.peers_offset = kStatsPeersOffset;
    n.checkpoints_offset = kStatsCheckpointsOffset;
    n.checkpoint_slots = slots;
    n.checkpoint_stride = sizeof(CheckpointStats);
    n.peer_slots = kStatsMaxPeers;
    n.peer_stride = sizeof(PeerStats);
    n.hist_sub_bucket_bits = kHistSubBucketBits;
    n.hist_buckets = kHistBuckets;
    n.node_id = node_id;
    n.engine_pid = engine_pid;
    n.started_ns = started_ns;
    n.interval_ms = interval_ms;
    // A restarted engine reuses the object: counters start again from zero, the seqlocks keep
    // counting (a reader that straddles the restart sees the word change).
    n.node_seq = (load_relaxed(h.node_seq) + 1) | 1;
    store_words(&h, &n, sizeof n);
    std::memset(region + kStatsLinkOffset, 0, kStatsCheckpointsOffset - kStatsLinkOffset);
    StatsWriter w;
    w.region_ = region;
    w.slots_ = slots;
    for (std::uint32_t i = 0; i < slots; ++i) {
        CheckpointStats& s = w.slot(i);
        const std::uint64_t seq = (load_relaxed(s.seq) + 1) | 1;
        store_relaxed(s.seq, seq);
        fence_release();
        std::memset(reinterpret_cast<std::byte*>(&s) + 8, 0, sizeof(CheckpointStats) - 8);
        store_release(s.seq, seq + 1);
    }
    store_release(h.node_seq, n.node_seq + 1);
    store_release(h.magic, kStatsMagic); // last: the region is whole
    return w;
}

CheckpointStats& StatsWriter::slot(std::uint32_t i) const {
    return *reinterpret_cast<CheckpointStats*>(region_ + kStatsCheckpointsOffset +
                                               std::uint64_t{i} * sizeof(CheckpointStats));
}

void StatsWriter::publish_node(const StatsHeader& header, const LinkStats& link, const PeerStats* peers,
                               std::uint32_t n) {
    auto& h = *reinterpret_cast<StatsHeader*>(region_);
    n = std::min(n, kStatsMaxPeers);
    seq_begin(h.node_seq);
    // The live words after node_seq; the geometry before it never changes after init.
    constexpr std::size_t live = offsetof(StatsHeader, publications);
    store_words(reinterpret_cast<std::byte*>(&h) + live, reinterpret_cast<const std::byte*>(&header) + live,
                sizeof(StatsHeader) - live);
    store_relaxed(h.peer_count, n);
    store_words(region_ + kStatsLinkOffset, &link, sizeof link);
    store_words(region_ + kStatsPeersOffset, peers, n * sizeof(PeerStats));
    seq_end(h.node_seq);
}

void StatsWriter::publish_checkpoint(std::uint32_t i, const CheckpointStats& s, const LatencyHistogram* histogram) {
    CheckpointStats& d = slot(i);
    seq_begin(d.seq);
    constexpr std::size_t head = offsetof(CheckpointStats, ack_latency);
    store_words(reinterpret_cast<std::byte*>(&d) + 8, reinterpret_cast<const std::byte*>(&s) + 8, head - 8);
    store_relaxed(d.state, kStatsSlotUsed);
    if (histogram) store_words(&d.ack_latency, histogram, sizeof *histogram);
    seq_end(d.seq);
}

void StatsWriter::clear_checkpoint(std::uint32_t i) {
    CheckpointStats& d = slot(i);
    static const CheckpointStats kZero{};
    seq_begin(d.seq);
    store_words(reinterpret_cast<std::byte*>(&d) + 8, reinterpret_cast<const std::byte*>(&kZero) + 8,
                sizeof(CheckpointStats) - 8);
    seq_end(d.seq);
}

} // namespace ckpt::shm
