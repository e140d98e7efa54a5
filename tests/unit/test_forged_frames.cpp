// Issue 13's attacks on the replication network, each against two replicators in one process
// (tests/testing/in_process_node, memory_carrier): an attacker on the wire who knows the frame
// format but not the cluster key forges frames (with the unkeyed checksum version 2 had, or with a
// tag under a key of its own), records and replays genuine frames, replays a restarted peer's
// previous session, and sends genuine frames from another address. Each is refused, counted by
// reason in the link's counters (ckptstat's "rejected" rows), and changes nothing: no ACK
// completes a commit, no generation stalls the stream, no HELLO/ANNOUNCE/REFUSED flaps, demotes
// or fences, no SECTION deletes a replica.
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/shm/atomics.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::net;
using namespace ckpt::testing;

namespace {

/// How an attacker without the key makes a frame.
enum class Forgery {
    kUnkeyed,  ///< key id 0 and the unkeyed checksum (what version 2's XXH3 frame hash allowed)
    kWrongKey, ///< key id 1 and a tag under a key of the attacker's own
};

class ForgedFrames : public ::testing::Test, protected InProcessPair {
protected:
    void start() {
        Options o;
        o.record_b = true; // the attacker records what node 1 sends node 2
        ASSERT_TRUE(start_pair(std::move(o))) << failure_;
    }
    void create_replicated() { ASSERT_TRUE(InProcessPair::create_replicated("forged", pair_attrs())) << failure_; }

    /// A frame from `src` to `dst` as the attacker makes it; the session is the genuine sender's
    /// (read off the wire), so only the key is missing.
    std::vector<std::byte> forge(Forgery how, std::uint16_t src, std::uint16_t dst, FrameType type, std::uint64_t epoch,
                                 std::uint64_t link_seq, std::span<const std::byte> body, std::uint16_t flags = 0) {
        Endpoint s, d;
        s.mac = node_mac(src);
        d.mac = node_mac(dst);
        s.ip = default_ip(src);
        d.ip = default_ip(dst);
        FrameHeader h;
        h.type = type;
        h.flags = flags;
        h.src_node = src;
        h.dst_node = dst;
        h.epoch = epoch;
        h.link_seq = link_seq;
        std::vector<std::byte> f(kMaxFrame);
        f.resize(encode_frame_unsealed(f, s, d, h, body));
        const std::uint64_t session = (src == 1 ? a_ : b_)->link().session();
        if (how == Forgery::kUnkeyed) {
            FrameAuth none;
            EXPECT_TRUE(seal_frame(f, none, 0, session, 1u << 30));
        } else {
            FrameAuth own;
            ClusterKey k;
            k.id = 1;
            k.bytes.fill(0x42); // not the cluster's key
            EXPECT_EQ(own.add_key(k), "");
            EXPECT_TRUE(seal_frame(f, own, 1, session, 1u << 30));
        }
        return f;
    }
    /// Injects the frame both ways (unkeyed, wrong key) into `node`'s receive path and runs a turn;
    /// returns how many more frames `node` refused for an unknown key and for a bad tag.
    std::pair<std::uint64_t, std::uint64_t> inject_both(std::uint16_t node,
                                                        const std::function<std::vector<std::byte>(Forgery)>& make) {
        InProcessNode& n = this->node(node);
        MemoryCarrier* w = &wire_to(node);
        const auto before_key = rejected(n, Reject::kUnknownKey), before_tag = rejected(n, Reject::kBadHash);
        for (Forgery how : {Forgery::kUnkeyed, Forgery::kWrongKey}) w->inject(make(how));
        run_for(5);
        return {rejected(n, Reject::kUnknownKey) - before_key, rejected(n, Reject::kBadHash) - before_tag};
    }
    static std::uint64_t rejected(InProcessNode& n, Reject r) {
        return n.link().counters().rejected[static_cast<std::size_t>(r)];
    }
};

TEST_F(ForgedFrames, AForgedAckCompletesNoCommit) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("replicated"))));
    wire_a_->cut(true); // the standby's real ACKs no longer arrive
    const std::uint64_t seq = commit(0, bytes_of("not replicated"));
    run_for(2);
    const std::uint64_t through = a_->link().next_link_seq(2) - 1; // everything node 1 sent
    auto [key, tag] = inject_both(1, [&](Forgery how) {
        std::byte body[kAckBody];
        encode_ack_body(body, AckBody{through, ~std::uint64_t{0}, 0, 0});
        return forge(how, 2, 1, FrameType::kAck, 0, 0, body);
    });
    EXPECT_EQ(key, 1u) << "the unkeyed ACK: refused as unauthenticated";
    EXPECT_EQ(tag, 1u) << "the ACK under another key: refused by its tag";
    run_for(50);
    EXPECT_LT(acked_of(*active_, slot_), seq) << "a sync commit completed on a forged ACK, with no replica";
    wire_a_->cut(false);
    EXPECT_TRUE(acked(seq)) << "the genuine ACK still completes it";
}

