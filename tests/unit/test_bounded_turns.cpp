// Issue 14's bounded loop turns and issue 13's bounded memory, on two replicators in one process
// (tests/testing/in_process_node, memory_carrier):
//  - a long asynchronous fill over a link whose every frame costs time (the test's clock advances
//    inside the carrier as bytes are sent, so a turn that sends a lot is a long turn) with a short
//    peer timeout never marks a peer down and never resyncs: capture, sending and resync proceed
//    by budgets per turn, and silence is judged only after RX was drained;
//  - a peer that sends HASHES over and over (each one restarts the resync) cannot make the active
//    queue more than about a window of frames for it;
//  - an ANNOUNCE of a replica over this node's replica_max_bytes / replica_max_sections (1 TiB,
//    2^24 sections, or just over a configured bound) is refused with REFUSED reason 6, counted,
//    logged, and nothing is created.
// Behaviour only: counts, states and bounds, never a time.
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::net;
using namespace ckpt::testing;

namespace {

/// A carrier whose sends cost time on the shared clock (`ps_per_byte` picoseconds per byte, the
/// link's serialisation) and whose TX ring holds `ring` frames not yet taken by the other end.
class CostlyCarrier final : public Transport {
public:
    CostlyCarrier(std::unique_ptr<MemoryCarrier> inner, std::int64_t& now, std::int64_t ps_per_byte, std::size_t ring)
        : inner_(std::move(inner)), now_(now), ps_per_byte_(ps_per_byte), ring_(ring) {}
    bool send(std::span<const std::byte> frame) override {
        if (inner_->queued_at_peer() >= ring_) {
            ++refused;
            return false;
        }
        now_ += static_cast<std::int64_t>(frame.size()) * ps_per_byte_ / 1000;
        return inner_->send(frame);
    }
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override { return inner_->receive(max, cb, ctx); }
    using Transport::receive;
    std::array<std::uint8_t, 6> mac() const override { return inner_->mac(); }
    std::string describe() const override { return "costly memory"; }
    TransportStats stats() const override { return inner_->stats(); }
    std::uint64_t refused = 0; ///< sends the full ring refused

private:
    std::unique_ptr<MemoryCarrier> inner_;
    std::int64_t& now_;
    std::int64_t ps_per_byte_;
    std::size_t ring_;
};

class BoundedTurns : public ::testing::Test, protected InProcessPair {
protected:
    void start(LinkConfig base_a = {}, LinkConfig base_b = {}, std::int64_t ps_per_byte = 0,
               std::size_t ring = ~std::size_t{0}) {
        Options o;
        o.link_a = base_a;
        o.link_b = base_b;
        o.record_b = true; // what node 1 sends node 2 (the ANNOUNCE's wire id)
        if (ps_per_byte > 0)
            o.wrap = [&](std::unique_ptr<MemoryCarrier> c, std::uint16_t node) -> std::unique_ptr<Transport> {
                auto x = std::make_unique<CostlyCarrier>(std::move(c), now_, ps_per_byte, ring);
                if (node == 1) costly_a_ = x.get();
                return x;
            };
        ASSERT_TRUE(start_pair(std::move(o))) << failure_;
    }
    /// Steps both nodes (100 us of the clock a turn, plus what the carriers charge) until `done`.
    bool run_until(const std::function<bool()>& done, long limit_turns = 50'000) {
        return run_turns(done, limit_turns);
    }
    static bool went_down(const InProcessNode& n) {
        for (const auto& e : n.events())
            if (e.find("is down") != std::string::npos) return true;
        return false;
    }
    std::uint32_t wire_id_of(const std::string& name) const {
        FrameAuth genuine;
        EXPECT_EQ(genuine.add_key(in_process_key()), "");
        std::uint32_t id = 0;
        for (const auto& rec : wire_b_->recorded()) {
            DecodedFrame g;
            AnnounceBody a;
            if (decode_frame(rec, kDefaultUdpPort, g, &genuine) == Reject::kNone &&
                g.header.type == FrameType::kAnnounce && decode_announce_body(g.body, a) == Reject::kNone &&
                a.name == name)
                id = a.checkpoint_id;
        }
        return id;
    }
    /// A checkpoint active on node 1 with `sections` sections of `section_size` bytes, each filled
    /// with non-zero bytes and committed, mirrored on node 2.
    void create_filled(const std::string& name, std::uint32_t sections, std::uint64_t section_size,
                       std::uint32_t block_size, UpdateMode mode) {
        CheckpointAttributes attrs;
        attrs.creation_flags = static_cast<std::uint32_t>(mode);
        attrs.checkpoint_size = sections * section_size;
        attrs.max_sections = sections;
        attrs.max_section_size = section_size;
        attrs.block_size = block_size;
        active_ = a_->create(name, attrs);
        ASSERT_TRUE(active_);
        auto w = active_->attach_writer(::getpid(), process_start_time(::getpid()));
        ASSERT_TRUE(w.ok());
        writer_ = *w;
        slots_.clear();
        for (std::uint32_t i = 0; i < sections; ++i) {
            auto created =
                active_->create_section(bytes_of("s" + std::to_string(i)), false, kTimeEnd, section_size, {});
            ASSERT_TRUE(created.ok()) << created.message();
            slots_.push_back(created->slot);
        }
        ASSERT_TRUE(run_until([&] {
            standby_ = b_->find(name);
            return standby_ && standby_->section_state(slots_.back()).has_value();
        }));
        fill_all(1);
    }
    /// Writes every section whole with bytes derived from `round`, committed (async or sync).
    void fill_all(std::uint32_t round) {
        std::vector<std::byte> buf(active_->attributes().max_section_size);
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            for (std::size_t k = 0; k < buf.size(); ++k)
                buf[k] = static_cast<std::byte>(1 + ((k * 31 + i * 7 + round * 13) % 251));
            write_section(*active_, writer_, slots_[i], 0, buf);
        }
    }
    /// Every section is whole (written in full) on both nodes, with the same bytes and sequence.
    bool standby_holds_everything() {
        const std::size_t whole = active_->attributes().max_section_size;
        for (std::uint32_t s : slots_) {
            const auto mine = section_bytes(*active_, s), theirs = section_bytes(*standby_, s);
            if (mine.size() != whole || seq_of(*standby_, s) < seq_of(*active_, s) || theirs != mine) return false;
        }
        return true;
    }

