// The local stage (local_stage.hpp) between two engines' cores in process: a commit a writer staged
// because the engine had not captured it yet is captured from its record, before its successor,
// and reaches the standby; a writer that dies (or aborts) after staging is rolled back to the
// staged commit, not to the one before it; one that dies while staging leaves the live bytes as
// that commit; forged records and stage words are refused with a count and never stop a capture
// nor reach another section.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/local_stage.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "in_process_pair.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::shm;
using namespace ckpt::testing;

namespace {

constexpr std::uint64_t kCap = 8192; // the section: 8 KiB, blocks of pair_attrs()

std::vector<std::byte> filled(std::size_t n, std::byte b) {
    return std::vector<std::byte>(n, b);
}

class LocalStage : public ::testing::Test, protected InProcessPair {
protected:
    void SetUp() override {
        ASSERT_TRUE(start_pair()) << failure_;
        ASSERT_TRUE(create_replicated("stage", pair_attrs(UpdateMode::kSync), kCap)) << failure_;
        ASSERT_TRUE(acked(commit(0, filled(kCap, std::byte{0x11})))) << "the first commit was never acknowledged";
        ctl_ = &active_->data().control(slot_);
        bs_ = active_->attributes().block_size;
    }

    /// What libckpt's Section::write does when it finds the previous commit not captured
    /// (client/src/section.cpp, stage_previous): takes the lock, claims the stage word, copies the
    /// previous commit's published range into a free record and names it. Returns the record.
    std::uint32_t stage() {
        DataView d = active_->data();
        std::uint64_t lock = section_lock::load(*ctl_);
        EXPECT_FALSE(lock_held(lock));
        EXPECT_TRUE(section_lock::try_begin(*ctl_, lock, writer_));
        EXPECT_TRUE(local_stage::claim(*ctl_, kStageFree, kStageWriter));
        const std::uint32_t r = local_stage::take_record(&d.stage_record(0), slot_);
        EXPECT_LT(r, kStageRecords);
        fill_record(r, lock_seq(lock), load_relaxed(ctl_->dirty_first), load_relaxed(ctl_->dirty_last));
        local_stage::release(*ctl_, kStagedBase + r);
        d.ring_doorbell(slot_);
        return r;
    }
    void fill_record(std::uint32_t r, std::uint64_t seq, std::uint64_t first, std::uint64_t last) {
        DataView d = active_->data();
        StageRecord& rec = d.stage_record(r);
        const auto info = active_->meta().info(slot_);
        std::memcpy(d.stage_bytes(r), d.section_bytes(*info).data() + first * bs_, (last - first + 1) * bs_);
        rec.slot = slot_;
        rec.generation = info->generation;
        rec.seq = seq;
        rec.size = load_relaxed(ctl_->size);
        rec.commit_flags = 0;
        rec.writer = writer_ + 1;
        rec.first_block = first;
        rec.blocks = last - first + 1;
        store_release(rec.state, kRecordReady);
    }
    /// Continues the transaction stage() opened: stores `bytes` at `offset`; with `commit`,
    /// publishes it with the staged range added to its own, as WriteTx does.
    void write_on(std::uint64_t offset, std::span<const std::byte> bytes, std::uint64_t staged_first,
                  std::uint64_t staged_last, bool commit = true) {
        const auto info = active_->meta().info(slot_);
        std::memcpy(active_->data().section_bytes(*info).data() + offset, bytes.data(), bytes.size());
        active_->data().mark_dirty(*info, offset, bytes.size());
        if (!commit) return;
        const std::uint64_t seq = lock_seq(section_lock::load(*ctl_)); // odd
        dirty_bitmap::publish_range(*ctl_, std::min(staged_first, offset / bs_),
                                    std::max(staged_last, (offset + bytes.size() - 1) / bs_));
        section_group::leave(*ctl_);
        section_lock::publish(*ctl_, seq + 1);
        active_->data().ring_doorbell(slot_);
    }
    bool records_free() const {
        for (std::uint32_t r = 0; r < kStageRecords; ++r)
            if (load_acquire(active_->data().stage_record(r).state) != kRecordFree) return false;
        return true;
    }
    std::vector<std::byte> expected(std::initializer_list<std::pair<std::uint64_t, std::byte>> runs) const {
        // 0x11 everywhere, then each run of 1 KiB at its offset.
        auto v = filled(kCap, std::byte{0x11});
        for (auto [off, b] : runs) std::memset(v.data() + off, static_cast<int>(b), 1024);
        return v;
    }
    SectionControl* ctl_ = nullptr;
    std::uint32_t bs_ = 0;
};

TEST_F(LocalStage, AStagedCommitIsCapturedBeforeItsSuccessorAndReachesTheStandby) {
    const std::uint64_t applied0 = standby_->counters().commits_applied;
    // Commit B, not captured (no engine turn), then stage it and write C over another block.
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
    const std::uint32_t r = stage();
    EXPECT_EQ(local_stage::load(*ctl_), kStagedBase + r);
    EXPECT_EQ(active_->data().stage_record(r).seq, b);
    // The engine captures B from the record while C is still being written.
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b);
    EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
    EXPECT_TRUE(records_free());
    EXPECT_EQ(active_->counters().staged_commits, 1u);
    write_on(4096, filled(1024, std::byte{0x33}), first, last);
    const std::uint64_t c = seq_of(*active_, slot_);
    ASSERT_TRUE(acked(c));
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}, {4096, std::byte{0x33}}}));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_EQ(standby_->counters().commits_applied - applied0, 2u) << "B and C arrive as two commits";
    EXPECT_EQ(active_->counters().stage_invalid, 0u);
}

