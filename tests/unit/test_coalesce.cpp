// Issue 14, "small commits to the same peer coalesce into one frame where the ack mode allows"
// (docs/PROTOCOL.md, "Batches"; docs/ARCHITECTURE.md §10.4): the one-frame commits captured for
// one standby in one engine turn leave in one DATA frame (kFlagBatch) as far as the mtu allows;
// the standby applies every one of them exactly once and whole; a lone commit is never held back
// for company; a batch frame lost, duplicated or overtaken on the wire still delivers each of its
// commits exactly once, and the acknowledgement of each sync commit comes only once the standby
// applied it. Two engines' cores in process (InProcessPair), the frames on the wire decoded.
#include "allocation_counter.hpp"
#include "ckpt/net/frame_auth.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <new>
#include <random>
#include <string>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

std::uint32_t get32(const std::byte* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}
std::uint16_t get16(const std::byte* p) {
    return static_cast<std::uint16_t>(std::uint32_t(p[0]) << 8 | std::uint32_t(p[1]));
}

/// True for a DATA frame of several coalesced commits (kFlagBatch), read from its header.
bool is_batch_frame(std::span<const std::byte> f) {
    if (f.size() < net::kFrameBodyOffset) return false;
    const std::byte* h = f.data() + net::kUdpPayloadOffset;
    return get32(h) == net::kWireMagic && static_cast<net::FrameType>(h[5]) == net::FrameType::kData &&
           (get16(h + 6) & net::kFlagBatch) != 0;
}

/// Between node 1 and its end of the wire: does one thing to the first batch frame node 1 sends
/// (drop it, send it twice, or hold it back behind the next frame), then passes everything.
class Tamper final : public net::Transport {
public:
    enum class Mode { kNone, kDrop, kDuplicate, kReorder };
    Tamper(std::unique_ptr<MemoryCarrier> inner, Mode mode) : inner_(std::move(inner)), mode_(mode) {}
    bool send(std::span<const std::byte> frame) override {
        if (mode_ != Mode::kNone && !tampered_ && is_batch_frame(frame)) {
            tampered_ = true;
            switch (mode_) {
            case Mode::kDrop:
                return true; // lost on the wire
            case Mode::kDuplicate:
                inner_->send(frame);
                return inner_->send(frame);
            case Mode::kReorder:
                held_.assign(frame.begin(), frame.end());
                return true;
            case Mode::kNone:
                break;
            }
        }
        const bool ok = inner_->send(frame);
        release();
        return ok;
    }
    std::size_t receive(std::size_t max, Receiver cb, void* ctx) override {
        if (!held_.empty() && ++idle_ > 20) release(); // nothing came after it: it arrives late anyway
        return inner_->receive(max, cb, ctx);
    }
    using Transport::receive;
    std::array<std::uint8_t, 6> mac() const override { return inner_->mac(); }
    std::string describe() const override { return "tamper"; }
    net::TransportStats stats() const override { return inner_->stats(); }
    bool tampered() const { return tampered_; }

private:
    void release() {
        if (held_.empty()) return;
        inner_->send(held_);
        held_.clear();
        idle_ = 0;
    }
    std::unique_ptr<MemoryCarrier> inner_;
    Mode mode_;
    bool tampered_ = false;
    std::vector<std::byte> held_;
    int idle_ = 0;
};

class Coalesce : public ::testing::Test, protected InProcessPair {
protected:
    static constexpr std::uint32_t kSections = 16;

