// PeerStream (engine/src/link/peer_stream.cpp), the reliable, ordered replication stream, driven by a
// simulated clock and simulated channels (loss, duplication, reordering, a carrier that fills up).
// Nothing here sleeps or reads a clock: every test asserts behaviour at simulated instants.
#include "link/peer_stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <queue>
#include <vector>

using namespace ckpt::engine;

namespace {

constexpr std::int64_t kUs = 1'000;
constexpr std::int64_t kMs = 1'000'000;
using Rx = PeerStream::Rx;
using Frame = std::vector<std::byte>;

std::uint64_t seq(std::uint64_t gen, std::uint64_t n) {
    return gen << kLinkGenerationShift | n;
}

// A test frame carries its index and the link_seq it was enqueued with (a real frame carries
// link_seq in its header, covered by its hash), so whoever receives it can check both.
Frame make_frame(std::uint64_t index, std::uint64_t link_seq) {
    Frame f(16);
    std::memcpy(f.data(), &index, 8);
    std::memcpy(f.data() + 8, &link_seq, 8);
    return f;
}
std::uint64_t frame_index(std::span<const std::byte> f) {
    std::uint64_t v = UINT64_MAX;
    EXPECT_EQ(f.size(), 16u);
    if (f.size() == 16) std::memcpy(&v, f.data(), 8);
    return v;
}
std::uint64_t frame_seq(std::span<const std::byte> f) {
    std::uint64_t v = UINT64_MAX;
    EXPECT_EQ(f.size(), 16u);
    if (f.size() == 16) std::memcpy(&v, f.data() + 8, 8);
    return v;
}

/// Enqueues frame `index` with completion {1, index}.
void enqueue_indexed(PeerStream& s, std::uint64_t index) {
    const std::uint64_t ls = s.next_link_seq();
    s.enqueue(ckpt::net::FrameBuf::copy_of(make_frame(index, ls)), Completion{1, index});
}

/// Everything transmit() hands to an unbounded carrier at `now`.
std::vector<Frame> transmit_all(PeerStream& s, std::int64_t now) {
    std::vector<Frame> out;
    const std::size_t n = s.transmit(now, [&](std::span<const std::byte> f) {
        out.emplace_back(f.begin(), f.end());
        return true;
    });
    EXPECT_EQ(n, out.size());
    return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<Frame>& frames) {
    std::vector<std::uint64_t> r;
    for (const Frame& f : frames) r.push_back(frame_seq(f));
    return r;
}

/// Receives `f` at `rx`, appending what it delivers (frame indices) to `out`.
Rx receive_into(PeerStream& rx, const Frame& f, std::vector<std::uint64_t>& out) {
    return rx.receive(frame_seq(f), f, [&](std::span<const std::byte> d) { out.push_back(frame_index(d)); });
}

/// Acknowledges what `rx` says it has to `tx`; returns the ids of the completions, in order.
std::vector<std::uint64_t> ack(PeerStream& rx, PeerStream& tx) {
    std::vector<std::uint64_t> ids;
    const auto [cum, sel] = rx.ack_fields();
    const std::size_t n = tx.on_ack(cum, sel, [&](Completion c) { ids.push_back(c.id); });
    EXPECT_EQ(n, ids.size());
    return ids;
}

std::vector<std::uint64_t> iota(std::uint64_t first, std::uint64_t count) {
    std::vector<std::uint64_t> r(count);
    for (std::uint64_t i = 0; i < count; ++i) r[i] = first + i;
    return r;
}

struct SplitMix64 {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
    bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
    std::uint64_t below(std::uint64_t n) { return next() % n; }
};

// ---- 1. lossless, in order ----

TEST(PeerStream, LosslessDeliversAndCompletesEveryFrameOnceInOrderWithinTheWindow) {
    constexpr std::uint64_t kFrames = 10'000;
    StreamConfig cfg;
    cfg.window = 64;
    PeerStream tx(cfg), rx(cfg);
    for (std::uint64_t i = 0; i < kFrames; ++i) {
        EXPECT_EQ(tx.next_link_seq(), seq(1, i + 1));
        enqueue_indexed(tx, i);
    }
    EXPECT_EQ(tx.backlog(), kFrames);
    EXPECT_EQ(tx.in_flight(), 0u);

    std::uint64_t delivered = 0, completed = 0, highest_sent = 0;
    const auto deliver = [&](std::span<const std::byte> f) {
        EXPECT_EQ(frame_index(f), delivered);
        EXPECT_EQ(frame_seq(f), seq(1, delivered + 1));
        ++delivered;
    };
    const auto done = [&](Completion c) {
        EXPECT_EQ(c.kind, 1);
        EXPECT_EQ(c.id, completed);
        ++completed;
    };
    std::int64_t now = 0;
    for (int round = 0; !tx.idle(); ++round) {
        ASSERT_LT(round, 1000) << "stream does not drain";
        const std::vector<Frame> wire = transmit_all(tx, now);
        // Everything sent before was acknowledged: a full window goes (or what is left).
        EXPECT_EQ(wire.size(), std::min<std::uint64_t>(cfg.window, kFrames - completed));
        EXPECT_LE(tx.in_flight(), cfg.window);
        // The window is full and nothing timed out: a second transmit sends nothing.
        EXPECT_TRUE(transmit_all(tx, now).empty());
        for (std::size_t i = 0; i < wire.size(); ++i) {
            highest_sent = std::max(highest_sent, frame_seq(wire[i]) & kLinkSeqMask);
            EXPECT_LE(highest_sent - completed, cfg.window) << "more than the window in flight";
            EXPECT_EQ(rx.receive(frame_seq(wire[i]), wire[i], deliver), Rx::kDeliver);
            EXPECT_TRUE(rx.ack_pending);
            if (i % 10 == 9 || i + 1 == wire.size()) { // ACK every 10 frames
                const auto [cum, sel] = rx.ack_fields();
                rx.ack_pending = false;
                EXPECT_EQ(cum, seq(1, delivered));
                EXPECT_EQ(sel, 0u);
                tx.on_ack(cum, sel, done);
                EXPECT_EQ(completed, delivered);
                EXPECT_EQ(tx.on_ack(cum, sel, done), 0u) << "a repeated ACK completes nothing";
            }
        }
        now += kMs; // well within the RTO: nothing is ever retransmitted
    }
    EXPECT_EQ(delivered, kFrames);
    EXPECT_EQ(completed, kFrames);
    EXPECT_EQ(tx.next_deadline(), INT64_MAX);
    EXPECT_EQ(tx.counters().sent, kFrames);
    EXPECT_EQ(tx.counters().retransmits, 0u);
    EXPECT_EQ(tx.counters().acked, kFrames);
    EXPECT_EQ(rx.counters().delivered, kFrames);
    EXPECT_EQ(rx.counters().duplicates, 0u);
    EXPECT_EQ(rx.counters().reordered, 0u);
}

TEST(PeerStream, AFullCarrierKeepsTheRestForTheNextTransmit) {
    StreamConfig cfg;
    cfg.window = 8;
    PeerStream tx(cfg);
    for (std::uint64_t i = 0; i < 8; ++i) enqueue_indexed(tx, i);
    std::vector<std::uint64_t> sent;
    std::size_t budget = 3;
    const auto send = [&](std::span<const std::byte> f) {
        if (budget == 0) return false;
        --budget;
        sent.push_back(frame_index(f));
        return true;
    };
    EXPECT_EQ(tx.transmit(0, send), 3u);
    EXPECT_EQ(tx.in_flight(), 3u);
    EXPECT_EQ(tx.backlog(), 5u);
    budget = 4;
    EXPECT_EQ(tx.transmit(0, send), 4u);
    budget = 100;
    EXPECT_EQ(tx.transmit(0, send), 1u);
    EXPECT_EQ(sent, iota(0, 8));
    EXPECT_EQ(tx.counters().sent, 8u);

    // Retransmissions that do not fit wait too, and go before new frames.
    enqueue_indexed(tx, 8);
    sent.clear();
    tx.on_nack(tx.next_link_seq() - 9, tx.next_link_seq() - 2); // all eight in flight
    budget = 2;
    EXPECT_EQ(tx.transmit(0, send), 2u);
    EXPECT_EQ(sent, iota(0, 2));
    budget = 100;
    EXPECT_EQ(tx.transmit(0, send), 6u);
    EXPECT_EQ(sent, iota(0, 8)) << "frame 8 waits: the window is full";
    EXPECT_EQ(tx.counters().retransmits, 8u);
}

// ---- 2. a lossy, duplicating, reordering channel in both directions ----

struct SimConfig {
    StreamConfig stream;
    std::uint64_t frames = 3000; ///< per direction
    double data_loss = 0.20, data_dup = 0.10;
    double ctl_loss = 0.10, ctl_dup = 0.10;                       ///< ACKs and NACKs
    std::int64_t min_delay_ns = 50 * kUs, max_delay_ns = 3 * kMs; ///< uniform per packet: reorders
    std::uint64_t carrier_budget = 24;                            ///< a carrier takes 1..carrier_budget frames per step
    std::int64_t nack_interval_ns = 2 * kMs;
    std::int64_t step_ns = 100 * kUs;
    std::vector<std::int64_t> resets_ns;        ///< both senders give up (reset_tx) at these instants
    std::int64_t time_limit_ns = 300'000 * kMs; ///< simulated; a stream not drained by then fails
};

struct SimResult {
    ckpt::shm::PeerStats counters[2];
};

/// Two nodes, each sending `frames` frames to the other over one PeerStream per node (its sender
/// side carries that node's frames, its receiver side the peer's, and it ACKs/NACKs the peer).
/// Checked all along:
///  - each receiver delivers frames in link_seq order: within a generation n = 1, 2, 3, ... with
///    no gap and no repeat, a new generation from n = 1, never an older generation again, each
///    frame carrying the index its sender gave that link_seq;
///  - each sender's completions (from on_ack, or given back by reset_tx) are ids 0, 1, 2, ...,
///    each exactly once; never more than the window between the oldest unacknowledged frame and
///    the newest sent.
/// Without resets every frame is delivered; with them, everything of the last generation is.
SimResult run_sim(const SimConfig& cfg, std::uint64_t seed) {
    enum class Kind : std::uint8_t { kData, kAck, kNack };
    struct Packet {
        std::int64_t at;
        std::uint64_t order;
        int dst;
        Kind kind;
        std::uint64_t a, b;
        Frame bytes;
    };
    struct Later {
        bool operator()(const Packet& x, const Packet& y) const {
            return x.at != y.at ? x.at > y.at : x.order > y.order;
        }
    };
    struct Node {
        explicit Node(const StreamConfig& c) : s(c) {}
        PeerStream s;
        // sender side
        std::uint64_t enqueued = 0, completed = 0, next_to_send = 0, last_enqueued_seq = 0;
        std::vector<std::uint64_t> first_index{0}; ///< by generation: the index of its n = 1
        // receiver side (the peer's frames)
        std::uint64_t delivered = 0, last_seq = 0, last_index = 0;
    };
    SplitMix64 rng{seed};
    std::priority_queue<Packet, std::vector<Packet>, Later> channel;
    std::uint64_t order = 0;
    Node nodes[2] = {Node(cfg.stream), Node(cfg.stream)};
    std::int64_t now = 0;
    std::size_t next_reset = 0;

    const auto post = [&](int dst, Kind kind, std::uint64_t a, std::uint64_t b, std::span<const std::byte> bytes) {
        const bool data = kind == Kind::kData;
        if (rng.chance(data ? cfg.data_loss : cfg.ctl_loss)) return;
        const int copies = rng.chance(data ? cfg.data_dup : cfg.ctl_dup) ? 2 : 1;
        for (int i = 0; i < copies; ++i) {
            const auto spread = static_cast<std::uint64_t>(cfg.max_delay_ns - cfg.min_delay_ns + 1);
            const std::int64_t delay = cfg.min_delay_ns + static_cast<std::int64_t>(rng.below(spread));
            channel.push(Packet{now + delay, order++, dst, kind, a, b, Frame(bytes.begin(), bytes.end())});
        }
    };
    const auto complete = [&](int node, Completion c) {
        Node& n = nodes[node];
        EXPECT_EQ(c.kind, 1);
        EXPECT_EQ(c.id, n.completed) << "node " << node << " completed out of order or twice";
        ++n.completed;
    };
    const auto deliver = [&](int node, std::span<const std::byte> f) {
        Node& n = nodes[node];
        const Node& sender = nodes[1 - node];
        const std::uint64_t ls = frame_seq(f), gen = ls >> kLinkGenerationShift, k = ls & kLinkSeqMask;
        if (n.delivered > 0 && gen == n.last_seq >> kLinkGenerationShift)
            EXPECT_EQ(ls, n.last_seq + 1) << "node " << node << " delivered out of order or twice";
        else
            EXPECT_EQ(k, 1u) << "node " << node << " began generation " << gen << " past its start";
        EXPECT_GE(ls, n.last_seq) << "node " << node << " delivered an older generation";
        ASSERT_LT(gen, sender.first_index.size());
        EXPECT_EQ(frame_index(f), sender.first_index[gen] + k - 1) << "a frame not sent with this link_seq";
        n.last_seq = ls;
        n.last_index = frame_index(f);
        ++n.delivered;
    };
    const auto dispatch = [&](const Packet& p) {
        Node& n = nodes[p.dst];
        switch (p.kind) {
        case Kind::kData:
            n.s.receive(p.a, p.bytes, [&](std::span<const std::byte> f) { deliver(p.dst, f); });
            break;
        case Kind::kAck:
            n.s.on_ack(p.a, p.b, [&](Completion c) { complete(p.dst, c); });
            break;
        case Kind::kNack:
            n.s.on_nack(p.a, p.b);
            break;
        }
    };
    const auto drained = [&] {
        for (int i = 0; i < 2; ++i) {
            const Node &n = nodes[i], &peer = nodes[1 - i];
            if (n.completed != cfg.frames || !n.s.idle()) return false;
            if (peer.delivered == 0 || peer.last_seq != n.last_enqueued_seq) return false;
        }
        return true;
    };

    SimResult r;
    bool done = false;
    const bool failed_before = ::testing::Test::HasFailure();
    // Runs until both directions drained, then on until the channel is empty (late duplicates,
    // ACKs of ACKed frames, frames of an abandoned generation) so that a second delivery or
    // completion would still be seen.
    while (!(done && channel.empty())) {
        if (now > cfg.time_limit_ns) {
            ADD_FAILURE() << "seed " << seed << ": not drained after " << now / kMs << " simulated ms: delivered "
                          << nodes[0].delivered << "/" << nodes[1].delivered << ", completed " << nodes[0].completed
                          << "/" << nodes[1].completed << " of " << cfg.frames;
            break;
        }
        if (!failed_before && ::testing::Test::HasFailure()) break; // the first failure says enough
        while (!channel.empty() && channel.top().at <= now) {
            const Packet p = channel.top();
            channel.pop();
            dispatch(p);
        }
        if (next_reset < cfg.resets_ns.size() && now >= cfg.resets_ns[next_reset]) {
            ++next_reset;
            for (int i = 0; i < 2; ++i) {
                // Only while frames remain to be enqueued, so that the last generation carries
                // frames and the run ends with all of them delivered.
                if (nodes[i].enqueued == cfg.frames) continue;
                for (const Completion& c : nodes[i].s.reset_tx()) complete(i, c);
                EXPECT_TRUE(nodes[i].s.idle());
                EXPECT_EQ(nodes[i].completed, nodes[i].enqueued) << "reset_tx gave back everything queued";
                EXPECT_EQ(nodes[i].s.next_link_seq() & kLinkSeqMask, 1u);
            }
        }
        for (int i = 0; i < 2; ++i) {
            Node& n = nodes[i];
            while (n.enqueued < cfg.frames && n.s.backlog() < 2 * cfg.stream.window) {
                const std::uint64_t ls = n.s.next_link_seq(), gen = ls >> kLinkGenerationShift;
                if ((ls & kLinkSeqMask) == 1) {
                    n.first_index.resize(gen + 1);
                    n.first_index[gen] = n.enqueued;
                }
                n.last_enqueued_seq = ls;
                enqueue_indexed(n.s, n.enqueued++);
            }
            std::uint64_t budget = 1 + rng.below(cfg.carrier_budget);
            n.s.transmit(now, [&](std::span<const std::byte> f) {
                if (budget == 0) return false;
                --budget;
                n.next_to_send = std::max(n.next_to_send, frame_index(f) + 1);
                EXPECT_LE(n.next_to_send - n.completed, cfg.stream.window) << "more than the window in flight";
                post(1 - i, Kind::kData, frame_seq(f), 0, f);
                return true;
            });
            EXPECT_LE(n.s.in_flight(), cfg.stream.window);
            if (n.s.ack_pending) {
                const auto [cum, sel] = n.s.ack_fields();
                n.s.ack_pending = false;
                post(1 - i, Kind::kAck, cum, sel, {});
            }
            std::uint64_t first = 0, last = 0;
            if (n.s.nack_due(now, cfg.nack_interval_ns, first, last)) {
                EXPECT_LE(first, last);
                post(1 - i, Kind::kNack, first, last, {});
            }
        }
        if (!done && drained()) done = true;
        now += cfg.step_ns;
    }
    for (int i = 0; i < 2; ++i) {
        const Node &n = nodes[i], &peer = nodes[1 - i];
        EXPECT_EQ(n.completed, cfg.frames) << "seed " << seed << " node " << i;
        EXPECT_TRUE(n.s.idle());
        EXPECT_EQ(n.s.next_deadline(), INT64_MAX);
        EXPECT_EQ(n.last_index, cfg.frames - 1) << "seed " << seed << " node " << i << ": the last frame";
        const auto [cum, sel] = n.s.ack_fields();
        EXPECT_EQ(cum, peer.last_enqueued_seq);
        EXPECT_EQ(sel, 0u) << "nothing is left buffered";
        if (cfg.resets_ns.empty()) {
            EXPECT_EQ(n.delivered, cfg.frames) << "seed " << seed << " node " << i;
            EXPECT_EQ(n.s.counters().delivered, cfg.frames);
            EXPECT_EQ(n.s.counters().acked, cfg.frames);
        }
        r.counters[i] = n.s.counters();
    }
    return r;
}

constexpr std::uint64_t kSeeds[] = {1, 2, 3, 42, 0xC0FFEE, 0x9E3779B97F4A7C15};

TEST(PeerStream, LossyDuplicatingReorderingChannelDeliversEverythingOnceInOrder) {
    SimConfig cfg;
    cfg.stream.window = 64;
    for (std::uint64_t seed : kSeeds) {
        SCOPED_TRACE(seed);
        const SimResult r = run_sim(cfg, seed);
        if (::testing::Test::HasFailure()) return;
        for (const ckpt::shm::PeerStats& c : r.counters) { // the faults really happened
            EXPECT_GT(c.retransmits, 0u);
            EXPECT_GT(c.duplicates, 0u);
            EXPECT_GT(c.reordered, 0u);
            EXPECT_GT(c.nacks_sent, 0u);
            EXPECT_GT(c.nacks_received, 0u);
            EXPECT_EQ(c.stale, 0u);
            EXPECT_EQ(c.beyond_window, 0u) << "the window is far below reorder_limit";
        }
    }
}

TEST(PeerStream, LossyChannelWithASmallReorderBufferStillDeliversEverything) {
    // The window exceeds what the receiver buffers beyond a gap: frames past it are dropped
    // (not selectively acknowledged) and must come again on timeout.
    SimConfig cfg;
    cfg.stream.window = 64;
    cfg.stream.reorder_limit = 8;
    cfg.frames = 1500;
    for (std::uint64_t seed : kSeeds) {
        SCOPED_TRACE(seed);
        const SimResult r = run_sim(cfg, seed);
        if (::testing::Test::HasFailure()) return;
        for (const ckpt::shm::PeerStats& c : r.counters) EXPECT_GT(c.beyond_window, 0u);
    }
}

TEST(PeerStream, HeavyLossAndWindowOfOneStillDeliverEverything) {
    SimConfig cfg;
    cfg.stream.window = 1;
    cfg.frames = 300;
    cfg.data_loss = 0.5;
    cfg.ctl_loss = 0.3;
    for (std::uint64_t seed : kSeeds) {
        SCOPED_TRACE(seed);
        run_sim(cfg, seed);
        if (::testing::Test::HasFailure()) return;
    }
}

TEST(PeerStream, LossyChannelAcrossGenerationsNeverDeliversAStaleFrame) {
    // Both senders give up twice while frames, ACKs and NACKs of the abandoned generation are
    // still on the way; each completion still fires exactly once (from on_ack or reset_tx), and
    // the receivers take each new generation from n = 1 and never go back.
    SimConfig cfg;
    cfg.stream.window = 64;
    cfg.resets_ns = {100 * kMs, 103 * kMs, 250 * kMs};
    for (std::uint64_t seed : kSeeds) {
        SCOPED_TRACE(seed);
        const SimResult r = run_sim(cfg, seed);
        if (::testing::Test::HasFailure()) return;
        for (const ckpt::shm::PeerStats& c : r.counters) EXPECT_GT(c.stale, 0u);
    }
}

// ---- 3. NACK ----

TEST(PeerStream, ANackedFrameGoesAgainBeforeTheRto) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    PeerStream tx(cfg), rx(cfg);
    for (std::uint64_t i = 0; i < 5; ++i) enqueue_indexed(tx, i);
    const std::vector<Frame> wire = transmit_all(tx, 0);
    ASSERT_EQ(wire.size(), 5u);
    std::vector<std::uint64_t> delivered;
    for (std::size_t i : {0, 2, 3, 4}) receive_into(rx, wire[i], delivered); // frame n = 2 lost
    EXPECT_EQ(delivered, iota(0, 1));

