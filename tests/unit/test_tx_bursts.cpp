// Issue 14, "bursts and pools", on the link: sequenced frames are built in the carrier's buffers
// (net::FramePool), kept until acknowledged, and submitted in bursts (PeerLink::kSubmitBurst); a steady stream
// costs no heap allocation per frame, on the sending or the receiving side; a retransmission
// sends the same buffer again, sealed with a new counter (docs/PROTOCOL.md, "Nonces").
//
// Two PeerLinks over the in-process MemoryCarrier (the same PeerLink, PeerStream and
// Transport::submit code paths as over a DPDK port; tests/net/test_port_bursts.cpp covers the
// DPDK port's own part). Allocations are counted with tests/testing/allocation_counter.hpp.
#include "allocation_counter.hpp"
#include "link/peer_link.hpp"
#include "memory_carrier.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::net;
using ckpt::testing::CountAllocations;
using ckpt::testing::MemoryCarrier;

namespace {

/// Node 1 and node 2, linked in memory, authenticated with a cluster key (AES-256-GMAC tags,
/// as in production).
class TxBursts : public ::testing::Test {
protected:
    void SetUp() override {
        auto [x, y] = MemoryCarrier::pair(1, 2);
        wire_a_ = x.get();
        wire_b_ = y.get();
        LinkConfig c;
        c.transport = Carrier::kUdp; // the frames' addressing; the carrier is the in-memory one
        ClusterKey k;
        k.id = 1;
        for (std::size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<unsigned char>(0x5A ^ i);
        c.auth_keys.push_back(k);
        c.node_id = 1;
        c.peers = {PeerConfig{2, 0, 0}};
        a_ = PeerLink::over(c, 0x1111, std::move(x));
        c.node_id = 2;
        c.peers = {PeerConfig{1, 0, 0}};
        b_ = PeerLink::over(c, 0x2222, std::move(y));
        for (int i = 0; i < 100 && !(a_->is_up(2) && b_->is_up(1)); ++i) {
            a_->tick(now_, 0);
            b_->tick(now_, 0);
            drain();
            now_ += 1'000'000;
        }
        ASSERT_TRUE(a_->is_up(2) && b_->is_up(1));
    }

    /// Both sides receive everything queued for them and answer (ACKs), until the wire is quiet.
    void drain() {
        for (int i = 0; i < 1000; ++i) {
            std::size_t n = a_->poll(now_) + b_->poll(now_);
            n += a_->flush(now_) + b_->flush(now_);
            if (n == 0 && wire_a_->queued_at_peer() == 0 && wire_b_->queued_at_peer() == 0) return;
        }
    }

    /// Queues `n` DATA-sized sequenced frames from node 1 to node 2, built in place.
    void queue(std::size_t n, std::size_t body = 1200) {
        for (std::size_t i = 0; i < n; ++i) {
            FrameBuf f = a_->frame_buffer(body);
            std::memset(f.data() + kFrameBodyOffset, static_cast<int>(i & 0xff), body);
            ASSERT_TRUE(a_->send_sequenced_frame(2, FrameType::kData, 0, 1, std::move(f)));
        }
    }

    std::int64_t now_ = 1'000'000'000;
    MemoryCarrier* wire_a_ = nullptr;
    MemoryCarrier* wire_b_ = nullptr;
    std::unique_ptr<PeerLink> a_, b_;
};

TEST_F(TxBursts, ASteadyStreamAllocatesNothingPerFrame) {
    // Warm-up: the pools and rings grow to the traffic (chunks of slots, ring capacity).
    for (int round = 0; round < 20; ++round) {
        queue(100);
        drain();
        now_ += 100'000;
    }
    const auto chunks = a_->transport().frame_pool().counters().chunks;
    const auto delivered = b_->peers()[0].stream.counters().delivered;
    std::uint64_t allocations = 0;
    {
        CountAllocations count;
        for (int round = 0; round < 50; ++round) {
            queue(100);
            drain();
            now_ += 100'000;
        }
        allocations = count.count();
    }
    // 5,000 frames built, sealed, burst out, received, verified, delivered in order, ACKed and
    // retired: not one heap allocation, on either side.
    EXPECT_EQ(allocations, 0u);
    EXPECT_EQ(b_->peers()[0].stream.counters().delivered - delivered, 5000u);
    EXPECT_EQ(a_->transport().frame_pool().counters().chunks, chunks) << "the pool grew in steady state";
    EXPECT_TRUE(a_->idle());
    EXPECT_EQ(a_->transport().frame_pool().counters().allocs, a_->transport().frame_pool().counters().releases)
        << "every frame buffer went back to the pool once acknowledged";
}

TEST_F(TxBursts, FramesGoOutInBurstsNotOneByOne) {
    const BurstCounters before = a_->transport().bursts();
    queue(200);
    EXPECT_EQ(a_->flush(now_), 200u);
    const BurstCounters& after = a_->transport().bursts();
    EXPECT_EQ(after.frames - before.frames, 200u);
    // PeerLink::kSubmitBurst frames per submission (8: BENCHMARKS.md, "Issue 14, bursts and pools").
    static_assert(PeerLink::kSubmitBurst > 1 && PeerLink::kSubmitBurst <= TxBurst::kMaxBurst);
    EXPECT_EQ(after.bursts - before.bursts, (200 + PeerLink::kSubmitBurst - 1) / PeerLink::kSubmitBurst);
    EXPECT_EQ(after.largest, PeerLink::kSubmitBurst);
    EXPECT_GT(static_cast<double>(after.frames) / static_cast<double>(after.bursts), 1.0);
    drain();
    EXPECT_EQ(b_->peers()[0].stream.counters().delivered, 200u);
}

TEST_F(TxBursts, AFullCarrierTakesPartOfABurstAndTheRestFollowsInOrder) {
    // The window (1024 frames) bounds what is in flight; a budget of 256 per flush bounds a turn.
    queue(600);
    EXPECT_EQ(a_->flush(now_), 256u);
    EXPECT_EQ(a_->backlog(2), 600u - 256u);
    drain();
    EXPECT_EQ(b_->peers()[0].stream.counters().delivered, 600u);
    EXPECT_EQ(b_->peers()[0].stream.counters().duplicates, 0u);
}

TEST_F(TxBursts, ARetransmissionSendsTheSameBufferWithANewCounter) {
    wire_b_->record(true);
    queue(1);
    const auto allocs = a_->transport().frame_pool().counters().allocs;
    EXPECT_EQ(a_->flush(now_), 1u);
    // Node 2 does not answer for longer than the RTO: the frame goes again, from the same buffer.
    now_ += 50'000'000;
    EXPECT_EQ(a_->flush(now_), 1u);
    EXPECT_EQ(a_->peers()[0].stream.counters().retransmits, 1u);
    EXPECT_EQ(a_->transport().frame_pool().counters().allocs, allocs) << "a retransmission took a new buffer";
    EXPECT_EQ(a_->tx_copied(), 0u);
    drain();
    // Both copies arrived: the second is a duplicate for the stream, never a replay for the MAC
    // (each transmission is sealed with a new counter and tag).
    const auto& rec = wire_b_->recorded();
    std::vector<std::vector<std::byte>> data;
    for (const auto& f : rec) {
        DecodedFrame d;
        if (decode_frame(f, kDefaultUdpPort, d, nullptr) == Reject::kNone && d.header.type == FrameType::kData)
            data.push_back(f);
    }
    ASSERT_EQ(data.size(), 2u);
    EXPECT_NE(data[0], data[1]) << "a retransmission must carry a new counter and tag";
    EXPECT_EQ(b_->peers()[0].stream.counters().delivered, 1u);
    EXPECT_EQ(b_->peers()[0].stream.counters().duplicates, 1u);
    EXPECT_EQ(b_->counters().rejected[static_cast<std::size_t>(Reject::kReplayed)], 0u);
    EXPECT_EQ(a_->transport().frame_pool().counters().allocs, a_->transport().frame_pool().counters().releases);
}

} // namespace

// The engine sleeps with frames in flight when memif's wake-up will wake it for their ACK
// (memif_wakeup = true): until the first retransmission is due, and never while it owes an ACK or
// has frames it has not sent (PeerLink::sleep_deadline; engine.cpp's loop uses it).
TEST_F(TxBursts, TheLinkSaysHowLongTheEngineMaySleep) {
    EXPECT_EQ(a_->sleep_deadline(), INT64_MAX) << "nothing in flight";
    queue(600);
    EXPECT_EQ(a_->sleep_deadline(), 0) << "frames queued and not sent";
    a_->flush(now_);
    EXPECT_EQ(a_->sleep_deadline(), 0) << "the turn's budget left frames queued";
    while (a_->backlog(2) > 0) a_->flush(now_);
    const std::int64_t due = a_->sleep_deadline();
    EXPECT_GT(due, now_) << "in flight: until the first retransmission is due";
    EXPECT_LT(due, INT64_MAX);
    EXPECT_EQ(due, a_->peers()[0].stream.next_deadline());
    // Node 2 took them in and owes node 1 an ACK: it must not sleep before sending it.
    b_->poll(now_);
    EXPECT_EQ(b_->sleep_deadline(), 0);
    b_->flush(now_);
    EXPECT_EQ(b_->sleep_deadline(), INT64_MAX);
    // Node 1 took the ACK in: nothing in flight, nothing owed.
    drain();
    EXPECT_EQ(a_->sleep_deadline(), INT64_MAX);
    EXPECT_EQ(b_->sleep_deadline(), INT64_MAX);
}