    /// Both nodes up (node 1's frames through a Tamper in `mode`, recorded on arrival at node 2),
    /// a checkpoint active on node 1 with kSections sections of 1 KiB besides the harness's own,
    /// every one of them on node 2.
    void start(UpdateMode ack = UpdateMode::kSync, Tamper::Mode mode = Tamper::Mode::kNone,
               net::FaultConfig faults = {}) {
        Options o;
        o.record_b = true;
        o.wrap = [this, mode, faults](std::unique_ptr<MemoryCarrier> c,
                                      std::uint16_t node) -> std::unique_ptr<net::Transport> {
            std::unique_ptr<net::Transport> t;
            if (node != 1) return c;
            auto tamper = std::make_unique<Tamper>(std::move(c), mode);
            tamper_ = tamper.get();
            if (!faults.enabled()) return tamper;
            return std::make_unique<net::FaultShim>(std::move(tamper), faults, [this] { return now_; });
        };
        ASSERT_TRUE(start_pair(std::move(o))) << failure_;
        CheckpointAttributes attrs = pair_attrs(ack);
        attrs.max_sections = kSections;
        attrs.block_size = 64; // a small commit is one 64-byte block: 8 + 48 + 64 bytes of a batch
        ASSERT_TRUE(create_replicated("coalesce", attrs)) << failure_;
        slots_.push_back(slot_);
        for (std::uint32_t i = 1; i < kSections; ++i) {
            const std::string id = "c" + std::to_string(i);
            auto created = active_->create_section(bytes_of(id), false, kTimeEnd, 1024, {});
            ASSERT_TRUE(created.ok()) << created.message();
            slots_.push_back(created->slot);
        }
        ASSERT_TRUE(run_until([&] {
            for (std::uint32_t s : slots_)
                if (!standby_->section_state(s)) return false;
            return a_->link().idle();
        }));
    }
    /// One small commit to each of the first `n` sections, all before the next engine turn;
    /// returns their sequences.
    std::vector<std::uint64_t> commit_each(std::size_t n, std::size_t bytes, int round) {
        std::vector<std::uint64_t> seqs;
        for (std::size_t i = 0; i < n; ++i) {
            std::vector<std::byte> b(bytes);
            for (std::size_t k = 0; k < bytes; ++k) b[k] = static_cast<std::byte>(round * 31 + i * 7 + k);
            write_section(*active_, writer_, slots_[i], (round * 64) % 512, b);
            seqs.push_back(seq_of(*active_, slots_[i]));
        }
        return seqs;
    }
    bool all_acked(const std::vector<std::uint64_t>& seqs) {
        return run_until([&] {
            for (std::size_t i = 0; i < seqs.size(); ++i)
                if (acked_of(*active_, slots_[i]) < seqs[i]) return false;
            return true;
        });
    }
    bool same_everywhere() {
        for (std::uint32_t s : slots_)
            if (section_bytes(*standby_, s) != section_bytes(*active_, s) ||
                seq_of(*standby_, s) < seq_of(*active_, s)) {
                ADD_FAILURE() << "slot " << s << " seq " << seq_of(*standby_, s) << " vs " << seq_of(*active_, s)
                              << (section_bytes(*standby_, s) != section_bytes(*active_, s) ? " bytes differ" : "");
                return false;
            }
        return true;
    }
    /// Every turn: no sync commit acknowledged on node 1 that node 2 has not applied.
    void watch_acknowledged_means_replicated() {
        each_step_ = [this] {
            if (active_->role() != shm::kRoleActive) return;
            for (std::uint32_t s : slots_)
                if (standby_->section_state(s) && acked_of(*active_, s) > seq_of(*standby_, s)) ++violations_;
        };
    }
    /// The batch frames node 2 received from now on, each with its entries.
    std::vector<std::size_t> batches_seen(std::size_t from) {
        std::vector<std::size_t> entries;
        std::vector<net::DataBatchEntry> e(net::kMaxBatchEntries);
        const auto& rec = wire_to(2).recorded();
        for (std::size_t i = from; i < rec.size(); ++i) {
            net::DecodedFrame f;
            if (!is_batch_frame(rec[i]) ||
                net::decode_frame(rec[i], net::kDefaultUdpPort, f, nullptr) != net::Reject::kNone)
                continue;
            std::size_t n = 0;
            EXPECT_EQ(net::decode_data_batch(f.body, e, n), net::Reject::kNone);
            entries.push_back(n);
        }
        return entries;
    }
    std::uint64_t data_frames() { return a_->replicator().counters().data_frames; }
    std::uint64_t applied() { return b_->replicator().counters().commits_applied; }

    std::vector<std::uint32_t> slots_;
    Tamper* tamper_ = nullptr;
    std::uint64_t violations_ = 0;
};

// The headline: N one-frame commits captured in one turn leave in as few frames as the mtu allows
// (without coalescing: N frames), and each is applied on the standby once and whole. At mtu 1500
// a frame's body is 1,408 bytes: the batch header (8) and 11 entries of 120 bytes (an entry
// header, a DATA fixed part, one 64-byte block).
TEST_F(Coalesce, SmallCommitsQueuedInOneTurnLeaveInOneFrame) {
    start(UpdateMode::kSync);
    const std::uint64_t frames0 = data_frames(), applied0 = applied();
    const std::size_t rec0 = wire_to(2).recorded().size();
    const auto seqs = commit_each(11, 32, 1);
    step(); // one turn captures all of them
    EXPECT_EQ(data_frames() - frames0, 1u) << "11 one-block commits in one frame";
    ASSERT_TRUE(all_acked(seqs));
    EXPECT_TRUE(same_everywhere());
    EXPECT_EQ(applied() - applied0, 11u) << "each commit applied exactly once";
    const auto batches = batches_seen(rec0);
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0], 11u);
}