    std::uint64_t first = 0, last = 0;
    ASSERT_TRUE(rx.nack_due(100 * kUs, kMs, first, last));
    EXPECT_EQ(first, seq(1, 2));
    EXPECT_EQ(last, seq(1, 2));
    EXPECT_EQ(rx.counters().nacks_sent, 1u);
    EXPECT_FALSE(rx.nack_due(600 * kUs, kMs, first, last)) << "asked again within the interval";

    // Without the NACK nothing would go before the RTO.
    EXPECT_TRUE(transmit_all(tx, 200 * kUs).empty());
    tx.on_nack(first, last);
    EXPECT_EQ(tx.counters().nacks_received, 1u);
    EXPECT_EQ(tx.next_deadline(), 0) << "a NACKed frame is due at once";
    const std::int64_t t = 300 * kUs; // far below rto_ns
    ASSERT_LT(t, cfg.rto_ns);
    const std::vector<Frame> again = transmit_all(tx, t);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(seqs_of(again), std::vector<std::uint64_t>{seq(1, 2)}) << "only the missing frame goes again";
    EXPECT_EQ(tx.counters().retransmits, 1u);
    EXPECT_TRUE(transmit_all(tx, t + 100 * kUs).empty()) << "a NACK resends once";

    receive_into(rx, again[0], delivered);
    EXPECT_EQ(delivered, iota(0, 5));
    EXPECT_FALSE(rx.nack_due(2 * kMs, kMs, first, last)) << "no gap left";
    EXPECT_EQ(ack(rx, tx), iota(0, 5));
    EXPECT_TRUE(tx.idle());
}

