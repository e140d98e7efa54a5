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
#include <tuple>
#include <vector>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::shm;
using namespace ckpt::testing;

namespace {

constexpr std::uint64_t kCap = 16384; // the section: 16 KiB (a stage record of pair_attrs() holds 8 KiB)

std::vector<std::byte> filled(std::size_t n, std::byte b) {
    return std::vector<std::byte>(n, b);
}

class LocalStage : public ::testing::Test, protected InProcessPair {
protected:
    void SetUp() override { start(1024); }
    /// `window`: frames in flight per peer (small: a commit's frames trickle over many turns).
    void start(std::uint32_t window) {
        Options o;
        o.link_a.stream.window = window;
        o.link_b.stream.window = window;
        ASSERT_TRUE(start_pair(o)) << failure_;
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
        const std::uint32_t r = local_stage::take_record(&d.stage_record(0), slot_, writer_);
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
    const std::uint32_t r = local_stage::take_record(&d.stage_record(0), 0, writer_);
    ASSERT_LT(r, kStageRecords); // its header still holds whatever the record's last user wrote
    active_->release_writer(writer_);
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), seq_of(*active_, slot_));
    EXPECT_GT(seq_of(*active_, slot_), b);
    EXPECT_EQ(section_bytes(*active_, slot_), expected({{0, std::byte{0x22}}}));
    EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
    EXPECT_TRUE(records_free()) << "the dead writer's record is given back";
    ASSERT_TRUE(acked(seq_of(*active_, slot_)));
    EXPECT_EQ(section_bytes(*standby_, slot_), expected({{0, std::byte{0x22}}}));
}

TEST_F(LocalStage, AWriterStagingIsLeftAloneAndALockGivenBackIsCaptured) {
    // A writer took the lock and claimed the stage word (it is copying B into a record): the engine
    // neither captures nor calls it damage. It then found no free record: word free, lock given
    // back unchanged, doorbell rung again: the engine captures B from the live bytes.
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x22}));
    std::uint64_t lock = section_lock::load(*ctl_);
    ASSERT_TRUE(section_lock::try_begin(*ctl_, lock, writer_));
    ASSERT_TRUE(local_stage::claim(*ctl_, kStageFree, kStageWriter));
    step();
    EXPECT_NE(load_acquire(active_->meta().desc(slot_).captured_seq), b) << "a section being staged is not captured";
    EXPECT_EQ(local_stage::load(*ctl_), kStageWriter);
    local_stage::release(*ctl_);
    section_lock::give_back(*ctl_, lock);
    active_->data().ring_doorbell(slot_);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b);
    EXPECT_EQ(active_->counters().stage_invalid, 0u);
    ASSERT_TRUE(acked(b));
    EXPECT_EQ(section_bytes(*standby_, slot_), expected({{0, std::byte{0x22}}}));
}

