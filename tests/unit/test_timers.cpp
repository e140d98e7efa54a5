// The engine's timers: retention deadlines (SA_TIME_END is "forever", not an overflow) and the
// section deadline structure (an idle checkpoint with a million slots costs the periodic timers
// nothing per slot: they visit sections in use and due deadlines, never every slot).
#include "bytes.hpp"
#include "ckpt/common/clock.hpp"
#include "daemon/registry.hpp"
#include "in_process_node.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

TEST(RetentionDeadline, TimeEndMeansNoDeadline) {
    // Before: mono_ns() + kTimeEnd wrapped to a time in the past, deleted at the next timer pass.
    EXPECT_EQ(retention_deadline(1'000'000'000, kTimeEnd, 0), 0);
    EXPECT_EQ(retention_deadline(1'000'000'000, kTimeEnd, 5'000'000'000), 0);
    // Any retention reaching past the clock's range is "forever" too.
    EXPECT_EQ(retention_deadline(std::numeric_limits<std::int64_t>::max() - 10, 11, 0), 0);
    EXPECT_EQ(retention_deadline(4'000'000'000, std::int64_t{1} << 62, 0), 4'000'000'000 + (std::int64_t{1} << 62));
}

TEST(RetentionDeadline, OrdinaryRetentionAndTheGraceFloor) {
    EXPECT_EQ(retention_deadline(1'000, 300, 0), 1'300);
    EXPECT_EQ(retention_deadline(1'000, 300, 5'000), 5'000) << "the reattach grace is a floor";
    EXPECT_EQ(retention_deadline(1'000, 0, 0), 1'000);
    EXPECT_NE(retention_deadline(0, 0, 0), 0) << "a due deadline is never confused with none";
}

class Timers : public ::testing::TestWithParam<std::uint32_t> {
protected:
    void TearDown() override {
        if (ckpt_) ckpt_->remove_objects();
    }
    std::unique_ptr<Checkpoint> ckpt_;
};

TEST_P(Timers, VisitSectionsInUseAndDueDeadlinesOnly) {
    CheckpointAttributes attrs;
    attrs.checkpoint_size = 64 * 1024;
    attrs.max_sections = GetParam();
    attrs.max_section_size = 4096;
    attrs.max_section_id_size = 8;
    ckpt_ = local_checkpoint("timers", attrs);
    ASSERT_TRUE(ckpt_);
    const std::int64_t now = shm::now_realtime_ns();
    ASSERT_TRUE(ckpt_->create_section(bytes_of("forever"), false, kTimeEnd, 256, {}).ok());
    ASSERT_TRUE(ckpt_->create_section(bytes_of("soon"), false, now + 1'000'000'000LL * 3600, 256, {}).ok());
    ASSERT_TRUE(ckpt_->create_section(bytes_of("past"), false, now - 1, 256, {}).ok());
    ASSERT_TRUE(ckpt_->create_section(bytes_of("later"), false, now + 1'000'000'000LL * 7200, 256, {}).ok());
    EXPECT_EQ(ckpt_->next_expiration(), now - 1);

    // One idle turn of every timer: the scan sees the 4 sections, the expiry sees the one due.
    const std::uint64_t before = ckpt_->counters().timer_slots_visited;
    EXPECT_EQ(ckpt_->scan_all(), 0u);
    EXPECT_EQ(ckpt_->expire_sections(now), 1u);
    EXPECT_EQ(ckpt_->counters().timer_slots_visited - before, 4u + 1u) << "max_sections " << GetParam();
    EXPECT_EQ(ckpt_->next_expiration(), now + 1'000'000'000LL * 3600);

    // Idle again: 3 sections scanned, no deadline due, nothing else looked at.
    const std::uint64_t idle = ckpt_->counters().timer_slots_visited;
    for (int turn = 0; turn < 10; ++turn) {
        EXPECT_EQ(ckpt_->scan_all(), 0u);
        EXPECT_EQ(ckpt_->expire_sections(now), 0u);
        EXPECT_EQ(ckpt_->next_expiration(), now + 1'000'000'000LL * 3600);
    }
    EXPECT_EQ(ckpt_->counters().timer_slots_visited - idle, 10u * 3u);

    // Moving a deadline moves it in the structure; the expired slot's deadline is gone with it.
    ASSERT_TRUE(ckpt_->set_expiration(bytes_of("later"), now).ok());
    EXPECT_EQ(ckpt_->next_expiration(), now);
    EXPECT_EQ(ckpt_->expire_sections(now), 1u);
    ASSERT_TRUE(ckpt_->set_expiration(bytes_of("soon"), kTimeEnd).ok());
    EXPECT_EQ(ckpt_->next_expiration(), kTimeEnd);
    EXPECT_EQ(ckpt_->expire_sections(std::numeric_limits<std::int64_t>::max() - 1), 0u);
}

// A thousand slots and a million: the same number of visits.
INSTANTIATE_TEST_SUITE_P(Slots, Timers, ::testing::Values(1024u, 1u << 20));

} // namespace