TEST(PeerStream, ANackIsRepeatedAfterTheIntervalWhileTheGapStays) {
    PeerStream rx;
    std::vector<std::uint64_t> delivered;
    receive_into(rx, make_frame(0, seq(1, 1)), delivered);
    receive_into(rx, make_frame(3, seq(1, 4)), delivered);
    std::uint64_t first = 0, last = 0;
    ASSERT_TRUE(rx.nack_due(10 * kMs, kMs, first, last));
    EXPECT_EQ(first, seq(1, 2));
    EXPECT_EQ(last, seq(1, 3));
    EXPECT_FALSE(rx.nack_due(10 * kMs + kMs - 1, kMs, first, last));
    EXPECT_TRUE(rx.nack_due(11 * kMs, kMs, first, last));
    // Part of the gap filled: the new gap is NACKed at once.
    receive_into(rx, make_frame(1, seq(1, 2)), delivered);
    ASSERT_TRUE(rx.nack_due(11 * kMs + 1, kMs, first, last));
    EXPECT_EQ(first, seq(1, 3));
    EXPECT_EQ(last, seq(1, 3));
    EXPECT_EQ(rx.counters().nacks_sent, 3u);
}

TEST(PeerStream, ANackDoesNotResendFramesOutsideItsRangeOrSelectivelyAcked) {
    PeerStream tx;
    for (std::uint64_t i = 0; i < 6; ++i) enqueue_indexed(tx, i);
    ASSERT_EQ(transmit_all(tx, 0).size(), 6u);
    tx.on_ack(seq(1, 1), 0b1000, [](Completion) {}); // 1 cumulative, 5 selectively
    tx.on_nack(seq(1, 2), seq(1, 5));
    EXPECT_EQ(seqs_of(transmit_all(tx, kUs)), (std::vector<std::uint64_t>{seq(1, 2), seq(1, 3), seq(1, 4)}));
    EXPECT_TRUE(transmit_all(tx, 2 * kUs).empty());
}

