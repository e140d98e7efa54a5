// The seeded fault shim over an in-memory carrier: 0% changes nothing, a seed gives the same
// decisions on every run (pinned counts), each fault does what it says, and corruption is always
// caught by decode_frame while the addresses stay intact.
#include "ckpt/net/fault_shim.hpp"
#include "ckpt/net/wire_format.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <vector>

using namespace ckpt;
using namespace ckpt::net;
using Frame = std::vector<std::byte>;

namespace {

/// A carrier that records what is sent and hands out what a test queued for receiving.
class FakeLink final : public Transport {
public:
    std::vector<Frame> sent;
    std::deque<Frame> inbound;
    bool refuse = false;

    bool send(std::span<const std::byte> f) override {
        if (refuse) return false;
        sent.emplace_back(f.begin(), f.end());
        return true;
    }
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override {
        std::size_t n = 0;
        for (; n < max && !inbound.empty(); ++n) {
            Frame f = std::move(inbound.front());
            inbound.pop_front();
            cb(ctx, f);
        }
        return n;
    }
    std::array<std::uint8_t, 6> mac() const override { return {2, 0, 0, 0, 0, 1}; }
    int wait_fd() const override { return 42; }
    std::string describe() const override { return "fake"; }
    TransportStats stats() const override { return {}; }
};

/// A valid HEARTBEAT frame whose link_seq is `seq`, so order and identity can be read back.
Frame frame(std::uint64_t seq) {
    std::byte body[net::kHeartbeatBody];
    net::encode_heartbeat_body(body, net::HeartbeatBody{seq * 7, 1, 0});
    net::Endpoint a, b;
    a.ip = 0x0A4D0001;
    b.ip = 0x0A4D0002;
    Frame f(net::kMaxFrame);
    f.resize(net::encode_frame(f, a, b, net::FrameHeader{net::FrameType::kHeartbeat, 0, 1, 2, 0, seq}, body));
    return f;
}

/// link_seq of a valid frame, or 0 when decode_frame refuses it.
std::uint64_t seq_of(const Frame& f) {
    net::DecodedFrame d;
    return net::decode_frame(f, net::kDefaultUdpPort, d) == net::Reject::kNone ? d.header.link_seq : 0;
}

struct Rig {
    std::int64_t now = 0;
    FakeLink* link = nullptr;
    std::unique_ptr<FaultShim> shim;
    explicit Rig(const FaultConfig& cfg) {
        auto l = std::make_unique<FakeLink>();
        link = l.get();
        shim = std::make_unique<FaultShim>(std::move(l), cfg, [this] { return now; });
    }
    /// Sends frames 1..n, one per microsecond of fake time, then lets everything held go.
    void send_all(std::uint64_t n) {
        for (std::uint64_t i = 1; i <= n; ++i) {
            EXPECT_TRUE(shim->send(frame(i)));
            now += 1000;
        }
        drain();
    }
    void drain() {
        now += 60'000'000'000; // far past any delay or reorder hold
        shim->receive([](std::span<const std::byte>) {});
    }
    std::vector<std::uint64_t> sent_seqs() const {
        std::vector<std::uint64_t> s;
        for (const auto& f : link->sent) s.push_back(seq_of(f));
        return s;
    }
};

TEST(FaultShim, ZeroPercentIsIdentity) {
    FaultConfig cfg; // nothing configured, both directions
    cfg.rx = true;
    EXPECT_FALSE(cfg.enabled());
    Rig r(cfg);
    r.send_all(1000);
    ASSERT_EQ(r.link->sent.size(), 1000u);
    for (std::uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(r.link->sent[i], frame(i + 1)) << "frame " << i + 1;
    for (std::uint64_t i = 1; i <= 100; ++i) r.link->inbound.push_back(frame(i));
    std::vector<Frame> got;
    while (r.shim->receive([&](std::span<const std::byte> f) { got.emplace_back(f.begin(), f.end()); }, 7) > 0) {
    }
    ASSERT_EQ(got.size(), 100u);
    for (std::uint64_t i = 0; i < 100; ++i) EXPECT_EQ(got[i], frame(i + 1));
    const auto& c = r.shim->tx_counters();
    EXPECT_EQ(c.frames, 1000u);
    EXPECT_EQ(c.dropped + c.duplicated + c.reordered + c.corrupted + c.delayed + c.unsent, 0u);
    EXPECT_EQ(r.shim->rx_counters().frames, 100u);
    EXPECT_EQ(r.shim->wait_fd(), 42) << "the carrier's wake-up passes through";
}

FaultConfig mixed(std::uint64_t seed) {
    FaultConfig c;
    c.seed = seed;
    c.drop_pct = 10;
    c.dup_pct = 5;
    c.reorder_pct = 5;
    c.corrupt_pct = 3;
    c.delay_us = 200;
    return c;
}

TEST(FaultShim, ExactCountsForASeed) {
    // Pinned: the decisions are a function of the seed and the frame's position only. A change
    // here means a change of PRNG or draw order, and old seeds no longer reproduce old runs.
    Rig r(mixed(42));
    r.send_all(10000);
    const auto& c = r.shim->tx_counters();
    EXPECT_EQ(c.frames, 10000u);
    EXPECT_EQ(c.dropped, 1009u);
    EXPECT_EQ(c.duplicated, 446u);
    EXPECT_EQ(c.reordered, 440u); // fewer than 5%: a frame drawn while another is held passes
    EXPECT_EQ(c.corrupted, 276u);
    // Bookkeeping that holds whatever the seed: every copy that left was delayed, and what left
    // is what entered, less the drops, plus the duplicates.
    EXPECT_EQ(r.link->sent.size(), c.frames - c.dropped + c.duplicated);
    EXPECT_EQ(c.delayed, r.link->sent.size());
    EXPECT_EQ(r.shim->held(), 0u);
    std::size_t refused = 0;
    for (const auto& f : r.link->sent) refused += seq_of(f) == 0;
    EXPECT_GE(refused, c.corrupted) << "every corrupted copy is refused by decode_frame";
    EXPECT_LE(refused, 2 * c.corrupted) << "(a duplicated corrupted frame is refused twice)";
}

TEST(FaultShim, SameSeedSameRunOtherSeedOtherRun) {
    Rig a(mixed(7)), b(mixed(7)), c(mixed(8));
    a.send_all(3000);
    b.send_all(3000);
    c.send_all(3000);
    EXPECT_EQ(a.link->sent, b.link->sent) << "same seed: byte-identical output, in the same order";
    EXPECT_NE(a.link->sent, c.link->sent);
    EXPECT_EQ(a.shim->tx_counters().dropped, b.shim->tx_counters().dropped);
}

TEST(FaultShim, FractionalPercentages) {
    FaultConfig cfg;
    cfg.seed = 3;
    cfg.drop_pct = 0.5;
    Rig r(cfg);
    r.send_all(100000);
    EXPECT_EQ(r.shim->tx_counters().dropped, 508u); // pinned; about 1 in 200
}

TEST(FaultShim, DropAllAndDuplicateAll) {
    FaultConfig drop;
    drop.drop_pct = 100;
    Rig d(drop);
    d.send_all(50);
    EXPECT_TRUE(d.link->sent.empty());
    EXPECT_EQ(d.shim->tx_counters().dropped, 50u);
    FaultConfig dup;
    dup.dup_pct = 100;
    Rig u(dup);
    u.send_all(3);
    EXPECT_EQ(u.sent_seqs(), (std::vector<std::uint64_t>{1, 1, 2, 2, 3, 3}));
}

TEST(FaultShim, CorruptionIsCaughtAndLeavesTheAddresses) {
    FaultConfig cfg;
    cfg.corrupt_pct = 100;
    Rig r(cfg);
    r.send_all(500);
    ASSERT_EQ(r.link->sent.size(), 500u);
    for (std::size_t i = 0; i < 500; ++i) {
        const Frame& f = r.link->sent[i];
        EXPECT_EQ(seq_of(f), 0u) << "frame " << i + 1 << " got through decode_frame";
        net::UdpDatagram u;
        ASSERT_EQ(net::unwrap_udp_payload(f, u), net::Reject::kNone) << "headers must stay intact";
        EXPECT_EQ(u.dst.ip, 0x0A4D0002u);
        const Frame orig = frame(i + 1);
        int bits = 0;
        for (std::size_t k = 0; k < f.size(); ++k)
            bits += __builtin_popcount(std::to_integer<unsigned>(f[k] ^ orig[k]));
        EXPECT_EQ(bits, 1) << "exactly one bit flipped";
    }
    EXPECT_EQ(r.shim->tx_counters().corrupted, 500u);
}

TEST(FaultShim, ReorderSwapsWithTheNextFrameOrLetsGoAfterTheHold) {
    FaultConfig cfg;
    cfg.reorder_pct = 100;
    Rig r(cfg);
    for (std::uint64_t i = 1; i <= 4; ++i) r.shim->send(frame(i));
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{2, 1, 4, 3}));
    r.shim->send(frame(5)); // held, and no next frame comes
    EXPECT_EQ(r.link->sent.size(), 4u);
    EXPECT_EQ(r.shim->held(), 1u);
    r.now += FaultShim::kReorderHoldNs - 1;
    r.shim->receive([](std::span<const std::byte>) {});
    EXPECT_EQ(r.link->sent.size(), 4u);
    r.now += 1;
    r.shim->receive([](std::span<const std::byte>) {}); // the poll-ish hook lets it go
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{2, 1, 4, 3, 5}));
    EXPECT_EQ(r.shim->tx_counters().reordered, 3u);
}