TEST_F(LocalStage, BothCommitsAreCapturedInOrderWhenTheEngineComesOnlyAfterTheSecond) {
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
    stage();
    write_on(1024, filled(1024, std::byte{0x33}), first, last);
    const std::uint64_t c = seq_of(*active_, slot_);
    ASSERT_EQ(c, b + 2);
    ASSERT_TRUE(acked(c));
    EXPECT_EQ(active_->counters().staged_commits, 1u);
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}, {1024, std::byte{0x33}}}));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(LocalStage, AWriterKilledAfterStagingIsRolledBackToTheStagedCommitNotTheOneBefore) {
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
    stage();
    write_on(0, filled(2048, std::byte{0x66}), first, last, false); // half a transaction, never committed
    active_->release_writer(writer_);                               // what the engine does when it dies
    EXPECT_GT(seq_of(*active_, slot_), b);
    EXPECT_FALSE(lock_held(section_lock::load(*ctl_)));
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}}));
    EXPECT_TRUE(records_free());
    ASSERT_TRUE(acked(seq_of(*active_, slot_)));
    EXPECT_EQ(section_bytes(*standby_, slot_), expected({{0, std::byte{0x22}}}));
}

TEST_F(LocalStage, AnAbortAfterStagingKeepsTheStagedCommit) {
    const std::uint64_t first_seq = commit(0, filled(1024, std::byte{0x22}));
    const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
    stage();
    write_on(0, filled(1024, std::byte{0x77}), first, last, false);
    ASSERT_TRUE(active_->rollback(slot_, writer_).ok());
    EXPECT_GT(seq_of(*active_, slot_), first_seq);
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}}));
    ASSERT_TRUE(acked(seq_of(*active_, slot_)));
    EXPECT_EQ(section_bytes(*standby_, slot_), expected({{0, std::byte{0x22}}}));
}

TEST_F(LocalStage, AWriterKilledWhileStagingLeavesTheLiveBytesAsItsCommit) {
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    // It took the lock, claimed the word and a record, and died copying: no byte of the section
    // changed yet, so the live bytes are B.
    std::uint64_t lock = section_lock::load(*ctl_);
    ASSERT_TRUE(section_lock::try_begin(*ctl_, lock, writer_));
    ASSERT_TRUE(local_stage::claim(*ctl_, kStageFree, kStageWriter));
    DataView d = active_->data();
    const std::uint32_t r = local_stage::take_record(&d.stage_record(0), 0);
    ASSERT_LT(r, kStageRecords);
    d.stage_record(r).slot = slot_;
    d.stage_record(r).writer = writer_ + 1;
    active_->release_writer(writer_);
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), seq_of(*active_, slot_));
    EXPECT_GT(seq_of(*active_, slot_), b);
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}}));
    EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
    EXPECT_TRUE(records_free()) << "the dead writer's record is given back";
    ASSERT_TRUE(acked(seq_of(*active_, slot_)));
    EXPECT_EQ(section_bytes(*standby_, slot_), expected({{0, std::byte{0x22}}}));
}