// ---- 4. selective ACK ----

TEST(PeerStream, SelectivelyAckedFramesAreNotRetransmittedOnTimeout) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    PeerStream tx(cfg), rx(cfg);
    for (std::uint64_t i = 0; i < 8; ++i) enqueue_indexed(tx, i);
    const std::vector<Frame> wire = transmit_all(tx, 0);
    ASSERT_EQ(wire.size(), 8u);
    std::vector<std::uint64_t> delivered;
    for (std::size_t i : {1, 2, 4, 5, 7}) EXPECT_EQ(receive_into(rx, wire[i], delivered), Rx::kBuffered);
    EXPECT_TRUE(delivered.empty()); // n = 1 lost: nothing can be delivered
    const auto [cum, sel] = rx.ack_fields();
    EXPECT_EQ(cum, seq(1, 0));
    EXPECT_EQ(sel, 0b10110110u); // bit i: cumulative + 1 + i, so n = 2, 3, 5, 6, 8
    EXPECT_TRUE(ack(rx, tx).empty());
    EXPECT_EQ(tx.in_flight(), 8u) << "selectively acknowledged frames stay until cumulatively acknowledged";

    EXPECT_TRUE(transmit_all(tx, cfg.rto_ns - 1).empty());
    EXPECT_EQ(seqs_of(transmit_all(tx, cfg.rto_ns)), (std::vector<std::uint64_t>{seq(1, 1), seq(1, 4), seq(1, 7)}));
    EXPECT_EQ(tx.counters().retransmits, 3u);
    // Still no ACK: the next timeout (backed off) again sends only the three.
    EXPECT_TRUE(transmit_all(tx, 3 * cfg.rto_ns - 1).empty());
    EXPECT_EQ(transmit_all(tx, 3 * cfg.rto_ns).size(), 3u);
    EXPECT_EQ(tx.counters().retransmits, 6u);

    for (std::size_t i : {0, 3}) receive_into(rx, wire[i], delivered);
    EXPECT_EQ(delivered, iota(0, 6));
    EXPECT_EQ(ack(rx, tx), iota(0, 6));
    EXPECT_EQ(seqs_of(transmit_all(tx, 10 * cfg.rto_ns)), std::vector<std::uint64_t>{seq(1, 7)});
    receive_into(rx, wire[6], delivered);
    EXPECT_EQ(delivered, iota(0, 8));
    EXPECT_EQ(ack(rx, tx), iota(6, 2));
    EXPECT_TRUE(tx.idle());
    EXPECT_EQ(tx.counters().retransmits, 7u);
}