TEST_F(LocalStage, ForgedRecordsAndWordsAreCountedAndNeverStopACapture) {
    std::uint64_t invalid = 0;
    // `theirs`: the record is not this section's to give back (another section's, or one a live
    // writer is filling): it must still be there afterwards; the test frees it.
    auto forged = [&](const char* what, std::uint32_t r, bool theirs, auto&& forge) {
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
        if (theirs) {
            EXPECT_NE(load_acquire(active_->data().stage_record(r).state), kRecordFree) << "another's record freed";
            local_stage::free_record(active_->data().stage_record(r));
        }
        EXPECT_TRUE(records_free());
        EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    };
    DataView d = active_->data();
    forged("a record of another section", 3, true, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(3, b, f, l);
        d.stage_record(3).slot = slot_ + 1;
        local_stage::release(*ctl_, kStagedBase + 3);
    });
    forged("a record of another generation", 1, true, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(1, b, f, l);
        d.stage_record(1).generation += 7;
        local_stage::release(*ctl_, kStagedBase + 1);
    });
    forged("a sequence past the live one", 2, false, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(2, b + 40, f, l);
        local_stage::release(*ctl_, kStagedBase + 2);
    });
    forged("a range past the section", 4, false, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(4, b, f, l);
        d.stage_record(4).first_block = kCap / bs_;
        local_stage::release(*ctl_, kStagedBase + 4);
    });
    forged("a range past the record", 5, false, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(5, b, f, l);
        ASSERT_LT(d.stage_record_bytes(), kCap); // the section is larger than a record: only the record's size stops it
        d.stage_record(5).blocks = d.stage_record_bytes() / bs_ + 1;
        d.stage_record(5).first_block = 0;
        local_stage::release(*ctl_, kStagedBase + 5);
    });
    forged("a record a live writer is filling", 6, true, [&](std::uint64_t b, std::uint64_t f, std::uint64_t l) {
        fill_record(6, b, f, l);
        store_release(d.stage_record(6).state, local_stage::filling_by(writer_));
        local_stage::release(*ctl_, kStagedBase + 6);
    });
    // A record of a commit captured already (an engine killed after the capture, before it freed
    // the record): given back quietly, no damage.
    {
        const std::uint64_t before = active_->counters().stage_invalid;
        const std::uint64_t b = commit(0, filled(1024, std::byte{0x57}));
        ASSERT_TRUE(acked(b));
        const std::uint64_t first = load_relaxed(ctl_->dirty_first), last = load_relaxed(ctl_->dirty_last);
        fill_record(7, b, first, last);
        local_stage::release(*ctl_, kStagedBase + 7);
        active_->data().ring_doorbell(slot_);
        step();
        EXPECT_EQ(active_->counters().stage_invalid, before);
        EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
        EXPECT_TRUE(records_free());
    }
    // Words with no record: a writer's claim with the lock free (taken over without a word: an
    // honest writer that gave up and a next one that claimed in between look the same), garbage.
    const std::uint64_t before = active_->counters().stage_invalid;
    const std::uint64_t b = commit(0, filled(1024, std::byte{0x55}));
    local_stage::release(*ctl_, kStageWriter);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b) << "a scribbled claim stopped the capture";
    EXPECT_EQ(active_->counters().stage_invalid, before);
    const std::uint64_t b2 = commit(0, filled(1024, std::byte{0x56}));
    local_stage::release(*ctl_, 0xdead);
    step();
    EXPECT_EQ(load_acquire(active_->meta().desc(slot_).captured_seq), b2);
    EXPECT_GT(active_->counters().stage_invalid, before);
    EXPECT_EQ(local_stage::load(*ctl_), kStageFree);
    ASSERT_TRUE(acked(b2));
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
}

class LocalStageTrickle : public LocalStage {
protected:
    void SetUp() override { start(2); } // two frames in flight: a commit's frames take many turns
};