// A batch never exceeds the mtu: the next commit starts another frame; still each commit once.
TEST_F(Coalesce, ABatchStopsAtTheMtuAndTheNextCommitsStartAnother) {
    start(UpdateMode::kSync);
    std::uint64_t frames0 = data_frames(), applied0 = applied();
    auto seqs = commit_each(kSections, 32, 1);
    step();
    EXPECT_EQ(data_frames() - frames0, 2u) << "16 commits: 11 + 5";
    ASSERT_TRUE(all_acked(seqs));
    EXPECT_TRUE(same_everywhere());
    EXPECT_EQ(applied() - applied0, kSections);
    // 300 bytes at offset 128: blocks 2..6, one run of 320 bytes, entries of 376: 3 a frame.
    frames0 = data_frames();
    applied0 = applied();
    seqs = commit_each(kSections, 300, 2);
    step();
    EXPECT_EQ(data_frames() - frames0, 6u) << "ceil(16 / 3) frames, not 16";
    ASSERT_TRUE(all_acked(seqs));
    EXPECT_TRUE(same_everywhere());
    EXPECT_EQ(applied() - applied0, kSections);
}

// Async commits coalesce the same way (nothing waits for their acknowledgement).
TEST_F(Coalesce, AsyncCommitsCoalesceToo) {
    start(UpdateMode::kAsync);
    const std::uint64_t frames0 = data_frames(), applied0 = applied();
    const auto seqs = commit_each(11, 32, 3);
    step();
    EXPECT_EQ(data_frames() - frames0, 1u);
    ASSERT_TRUE(run_until([&] { return applied() - applied0 == 11u && a_->link().idle(); }));
    EXPECT_TRUE(same_everywhere());
}

// Never adds latency: a lone commit is transmitted in the turn that captured it, and commits
// captured in later turns do not join a frame that already left (they make frames of their own).
TEST_F(Coalesce, ALoneCommitLeavesInTheTurnThatCapturedItAndIsNeverAppendedToLater) {
    start(UpdateMode::kSync);
    const std::uint64_t frames0 = data_frames();
    const std::size_t rec0 = wire_to(2).recorded().size();
    const auto tx0 = a_->link().peers()[0].stream.counters().tx_frames;
    const auto s1 = commit_each(1, 32, 4);
    step();
    EXPECT_EQ(a_->link().backlog(2), 0u) << "queued and sent in the same turn: nothing waits for company";
    EXPECT_GT(a_->link().peers()[0].stream.counters().tx_frames, tx0);
    const auto s2 = commit_each(1, 32, 5); // the next turn: its own frame
    step();
    EXPECT_EQ(data_frames() - frames0, 2u);
    ASSERT_TRUE(all_acked(s2));
    EXPECT_GE(acked_of(*active_, slots_[0]), s1[0]);
    EXPECT_TRUE(batches_seen(rec0).empty());
    EXPECT_TRUE(same_everywhere());
}