TEST(FaultShim, DelayHoldsFramesInOrderUntilDue) {
    FaultConfig cfg;
    cfg.delay_us = 500;
    Rig r(cfg);
    r.shim->send(frame(1));
    r.now += 100'000;
    r.shim->send(frame(2));
    r.now += 399'999; // frame 1 due in 1 ns
    r.shim->send(frame(3));
    EXPECT_TRUE(r.link->sent.empty());
    r.now += 1;
    r.shim->receive([](std::span<const std::byte>) {});
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{1}));
    r.now += 100'000;
    r.shim->send(frame(4)); // a send releases what is due, too
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{1, 2}));
    r.drain();
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(r.shim->tx_counters().delayed, 4u);
}

TEST(FaultShim, ReceiveSideFaults) {
    FaultConfig cfg;
    cfg.seed = 11;
    cfg.tx = false;
    cfg.rx = true;
    cfg.drop_pct = 20;
    cfg.delay_us = 50;
    Rig r(cfg);
    r.shim->send(frame(99));
    EXPECT_EQ(r.sent_seqs(), (std::vector<std::uint64_t>{99})) << "TX untouched with fault_direction = rx";
    for (std::uint64_t i = 1; i <= 1000; ++i) r.link->inbound.push_back(frame(i));
    std::vector<std::uint64_t> got;
    auto take = [&](std::span<const std::byte> f) { got.push_back(seq_of(Frame(f.begin(), f.end()))); };
    while (!r.link->inbound.empty()) r.shim->receive(take, 32);
    EXPECT_TRUE(got.empty()) << "everything waits 50 us";
    r.now += 50'000;
    r.shim->receive(take, 32);
    const auto& c = r.shim->rx_counters();
    EXPECT_EQ(c.frames, 1000u);
    EXPECT_EQ(c.dropped, 221u); // pinned
    EXPECT_EQ(got.size(), 1000u - c.dropped);
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end())) << "delay alone keeps the order";
    EXPECT_EQ(r.shim->tx_counters().frames, 0u);
}