TEST_F(ForgedFrames, AForgedHigherStreamGenerationStallsNothing) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("before"))));
    const std::uint64_t gen = a_->link().next_link_seq(2) >> kLinkGenerationShift;
    auto [key, tag] = inject_both(2, [&](Forgery how) {
        DataBody d;
        d.checkpoint_id = 1;
        std::byte body[kDataBodyFixed];
        encode_data_body(body, d, {});
        return forge(how, 1, 2, FrameType::kData, active_->epoch(), (gen + 7) << kLinkGenerationShift | 1, body,
                     kFlagLastFragment);
    });
    EXPECT_EQ(key + tag, 2u);
    const std::uint64_t seq = commit(0, bytes_of("after"));
    ASSERT_TRUE(acked(seq)) << "the stream still delivers: no forged generation took it over";
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(ForgedFrames, ForgedHelloAnnounceRefusedAndSectionFramesChangeNothing) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("steady"))));
    const auto restarts = b_->link().peers()[0].stream.counters().restarts;
    // HELLO: a "new session" of node 1 whose version range leaves ours out (would flap the link).
    auto hello = inject_both(2, [&](Forgery how) {
        std::byte body[kHelloBody];
        HelloBody h;
        h.version_min = h.version_max = kWireVersion + 1;
        h.boot_id = 99;
        encode_hello_body(body, h);
        return forge(how, 1, 2, FrameType::kHello, 0, 0, body);
    });
    EXPECT_EQ(hello.first + hello.second, 2u);
    // ANNOUNCE of a higher epoch from node 2 (would demote the active on node 1).
    auto announce = inject_both(1, [&](Forgery how) {
        AnnounceBody a;
        a.checkpoint_id = 1;
        a.checkpoint_size = 64 * 1024;
        a.max_sections = 4;
        a.max_section_size = 16 * 1024;
        a.block_size = 256;
        a.name = "forged";
        std::vector<std::byte> body(kAnnounceBodyFixed + 16);
        body.resize(encode_announce_body(body, a));
        return forge(how, 2, 1, FrameType::kAnnounce, active_->epoch() + 10, b_->link().next_link_seq(1), body);
    });
    EXPECT_EQ(announce.first + announce.second, 2u);
    // REFUSED "stale epoch" from node 2 (would make the active step down: fenced).
    auto refused = inject_both(1, [&](Forgery how) {
        RefusedBody r;
        r.checkpoint_id = 1;
        r.reason = RefuseReason::kStaleEpoch;
        r.refused_type = FrameType::kData;
        r.refused_link_seq = a_->link().next_link_seq(2) - 1;
        r.replica_epoch = active_->epoch() + 10;
        std::byte body[kRefusedBody];
        encode_refused_body(body, r);
        return forge(how, 2, 1, FrameType::kRefused, active_->epoch() + 10, b_->link().next_link_seq(1), body);
    });
    EXPECT_EQ(refused.first + refused.second, 2u);
    // SECTION delete from node 1 (would delete the replica's section).
    auto section = inject_both(2, [&](Forgery how) {
        SectionBody sb;
        sb.checkpoint_id = 1;
        sb.op = SectionOp::kDelete;
        sb.slot = slot_;
        const auto id = bytes_of("s");
        sb.id = id;
        std::vector<std::byte> body(kSectionBodyFixed + id.size());
        body.resize(encode_section_body(body, sb));
        return forge(how, 1, 2, FrameType::kSection, active_->epoch(), a_->link().next_link_seq(2), body);
    });
    EXPECT_EQ(section.first + section.second, 2u);
    run_for(100);
    EXPECT_TRUE(a_->link().is_up(2));
    EXPECT_TRUE(b_->link().is_up(1));
    EXPECT_EQ(b_->link().peers()[0].stream.counters().restarts, restarts)
        << "no forged session was taken for a restart";
    EXPECT_EQ(active_->role(), shm::kRoleActive) << "a forged ANNOUNCE or REFUSED demoted the active";
    EXPECT_TRUE(standby_->section_state(slot_).has_value()) << "a forged SECTION deleted the replica";
    ASSERT_TRUE(acked(commit(0, bytes_of("still replicating"))));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(ForgedFrames, AReplayedFrameIsDroppedAndCounted) {
    start();
    create_replicated();
    wire_b_->record(false);
    const std::size_t from = wire_b_->recorded().size();
    wire_b_->record(true);
    ASSERT_TRUE(acked(commit(0, bytes_of("first version"))));
    const std::vector<std::vector<std::byte>> first(wire_b_->recorded().begin() + static_cast<long>(from),
                                                    wire_b_->recorded().end());
    ASSERT_FALSE(first.empty());
    ASSERT_TRUE(acked(commit(0, bytes_of("second version"))));
    const auto expected = section_bytes(*active_, slot_);
    const auto before = rejected(*b_, Reject::kReplayed);
    const auto applied = b_->replicator().counters().commits_applied;
    for (const auto& f : first) wire_b_->inject(f); // the first commit's frames, replayed
    run_for(50);
    EXPECT_EQ(rejected(*b_, Reject::kReplayed) - before, first.size()) << "every replayed frame counted";
    EXPECT_EQ(b_->replicator().counters().commits_applied, applied) << "a replayed commit was applied";
    EXPECT_EQ(section_bytes(*standby_, slot_), expected) << "the standby went back to the replayed state";
    EXPECT_TRUE(b_->link().is_up(1));
}

