// The standby's replica applier on real segments (tmpfs), with no engine process and no link:
// install mirrors a section at the active's slot and extent, staged fragments stay invisible until
// the commit applies, a commit that does not fit changes nothing (all or nothing), discard() gives
// the shadow back the live bytes.
#include "ckpt/shm/atomics.hpp"
#include "in_process_node.hpp"
#include "replication/replica_applier.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

class Applier : public ::testing::Test {
protected:
    void SetUp() override {
        CheckpointAttributes attrs;
        attrs.checkpoint_size = 16 * 1024;
        attrs.max_sections = 4;
        attrs.max_section_size = 4096;
        ckpt_ = local_checkpoint("applier", attrs, 2);
        ASSERT_TRUE(ckpt_);
        ckpt_->set_role(shm::kRoleStandby, 1, 1);
        applier_.emplace(*ckpt_);
    }
    void TearDown() override {
        applier_.reset();
        if (ckpt_) ckpt_->remove_objects();
    }
    std::string live(std::uint32_t slot, std::size_t n) const {
        const auto info = ckpt_->meta().info(slot);
        const auto b = ckpt_->data().section_bytes(*info);
        return std::string(reinterpret_cast<const char*>(b.data()), n);
    }
    std::string shadow(std::uint32_t slot, std::size_t n) const {
        const auto b = ckpt_->committed_bytes(slot);
        return std::string(reinterpret_cast<const char*>(b.data()), n);
    }

    std::unique_ptr<Checkpoint> ckpt_;
    std::optional<ReplicaApplier> applier_;
};

TEST_F(Applier, InstallPutsTheSectionAtTheActivesSlotAndExtent) {
    ASSERT_TRUE(applier_->install(3, bytes_of("sec"), 77, 2048, 1024, kTimeEnd, 0, 0).ok());
    auto st = ckpt_->section_state(3);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->id, "sec");
    EXPECT_EQ(st->data_offset, 2048u);
    EXPECT_EQ(st->capacity, 1024u);
    EXPECT_EQ(ckpt_->remote_generation(3), 77u);
    EXPECT_FALSE(applier_->install(9, bytes_of("x"), 1, 0, 256, kTimeEnd, 0, 0).ok()) << "slot out of range";
    EXPECT_FALSE(applier_->install(0, bytes_of("x"), 1, 100, 256, kTimeEnd, 0, 0).ok()) << "unaligned extent";
}

TEST_F(Applier, StagedBytesAreInvisibleUntilTheWholeCommitApplies) {
    ASSERT_TRUE(applier_->install(0, bytes_of("a"), 5, 0, 1024, kTimeEnd, 0, 0).ok());
    ASSERT_TRUE(applier_->stage(0, 5, 0, bytes_of("first ")));
    ASSERT_TRUE(applier_->stage(0, 5, 6, bytes_of("second")));
    EXPECT_EQ(live(0, 12), std::string(12, '\0')) << "readers see nothing of a commit being received";
    ASSERT_TRUE(applier_->apply(0, 5, 8, 12, false));
    EXPECT_EQ(live(0, 12), "first second");
    EXPECT_EQ(shm::load_acquire(ckpt_->meta().desc(0).committed_size), 12u);
    EXPECT_GE(shm::lock_seq(shm::section_lock::load(ckpt_->data().control(0))), 8u);
    EXPECT_FALSE(shm::lock_held(shm::section_lock::load(ckpt_->data().control(0))));
}

TEST_F(Applier, ACommitThatDoesNotFitChangesNothing) {
    ASSERT_TRUE(applier_->install(0, bytes_of("a"), 5, 0, 1024, kTimeEnd, 0, 0).ok());
    ASSERT_TRUE(applier_->stage(0, 5, 0, bytes_of("base")));
    ASSERT_TRUE(applier_->apply(0, 5, 2, 4, false));
    EXPECT_FALSE(applier_->stage(0, 6, 0, bytes_of("x"))) << "another generation";
    EXPECT_FALSE(applier_->stage(0, 5, 1020, bytes_of("too long"))) << "past the capacity";
    ASSERT_TRUE(applier_->stage(0, 5, 0, bytes_of("NEW!")));
    EXPECT_FALSE(applier_->apply(0, 6, 4, 4, false)) << "generation changed under the commit";
    EXPECT_EQ(live(0, 4), "base");
    EXPECT_EQ(shadow(0, 4), "base") << "the staged bytes were discarded";
}

TEST_F(Applier, DiscardGivesTheShadowTheLiveBytesBack) {
    ASSERT_TRUE(applier_->install(0, bytes_of("a"), 5, 0, 1024, kTimeEnd, 0, 0).ok());
    ASSERT_TRUE(applier_->stage(0, 5, 0, bytes_of("live")));
    ASSERT_TRUE(applier_->apply(0, 5, 2, 4, false));
    ASSERT_TRUE(applier_->stage(0, 5, 0, bytes_of("half")));
    EXPECT_EQ(shadow(0, 4), "half");
    applier_->discard();
    EXPECT_EQ(shadow(0, 4), "live");
    EXPECT_FALSE(applier_->staging());
}

TEST_F(Applier, RemoveAndExpirationFollowTheRemoteGeneration) {
    ASSERT_TRUE(applier_->install(1, bytes_of("b"), 9, 1024, 1024, kTimeEnd, 0, 0).ok());
    applier_->set_expiration(1, 8, 123); // another generation: ignored
    EXPECT_EQ(ckpt_->section_state(1)->expiration_ns, kTimeEnd);
    applier_->set_expiration(1, 9, 123);
    EXPECT_EQ(ckpt_->section_state(1)->expiration_ns, 123);
    applier_->remove(1, 8);
    EXPECT_TRUE(ckpt_->section_state(1));
    applier_->remove(1, 9);
    EXPECT_FALSE(ckpt_->section_state(1));
}

} // namespace
