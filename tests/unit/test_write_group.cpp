// Write groups between two engines' cores in process (section_group.hpp): the active captures an
// open group not at all and a complete one as one unit; the standby applies a group whole or not
// at all, also when its frames trickle in over many turns and when the link is cut in the middle
// (then a promoted standby holds none of it); a dead writer's open group is rolled back whole on
// the active and never reaches the standby.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <vector>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

constexpr std::byte kOld{0x11}, kNew{0x22};

class WriteGroupPair : public ::testing::Test, protected InProcessPair {
protected:
    /// Node 1 active with three sections of 8 KiB filled with kOld, all three on node 2.
    /// `window`: frames in flight per peer (small: a group's frames trickle over many turns).
    void start(std::uint32_t window = 1024) {
        Options o;
        o.link_a.stream.window = window;
        o.link_b.stream.window = window;
        ASSERT_TRUE(start_pair(o)) << failure_;
        ASSERT_TRUE(create_replicated("groups", pair_attrs(UpdateMode::kSync))) << failure_;
        slots_[0] = slot_;
        for (int k = 1; k < 3; ++k) {
            auto c = active_->create_section(bytes_of("s" + std::to_string(k)), false, kTimeEnd, 8192, {});
            ASSERT_TRUE(c.ok()) << c.message();
            slots_[k] = c->slot;
        }
        ASSERT_TRUE(run_until([&] { return standby_->section_state(slots_[2]).has_value(); }));
        write_group(*active_, writer_, slots_, kOld, 3);
        ASSERT_TRUE(run_until([&] { return all_acked(*active_); })) << "the first group was never acknowledged";
        ASSERT_EQ(fills(*standby_), (std::array<int, 3>{0x11, 0x11, 0x11}));
    }
    bool all_acked(const Checkpoint& c) const {
        for (std::uint32_t s : slots_)
            if (acked_of(c, s) < seq_of(c, s)) return false;
        return true;
    }
    /// The first byte of each section's committed state (-1: empty).
    std::array<int, 3> fills(const Checkpoint& c) const {
        std::array<int, 3> v{};
        for (int k = 0; k < 3; ++k) {
            const auto b = section_bytes(c, slots_[k]);
            v[k] = b.empty() ? -1 : static_cast<int>(b.front());
        }
        return v;
    }
    /// Every turn from now on: the standby's three sections are all old or all new, never mixed.
    void watch_never_mixed() {
        each_step_ = [this] {
            const auto f = fills(*standby_);
            if (!(f[0] == f[1] && f[1] == f[2])) ++mixed_;
        };
    }
    std::array<std::uint32_t, 3> slots_{};
    std::uint64_t mixed_ = 0;
};

TEST_F(WriteGroupPair, AGroupWhoseFramesTrickleInIsAppliedWholeOnTheStandby) {
    start(2); // two frames in flight: the group's 18 frames take many turns
    watch_never_mixed();
    write_group(*active_, writer_, slots_, kNew, 3);
    ASSERT_TRUE(run_until([&] { return all_acked(*active_); }));
    EXPECT_EQ(fills(*standby_), (std::array<int, 3>{0x22, 0x22, 0x22}));
    EXPECT_EQ(mixed_, 0u) << "the standby showed part of a group";
    for (std::uint32_t s : slots_) EXPECT_EQ(section_bytes(*standby_, s), section_bytes(*active_, s));
}

TEST_F(WriteGroupPair, ALinkCutInTheMiddleOfAGroupLeavesNoneOfItOnAPromotedStandby) {
    start(2);
    watch_never_mixed();
    wire_to(2).record(true);
    write_group(*active_, writer_, slots_, kNew, 3);
    // Some of the group's frames reach node 2, then node 1 is gone for good.
    ASSERT_TRUE(run_until([&] { return wire_to(2).recorded().size() >= 8; }));
    wire_to(2).cut(true);
    EXPECT_FALSE(all_acked(*active_)) << "acknowledged before the standby could hold it";
    run_for(2000); // node 2 declares node 1 down
    EXPECT_FALSE(b_->link().is_up(1));
    ASSERT_TRUE(b_->replicator().promote(standby_).ok());
    EXPECT_EQ(standby_->role(), shm::kRoleActive);
    EXPECT_EQ(fills(*standby_), (std::array<int, 3>{0x11, 0x11, 0x11})) << "the new active holds part of a group";
    EXPECT_EQ(mixed_, 0u);
}

