// The stats region (shm/stats_layout.hpp, shm/stats_view.hpp): the layout pinned with literal
// numbers, the histogram's bucket bounds and percentiles on known samples, and the reader's
// validation (not ready, version mismatch, corrupt geometry) over a region laid out in memory.
#include "ckpt/shm/stats_view.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

using namespace ckpt;
using namespace ckpt::shm;

#define CKPT_EXPECT_OFFSET(type, field, value) EXPECT_EQ(offsetof(type, field), std::size_t{value}) << #type "::" #field

namespace {

TEST(StatsLayout, PinnedSizesAndOffsets) {
    EXPECT_EQ(kStatsMagic, 0x5441'5453'5450'4B43ULL); // "CKPTSTAT" little-endian
    EXPECT_EQ(kStatsLayoutMajor, 1);
    EXPECT_EQ(kStatsLayoutMinor, 6); // 1: segment_resizes, 2: commits_lost, 3: 256-byte names, 4: every engine
                                     // counter, 5: hashes_stale, 6: the local stage's counters
    EXPECT_EQ(kStatsOffset, 4096u);
    EXPECT_EQ(sizeof(StatsHeader), 256u);
    CKPT_EXPECT_OFFSET(StatsHeader, layout_major, 8);
    CKPT_EXPECT_OFFSET(StatsHeader, stats_size, 16);
    CKPT_EXPECT_OFFSET(StatsHeader, checkpoint_slots, 48);
    CKPT_EXPECT_OFFSET(StatsHeader, hist_buckets, 68);
    CKPT_EXPECT_OFFSET(StatsHeader, node_seq, 96);
    CKPT_EXPECT_OFFSET(StatsHeader, published_mono_ns, 112);
    CKPT_EXPECT_OFFSET(StatsHeader, captures, 128);
    CKPT_EXPECT_OFFSET(StatsHeader, replication, 152);
    CKPT_EXPECT_OFFSET(StatsHeader, replication.hashes_refused, 232);
    CKPT_EXPECT_OFFSET(StatsHeader, replication.hashes_stale, 240);
    CKPT_EXPECT_OFFSET(StatsHeader, reserved, 248);
    EXPECT_EQ(sizeof(LinkStats), 512u);
    CKPT_EXPECT_OFFSET(LinkStats, carrier, 0);
    CKPT_EXPECT_OFFSET(LinkStats, carrier.tx_errors, 48);
    CKPT_EXPECT_OFFSET(LinkStats, rx_frames, 56);
    CKPT_EXPECT_OFFSET(LinkStats, rejected, 120);
    CKPT_EXPECT_OFFSET(LinkStats, stale_epoch, 248);
    CKPT_EXPECT_OFFSET(LinkStats, fault_tx, 328);
    CKPT_EXPECT_OFFSET(LinkStats, transport, 456);
    CKPT_EXPECT_OFFSET(LinkStats, refusals_sent, 464);
    CKPT_EXPECT_OFFSET(LinkStats, acks_deferred, 480);
    CKPT_EXPECT_OFFSET(LinkStats, silence_deferred, 504);
    CKPT_EXPECT_OFFSET(FaultStats, bursts, 56);
    EXPECT_EQ(sizeof(PeerStats), 256u);
    CKPT_EXPECT_OFFSET(PeerStats, last_heard_mono_ns, 8);
    CKPT_EXPECT_OFFSET(PeerStats, retransmits, 64);
    CKPT_EXPECT_OFFSET(PeerStats, timeouts, 152);
    CKPT_EXPECT_OFFSET(PeerStats, rtt_samples, 160);
    CKPT_EXPECT_OFFSET(PeerStats, reserved, 168);
    EXPECT_EQ(sizeof(PeerLag), 32u);
    EXPECT_EQ(sizeof(CheckpointStats), 8896u);
    CKPT_EXPECT_OFFSET(CheckpointStats, incarnation, 16);
    CKPT_EXPECT_OFFSET(CheckpointStats, commits, 72);
    CKPT_EXPECT_OFFSET(CheckpointStats, wire_bytes, 128);
    CKPT_EXPECT_OFFSET(CheckpointStats, peers, 192);
    CKPT_EXPECT_OFFSET(CheckpointStats, name, 704);
    CKPT_EXPECT_OFFSET(CheckpointStats, commits_lost, 960);
    CKPT_EXPECT_OFFSET(CheckpointStats, spurious_doorbells, 968);
    CKPT_EXPECT_OFFSET(CheckpointStats, capture_budget_cuts, 992);
    CKPT_EXPECT_OFFSET(CheckpointStats, staged_commits, 1000);
    CKPT_EXPECT_OFFSET(CheckpointStats, stage_invalid, 1008);
    CKPT_EXPECT_OFFSET(CheckpointStats, reserved, 1016);
    CKPT_EXPECT_OFFSET(CheckpointStats, ack_latency, 1152);
    EXPECT_EQ(sizeof(LatencyHistogram), 7744u);
    EXPECT_EQ(kStatsCheckpointsOffset, 4864u);
    EXPECT_EQ(stats_region_size(128), 1'146'880u); // 4864 + 128 * 8896 = 1143552, 4096-rounded
    // No implicit padding: every byte is a field or reserved.
    EXPECT_TRUE(std::has_unique_object_representations_v<StatsHeader>);
    EXPECT_TRUE(std::has_unique_object_representations_v<LinkStats>);
    EXPECT_TRUE(std::has_unique_object_representations_v<PeerStats>);
    EXPECT_TRUE(std::has_unique_object_representations_v<CheckpointStats>);
}

TEST(Histogram, BucketsAreContiguousAndCoverTheRange) {
    EXPECT_EQ(kHistBuckets, 960u);
    EXPECT_EQ(hist_lower(0), 0u);
    for (std::uint32_t b = 0; b + 1 < kHistBuckets; ++b) {
        ASSERT_EQ(hist_upper(b) + 1, hist_lower(b + 1)) << "bucket " << b;
        ASSERT_EQ(hist_bucket(hist_lower(b)), b);
        ASSERT_EQ(hist_bucket(hist_upper(b)), b);
        // Never wider than 1/32 of its smallest value (values below 32 ns are exact).
        if (b >= kHistSubBuckets) {
            ASSERT_LE((hist_upper(b) - hist_lower(b) + 1) * 32, hist_lower(b)) << b;
        }
    }
    EXPECT_EQ(hist_upper(kHistBuckets - 1), kHistMaxValue);
    // 100 ns and 10 s are inside; above 2^34 - 1 ns is overflow.
    EXPECT_LT(hist_bucket(100), kHistBuckets);
    EXPECT_LT(hist_bucket(10'000'000'000ULL), kHistBuckets);
    EXPECT_EQ(hist_bucket((std::uint64_t{1} << 34)), kHistBuckets);
    // Literal spot checks: 100 ns lies in [100, 101], 1000 ns in [992, 1007].
    EXPECT_EQ(hist_lower(hist_bucket(100)), 100u);
    EXPECT_EQ(hist_upper(hist_bucket(100)), 101u);
    EXPECT_EQ(hist_lower(hist_bucket(1000)), 992u);
    EXPECT_EQ(hist_upper(hist_bucket(1000)), 1007u);
}

std::unique_ptr<LatencyHistogram> histogram() {
    return std::make_unique<LatencyHistogram>(); // value-initialised: zero
}

TEST(Histogram, PercentilesOfKnownSamples) {
    auto h = histogram();
    EXPECT_EQ(histogram_percentile(*h, 0.5), 0u); // empty
    // 1..1000 us, once each: the true p50 is 500 us, p99 990 us, p99.9 999 us.
    for (std::uint64_t us = 1; us <= 1000; ++us) h->record(us * 1000);
    EXPECT_EQ(h->count, 1000u);
    EXPECT_EQ(h->min_ns, 1000u);
    EXPECT_EQ(h->max_ns, 1'000'000u);
    EXPECT_EQ(h->sum_ns, 500'500'000u);
    const std::pair<double, std::uint64_t> cases[] = {
        {0.5, 500'000}, {0.99, 990'000}, {0.999, 999'000}, {1.0, 1'000'000}};
    for (auto [q, truth] : cases) {
        const std::uint64_t v = histogram_percentile(*h, q);
        EXPECT_GE(v, truth) << q;              // never understates
        EXPECT_LE(v, truth + truth / 32) << q; // by at most a bucket
    }
    // The maximum is exact (clamped to max_ns).
    EXPECT_EQ(histogram_percentile(*h, 1.0), 1'000'000u);
}

TEST(Histogram, OneValueIsExactAndOutliersShowOnlyInTheTail) {
    auto h = histogram();
    for (int i = 0; i < 999; ++i) h->record(12'345);
    EXPECT_EQ(histogram_percentile(*h, 0.5), 12'345u); // clamped to [min, max]
    EXPECT_EQ(histogram_percentile(*h, 0.999), 12'345u);
    h->record(20'000'000'000ULL); // 20 s: overflow
    EXPECT_EQ(h->overflow, 1u);
    // Now max_ns no longer clamps: the answer is the top of 12345's bucket, [12288, 12543].
    EXPECT_EQ(histogram_percentile(*h, 0.5), 12'543u);
    EXPECT_EQ(histogram_percentile(*h, 0.999), 12'543u); // rank 999 of 1000
    EXPECT_EQ(histogram_percentile(*h, 1.0), 20'000'000'000ULL);
}

TEST(Histogram, PercentilesOfARandomSampleStayWithinABucket) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> d(11.0, 1.5); // around 60 us, long tail
    auto h = histogram();
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 100'000; ++i) {
        const auto ns = static_cast<std::uint64_t>(d(rng)) + 100;
        v.push_back(ns);
        h->record(ns);
    }
    std::sort(v.begin(), v.end());
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const std::uint64_t truth = v[static_cast<std::size_t>(std::ceil(q * v.size())) - 1];
        const std::uint64_t got = histogram_percentile(*h, q);
        EXPECT_GE(got, truth) << q;
        EXPECT_LE(got, truth + truth / 32 + 1) << q;
    }
}

/// A NODE object in memory: header plus stats region, zero-filled as ftruncate makes it.
struct FakeNode {
    std::uint32_t slots = 4;
    std::vector<std::uint64_t> words; // 8-aligned backing
    std::byte* base() { return reinterpret_cast<std::byte*>(words.data()); }
    std::uint64_t size() const { return kStatsOffset + stats_region_size(slots); }
    NodeHeader& node() { return *reinterpret_cast<NodeHeader*>(base()); }
    StatsHeader& stats() { return *reinterpret_cast<StatsHeader*>(base() + kStatsOffset); }
    StatsWriter writer;
    FakeNode() : words(size() / 8, 0) {
        node().magic = kNodeMagic;
        node().layout_major = kLayoutMajor;
        node().layout_minor = kLayoutMinor;
        node().header_size = sizeof(NodeHeader);
        node().stats_offset = kStatsOffset;
        node().stats_size = stats_region_size(slots);
        writer = StatsWriter::init(base() + kStatsOffset, slots, 3, 4242, 1'000, 10);
    }
};

TEST(StatsView, RoundTripsWhatTheWriterPublished) {
    FakeNode n;
    auto v = StatsView::attach(n.base(), n.size());
    ASSERT_TRUE(v.ok()) << v.message();
    EXPECT_EQ(v->geometry().checkpoint_slots, 4u);
    EXPECT_EQ(v->geometry().node_id, 3u);
    EXPECT_TRUE(v->read_checkpoints().empty());

    StatsHeader h{};
    h.publications = 7;
    h.captures = 99;
    h.checkpoints = 1;
    LinkStats l{};
    l.rejected[8] = 5;
    l.fault_tx.dropped = 11;
    PeerStats p[2]{};
    p[0].node_id = 2;
    p[0].retransmits = 13;
    p[1].node_id = 4;
    n.writer.publish_node(h, l, p, 2);
    auto node = v->read_node();
    ASSERT_TRUE(node);
    EXPECT_EQ(node->header.publications, 7u);
    EXPECT_EQ(node->header.captures, 99u);
    EXPECT_EQ(node->header.node_id, 3u); // geometry untouched by a publication
    EXPECT_EQ(node->link.rejected[8], 5u);
    EXPECT_EQ(node->link.fault_tx.dropped, 11u);
    ASSERT_EQ(node->peers.size(), 2u);
    EXPECT_EQ(node->peers[0].retransmits, 13u);
    EXPECT_EQ(node->peers[1].node_id, 4u);

    auto c = std::make_unique<CheckpointStats>();
    c->state = kStatsSlotUsed;
    std::memcpy(c->name, "calls", 5);
    c->name_len = 5;
    c->commits = 20;
    c->dirty_bytes = 10240;
    c->peer_count = 1;
    c->peers[0] = {2, kMemberInSync, 3, 300, 1234};
    auto hist = histogram();
    hist->record(5000);
    n.writer.publish_checkpoint(2, *c, hist.get());
    auto all = v->read_checkpoints();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].name(), "calls");
    EXPECT_EQ(all[0].stats.commits, 20u);
    EXPECT_EQ(all[0].stats.dirty_bytes, 10240u);
    EXPECT_EQ(all[0].stats.peers[0].bytes, 300u);
    EXPECT_EQ(all[0].stats.ack_latency.count, 1u);
    EXPECT_EQ(histogram_percentile(all[0].stats.ack_latency, 0.5), 5000u);
    // Without a histogram the published one stays.
    c->commits = 21;
    n.writer.publish_checkpoint(2, *c, nullptr);
    auto one = v->read_checkpoint("calls");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->stats.commits, 21u);
    EXPECT_EQ(one->stats.ack_latency.count, 1u);
    EXPECT_FALSE(v->read_checkpoint("other"));
    n.writer.clear_checkpoint(2);
    EXPECT_TRUE(v->read_checkpoints().empty());
}

TEST(StatsView, AWriterMidPublicationIsNeverRead) {
    FakeNode n;
    auto v = StatsView::attach(n.base(), n.size());
    ASSERT_TRUE(v.ok());
    n.stats().node_seq |= 1; // odd: a publication in progress (that never ends)
    EXPECT_FALSE(v->read_node());
    n.stats().node_seq += 1;
    EXPECT_TRUE(v->read_node());
}

TEST(StatsView, ClassifiesWhatItCannotRead) {
    {
        FakeNode n;
        n.stats().magic = 0; // still being laid out
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error(), Error::kTryAgain);
        EXPECT_EQ(StatsView::classify(n.base(), n.size()), HeaderState::kNotReady);
    }
    {
        FakeNode n;
        n.stats().layout_major = kStatsLayoutMajor + 1;
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error(), Error::kVersion);
        EXPECT_NE(v.message().find("stats layout 2." + std::to_string(kStatsLayoutMinor)), std::string::npos)
            << v.message();
        EXPECT_EQ(StatsView::classify(n.base(), n.size()), HeaderState::kVersionMismatch);
    }
    {
        FakeNode n;
        n.stats().layout_minor = kStatsLayoutMinor + 5; // a newer minor is readable
        EXPECT_TRUE(StatsView::attach(n.base(), n.size()).ok());
    }
    {
        FakeNode n; // an engine from before the stats region
        n.node().layout_minor = 2;
        n.node().stats_offset = 0;
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error(), Error::kVersion);
    }
    {
        FakeNode n;
        n.stats().checkpoint_slots = 1'000'000; // geometry beyond the object
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error(), Error::kFailedOperation);
        EXPECT_EQ(StatsView::classify(n.base(), n.size()), HeaderState::kCorrupt);
    }
    {
        FakeNode n;
        n.node().stats_size = n.size(); // runs past the mapping
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error(), Error::kFailedOperation);
    }
    {
        FakeNode n;
        auto& s = *reinterpret_cast<CheckpointStats*>(n.base() + kStatsOffset + kStatsCheckpointsOffset);
        s.state = kStatsSlotUsed;
        s.name_len = 4000; // corrupt: skipped, never read past the name
        auto v = StatsView::attach(n.base(), n.size());
        ASSERT_TRUE(v.ok());
        EXPECT_TRUE(v->read_checkpoints().empty());
    }
}

} // namespace