    CostlyCarrier* costly_a_ = nullptr;
    std::vector<std::uint32_t> slots_;
};

// 256 MiB of asynchronous 1 MiB commits, 16 in flight, over a link where a full window of jumbo
// frames takes longer to send than the peer timeout (1024 frames of 9042 bytes at 2.5 ns a byte:
// 23 ms against 20 ms). Before the turn budgets, a turn that sent a window judged the peer silent
// right after (its frames read at the start of the turn) and both sides resynced the whole
// checkpoint.
TEST_F(BoundedTurns, ALongAsyncFillWithAShortPeerTimeoutNeverMarksAPeerDown) {
    LinkConfig cfg;
    cfg.mtu = 9000;
    cfg.heartbeat_ms = 5;
    cfg.peer_timeout_ms = 20;
    start(cfg, cfg, 2500, 128);
    constexpr std::uint32_t kSections = 16;
    constexpr std::uint64_t kSection = 1 << 20;
    create_filled("fill", kSections, kSection, 4096, UpdateMode::kAsync);
    ASSERT_TRUE(run_until([&] { return standby_holds_everything(); }));
    const auto resyncs0 = a_->replicator().counters().resyncs_started;
    const auto b_resyncs0 = b_->replicator().counters().resyncs_started;
    // 16 rounds of 16 MiB, each round committed while the previous one is still on the wire.
    for (std::uint32_t round = 2; round < 18; ++round) {
        fill_all(round);
        run_until([] { return false; }, 20); // a few turns, then the next round
    }
    ASSERT_TRUE(run_until([&] { return standby_holds_everything(); }, 500'000));
    EXPECT_FALSE(went_down(*a_)) << "node 1 declared node 2 down during the fill";
    EXPECT_FALSE(went_down(*b_)) << "node 2 declared node 1 down during the fill";
    EXPECT_EQ(a_->replicator().counters().resyncs_started, resyncs0) << "a resync means the link flapped";
    EXPECT_EQ(b_->replicator().counters().resyncs_started, b_resyncs0);
    EXPECT_TRUE(a_->link().is_up(2));
    EXPECT_TRUE(b_->link().is_up(1));
    // The fill did stress the link: the ring was full at times, and the RTO was measured.
    EXPECT_GT(costly_a_->refused, 0u) << "the TX ring never filled: the test no longer tests a full ring";
    EXPECT_GT(a_->link().peers()[0].stream.counters().rtt_samples, 0u);
}

// A peer that reports its hashes again and again (every HASHES with the last-fragment flag makes
// the active start a resync from scratch) cannot multiply what the active queues for it: the
// resync is paced by the peer's queue, so it never holds much more than a window of frames.
TEST_F(BoundedTurns, RepeatedHashesDoNotMultiplyTheResyncBacklog) {
    LinkConfig cfg;
    cfg.stream.window = 256;
    start(cfg, cfg);
    constexpr std::uint32_t kSections = 32;
    constexpr std::uint64_t kSection = 64 * 1024; // 2 MiB in all: ~1,550 DATA frames a full resync
    create_filled("hashes", kSections, kSection, 256, UpdateMode::kAsync);
    ASSERT_TRUE(run_until([&] { return standby_holds_everything(); }));
    const std::uint32_t wire_id = wire_id_of("hashes");
    ASSERT_NE(wire_id, 0u);
    // Frames of one section at most beyond the window: 64 KiB in 1376-byte DATA frames, plus its
    // SECTION, plus ANNOUNCE / RESYNC_DONE frames of restarted resyncs.
    const std::size_t bound = cfg.stream.window + kSection / 1376 + 1 + 16;
    std::size_t worst = 0;
    each_step_ = [&] { worst = std::max(worst, a_->link().backlog(2)); };
    const auto started0 = a_->replicator().counters().resyncs_started;
    HashesBody h;
    h.checkpoint_id = wire_id;
    h.slot = kNoSlot; // "nothing here": the resync sends everything
    std::vector<std::byte> body(kHashesBodyFixed);
    body.resize(encode_hashes_body(body, h, {}));
    for (int i = 0; i < 40; ++i) {
        // Node 2 (genuine key, its own stream) sends a whole report, again and again.
        ASSERT_TRUE(b_->link().send_sequenced(1, FrameType::kHashes, kFlagLastFragment, active_->epoch(), body));
        b_->link().flush(now_);
        run_until([] { return false; }, 2);
    }
    // A report that answers no ANNOUNCE of the current join (a stale one) starts nothing: each
    // restart used to announce again, whose report restarted the resync again, forever
    // (ReplicationPair.AJoinWhileTheStandbysReportIsInFlightEndsInSyncNotInAResyncLoop).
    EXPECT_EQ(a_->replicator().counters().resyncs_started, started0) << "a report nobody asked for restarted a resync";
    EXPECT_LE(worst, bound) << "the resync backlog grew with the repeated reports";
    // And it converges once the storm is over.
    ASSERT_TRUE(run_until([&] {
        const auto m = a_->replicator().members_of(*active_);
        return !m.empty() && std::string(m[0].state) == "in-sync" && standby_holds_everything();
    }));
    EXPECT_LE(worst, bound);
}

// Issue 14: resync frames carry runs of blocks (kFlagRuns). A standby partitioned away while 1% of
// a 16 MiB checkpoint's 256-byte blocks change, spread (one in 99), is resynced with at most 1.1x
// the changed bytes on the wire (every frame the active queued, headers included), where one frame
// per isolated block cost 1.54x. Jumbo frames (mtu 9000, as over memif): at 1500 the 138 bytes of
// headers per 1,376-byte frame alone are 1.10x.
TEST_F(BoundedTurns, AResyncOfScatteredBlocksCostsAtMostATenthMoreThanTheChangedBytes) {
    LinkConfig cfg;
    cfg.mtu = 9000;
    start(cfg, cfg);
    constexpr std::uint32_t kSections = 16;
    constexpr std::uint64_t kSection = 1 << 20;
    constexpr std::uint32_t kBlock = 256;
    create_filled("scattered", kSections, kSection, kBlock, UpdateMode::kAsync);
    ASSERT_TRUE(run_until([&] { return standby_holds_everything(); }));
    wire_a_->cut(true);
    ASSERT_TRUE(run_until([&] { return !a_->link().is_up(2) && !b_->link().is_up(1); }));
    std::uint64_t changed = 0;
    const std::uint64_t blocks_per_section = kSection / kBlock;
    for (std::uint32_t i = 0; i < kSections; ++i) {
        for (std::uint64_t b = i % 99; b < blocks_per_section; b += 99) {
            const std::vector<std::byte> x(8, static_cast<std::byte>(0xEE));
            write_section(*active_, writer_, slots_[i], b * kBlock + 17, x);
            a_->step(); // captured before the next write (as libckpt waits for it)
            ++changed;
        }
    }
    run_until([] { return false; }, 10); // captured while the standby is away
    const auto committed = active_->committed_bytes(slots_[0]);
    const auto held = section_bytes(*standby_, slots_[0]);
    ASSERT_GT(committed.size(), 17u);
    ASSERT_GT(held.size(), 17u) << "same object " << (b_->find("scattered") == standby_) << " state "
                                << standby_->section_state(slots_[0]).has_value() << " role " << int(standby_->role())
                                << " A size " << section_bytes(*active_, slots_[0]).size() << " B size "
                                << standby_->section_state(slots_[0])->size << " events "
                                << (b_->events().empty() ? "" : b_->events().back()) << " log "
                                << (b_->log().empty() ? "" : b_->log().back());
    ASSERT_EQ(committed[17], std::byte{0xEE}) << "captured into the committed copy";
    ASSERT_NE(held[17], std::byte{0xEE}) << "the standby is away";
    const auto before = a_->replicator().counters();
    const auto link_before = a_->link().counters();
    wire_a_->cut(false);
    ASSERT_TRUE(run_until([&] {
        const auto m = a_->replicator().members_of(*active_);
        return a_->link().counters().resyncs > link_before.resyncs && !m.empty() &&
               std::string(m[0].state) == "in-sync" && standby_holds_everything();
    })) << "resyncs "
        << a_->link().counters().resyncs << " (before " << link_before.resyncs << "), state "
        << (a_->replicator().members_of(*active_).empty() ? "none" : a_->replicator().members_of(*active_)[0].state)
        << ", up " << a_->link().is_up(2) << b_->link().is_up(1) << ", bad commits on 2 "
        << b_->link().counters().bad_commits << ", slot 0 seq " << seq_of(*active_, slots_[0]) << "/"
        << seq_of(*standby_, slots_[0]);
    const auto after = a_->replicator().counters();
    const auto link_after = a_->link().counters();
    const double changed_bytes = static_cast<double>(changed * kBlock);
    const double wire = static_cast<double>(after.wire_bytes - before.wire_bytes);
    EXPECT_EQ(link_after.resync_blocks - link_before.resync_blocks, changed) << "only the changed blocks are sent";
    std::printf("resync: %llu changed blocks, %.0f wire bytes / %.0f changed bytes = %.3f, %llu DATA frames\n",
                static_cast<unsigned long long>(changed), wire, changed_bytes, wire / changed_bytes,
                static_cast<unsigned long long>(after.data_frames - before.data_frames));
    EXPECT_LE(wire / changed_bytes, 1.10) << wire << " wire bytes for " << changed_bytes << " changed bytes";
    EXPECT_LT(after.data_frames - before.data_frames, changed / 10) << "blocks share frames";
}

// The standby's side of a resync is paced too: its HASHES report (8 bytes per block, 32 MiB for a
// GiB in 256-byte blocks) goes out section by section as its queue to the active drains, never
// all at once in one turn.
TEST_F(BoundedTurns, AStandbysHashReportIsPacedByItsQueue) {
    LinkConfig cfg;
    cfg.stream.window = 8;
    start(cfg, cfg);
    constexpr std::uint32_t kSections = 32;
    constexpr std::uint64_t kSection = 64 * 1024; // 256 hashes: 2 HASHES frames a section
    create_filled("report", kSections, kSection, 256, UpdateMode::kAsync);
    ASSERT_TRUE(run_until([&] { return standby_holds_everything(); }));
    wire_a_->cut(true);
    ASSERT_TRUE(run_until([&] { return !a_->link().is_up(2) && !b_->link().is_up(1); }));
    wire_a_->cut(false);
    std::size_t worst = 0;
    each_step_ = [&] { worst = std::max(worst, b_->link().backlog(1)); };
    const auto resyncs = a_->link().counters().resyncs;
    ASSERT_TRUE(run_until([&] {
        b_->step(); // (twice a turn for the standby: its report is what this test watches)
        worst = std::max(worst, b_->link().backlog(1));
        return a_->link().counters().resyncs > resyncs && standby_holds_everything();
    }));
    // A whole report is 64 frames; paced, at most a window plus one section's frames wait.
    EXPECT_LE(worst, cfg.stream.window + 2 + 2) << "the report was queued all at once";
    EXPECT_GT(worst, 0u);
}

// Bounded memory on the standby: an ANNOUNCE (genuine key: a compromised or broken peer) of a
// replica of 1 TiB, or of 2^24 sections, is refused with REFUSED reason 6 and nothing is created.
TEST_F(BoundedTurns, AnAnnounceOverTheLimitsIsRefusedWithReasonSix) {
    start();
    auto announce = [&](const std::string& name, std::uint64_t size, std::uint32_t sections) {
        AnnounceBody a;
        a.checkpoint_id = 77;
        a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
        a.checkpoint_size = size;
        a.max_section_size = size;
        a.max_sections = sections;
        a.max_section_id_size = 16;
        a.block_size = 4096;
        a.name = name;
        std::vector<std::byte> body(kMaxFrame);
        body.resize(encode_announce_body(body, a));
        ASSERT_TRUE(b_->link().send_sequenced(1, FrameType::kAnnounce, 0, 65538, body));
        b_->link().flush(now_);
    };
    const auto refused0 = b_->link().counters().refusals_received;
    announce("huge", std::uint64_t{1} << 40, 4);        // 1 TiB: valid attributes, over 64 GiB
    announce("many", std::uint64_t{1} << 30, 1u << 24); // 2^24 slots: valid, over 2^20
    run_until([] { return false; }, 50);
    EXPECT_EQ(a_->find("huge"), nullptr);
    EXPECT_EQ(a_->find("many"), nullptr);
    EXPECT_EQ(a_->replicator().counters().announces_over_limit, 2u);
    EXPECT_TRUE(a_->logged("over this node's limits"));
    EXPECT_EQ(b_->link().counters().refusals_received, refused0 + 2) << "each refusal is said to the sender";
    bool saw_reason6 = false;
    for (const auto& rec : wire_b_->recorded()) {
        FrameAuth genuine;
        ASSERT_EQ(genuine.add_key(in_process_key()), "");
        DecodedFrame g;
        RefusedBody r;
        if (decode_frame(rec, kDefaultUdpPort, g, &genuine) == Reject::kNone && g.header.type == FrameType::kRefused &&
            decode_refused_body(g.body, r) == Reject::kNone)
            saw_reason6 = saw_reason6 || r.reason == RefuseReason::kOverLimit;
    }
    EXPECT_TRUE(saw_reason6);
}

// The same bound, configured low, against a genuine active: node 2 refuses a 64 KiB checkpoint
// with replica_max_bytes = 32 KiB, and node 1 treats it as down for that checkpoint (sync
// commits fail naming it) instead of waiting for hashes that never come.
TEST_F(BoundedTurns, AConfiguredReplicaBoundRefusesAGenuineAnnounceAndTheActiveSaysWhy) {
    LinkConfig small;
    small.replica_max_bytes = 32 * 1024;
    start({}, small);
    active_ = a_->create("bounded", pair_attrs());
    ASSERT_TRUE(active_);
    ASSERT_TRUE(run_until([&] { return a_->logged("replica over this node's limits"); }));
    EXPECT_EQ(b_->find("bounded"), nullptr);
    EXPECT_EQ(b_->replicator().counters().announces_over_limit, 1u);
    EXPECT_TRUE(b_->logged("replica_max_bytes = 32768"));
    const auto m = a_->replicator().members_of(*active_);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_STREQ(m[0].state, "down");
}

} // namespace