TEST_F(ForgedFrames, ARestartedPeerIsAcceptedAndItsOldSessionIsNot) {
    start();
    const std::vector<std::vector<std::byte>> old_session = wire_b_->recorded(); // HELLOs, HEARTBEATs
    ASSERT_FALSE(old_session.empty());
    // Node 1 restarts: a new engine (a new random session) on the same end of the wire.
    auto carrier = wire_a_->reopen();
    wire_a_ = carrier.get();
    a_.reset();
    a_ = std::make_unique<InProcessNode>(1, std::vector<std::uint16_t>{2}, std::move(carrier), now_);
    ASSERT_TRUE(run_until([&] {
        return a_->link().is_up(2) && b_->link().is_up(1) && b_->link().peers()[0].stream.counters().restarts == 1;
    })) << "the restarted peer was not accepted";
    const auto before = rejected(*b_, Reject::kStaleSession);
    const auto handshakes = b_->link().counters().handshakes;
    for (const auto& f : old_session) wire_b_->inject(f); // a recording of node 1's previous life
    run_for(50);
    // Each refused: as a stale session, or (its first HELLOs, which echo no challenge) answered
    // as a handshake that can never complete.
    EXPECT_GE(rejected(*b_, Reject::kStaleSession) - before, 1u);
    EXPECT_EQ(rejected(*b_, Reject::kStaleSession) - before + b_->link().counters().handshakes - handshakes,
              old_session.size());
    EXPECT_EQ(b_->link().peers()[0].stream.counters().restarts, 1u) << "the old session was taken back";
    EXPECT_TRUE(b_->link().is_up(1));
    EXPECT_EQ(b_->link().peers()[0].boot_id, a_->link().session());
}

TEST_F(ForgedFrames, GenuineFramesFromAnotherAddressAreDroppedAndCounted) {
    start();
    run_for(100);
    ASSERT_FALSE(wire_b_->recorded().empty());
    auto f = wire_b_->recorded().back(); // a genuine frame of node 1, sent again from 10.9.9.9
    const std::uint32_t other = 0x0A09'0909;
    for (int i = 0; i < 4; ++i) f[26 + i] = static_cast<std::byte>(other >> (24 - 8 * i));
    f[24] = f[25] = std::byte{0};
    const std::uint16_t c = ipv4_checksum({f.data() + 14, 20});
    f[24] = static_cast<std::byte>(c >> 8);
    f[25] = static_cast<std::byte>(c);
    const auto before = rejected(*b_, Reject::kWrongSource);
    wire_b_->inject(f);
    run_for(5);
    EXPECT_EQ(rejected(*b_, Reject::kWrongSource) - before, 1u);
    EXPECT_EQ(rejected(*b_, Reject::kReplayed), 0u) << "refused for its address before its counter";
    bool logged = false;
    for (const auto& e : b_->events()) logged = logged || e.find("come from 10.9.9.9") != std::string::npos;
    EXPECT_TRUE(logged) << "the wrong source is logged once, naming the address";
}