TEST_F(LocalStageTrickle, AGroupCommittedAfterAStagedCommitReachesTheStandbyWhole) {
    // The staged commit is captured alone; the group that follows it must stay one: capturing
    // the staged commit must not clear the group tag the live words carry.
    auto t = active_->create_section(bytes_of("t"), false, kTimeEnd, 8192, {});
    ASSERT_TRUE(t.ok()) << t.message();
    const std::uint32_t ts = t->slot;
    ASSERT_TRUE(run_until([&] { return standby_->section_state(ts).has_value(); }));
    commit(0, filled(1024, std::byte{0x22}));
    stage(); // s held for its next transaction, B in a record
    SectionControl& tctl = active_->data().control(ts);
    std::uint64_t tlock = section_lock::load(tctl);
    ASSERT_TRUE(section_lock::try_begin(tctl, tlock, writer_));
    const std::uint64_t sseq = lock_seq(section_lock::load(*ctl_)), tseq = lock_seq(section_lock::load(tctl));
    for (auto [slot, ctl, cap] : {std::tuple{slot_, ctl_, kCap}, std::tuple{ts, &tctl, std::uint64_t{8192}}}) {
        const auto info = active_->meta().info(slot);
        std::memset(active_->data().section_bytes(*info).data(), 0x33, cap);
        active_->data().mark_dirty(*info, 0, cap);
        store_relaxed(ctl->size, cap);
        store_relaxed(ctl->commit_flags, 0u);
        dirty_bitmap::publish_range(*ctl, 0, cap / bs_ - 1);
    }
    const std::uint64_t tag = section_group::make_tag(writer_, 99);
    section_group::join(*ctl_, tag, ts, 2);
    section_group::join(tctl, tag, slot_, 2);
    std::uint64_t mixed = 0;
    each_step_ = [&] {
        const auto sb = section_bytes(*standby_, slot_), tb = section_bytes(*standby_, ts);
        const bool s_new = !sb.empty() && sb.back() == std::byte{0x33};
        const bool t_new = !tb.empty() && tb.back() == std::byte{0x33};
        if (s_new != t_new) ++mixed;
    };
    section_lock::publish(*ctl_, sseq + 1);
    section_lock::publish(tctl, tseq + 1);
    active_->data().ring_doorbell(slot_);
    active_->data().ring_doorbell(ts);
    ASSERT_TRUE(run_until([&] { return acked_of(*active_, slot_) >= sseq + 1 && acked_of(*active_, ts) >= tseq + 1; }));
    each_step_ = nullptr;
    EXPECT_EQ(mixed, 0u) << "the standby showed one member of the group without the other";
    EXPECT_EQ(active_->counters().staged_commits, 1u);
    EXPECT_EQ(section_bytes(*standby_, slot_), section_bytes(*active_, slot_));
    EXPECT_EQ(section_bytes(*standby_, ts), section_bytes(*active_, ts));
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
        // capture_staged: the commit in the record, if the word names it
        auto staged = [&] {
            const std::uint32_t w = local_stage::load(t.ctl);
            if (!local_stage::names_record(w)) return false;
            if (!all_of(t.record, t.record_seq)) t.torn.fetch_add(1);
            t.captured.store(t.record_seq, std::memory_order_release);
            local_stage::claim(t.ctl, w, kStageFree);
            return true;
        };
        while (!t.done.load(std::memory_order_acquire)) {
            // In CommitPath's order: capture() takes a staged commit, loads the lock, and
            // claim_live looks at the word again (a writer may have staged in between).
            if (staged()) continue;
            const std::uint64_t lock = section_lock::load(t.ctl);
            if (lock_held(lock) || lock_seq(lock) == t.captured.load(std::memory_order_acquire)) continue;
            if (staged()) continue; // the lock just loaded is stale now
            const std::uint32_t w = local_stage::load(t.ctl);
            if (w == kStageWriter && lock_held(section_lock::load(t.ctl))) continue;
            if (!local_stage::claim(t.ctl, w, kStageEngine)) continue;
            if (lock_seq(lock) <= t.captured.load(std::memory_order_acquire)) {
                local_stage::release(t.ctl);
                continue;
            }
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
            // As stage_previous: the claim is left by CAS; the engine may have taken it over.
            const auto leave = [&](std::uint32_t to) { return local_stage::claim(t.ctl, kStageWriter, to); };
            if (!local_stage::claim(t.ctl, kStageFree, kStageWriter)) {
                section_lock::give_back(t.ctl, make_lock(seq, 0)); // the engine copies N now
            } else if (t.captured.load(std::memory_order_acquire) == seq) {
                may_write = leave(kStageFree);
            } else { // stage N
                for (int i = 0; i < kWords; ++i) put(t.record, i, word(t.live, i));
                t.record_seq = seq;
                may_write = leave(kStagedBase);
                if (may_write) t.staged.fetch_add(1);
            }
            if (!may_write && lock_held(section_lock::load(t.ctl)) && lock_owner(section_lock::load(t.ctl)) == 1)
                section_lock::give_back(t.ctl, make_lock(seq, 0));
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