TEST_F(WriteGroupPair, AnOpenGroupIsNotCapturedAndADeadWritersOneIsRolledBackWhole) {
    start();
    watch_never_mixed();
    const std::uint64_t captured_before = shm::load_acquire(active_->meta().desc(slots_[0]).captured_seq);
    write_group(*active_, writer_, slots_, kNew, 2); // s0 and s1 published, s2 still held
    run_for(300);                                    // several scans: nothing of it is captured
    EXPECT_EQ(shm::load_acquire(active_->meta().desc(slots_[0]).captured_seq), captured_before);
    EXPECT_EQ(fills(*standby_), (std::array<int, 3>{0x11, 0x11, 0x11}));
    active_->release_writer(writer_); // the writer died
    EXPECT_EQ(fills(*active_), (std::array<int, 3>{0x11, 0x11, 0x11})) << "a published member survived";
    for (std::uint32_t s : slots_) {
        EXPECT_FALSE(shm::lock_held(shm::section_lock::load(active_->data().control(s))));
        EXPECT_GT(seq_of(*active_, s), captured_before) << "a reader that saw a member must see it change";
    }
    ASSERT_TRUE(run_until([&] { return all_acked(*active_); }));
    EXPECT_EQ(fills(*standby_), (std::array<int, 3>{0x11, 0x11, 0x11}));
    EXPECT_EQ(mixed_, 0u);
    EXPECT_GE(active_->counters().rollbacks, 3u);
}

TEST_F(WriteGroupPair, ScribbledGroupWordsNeverStopACaptureNorCrossIntoOtherSections) {
    start();
    // A writer that leaves nonsense in the group words of its commit: every such commit is whole
    // on its own, and is captured and replicated alone; the other sections are untouched.
    struct Scribble {
        std::uint64_t tag;
        std::uint32_t next, size;
    };
    const std::uint32_t s0 = slots_[0];
    const std::vector<Scribble> cases = {
        {shm::section_group::make_tag(writer_, 7), s0, 0},               // no members
        {shm::section_group::make_tag(writer_, 7), s0, 1},               // one member
        {shm::section_group::make_tag(writer_, 7), s0, 3},               // a ring of one that says three
        {shm::section_group::make_tag(writer_, 7), 1u << 30, 2},         // the next slot is past the end
        {shm::section_group::make_tag(writer_, 7), slots_[1], 1u << 31}, // a size past max_sections
        {~std::uint64_t{0}, slots_[1], 2},                               // a tag of no writer; s1 has tag 0
        {shm::section_group::make_tag(writer_, 7), 3, 2},                // a slot with no section
    };
    std::uint8_t v = 0x40;
    for (const Scribble& k : cases) {
        write_section(*active_, writer_, s0, 0, std::vector<std::byte>(64, std::byte{++v}), false);
        shm::SectionControl& ctl = active_->data().control(s0);
        ctl.group_tag = k.tag;
        ctl.group_next = k.next;
        ctl.group_size = k.size;
        const std::uint64_t seq = seq_of(*active_, s0) + 1;
        shm::section_lock::publish(ctl, seq);
        active_->data().ring_doorbell(s0);
        ASSERT_TRUE(acked(seq)) << "a commit with scribbled group words was never captured (case " << int(v) << ")";
        EXPECT_EQ(static_cast<int>(section_bytes(*standby_, s0).front()), v);
        EXPECT_EQ(ctl.group_tag, 0u) << "the engine clears the tag it has handled";
    }
    EXPECT_EQ(fills(*standby_)[1], 0x11);
    EXPECT_EQ(fills(*standby_)[2], 0x11);
}

} // namespace