// ---- 5. reset_tx: a new generation ----

TEST(PeerStream, ResetTxGivesUpEverythingAndStartsANewGeneration) {
    StreamConfig cfg;
    cfg.window = 3;
    PeerStream tx(cfg), rx(cfg);
    for (std::uint64_t i = 0; i < 6; ++i) enqueue_indexed(tx, i);
    const std::vector<Frame> wire1 = transmit_all(tx, 0);
    ASSERT_EQ(seqs_of(wire1), (std::vector<std::uint64_t>{seq(1, 1), seq(1, 2), seq(1, 3)}));
    std::vector<std::uint64_t> delivered;
    EXPECT_EQ(receive_into(rx, wire1[0], delivered), Rx::kDeliver);
    EXPECT_EQ(receive_into(rx, wire1[2], delivered), Rx::kBuffered); // n = 2 lost
    const auto old_ack = rx.ack_fields();
    EXPECT_EQ(ack(rx, tx), iota(0, 1));

    const std::vector<Completion> given_up = tx.reset_tx();
    std::vector<std::uint64_t> ids;
    for (const Completion& c : given_up) {
        EXPECT_EQ(c.kind, 1);
        ids.push_back(c.id);
    }
    EXPECT_EQ(ids, iota(1, 5)) << "in flight (selectively acknowledged or not) and backlog, in order";
    EXPECT_TRUE(tx.idle());
    EXPECT_EQ(tx.next_deadline(), INT64_MAX);
    EXPECT_EQ(tx.next_link_seq(), seq(2, 1));
    EXPECT_TRUE(tx.reset_tx().empty());
    EXPECT_EQ(tx.next_link_seq(), seq(3, 1)) << "each reset is a new generation";

    PeerStream tx2(cfg); // redo with one reset, to check generation 2 end to end
    for (std::uint64_t i = 0; i < 3; ++i) enqueue_indexed(tx2, i);
    ASSERT_EQ(transmit_all(tx2, 0).size(), 3u);
    EXPECT_EQ(tx2.reset_tx().size(), 3u);
    ASSERT_EQ(tx2.next_link_seq(), seq(2, 1));
    for (std::uint64_t i = 10; i < 13; ++i) enqueue_indexed(tx2, i);
    const std::vector<Frame> wire2 = transmit_all(tx2, 0);
    ASSERT_EQ(seqs_of(wire2), (std::vector<std::uint64_t>{seq(2, 1), seq(2, 2), seq(2, 3)}));

    // ACKs of another generation are ignored: the old one's, and one from a generation ahead (a
    // receiver that still talks about a previous incarnation of this sender).
    bool completed = false;
    EXPECT_EQ(tx2.on_ack(old_ack.first, ~std::uint64_t{0}, [&](Completion) { completed = true; }), 0u);
    EXPECT_EQ(tx2.on_ack(seq(1, kLinkSeqMask), ~std::uint64_t{0}, [&](Completion) { completed = true; }), 0u);
    EXPECT_EQ(tx2.on_ack(seq(3, 100), ~std::uint64_t{0}, [&](Completion) { completed = true; }), 0u);
    EXPECT_FALSE(completed);
    EXPECT_EQ(tx2.in_flight(), 3u);
    tx2.on_nack(seq(2, 1), seq(2, 3));
    EXPECT_EQ(transmit_all(tx2, 0).size(), 3u) << "old selective bits marked nothing";

    // The receiver that saw generation 1 takes generation 2 from n = 1; what it buffered of
    // generation 1 is dropped, and late generation-1 frames are stale.
    EXPECT_EQ(receive_into(rx, wire2[1], delivered), Rx::kBuffered);
    EXPECT_EQ(rx.ack_fields(), std::make_pair(seq(2, 0), std::uint64_t{0b10})); // bit 1: n = 2
    EXPECT_EQ(receive_into(rx, wire1[1], delivered), Rx::kStale);
    EXPECT_EQ(receive_into(rx, wire1[2], delivered), Rx::kStale);
    EXPECT_EQ(receive_into(rx, wire2[0], delivered), Rx::kDeliver);
    EXPECT_EQ(receive_into(rx, wire2[2], delivered), Rx::kDeliver);
    EXPECT_EQ(delivered, (std::vector<std::uint64_t>{0, 10, 11, 12})) << "generation 1's buffered frame is gone";
    EXPECT_EQ(rx.counters().stale, 2u);
    EXPECT_EQ(receive_into(rx, wire2[0], delivered), Rx::kDuplicate);
    EXPECT_EQ(ack(rx, tx2), iota(10, 3));
    EXPECT_TRUE(tx2.idle());
}