TEST_F(LocalStage, ALockGivenBackIsRungAgainAndItsCommitCaptured) {
    // A writer that took the lock to stage and could not (the engine's claim, no free record)
    // gives it back unchanged and rings again: the engine, which skipped the held section, then
    // captures the commit.
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    std::uint64_t lock = section_lock::load(*ctl_);
    ASSERT_TRUE(section_lock::try_begin(*ctl_, lock, writer_));
    step();
    EXPECT_NE(load_acquire(active_->meta().desc(slot_).captured_seq), b) << "a held section is not captured";
    section_lock::give_back(*ctl_, lock);
    active_->data().ring_doorbell(slot_);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b);
}

TEST_F(LocalStage, ForgedRecordsAndWordsAreCountedAndNeverStopACapture) {
    std::uint64_t invalid = 0;
    auto forged = [&](const char* what, auto&& forge) {
        SCOPED_TRACE(what);
        const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
        const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
        std::uint64_t lock = section_lock::load(*ctl_);
        ASSERT_TRUE(section_lock::try_begin(*ctl_, lock, writer_));
        forge(b, first, last);
        active_->data().ring_doorbell(slot_);
        step();
        write_on(4096, filled(1024, std::byte{0x44}), first, last);
        const std::uint64_t c = seq_of(*active_, slot_);
        ASSERT_TRUE(acked(c)) << "the next commit was never captured";
        EXPECT_GT(active_->counters().stage_invalid, invalid);
        invalid = active_->counters().stage_invalid;
        EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
        EXPECT_TRUE(records_free());
        EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    };
    DataView d = active_->data();
    forged("a record of another section", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(3, b, f, l);
        d.stage_record(3).slot = slot_ + 1;
        local_stage::release(*ctl_, kStagedBase + 3);
    });
    forged("a record of another generation", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(1, b, f, l);
        d.stage_record(1).generation += 7;
        local_stage::release(*ctl_, kStagedBase + 1);
    });
    forged("a sequence past the live one", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(2, b + 40, f, l);
        local_stage::release(*ctl_, kStagedBase + 2);
    });
    forged("a range past the section", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(4, b, f, l);
        d.stage_record(4).first_block = kCap / bs_;
        local_stage::release(*ctl_, kStagedBase + 4);
    });
    forged("a range past the record", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(5, b, f, l);
        d.stage_record(5).blocks = d.stage_record_bytes() / bs_ + 1;
        d.stage_record(5).first_block = 0;
        local_stage::release(*ctl_, kStagedBase + 5);
    });
    forged("a record still filling", [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(6, b, f, l);
        store_release(d.stage_record(6).state, kRecordFilling);
        local_stage::release(*ctl_, kStagedBase + 6);
    });
    // Words with no record: a writer's claim with the lock free, garbage.
    const std::uint64_t before = active_->counters().stage_invalid;
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x55}));
    local_stage::release(*ctl_, kStageWriter);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b) << "a scribbled claim stopped the capture";
    EXPECT_GT(active_->counters().stage_invalid, before);
    const std::uint64_t b2 = commit(0, filled(1024, std::byte{0x56}));
    local_stage::release(*ctl_, 0xdead);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b2);
    EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
    ASSERT_TRUE(acked(b2));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

TEST_F(LocalStage, ASectionDeletedWithAStagedCommitGivesItsRecordBack) {
    auto other = active_->create_section(bytes_of("t"), false, kTimeEnd, 4096, {});
    ASSERT_TRUE(other.ok()) << other.message();
    commit(0, filled(1024, std::byte{0x22}));
    const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
    stage();
    write_on(1024, filled(1024, std::byte{0x33}), first, last);
    ASSERT_TRUE(active_->delete_section(bytes_of("s")).ok()); // before any engine turn
    EXPECT_TRUE(records_free());
    step();
    EXPECT_EQ(active_->counters().stage_invalid, 0u);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The stage word between two threads, no engine (local_stage.hpp with section_lock.hpp): an
// "engine" thread that copies the live words into its shadow under its claim, and a writer thread
// that, finding its previous commit not captured, takes the lock, claims the word and copies that
// commit into a record instead of waiting. Neither copy may ever be torn: the engine's copy of
// commit N is all N even when the writer took the lock for N+1 meanwhile, and the writer's record
// is all N.
// ---------------------------------------------------------------------------------------------
namespace {

constexpr int kWords = 256;

struct alignas(64) TwoThreads {
    SectionControl ctl{};
    std::uint64_t live[kWords] = {};
    std::uint64_t record[kWords] = {};
    std::uint64_t record_seq = 0;
    std::atomic<std::uint64_t> captured{0}; ///< what the "engine" holds (desc.captured_seq)
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> torn{0}, staged{0}, engine_copies{0};
};

std::uint64_t word(const std::uint64_t* w, int i) {
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(w[i])).load(std::memory_order_relaxed);
}
void put(std::uint64_t* w, int i, std::uint64_t v) {
    std::atomic_ref<std::uint64_t>(w[i]).store(v, std::memory_order_relaxed);
}
bool all_of(const std::uint64_t* w, std::uint64_t v) {
    for (int i = 0; i < kWords; ++i)
        if (word(w, i) != v) return false;
    return true;
}

} // namespace