// The standby checks a batch whole before applying any of it, then applies or refuses each commit
// on its own, as if each had come alone. Batches sealed as node 1 would (its key and session) are
// put on the wire in front of node 2 by hand: one with an entry count that disagrees with its
// entries (nothing applied, refused), then one whose middle commit names a generation the
// section does not have (the other two applied, that one refused by itself).
TEST_F(Coalesce, TheStandbyChecksABatchWholeThenAppliesOrRefusesEachCommitAlone) {
    start(UpdateMode::kSync);
    std::uint32_t wire_id = 0;
    net::FrameAuth genuine;
    ASSERT_EQ(genuine.add_key(in_process_key()), "");
    for (const auto& rec : wire_to(2).recorded()) {
        net::DecodedFrame g;
        if (net::decode_frame(rec, net::kDefaultUdpPort, g, &genuine) == net::Reject::kNone &&
            g.header.type == net::FrameType::kAnnounce)
            wire_id = net::body_checkpoint_id(g.body);
    }
    ASSERT_NE(wire_id, 0u);
    auto entry = [&](std::uint32_t slot, std::uint64_t generation_delta, std::byte fill) {
        const auto st = standby_->section_state(slot);
        EXPECT_TRUE(st.has_value());
        net::DataBody d;
        d.checkpoint_id = wire_id;
        d.slot = slot;
        d.generation = st->generation + generation_delta;
        d.commit_seq = st->seq + 2;
        d.offset = 0;
        d.length = 64;
        d.section_size = std::max<std::uint64_t>(st->size, 64);
        const std::vector<std::byte> payload(64, fill);
        std::vector<std::byte> body(net::kDataBodyFixed + 64);
        EXPECT_EQ(net::encode_data_body(body, d, payload), body.size());
        return body;
    };
    auto batch = [&](const std::vector<std::vector<std::byte>>& entries, std::uint16_t count) {
        std::vector<std::byte> body(net::kBatchHeader);
        net::put_batch_header(body.data(), wire_id, count);
        for (const auto& e : entries) {
            const std::size_t at = body.size();
            body.resize(at + net::kBatchEntryHeader + e.size());
            net::put_batch_entry_header(body.data() + at, net::kFlagLastFragment, static_cast<std::uint32_t>(e.size()));
            std::copy(e.begin(), e.end(), body.begin() + static_cast<std::ptrdiff_t>(at + net::kBatchEntryHeader));
        }
        return body;
    };
    const std::uint64_t link_seq = a_->link().next_link_seq(2);
    auto inject = [&](const std::vector<std::byte>& body, std::uint64_t k) {
        net::Endpoint src, dst;
        src.mac = net::node_mac(1);
        src.ip = net::default_ip(1);
        dst.mac = net::node_mac(2);
        dst.ip = net::default_ip(2);
        net::FrameHeader h;
        h.type = net::FrameType::kData;
        h.flags = net::kFlagBatch | net::kFlagLastFragment;
        h.src_node = 1;
        h.dst_node = 2;
        h.epoch = active_->epoch();
        h.link_seq = link_seq + k;
        std::vector<std::byte> f(net::kMaxFrame);
        f.resize(net::encode_frame_unsealed(f, src, dst, h, body));
        ASSERT_TRUE(net::seal_frame(f, genuine, 1, a_->link().session(), (std::uint64_t{1} << 40) + k));
        wire_to(2).inject(f);
        b_->step(); // node 1 does not step: nothing of its own comes between
    };
    const auto before = [&] {
        std::vector<std::vector<std::byte>> v;
        for (std::uint32_t s : {slots_[1], slots_[2], slots_[3]}) v.push_back(section_bytes(*standby_, s));
        return v;
    }();
    std::uint64_t applied0 = applied(), bad0 = b_->link().counters().bad_commits,
                  refused0 = b_->link().counters().refusals_sent;
    // 1. Three entries, a count of four: malformed, refused whole, nothing applied.
    inject(batch({entry(slots_[1], 0, std::byte{0x11}), entry(slots_[2], 0, std::byte{0x22}),
                  entry(slots_[3], 0, std::byte{0x33})},
                 4),
           0);
    EXPECT_EQ(applied(), applied0);
    EXPECT_EQ(b_->link().counters().bad_commits, bad0 + 1);
    EXPECT_EQ(b_->link().counters().refusals_sent, refused0 + 1);
    EXPECT_EQ(section_bytes(*standby_, slots_[1]), before[0]) << "nothing of a malformed batch is applied";
    EXPECT_EQ(section_bytes(*standby_, slots_[3]), before[2]);
    // 2. Well formed; the middle commit cannot be applied (no such generation): refused alone.
    applied0 = applied();
    refused0 = b_->link().counters().refusals_sent;
    inject(batch({entry(slots_[1], 0, std::byte{0x11}), entry(slots_[2], 100, std::byte{0x22}),
                  entry(slots_[3], 0, std::byte{0x33})},
                 3),
           1);
    EXPECT_EQ(applied(), applied0 + 2) << "the first and the last commit of the batch";
    EXPECT_EQ(b_->link().counters().refusals_sent, refused0 + 1) << "the middle one, refused by itself";
    EXPECT_EQ(std::to_integer<int>(section_bytes(*standby_, slots_[1])[63]), 0x11);
    EXPECT_EQ(section_bytes(*standby_, slots_[2]), before[1]) << "the refused commit left its section alone";
    EXPECT_EQ(std::to_integer<int>(section_bytes(*standby_, slots_[3])[63]), 0x33);
}