// ---- 6. reset_rx: the peer restarted ----

TEST(PeerStream, ResetRxAcceptsGenerationOneAgain) {
    PeerStream rx;
    std::vector<std::uint64_t> delivered;
    for (std::uint64_t n = 1; n <= 3; ++n)
        EXPECT_EQ(receive_into(rx, make_frame(n - 1, seq(1, n)), delivered), Rx::kDeliver);
    EXPECT_EQ(receive_into(rx, make_frame(4, seq(1, 5)), delivered), Rx::kBuffered);
    // The peer restarted and numbers from generation 1, n = 1 again: without reset_rx that is a
    // duplicate.
    EXPECT_EQ(receive_into(rx, make_frame(100, seq(1, 1)), delivered), Rx::kDuplicate);

    rx.reset_rx();
    EXPECT_FALSE(rx.ack_pending);
    EXPECT_EQ(rx.ack_fields(), std::make_pair(std::uint64_t{0}, std::uint64_t{0}));
    std::uint64_t first = 0, last = 0;
    EXPECT_FALSE(rx.nack_due(0, kMs, first, last)) << "nothing buffered any more";
    EXPECT_EQ(receive_into(rx, make_frame(100, seq(1, 1)), delivered), Rx::kDeliver);
    EXPECT_TRUE(rx.ack_pending);
    for (std::uint64_t n = 2; n <= 5; ++n)
        EXPECT_EQ(receive_into(rx, make_frame(99 + n, seq(1, n)), delivered), Rx::kDeliver)
            << "the old incarnation's buffered n = 5 must not count as received";
    EXPECT_EQ(delivered, (std::vector<std::uint64_t>{0, 1, 2, 100, 101, 102, 103, 104}));
    EXPECT_EQ(rx.ack_fields(), std::make_pair(seq(1, 5), std::uint64_t{0}));
}