// Bounded memory: a genuine peer (or one whose key leaked) reporting block hashes far beyond the
// checkpoint (first block 10^6 of a 256-block checkpoint: 8 MB, and up to 512 MiB per slot before)
// is refused and counted, nothing allocated for it.
TEST_F(ForgedFrames, AHashesReportBeyondTheCheckpointIsRefusedNotAllocated) {
    start();
    create_replicated();
    ASSERT_TRUE(acked(commit(0, bytes_of("before"))));
    wire_a_->cut(true);
    ASSERT_TRUE(run_until([&] { return !a_->link().is_up(2) && !b_->link().is_up(1); }));
    wire_a_->cut(false);
    // Until node 1 awaits node 2's block hashes: it announced the checkpoint again, and node 2
    // has not taken the ANNOUNCE in yet (node 1 steps first in each turn).
    bool awaiting = false;
    for (int i = 0; i < 50'000 && !awaiting; ++i) {
        a_->step();
        const auto m = a_->replicator().members_of(*active_);
        awaiting = a_->link().is_up(2) && !m.empty() && std::string(m[0].state) == "resync";
        if (!awaiting) b_->step();
        now_ += kMs / 10;
    }
    ASSERT_TRUE(awaiting);
    // The checkpoint's wire id and the join id, as node 1's latest ANNOUNCE named them (a report
    // answers that ANNOUNCE: it echoes the join id).
    std::uint32_t wire_id = 0;
    std::uint64_t join = 0;
    {
        FrameAuth genuine;
        ASSERT_EQ(genuine.add_key(in_process_key()), "");
        auto frames = wire_b_->recorded();
        for (auto& f : wire_b_->in_flight()) frames.push_back(std::move(f)); // the ANNOUNCE node 2 has not read
        for (const auto& rec : frames) {
            DecodedFrame g;
            if (decode_frame(rec, kDefaultUdpPort, g, &genuine) == Reject::kNone &&
                g.header.type == FrameType::kAnnounce) {
                AnnounceBody a;
                ASSERT_EQ(decode_announce_body(g.body, a), Reject::kNone);
                wire_id = a.checkpoint_id;
                join = a.join;
            }
        }
    }
    ASSERT_NE(wire_id, 0u);
    HashesBody h;
    h.checkpoint_id = wire_id;
    h.join = join;
    h.slot = slot_;
    h.first_block = 1'000'000;
    h.count = 4;
    const std::uint64_t hashes[4] = {1, 2, 3, 4};
    std::vector<std::byte> body(kHashesBodyFixed + sizeof hashes);
    body.resize(encode_hashes_body(body, h, hashes));
    Endpoint s, d;
    s.mac = node_mac(2);
    d.mac = node_mac(1);
    s.ip = default_ip(2);
    d.ip = default_ip(1);
    FrameHeader fh;
    fh.type = FrameType::kHashes;
    fh.flags = kFlagLastFragment; // the whole report: node 1 resyncs node 2 from it
    fh.src_node = 2;
    fh.dst_node = 1;
    fh.epoch = active_->epoch();
    fh.link_seq = b_->link().next_link_seq(1);
    std::vector<std::byte> f(kMaxFrame);
    f.resize(encode_frame_unsealed(f, s, d, fh, body));
    FrameAuth genuine; // sealed as node 2 would: its key, its session
    ASSERT_EQ(genuine.add_key(in_process_key()), "");
    ASSERT_TRUE(seal_frame(f, genuine, 1, b_->link().session(), std::uint64_t{1} << 40));
    const auto refused = a_->replicator().counters().hashes_refused;
    wire_a_->inject(f);
    a_->step();
    EXPECT_EQ(a_->replicator().counters().hashes_refused, refused + 1);
    // (The injected frame took the link_seq node 2's own report will carry, so the stream after
    // it is the test's artefact, not checked here.)
}

} // namespace
