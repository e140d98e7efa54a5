// The node-local commit path on real segments in /dev/shm (tmpfs), with no engine process: a
// commit announced by its doorbell is captured into the shadow, a lost doorbell is found by the
// scan, a writer that dies mid-write gets its section rolled back to the last commit (or marked
// corrupted in weak mode), and an abort restores the section.
#include "ckpt/shm/atomics.hpp"
#include "in_process_node.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::testing;

namespace {

class CaptureRecovery : public ::testing::Test {
protected:
    void make(UpdateMode mode = UpdateMode::kAsync) {
        CheckpointAttributes attrs;
        attrs.creation_flags = static_cast<std::uint32_t>(mode);
        attrs.checkpoint_size = 16 * 1024;
        attrs.max_sections = 2;
        attrs.max_section_size = 4096;
        ckpt_ = local_checkpoint("capture", attrs);
        ASSERT_TRUE(ckpt_);
        auto s = ckpt_->create_section(bytes_of("s"), false, kTimeEnd, 1024, {});
        ASSERT_TRUE(s.ok());
        slot_ = s->slot;
        auto w = ckpt_->attach_writer(::getpid(), process_start_time(::getpid()));
        ASSERT_TRUE(w.ok());
        writer_ = *w;
    }
    void TearDown() override {
        if (ckpt_) ckpt_->remove_objects();
    }
    std::string text(std::size_t n) const {
        const auto b = section_bytes(*ckpt_, slot_);
        return std::string(reinterpret_cast<const char*>(b.data()), std::min(n, b.size()));
    }
    std::string committed(std::size_t n) const {
        const auto b = ckpt_->committed_bytes(slot_);
        return std::string(reinterpret_cast<const char*>(b.data()), n);
    }

    std::unique_ptr<Checkpoint> ckpt_;
    std::uint32_t slot_ = 0, writer_ = 0;
};

TEST_F(CaptureRecovery, ADoorbellCommitIsCapturedIntoTheShadow) {
    make();
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("first commit"));
    EXPECT_EQ(ckpt_->poll_commits(), 1u);
    EXPECT_EQ(committed(12), "first commit");
    EXPECT_EQ(ckpt_->counters().captures, 1u);
    EXPECT_EQ(shm::load_acquire(ckpt_->meta().desc(slot_).captured_seq),
              shm::lock_seq(shm::section_lock::load(ckpt_->data().control(slot_))));
    EXPECT_EQ(ckpt_->poll_commits(), 0u) << "nothing new";
}

TEST_F(CaptureRecovery, TheScanFindsACommitWhoseDoorbellWasLost) {
    make();
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("no bell"));
    std::fill_n(ckpt_->data().pending_words(), ckpt_->data().header().pending_words, 0); // the bell is lost
    std::fill_n(ckpt_->data().summary_words(), ckpt_->data().header().summary_words, 0);
    EXPECT_EQ(ckpt_->scan_all(), 1u);
    EXPECT_EQ(committed(7), "no bell");
}

TEST_F(CaptureRecovery, AWriterThatDiesMidWriteIsRolledBack) {
    make();
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("committed state"));
    ASSERT_EQ(ckpt_->poll_commits(), 1u);
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("TORN WRITE....."), false); // killed here
    ckpt_->release_writer(writer_);
    EXPECT_EQ(text(15), "committed state");
    EXPECT_FALSE(shm::lock_held(shm::section_lock::load(ckpt_->data().control(slot_))));
    EXPECT_EQ(ckpt_->counters().rollbacks, 1u);
}

TEST_F(CaptureRecovery, WeakModeMarksTheSectionCorruptedInstead) {
    make(UpdateMode::kAsyncWeak);
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("committed state"));
    ASSERT_EQ(ckpt_->poll_commits(), 1u);
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("TORN"), false);
    ckpt_->release_writer(writer_);
    EXPECT_EQ(shm::load_acquire(ckpt_->meta().desc(slot_).state), shm::kSectionCorrupted);
    EXPECT_EQ(ckpt_->counters().corruptions, 1u);
}

TEST_F(CaptureRecovery, AnAbortRestoresTheSection) {
    make();
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("kept"));
    ASSERT_EQ(ckpt_->poll_commits(), 1u);
    write_section(*ckpt_, writer_, slot_, 0, bytes_of("lost"), false);
    ASSERT_TRUE(ckpt_->rollback(slot_, writer_).ok());
    EXPECT_EQ(text(4), "kept");
    EXPECT_FALSE(ckpt_->rollback(slot_, writer_).ok()) << "it no longer holds the section";
}

} // namespace