TEST(PeerStream, ResetRxForgetsWhatWasNacked) {
    // The new incarnation's gap is at the same link_seq as one NACKed just before the restart:
    // the NACK must not be held back as if it had been asked already.
    PeerStream rx;
    std::vector<std::uint64_t> delivered;
    receive_into(rx, make_frame(0, seq(1, 1)), delivered);
    receive_into(rx, make_frame(2, seq(1, 3)), delivered);
    std::uint64_t first = 0, last = 0;
    ASSERT_TRUE(rx.nack_due(50 * kMs, 10 * kMs, first, last));
    EXPECT_EQ(first, seq(1, 2));

    rx.reset_rx();
    receive_into(rx, make_frame(100, seq(1, 1)), delivered);
    receive_into(rx, make_frame(102, seq(1, 3)), delivered);
    first = last = 0;
    EXPECT_TRUE(rx.nack_due(51 * kMs, 10 * kMs, first, last));
    EXPECT_EQ(first, seq(1, 2));
    EXPECT_EQ(last, seq(1, 2));
}

// ---- 7. counters: duplicates, reordering, beyond the reorder buffer, stale ----

TEST(PeerStream, DuplicatesAndFramesBeyondTheReorderLimitAreCounted) {
    StreamConfig cfg;
    cfg.reorder_limit = 4;
    PeerStream rx(cfg);
    std::vector<std::uint64_t> delivered;
    const auto rcv = [&](std::uint64_t n) { return receive_into(rx, make_frame(n, seq(1, n)), delivered); };
    EXPECT_EQ(rcv(1), Rx::kDeliver);
    EXPECT_EQ(rcv(1), Rx::kDuplicate);    // already delivered
    EXPECT_EQ(rcv(3), Rx::kBuffered);     // 2 missing
    EXPECT_EQ(rcv(3), Rx::kDuplicate);    // already buffered
    EXPECT_EQ(rcv(6), Rx::kBuffered);     // 4 past the next expected (2): the limit
    EXPECT_EQ(rcv(7), Rx::kBeyondWindow); // 5 past it: dropped
    EXPECT_EQ(rcv(0), Rx::kStale);        // n = 0 is never valid
    EXPECT_EQ(delivered, iota(1, 1));
    EXPECT_EQ(rx.ack_fields(), std::make_pair(seq(1, 1), std::uint64_t{0b10010})) << "7 was not kept";
    auto c = rx.counters();
    EXPECT_EQ(c.delivered, 1u);
    EXPECT_EQ(c.duplicates, 2u);
    EXPECT_EQ(c.reordered, 2u);
    EXPECT_EQ(c.beyond_window, 1u);
    EXPECT_EQ(c.stale, 1u);

    EXPECT_EQ(rcv(2), Rx::kDeliver); // delivers 2, 3
    EXPECT_EQ(rcv(7), Rx::kBuffered);
    EXPECT_EQ(rcv(5), Rx::kBuffered);
    EXPECT_EQ(rcv(4), Rx::kDeliver); // delivers 4, 5, 6, 7
    EXPECT_EQ(rcv(6), Rx::kDuplicate);
    EXPECT_EQ(delivered, iota(1, 7));
    c = rx.counters();
    EXPECT_EQ(c.delivered, 7u);
    EXPECT_EQ(c.duplicates, 3u);
    EXPECT_EQ(c.reordered, 4u);
    EXPECT_EQ(c.beyond_window, 1u);

    EXPECT_EQ(receive_into(rx, make_frame(0, seq(2, 1)), delivered), Rx::kDeliver);
    EXPECT_EQ(rcv(8), Rx::kStale) << "generation 1 is over";
    EXPECT_EQ(rx.counters().stale, 2u);
}

// ---- 8. exponential back-off ----

TEST(PeerStream, WithoutAcksRetransmissionIntervalsDoubleUpToTheCap) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    cfg.max_rto_ns = 200 * kMs;
    PeerStream tx(cfg);
    enqueue_indexed(tx, 0);
    std::vector<std::int64_t> sends;
    constexpr std::int64_t kSpan = 2000 * kMs;
    for (std::int64_t now = 0; now <= kSpan; now += 100 * kUs)
        tx.transmit(now, [&](std::span<const std::byte>) {
            sends.push_back(now);
            return true;
        });
    // Sent at 0, then after 4, 8, 16, 32, 64, 128 ms and from then on every 200 ms (the cap):
    // at 4, 12, 28, 60, 124, 252, 452, 652, ..., 1852 ms.
    std::vector<std::int64_t> expected{0};
    for (std::int64_t interval = cfg.rto_ns; expected.back() + interval <= kSpan;
         interval = std::min(2 * interval, cfg.max_rto_ns))
        expected.push_back(expected.back() + interval);
    EXPECT_EQ(sends, expected);
    EXPECT_EQ(tx.counters().sent, 1u);
    EXPECT_EQ(tx.counters().retransmits, 14u) << "500 without back-off";
}

TEST(PeerStream, NextDeadlineIsWhenTheNextRetransmissionGoes) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    cfg.max_rto_ns = 20 * kMs;
    PeerStream tx(cfg);
    EXPECT_EQ(tx.next_deadline(), INT64_MAX);
    enqueue_indexed(tx, 0);
    EXPECT_EQ(tx.next_deadline(), INT64_MAX) << "nothing in flight yet";
    ASSERT_EQ(transmit_all(tx, 1000).size(), 1u);
    std::int64_t last = 1000;
    const std::int64_t intervals[] = {4 * kMs, 8 * kMs, 16 * kMs, 20 * kMs, 20 * kMs};
    for (std::int64_t interval : intervals) {
        ASSERT_EQ(tx.next_deadline(), last + interval);
        EXPECT_TRUE(transmit_all(tx, last + interval - 1).empty());
        EXPECT_EQ(transmit_all(tx, last + interval).size(), 1u);
        last += interval;
    }
    // Only the oldest frame is timed: a newer one waits behind it (it may only be late).
    enqueue_indexed(tx, 1);
    ASSERT_EQ(transmit_all(tx, last + 1).size(), 1u);
    EXPECT_EQ(tx.next_deadline(), last + cfg.max_rto_ns);
    // A NACK makes it due at once.
    tx.on_nack(tx.next_link_seq() - 1, tx.next_link_seq() - 1);
    EXPECT_EQ(tx.next_deadline(), 0);
}