TEST(FaultShim, RefusedSendsAreCounted) {
    FaultConfig cfg;
    cfg.delay_us = 10;
    Rig r(cfg);
    r.link->refuse = true;
    EXPECT_TRUE(r.shim->send(frame(1))) << "held: the carrier has not been asked yet";
    r.now += 10'000;
    r.shim->receive([](std::span<const std::byte>) {});
    EXPECT_EQ(r.shim->tx_counters().unsent, 1u);
    FaultConfig direct;
    direct.dup_pct = 100; // passes straight through to a carrier that refuses
    Rig d(direct);
    d.link->refuse = true;
    EXPECT_FALSE(d.shim->send(frame(1)));
    EXPECT_EQ(d.shim->tx_counters().unsent, 2u);
}

TEST(FaultShim, GilbertElliottLosesInBurstsAtTheSameAverage) {
    // 20 % loss either way; independent loss makes runs of 1.25 frames on average, the two-state
    // chain with burst_frames = 8 makes runs of about 8, at the same long-run rate.
    auto runs = [](const FaultConfig& cfg, std::uint64_t& dropped, std::uint64_t& bursts) {
        Rig r(cfg);
        const std::uint64_t n = 100'000;
        r.send_all(n);
        std::vector<bool> got(n + 1, false);
        for (auto s : r.sent_seqs()) got[s] = true;
        std::uint64_t runs_count = 0, lost = 0;
        for (std::uint64_t i = 1; i <= n; ++i) {
            if (got[i]) continue;
            ++lost;
            if (i == 1 || got[i - 1]) ++runs_count;
        }
        dropped = r.shim->tx_counters().dropped;
        bursts = r.shim->tx_counters().bursts;
        EXPECT_EQ(lost, dropped);
        return static_cast<double>(lost) / static_cast<double>(runs_count);
    };
    FaultConfig bern;
    bern.seed = 7;
    bern.drop_pct = 20;
    FaultConfig ge = bern;
    ge.burst_frames = 8;
    std::uint64_t bd = 0, bb = 0, gd = 0, gb = 0;
    const double bern_run = runs(bern, bd, bb);
    const double ge_run = runs(ge, gd, gb);
    EXPECT_NEAR(static_cast<double>(bd) / 100'000, 0.20, 0.01);
    EXPECT_NEAR(static_cast<double>(gd) / 100'000, 0.20, 0.03) << "the long-run loss stays drop_pct";
    EXPECT_NEAR(bern_run, 1.25, 0.05);
    EXPECT_NEAR(ge_run, 8.0, 1.0) << "bursts of burst_frames on average";
    EXPECT_EQ(bb, 0u);
    EXPECT_GT(gb, 1500u); // about 100000 * 0.2 / 8 = 2500 bursts
    // Reproducible: the same seed loses the same frames.
    std::uint64_t gd2 = 0, gb2 = 0;
    EXPECT_DOUBLE_EQ(runs(ge, gd2, gb2), ge_run);
    EXPECT_EQ(gd2, gd);
}

TEST(FaultShim, HealStopsEveryFaultAndKeepsTheCounts) {
    FaultConfig cfg;
    cfg.seed = 3;
    cfg.drop_pct = 50;
    cfg.corrupt_pct = 50;
    cfg.dup_pct = 50;
    Rig r(cfg);
    r.send_all(1000);
    const FaultCounters before = r.shim->tx_counters();
    EXPECT_GT(before.dropped, 0u);
    EXPECT_GE(before.corrupted_copies, before.corrupted);
    r.shim->heal();
    const std::size_t sent = r.link->sent.size();
    for (std::uint64_t i = 1001; i <= 2000; ++i) EXPECT_TRUE(r.shim->send(frame(i)));
    r.drain();
    EXPECT_EQ(r.link->sent.size(), sent + 1000);
    for (std::size_t k = sent; k < r.link->sent.size(); ++k) EXPECT_EQ(seq_of(r.link->sent[k]), 1001 + (k - sent));
    EXPECT_EQ(r.shim->tx_counters().dropped, before.dropped);
    EXPECT_EQ(r.shim->tx_counters().corrupted_copies, before.corrupted_copies);
}

TEST(FaultShim, DescribeNamesTheCarrierAndTheFaults) {
    Rig r(mixed(42));
    const std::string d = r.shim->describe();
    EXPECT_EQ(d.rfind("fake", 0), 0u) << d;
    EXPECT_NE(d.find("seed 42"), std::string::npos) << d;
    EXPECT_NE(d.find("drop 10%"), std::string::npos) << d;
}

} // namespace