TEST(LocalStageWord, NeitherTheEnginesCopyNorTheWritersRecordIsEverTorn) {
    TwoThreads t;
    std::thread engine([&] {
        std::uint64_t shadow[kWords];
        while (!t.done.load(std::memory_order_acquire)) {
            const std::uint32_t w = local_stage::load(t.ctl);
            if (local_stage::names_record(w)) { // capture the staged commit from its record
                if (!all_of(t.record, t.record_seq)) t.torn.fetch_add(1);
                t.captured.store(t.record_seq, std::memory_order_release);
                local_stage::claim(t.ctl, w, kStageFree);
                continue;
            }
            const std::uint64_t lock = section_lock::load(t.ctl);
            if (lock_held(lock) || lock_seq(lock) == t.captured.load(std::memory_order_acquire)) continue;
            if (w == kStageWriter || !local_stage::claim(t.ctl, w, kStageEngine)) continue;
            for (int i = 0; i < kWords; ++i) shadow[i] = word(t.live, i);
            fence_acquire();
            const std::uint64_t now = load_relaxed(t.ctl.lock);
            const bool next_tx = lock_held(now) && lock_seq(now) == lock_seq(lock) + 1;
            if (now == lock || next_tx) {
                for (int i = 0; i < kWords; ++i)
                    if (shadow[i] != lock_seq(lock)) {
                        t.torn.fetch_add(1);
                        break;
                    }
                t.captured.store(lock_seq(lock), std::memory_order_release);
                t.engine_copies.fetch_add(1);
            } else {
                t.torn.fetch_add(1); // only a writer that broke the protocol moves the word otherwise
            }
            local_stage::release(t.ctl);
        }
    });
    for (int n = 0; n < 20000; ++n) {
        std::uint64_t lock = section_lock::load(t.ctl);
        const std::uint64_t seq = lock_seq(lock);
        bool may_write = t.captured.load(std::memory_order_acquire) == seq;
        if (!may_write && local_stage::load(t.ctl) == kStageFree) {
            ASSERT_TRUE(section_lock::try_begin(t.ctl, lock, 0));
            if (!local_stage::claim(t.ctl, kStageFree, kStageWriter)) {
                section_lock::give_back(t.ctl, make_lock(seq, 0)); // the engine copies N now
            } else if (t.captured.load(std::memory_order_acquire) == seq) {
                local_stage::release(t.ctl);
                may_write = true;
            } else { // stage N
                for (int i = 0; i < kWords; ++i) put(t.record, i, word(t.live, i));
                t.record_seq = seq;
                local_stage::release(t.ctl, kStagedBase);
                t.staged.fetch_add(1);
                may_write = true;
            }
            if (may_write) { // holding the lock: write N+2 and publish
                for (int i = 0; i < kWords; ++i) put(t.live, i, seq + 2);
                section_lock::publish(t.ctl, seq + 2);
                continue;
            }
        }
        if (may_write) {
            ASSERT_TRUE(section_lock::try_begin(t.ctl, lock, 0));
            for (int i = 0; i < kWords; ++i) put(t.live, i, seq + 2);
            section_lock::publish(t.ctl, seq + 2);
        } else {
            std::this_thread::yield(); // the engine has N to capture first
        }
    }
    t.done.store(true, std::memory_order_release);
    engine.join();
    EXPECT_EQ(t.torn.load(), 0u);
    EXPECT_GT(t.staged.load(), 0u) << "the writer never staged: the race was not exercised";
    EXPECT_GT(t.engine_copies.load(), 0u);
}