// A standby that was only descheduled for a while: no ACK for a whole window. Each timeout
// probes with the oldest frame alone (not the window, which only duplicated what was late); the
// ACK it draws lets the next-oldest go, and holes that selective ACKs revealed go at once.
TEST(PeerStream, ATimeoutResendsTheOldestFrameAndTheRevealedHolesNotTheWindow) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    PeerStream tx(cfg), rx(cfg);
    for (std::uint64_t i = 0; i < 100; ++i) enqueue_indexed(tx, i);
    const std::vector<Frame> wire = transmit_all(tx, 0);
    ASSERT_EQ(wire.size(), 100u);
    EXPECT_EQ(seqs_of(transmit_all(tx, cfg.rto_ns)), std::vector<std::uint64_t>{seq(1, 1)});
    EXPECT_EQ(tx.counters().timeouts, 1u);
    EXPECT_TRUE(transmit_all(tx, cfg.rto_ns + 1).empty()) << "the rest is not resent on the same timeout";
    // The receiver got frames 1..10 and 20 (the rest were late or lost).
    std::vector<std::uint64_t> delivered;
    for (std::size_t i = 0; i < 10; ++i) receive_into(rx, wire[i], delivered);
    receive_into(rx, wire[19], delivered);
    EXPECT_EQ(ack(rx, tx), iota(0, 10));
    // Now 11..19 are holes below a frame that arrived: they go on the next timeout, 21.. do not.
    const auto again = seqs_of(transmit_all(tx, 2 * cfg.rto_ns));
    std::vector<std::uint64_t> holes;
    for (std::uint64_t n = 11; n <= 19; ++n) holes.push_back(seq(1, n));
    EXPECT_EQ(again, holes);
}

} // namespace

namespace {

// ---- RTO from measured round trips (RFC 6298; issue 14) ----

/// Sends frame `i` at `sent` and acknowledges it at `acked` (one transmission: a sample).
void round_trip(PeerStream& tx, std::uint64_t i, std::int64_t sent, std::int64_t acked) {
    enqueue_indexed(tx, i);
    ASSERT_EQ(transmit_all(tx, sent).size(), 1u);
    tx.on_ack(
        seq(1, i + 1), 0, [](Completion) {}, acked);
}

TEST(PeerStream, TheRtoFollowsMeasuredRoundTripsWithinTheFloorAndTheCap) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    cfg.min_rto_ns = 1 * kMs;
    cfg.max_rto_ns = 200 * kMs;
    PeerStream tx(cfg);
    EXPECT_EQ(tx.rto(), 4 * kMs) << "retransmit_ms until the first sample";
    // Round trips of 20 ms (a full window draining): the RTO grows past them, so a frame at the
    // back of such a window is not sent again while it is still on its way.
    std::int64_t t = 0;
    for (std::uint64_t i = 0; i < 16; ++i, t += 30 * kMs) round_trip(tx, i, t, t + 20 * kMs);
    EXPECT_EQ(tx.counters().rtt_samples, 16u);
    EXPECT_GT(tx.rto(), 20 * kMs);
    EXPECT_LE(tx.rto(), 200 * kMs);
    EXPECT_GE(tx.srtt(), 19 * kMs);
    enqueue_indexed(tx, 16);
    ASSERT_EQ(transmit_all(tx, t).size(), 1u);
    EXPECT_TRUE(transmit_all(tx, t + 20 * kMs).empty()) << "not due at the measured round trip";
    tx.on_ack(
        seq(1, 17), 0, [](Completion) {}, t + 21 * kMs);
    t += 30 * kMs;
    // Fast round trips (50 us): the RTO comes down to the floor, never below.
    for (std::uint64_t i = 17; i < 80; ++i, t += kMs) round_trip(tx, i, t, t + 50 * kUs);
    EXPECT_GE(tx.rto(), 1 * kMs) << "retransmit_min_ms is the floor";
    EXPECT_LE(tx.rto(), 1 * kMs + 200 * kUs) << "SRTT + the floor (RFC 6298's G)";
    // Huge round trips: capped.
    for (std::uint64_t i = 80; i < 100; ++i, t += 2000 * kMs) round_trip(tx, i, t, t + 1000 * kMs);
    EXPECT_EQ(tx.rto(), 200 * kMs);
    EXPECT_EQ(tx.counters().timeouts, 0u);
}

TEST(PeerStream, ARetransmittedFrameIsNoRoundTripSample) {
    StreamConfig cfg;
    cfg.rto_ns = 4 * kMs;
    PeerStream tx(cfg);
    enqueue_indexed(tx, 0);
    ASSERT_EQ(transmit_all(tx, 0).size(), 1u);
    ASSERT_EQ(transmit_all(tx, 5 * kMs).size(), 1u) << "timed out: sent again";
    // Its ACK may answer either transmission (Karn): no sample, the RTO stays.
    tx.on_ack(
        seq(1, 1), 0, [](Completion) {}, 5 * kMs + 100 * kUs);
    EXPECT_EQ(tx.counters().rtt_samples, 0u);
    EXPECT_EQ(tx.rto(), 4 * kMs);
    // And an ACK without a time (one held back behind a refusal) is no sample either.
    enqueue_indexed(tx, 1);
    ASSERT_EQ(transmit_all(tx, 10 * kMs).size(), 1u);
    tx.on_ack(seq(1, 2), 0, [](Completion) {});
    EXPECT_EQ(tx.counters().rtt_samples, 0u);
}

} // namespace
