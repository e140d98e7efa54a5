// The DPDK port's part of "bursts and pools" (issue 14), over DPDK's null PMD (net_null: it takes
// every frame and frees its mbuf, as memif and af_packet do once they have copied it): frames are
// built in mbufs of the port's TX pool, go out 32 per rte_eth_tx_burst, and stay the sender's
// (refcnt) so that the same mbuf can be sent again; a frame built on the heap when the TX pool is
// empty is copied into an mbuf when sent.
#include "ckpt/net/dpdk_port.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace net = ckpt::net;

namespace {

class PortBursts : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        eal_.file_prefix = "hs-port-bursts-" + std::to_string(::getpid());
        eal_.memory_mb = 256;
        eal_.vdevs = {"net_null0", "net_null1", "net_null2"};
        ASSERT_TRUE(net::eal_init(eal_).ok());
    }
    static void TearDownTestSuite() {
        net::eal_cleanup();
        std::error_code ec;
        std::filesystem::remove_all("/var/run/dpdk/" + eal_.file_prefix, ec);
    }
    static inline net::EalConfig eal_;
};

TEST_F(PortBursts, FramesBuiltInMbufsGoOut32PerBurstAndStayTheSenders) {
    net::PortOptions po;
    po.mbufs = 1023;
    po.link_wait_ms = 0;
    auto p = net::Port::open("net_null0", po);
    ASSERT_TRUE(p.ok()) << p.message();
    net::FramePool& pool = p->frame_pool();
    ASSERT_TRUE(pool.is_mbuf_pool());
    std::vector<net::FrameBuf> frames;
    std::vector<net::FrameBuf*> burst;
    for (int i = 0; i < 64; ++i) {
        frames.push_back(pool.alloc(1000));
        ASSERT_TRUE(frames.back());
        ASSERT_NE(frames.back().mbuf(), nullptr);
        std::memset(frames.back().data(), i, 1000);
    }
    for (auto& f : frames) burst.push_back(&f);
    EXPECT_EQ(p->send_burst(burst), 64u);
    EXPECT_EQ(p->tx_bursts(), 2u); // 64 frames, 32 per rte_eth_tx_burst
    for (int i = 0; i < 64; ++i) {
        // The driver dropped its reference: the sender's is the only one, the bytes are intact.
        EXPECT_TRUE(net::FramePool::exclusive(frames[i]));
        EXPECT_EQ(std::to_integer<int>(frames[i].data()[999]), i);
    }
    // A retransmission: the same mbufs again, no new buffer.
    const auto allocs = pool.counters().allocs;
    EXPECT_EQ(p->send_burst(burst), 64u);
    EXPECT_EQ(pool.counters().allocs, allocs);
    EXPECT_EQ(p->stats().tx_packets, 128u);
    frames.clear();
    EXPECT_EQ(pool.counters().releases, pool.counters().allocs);
    EXPECT_EQ(pool.counters().fallbacks, 0u);
}

TEST_F(PortBursts, AnEmptyTxPoolFallsBackToTheHeapAndTheFrameStillGoesOut) {
    net::PortOptions po;
    po.mbufs = 1023;
    po.tx_mbufs = 511;
    po.link_wait_ms = 0;
    auto p = net::Port::open("net_null1", po);
    ASSERT_TRUE(p.ok()) << p.message();
    net::FramePool& pool = p->frame_pool();
    std::vector<net::FrameBuf> held;
    for (int i = 0; i < 2000 && pool.counters().fallbacks == 0; ++i) held.push_back(pool.alloc(200));
    ASSERT_EQ(pool.counters().fallbacks, 1u);
    net::FrameBuf& heap = held.back();
    EXPECT_EQ(heap.mbuf(), nullptr);
    std::memset(heap.data(), 0xff, 200);
    net::FrameBuf* one[1] = {&heap};
    EXPECT_EQ(p->send_burst(one), 1u);
    EXPECT_EQ(p->stats().tx_packets, 1u);
}

// Coalescing (docs/PROTOCOL.md, "Batches"): a frame not sent yet grows in its own mbuf, up to a
// whole frame (max_frame), its bytes staying where they are, and shrinks back, then goes out; a
// heap frame allocated with room for growth grows within its slot; nothing grows past either.
TEST_F(PortBursts, AFrameGrowsInItsMbufUpToAWholeFrameAndGoesOutAtItsNewLength) {
    net::PortOptions po;
    po.mbufs = 1023;
    po.link_wait_ms = 0;
    auto p = net::Port::open("net_null2", po);
    ASSERT_TRUE(p.ok()) << p.message();
    net::FramePool& pool = p->frame_pool();
    net::FrameBuf f = pool.alloc(200, po.max_frame);
    ASSERT_NE(f.mbuf(), nullptr);
    EXPECT_EQ(f.capacity(), po.max_frame);
    std::memset(f.data(), 0x5a, 200);
    std::byte* const at = f.data();
    ASSERT_TRUE(f.resize(po.max_frame));
    EXPECT_EQ(f.data(), at) << "grown in place";
    EXPECT_EQ(f.size(), po.max_frame);
    EXPECT_EQ(std::to_integer<int>(f.data()[199]), 0x5a);
    std::memset(f.data() + 200, 0xa5, po.max_frame - 200u);
    EXPECT_FALSE(f.resize(po.max_frame + 1u)) << "never past a whole frame";
    EXPECT_EQ(f.size(), po.max_frame);
    ASSERT_TRUE(f.resize(1000)); // and back
    net::FrameBuf* one[1] = {&f};
    EXPECT_EQ(p->send_burst(one), 1u);
    EXPECT_EQ(p->stats().tx_packets, 1u); // (net_null counts no bytes: the length is checked by resize)
    EXPECT_EQ(f.size(), 1000u);
    // A heap frame with room: the slot that holds the room (2,048 bytes for a 1,514-byte frame).
    net::FramePool heap;
    net::FrameBuf h = heap.alloc(200, po.max_frame);
    EXPECT_EQ(h.capacity(), 2048u);
    ASSERT_TRUE(h.resize(po.max_frame));
    EXPECT_FALSE(h.resize(2049));
    EXPECT_EQ(heap.alloc(200).capacity(), 512u) << "without room: the smallest slot, as before";
}

} // namespace