// Planning a commit's frames allocates nothing per frame: capturing and queueing a commit of
// 8 KiB (7 frames at mtu 1500) costs the active as many heap allocations as a commit of one block
// (before, send_commit planned the frames in a vector of vectors: one allocation per frame).
TEST_F(Coalesce, ACommitsFramesCostNoHeapAllocationEach) {
    start(UpdateMode::kAsync);
    auto one_commit = [&](std::size_t bytes, int round) {
        std::vector<std::byte> b(bytes, static_cast<std::byte>(round));
        write_section(*active_, writer_, slots_[0], 0, b);
        std::uint64_t n = 0;
        {
            CountAllocations count;
            a_->step(); // capture, plan, build, queue and send: the active's turn alone
            n = count.count();
        }
        EXPECT_TRUE(run_until([&] { return a_->link().idle(); })); // acknowledged: a steady state
        return n;
    };
    for (int i = 0; i < 8; ++i) { // the pools and rings grown
        one_commit(8192, 2 * i + 1);
        one_commit(32, 2 * i + 2);
    }
    const std::uint64_t frames0 = data_frames();
    const std::uint64_t big = one_commit(8192, 101);
    EXPECT_EQ(data_frames() - frames0, 7u);
    const std::uint64_t small = one_commit(32, 102);
    EXPECT_LE(big, small) << "a commit of 7 frames allocated " << big << " times, one of 1 frame " << small;
}

// A batch frame lost, duplicated or overtaken: the stream repairs it as any frame, so each
// commit in it is applied exactly once, and no sync commit is acknowledged before it is applied.
class CoalesceWire : public Coalesce, public ::testing::WithParamInterface<Tamper::Mode> {};

TEST_P(CoalesceWire, EachCommitOfABatchIsAppliedExactlyOnce) {
    start(UpdateMode::kSync, GetParam());
    watch_acknowledged_means_replicated();
    const std::uint64_t applied0 = applied(), resyncs0 = a_->link().counters().resyncs;
    const auto first = commit_each(kSections, 32, 6); // the batch tampered with
    step();
    const auto second = commit_each(kSections, 32, 7); // one behind it (the reorder's overtaker)
    step();
    ASSERT_TRUE(all_acked(second));
    ASSERT_TRUE(all_acked(first));
    ASSERT_TRUE(tamper_->tampered());
    EXPECT_TRUE(same_everywhere());
    EXPECT_EQ(applied() - applied0, 2 * kSections) << "every commit applied once: none lost, none twice";
    EXPECT_EQ(a_->link().counters().resyncs, resyncs0) << "repaired by the stream, not by a resync";
    EXPECT_EQ(violations_, 0u) << "a commit acknowledged before the standby applied it";
    if (GetParam() == Tamper::Mode::kDrop) {
        EXPECT_GT(a_->link().peers()[0].stream.counters().retransmits, 0u) << "the lost batch was sent again";
    }
}

INSTANTIATE_TEST_SUITE_P(Wire, CoalesceWire,
                         ::testing::Values(Tamper::Mode::kDrop, Tamper::Mode::kDuplicate, Tamper::Mode::kReorder),
                         [](const auto& info) {
                             switch (info.param) {
                             case Tamper::Mode::kDrop:
                                 return std::string("Lost");
                             case Tamper::Mode::kDuplicate:
                                 return std::string("Duplicated");
                             case Tamper::Mode::kReorder:
                                 return std::string("Reordered");
                             default:
                                 return std::string("None");
                             }
                         });

// Many rounds of batches through the seeded fault shim (loss, duplication, reordering, corruption
// on node 1's frames): every commit applied exactly once, none acknowledged early, both nodes equal.
TEST_F(Coalesce, BatchesUnderSeededFaultsAreAppliedExactlyOnce) {
    net::FaultConfig f;
    f.seed = 14;
    f.drop_pct = 5;
    f.dup_pct = 5;
    f.reorder_pct = 10;
    f.corrupt_pct = 2;
    start(UpdateMode::kSync, Tamper::Mode::kNone, f);
    watch_acknowledged_means_replicated();
    const std::uint64_t applied0 = applied(), resyncs0 = a_->link().counters().resyncs;
    const std::uint64_t frames0 = data_frames();
    std::mt19937_64 rng(5);
    std::uint64_t commits = 0;
    for (int round = 0; round < 40; ++round) {
        const std::size_t n = 1 + rng() % kSections;
        const auto seqs = commit_each(n, 1 + rng() % 200, round);
        commits += n;
        ASSERT_TRUE(all_acked(seqs)) << "round " << round;
    }
    EXPECT_EQ(violations_, 0u);
    EXPECT_TRUE(same_everywhere());
    ASSERT_EQ(a_->link().counters().resyncs, resyncs0) << "the link stayed up: commits_applied counts commits once";
    EXPECT_EQ(applied() - applied0, commits);
    EXPECT_LT(data_frames() - frames0, commits) << "fewer frames than commits";
}

} // namespace
