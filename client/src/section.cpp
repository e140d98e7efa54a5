#include "ckpt/client/section.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/local_stage.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "internal.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

namespace ckpt::client {

using namespace ckpt::shm;

namespace {
Failure deleted(const std::string& id) {
    return fail(Error::kNotExist, "section " + detail::printable_id(id) + " was deleted");
}
} // namespace

namespace {

/// A standby refuses new transactions (fencing a writer left on a demoted node), and an async
/// writer may not run more than the configured window ahead of its standbys.
Status replication_allows_write(detail::CheckpointCore& ck, std::chrono::milliseconds timeout) {
    const MetaHeader& h = ck.meta.header();
    if (load_acquire(h.role) == kRoleStandby) {
        const std::uint32_t active = load_acquire(h.active_node);
        return fail(Error::kBadOperation,
                    "checkpoint '" + printable_name(ck.name) + "' is a standby replica on this node" +
                        (active ? " (active: node " + std::to_string(active) + ")" : std::string()) +
                        "; writes are refused until it is promoted");
    }
    const std::uint32_t window = load_acquire(h.async_window);
    if (window == 0 || load_acquire(h.repl_lag_commits) < window) return {};
    if (load_acquire(h.window_policy) == kWindowTryAgain)
        return fail(Error::kTryAgain, "replication lag of checkpoint '" + printable_name(ck.name) +
                                          "' reached async_window (" + std::to_string(window) +
                                          " commits not yet applied by its standbys)");
    return detail::wait_for(
        ck, [&] { return load_acquire(h.repl_lag_commits) < window || load_acquire(h.role) == kRoleStandby; }, timeout,
        "replication lag to drop below async_window");
}

/// Where commit `committed` of the section at `slot` (generation `gen`) stands for Ack::kSync.
Result<bool> replication_of(const detail::CheckpointCore& ck, std::uint32_t slot, std::uint64_t gen,
                            std::uint64_t committed) {
    const SectionDesc& desc = ck.meta.desc(slot);
    if (load_acquire(desc.acked_seq) >= committed || load_acquire(desc.generation) != gen) return true;
    const MetaHeader& h = ck.meta.header();
    if (load_acquire(h.role) == kRoleStandby)
        return fail(Error::kBadOperation, "commit " + std::to_string(committed) +
                                              " is not replicated: this node was demoted to standby "
                                              "(another node is the active replica now)");
    if (const std::uint32_t down = load_acquire(h.sync_blocked); down != 0)
        return fail(Error::kUnavailable, "commit " + std::to_string(committed) + " is not replicated: standby node " +
                                             std::to_string(down) + " is down (the commit holds on this node only)");
    return false;
}

Status wait_replication(detail::CheckpointCore& ck, std::uint32_t slot, std::uint64_t gen, std::uint64_t committed,
                        std::chrono::milliseconds timeout) {
    // Done when acknowledged; refused at once when a required standby is down or this node
    // stopped being the active replica (the commit is here, but not replicated).
    CKPT_TRY(detail::wait_for(
        ck,
        [&] {
            auto r = replication_of(ck, slot, gen, committed);
            return !r || *r;
        },
        timeout, "acknowledgement of the commit by every standby"));
    auto r = replication_of(ck, slot, gen, committed);
    if (!r) return r.failure();
    return {};
}

enum class Stage { kWriteOn, kWait, kRetry, kDeleted };

/// The section is free at `lock` (commit N) and ckptd has not captured N yet. Instead of waiting,
/// take the lock (N+1) and copy N's dirty range into a stage record for the engine to capture
/// (local_stage.hpp). kWriteOn: the lock is held; [first, last] is N's range when N was staged
/// (the next commit publishes at least it), empty when the engine captured N meanwhile. kWait:
/// nothing held (no stage, N was a group's member, a range larger than a record, every record in
/// use, the engine copying N right now, an async window to respect): wait for the capture as
/// before. kRetry: the lock moved.
Stage stage_previous(detail::CheckpointCore& ck, std::uint32_t slot, std::uint64_t generation, const std::byte* bytes,
                     std::uint64_t capacity, std::uint64_t lock, std::uint64_t& first, std::uint64_t& last) {
    const DataView& d = ck.data;
    SectionControl& ctl = d.control(slot);
    const std::uint32_t bs = ck.attrs.block_size;
    const std::uint64_t df = load_relaxed(ctl.dirty_first), dl = load_relaxed(ctl.dirty_last);
    // With an async window the lag check after the capture (in write()) must see N counted: wait.
    if (!d.has_stage() || local_stage::load(ctl) != kStageFree || section_group::tag_of(ctl) != 0 || df > dl ||
        dl >= capacity / bs || (dl - df + 1) * bs > d.stage_record_bytes() ||
        load_acquire(ck.meta.header().async_window) != 0)
        return Stage::kWait;
    std::uint64_t seen = lock;
    if (!section_lock::try_begin(ctl, seen, ck.writer)) return Stage::kRetry;
    // From here no byte of the section changes until we say so: give the lock back on any way out
    // but kWriteOn, and ring again (the engine may have taken the doorbell while we held it).
    const auto give_back = [&](Stage why) {
        section_lock::give_back(ctl, lock);
        d.ring_doorbell(slot);
        ck.session->kick_engine();
        return why;
    };
    const SectionDesc& desc = ck.meta.desc(slot);
    if (load_acquire(desc.generation) != generation) return give_back(Stage::kDeleted);
    if (!local_stage::claim(ctl, kStageFree, kStageWriter)) return give_back(Stage::kWait); // the engine copies N now
    // Our claim is left by CAS only: the engine takes over a writer's claim it finds with the lock
    // free (a scribble, or one that gave up just before we claimed); if it took ours, we give up.
    const auto leave = [&](std::uint32_t to) { return local_stage::claim(ctl, kStageWriter, to); };
    // A node demoted meanwhile: its replica applier owns the shadow; never stage there (ordered
    // after our lock and claim: the applier applies only under the lock).
    if (load_acquire(ck.meta.header().role) == kRoleStandby) {
        leave(kStageFree);
        return give_back(Stage::kWait);
    }
    first = ~std::uint64_t{0};
    last = 0;
    if (load_acquire(desc.captured_seq) == lock_seq(lock)) { // captured while we took the lock
        if (leave(kStageFree)) return Stage::kWriteOn;
        return give_back(Stage::kWait);
    }
    StageRecord* records = &d.stage_record(0);
    const std::uint32_t r = local_stage::take_record(records, slot, ck.writer);
    if (r == kStageRecords) {
        leave(kStageFree);
        return give_back(Stage::kWait);
    }
    StageRecord& rec = records[r];
    std::memcpy(d.stage_bytes(r), bytes + df * bs, (dl - df + 1) * bs);
    store_relaxed(rec.slot, slot);
    store_relaxed(rec.generation, generation);
    store_relaxed(rec.seq, lock_seq(lock));
    store_relaxed(rec.size, load_relaxed(ctl.size));
    store_relaxed(rec.commit_flags, load_relaxed(ctl.commit_flags));
    store_relaxed(rec.writer, ck.writer + 1);
    store_relaxed(rec.first_block, df);
    store_relaxed(rec.blocks, dl - df + 1);
    store_release(rec.state, kRecordReady);
    if (!leave(kStagedBase + r)) { // the engine took the word over: it copies N itself
        local_stage::free_record(rec);
        return give_back(Stage::kWait);
    }
    d.ring_doorbell(slot); // the engine can capture N from the record while we write N+1
    ck.session->kick_engine();
    first = df;
    last = dl;
    return Stage::kWriteOn;
}

} // namespace

bool detail::group_open(const CheckpointCore& ck, std::uint32_t slot, std::uint64_t lock) {
    if (lock_held(lock)) return false;
    const std::uint32_t max = ck.attrs.max_sections;
    const auto state = section_group::walk(
        slot, lock, max, [&](std::uint32_t s) { return s < max ? &ck.data.control(s) : nullptr; },
        [](std::uint32_t, std::uint64_t) {});
    return state == section_group::State::kOpen;
}

// ------------------------------------------------------------------------------------------
// Section
// ------------------------------------------------------------------------------------------

Result<WriteTx> Section::write(std::chrono::milliseconds timeout) {
    if (!ck_ || ck_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (!(ck_->flags & kOpenWrite))
        return fail(Error::kAccess, "checkpoint '" + printable_name(ck_->name) + "' is open read-only");
    detail::CheckpointCore& ck = *ck_;
    if (ck.writer == proto::kNoWriterSlot) return fail(Error::kBadHandle, "no writer slot (reconnect failed?)");
    CKPT_TRY(replication_allows_write(ck, timeout));
    const SectionDesc& desc = ck.meta.desc(slot_);
    SectionControl& ctl = ck.data.control(slot_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::uint64_t lock = section_lock::load(ctl);
        if (load_acquire(desc.generation) != generation_) return deleted(id_);
        if (lock_held(lock)) {
            if (section_lock::fenced(lock)) return deleted(id_);
            if (lock_owner(lock) == ck.writer + 1)
                return fail(Error::kBusy, "section " + detail::printable_id(id_) +
                                              " is already in a write transaction of this process");
            // Another process writes it: wait for its commit (or the engine's rollback if it died).
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return fail(Error::kTimeout,
                            "section " + detail::printable_id(id_) + " stayed locked by another writer");
            CKPT_TRY(detail::wait_for(
                ck, [&] { return section_lock::load(ctl) != lock; }, left, "the other writer's commit"));
            continue;
        }
        // The engine must hold this section's last commit before we change it again: that copy
        // is what it restores if we die mid-transaction. Either it has it, or we stage it for it.
        const std::uint64_t seq = lock_seq(lock);
        const auto open_tx = [&](std::uint64_t first, std::uint64_t last) {
            WriteTx tx;
            tx.ck_ = ck_;
            tx.slot_ = slot_;
            tx.seq_ = seq + 1;
            tx.bytes_ = bytes_;
            tx.capacity_ = capacity_;
            tx.data_offset_ = data_offset_;
            tx.size_ = std::min<std::uint64_t>(load_relaxed(ctl.size), capacity_);
            tx.dirty_first_ = first; // a staged commit's blocks are published again with ours
            tx.dirty_last_ = last;
            tx.open_ = true;
            return tx;
        };
        if (load_acquire(desc.captured_seq) != seq) {
            std::uint64_t first = 0, last = 0;
            switch (stage_previous(ck, slot_, generation_, bytes_, capacity_, lock, first, last)) {
            case Stage::kWriteOn:
                return open_tx(first, last);
            case Stage::kRetry:
                continue;
            case Stage::kDeleted:
                return deleted(id_);
            case Stage::kWait:
                break;
            }
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return fail(Error::kTimeout, "ckptd has not captured the previous commit of section " +
                                                 detail::printable_id(id_) + " (is the engine running?)");
            CKPT_TRY(detail::wait_for(
                ck, [&] { return load_acquire(desc.captured_seq) == seq || section_lock::load(ctl) != lock; }, left,
                "capture of the previous commit"));
            continue;
        }
        // The async window once more, now that this section's previous commit is captured and
        // so counted in the lag (the engine publishes captured_seq after the lag): the check at
        // the top may have run before that capture, and a single writer then ran one commit past
        // async_window. (Concurrent writers of other sections can still each pass it at once.)
        if (const std::uint32_t window = load_acquire(ck.meta.header().async_window);
            window != 0 && load_acquire(ck.meta.header().repl_lag_commits) >= window) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            CKPT_TRY(replication_allows_write(ck, std::max(left, std::chrono::milliseconds(0))));
            continue; // the window opened while we waited: look at the section again
        }
        const std::uint64_t seen = lock;
        if (section_lock::try_begin(ctl, lock, ck.writer)) {
            if (load_acquire(desc.generation) != generation_) { // deleted and reused meanwhile
                section_lock::give_back(ctl, seen);
                return deleted(id_);
            }
            return open_tx(~std::uint64_t{0}, 0);
        }
    }
}

Result<std::uint64_t> Section::write(std::size_t offset, std::span<const std::byte> src, Ack ack) {
    if (offset > capacity_ || src.size() > capacity_ - offset)
        return fail(Error::kInvalidParam, "write of " + std::to_string(src.size()) + " bytes at offset " +
                                              std::to_string(offset) + " exceeds section capacity " +
                                              std::to_string(capacity_));
    CKPT_TRY_ASSIGN(tx, write());
    if (load_relaxed(ck_->meta.desc(slot_).state) == kSectionCorrupted) {
        (void)tx.abort();
        return fail(Error::kFailedOperation,
                    "section " + detail::printable_id(id_) +
                        " is corrupted (its writer died mid-write); only overwrite() repairs it");
    }
    tx.write(offset, src);
    return tx.commit(ack);
}

Result<std::uint64_t> Section::overwrite(std::span<const std::byte> src, Ack ack) {
    if (src.size() > capacity_)
        return fail(Error::kInvalidParam, "overwrite of " + std::to_string(src.size()) +
                                              " bytes exceeds section capacity " + std::to_string(capacity_));
    CKPT_TRY_ASSIGN(tx, write());
    tx.resize(src.size());
    if (!src.empty()) tx.write(0, src);
    return tx.commit_overwrite(ack);
}

Result<ReadSnapshot> Section::begin_read(std::chrono::milliseconds timeout) const {
    if (!ck_ || ck_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    detail::CheckpointCore& ck = *ck_;
    // SA Forum: saCkptCheckpointRead through a handle not opened for read mode is ACCESS. The
    // mapping is readable anyway (DATA is mapped for write), so the library is where it is kept.
    if (!(ck.flags & kOpenRead))
        return fail(Error::kAccess, "checkpoint '" + printable_name(ck.name) +
                                        "' is open write-only: reading needs the READ open flag");
    const SectionDesc& desc = ck.meta.desc(slot_);
    const SectionControl& ctl = ck.data.control(slot_);
    std::uint64_t lock = section_lock::load(ctl);
    if (lock_held(lock)) {
        if (section_lock::fenced(lock)) return deleted(id_);
        // A writer is inside a transaction; wait for its commit (or the engine's rollback).
        CKPT_TRY(detail::wait_for(
            ck, [&] { return !lock_held(section_lock::load(ctl)); }, timeout, "a consistent state"));
        lock = section_lock::load(ctl);
        if (lock_held(lock))
            return fail(Error::kTryAgain, "section " + detail::printable_id(id_) + " is being written");
    }
    if (section_group::tag_of(ctl) != 0 && detail::group_open(ck, slot_, lock)) {
        // Published as a member of a write group another member of which is still held: not
        // committed until the whole group is (its writer may die before, and the engine then
        // rolls this member back). Wait as for a held lock.
        CKPT_TRY(detail::wait_for(
            ck,
            [&] {
                const std::uint64_t now = section_lock::load(ctl);
                return now != lock || !detail::group_open(ck, slot_, now);
            },
            timeout, "the rest of a write group"));
        lock = section_lock::load(ctl);
        if (lock_held(lock) || detail::group_open(ck, slot_, lock))
            return fail(Error::kTryAgain, "section " + detail::printable_id(id_) + " is being written");
    }
    if (load_acquire(desc.generation) != generation_) return deleted(id_);
    if (load_relaxed(desc.state) == kSectionCorrupted)
        return fail(Error::kFailedOperation, "section " + detail::printable_id(id_) +
                                                 " is corrupted (its writer died mid-write); overwrite it to repair");
    ReadSnapshot s;
    s.lock = lock;
    s.bytes = bytes_;
    // The size word is application-written: clamp it, never trust it.
    s.size = std::min<std::uint64_t>(load_relaxed(ctl.size), capacity_);
    return s;
}

bool Section::end_read(const ReadSnapshot& s) const {
    return section_lock::unchanged(ck_->data.control(slot_), s.lock);
}

Result<std::size_t> Section::read(std::size_t offset, std::span<std::byte> out) const {
    for (;;) {
        CKPT_TRY_ASSIGN(snap, begin_read());
        if (offset > snap.size)
            return fail(Error::kInvalidParam, "read offset " + std::to_string(offset) + " is beyond the section size " +
                                                  std::to_string(snap.size));
        std::size_t n = std::min(out.size(), snap.size - offset);
        if (n) std::memcpy(out.data(), snap.bytes + offset, n); // an empty span may hold a null pointer
        if (end_read(snap)) return n;
    }
}

std::size_t Section::size() const {
    return ck_ ? static_cast<std::size_t>(load_acquire(ck_->meta.desc(slot_).committed_size)) : 0;
}

std::uint64_t Section::sequence() const {
    return ck_ ? lock_seq(section_lock::load(ck_->data.control(slot_))) & ~1ull : 0;
}

std::uint64_t Section::acked_sequence() const {
    return ck_ ? load_acquire(ck_->meta.desc(slot_).acked_seq) : 0;
}

Status Section::wait_acked(std::uint64_t seq, std::chrono::milliseconds timeout) const {
    if (!ck_) return fail(Error::kBadHandle, "empty section handle");
    const SectionDesc& desc = ck_->meta.desc(slot_);
    const std::uint64_t gen = generation_;
    return detail::wait_for(
        *ck_, [&] { return load_acquire(desc.acked_seq) >= seq || load_acquire(desc.generation) != gen; }, timeout,
        "acknowledgement of the commit");
}

Result<bool> Section::replicated(std::uint64_t seq) const {
    if (!ck_) return fail(Error::kBadHandle, "empty section handle");
    return replication_of(*ck_, slot_, generation_, seq);
}

Status Section::wait_replicated(std::uint64_t seq, std::chrono::milliseconds timeout) const {
    if (!ck_) return fail(Error::kBadHandle, "empty section handle");
    return wait_replication(*ck_, slot_, generation_, seq, timeout);
}

// ------------------------------------------------------------------------------------------
// WriteTx
// ------------------------------------------------------------------------------------------

WriteTx::WriteTx(WriteTx&& o) noexcept
    : ck_(std::move(o.ck_)), slot_(o.slot_), seq_(o.seq_), bytes_(o.bytes_), capacity_(o.capacity_), size_(o.size_),
      data_offset_(o.data_offset_), dirty_first_(o.dirty_first_), dirty_last_(o.dirty_last_), marked_(o.marked_),
      open_(std::exchange(o.open_, false)) {}

WriteTx& WriteTx::operator=(WriteTx&& o) noexcept {
    if (this != &o) {
        if (open_) (void)abort();
        ck_ = std::move(o.ck_);
        slot_ = o.slot_;
        seq_ = o.seq_;
        bytes_ = o.bytes_;
        capacity_ = o.capacity_;
        size_ = o.size_;
        data_offset_ = o.data_offset_;
        dirty_first_ = o.dirty_first_;
        dirty_last_ = o.dirty_last_;
        marked_ = o.marked_;
        open_ = std::exchange(o.open_, false);
    }
    return *this;
}

WriteTx::~WriteTx() {
    if (open_) (void)abort();
}

void WriteTx::mark_dirty(std::size_t offset, std::size_t len) {
    CKPT_ENFORCE(open_, "transaction is not open");
    CKPT_ENFORCE(offset <= capacity_ && len <= capacity_ - offset, "dirty range outside the section");
    shm::SectionInfo info;
    info.data_offset = data_offset_;
    info.capacity = capacity_;
    ck_->data.mark_dirty(info, offset, len);
    if (len != 0) {
        const std::uint32_t bs = ck_->attrs.block_size;
        dirty_first_ = std::min<std::uint64_t>(dirty_first_, offset / bs);
        dirty_last_ = std::max<std::uint64_t>(dirty_last_, (offset + len - 1) / bs);
        marked_ = true;
    }
}

std::span<std::byte> WriteTx::span(std::size_t offset, std::size_t len) {
    mark_dirty(offset, len);
    if (offset + len > size_) size_ = offset + len;
    return {bytes_ + offset, len};
}

void WriteTx::write(std::size_t offset, std::span<const std::byte> src) {
    auto dst = span(offset, src.size());
    if (!src.empty()) std::memcpy(dst.data(), src.data(), src.size());
}

void WriteTx::resize(std::size_t size) {
    CKPT_ENFORCE(size <= capacity_, "size beyond the section capacity");
    size_ = size;
}

Result<std::uint64_t> WriteTx::commit(Ack ack, std::chrono::milliseconds timeout) {
    return finish(ack, timeout, false);
}

Result<std::uint64_t> WriteTx::commit_overwrite(Ack ack, std::chrono::milliseconds timeout) {
    return finish(ack, timeout, true);
}

Status WriteTx::prepare(bool overwrite) {
    if (!open_) return fail(Error::kBadOperation, "transaction already finished");
    detail::CheckpointCore& ck = *ck_;
    const SectionDesc& desc = ck.meta.desc(slot_);
    if (!overwrite && load_relaxed(desc.state) == kSectionCorrupted) {
        (void)abort();
        return fail(Error::kFailedOperation, "section is corrupted; only an overwrite commit repairs it");
    }
    SectionControl& ctl = ck.data.control(slot_);
    if (ck.tracker && !overwrite) { // transparent tracking: the pages written since the last commit
        if (auto st = detail::mark_written(ck, *this); !st) {
            (void)abort();
            return st.failure();
        }
        if (!marked_) mark_dirty(0, 1); // nothing written: one unchanged block, which is not sent
    }
    if (!marked_ || overwrite) mark_dirty(0, capacity_); // nothing marked: the whole section changed
    // checkpoint_size counts the bytes sections hold: the engine grants the growth or says NO_SPACE
    // (the transaction is then rolled back, as an abort would).
    if (auto granted = reserve(); !granted) {
        (void)abort();
        return granted.failure();
    }
    store_relaxed(ctl.size, static_cast<std::uint64_t>(size_));
    store_relaxed(ctl.commit_flags, overwrite ? kCommitOverwrite : 0u);
    dirty_bitmap::publish_range(ctl, dirty_first_, dirty_last_); // the engine scans only these blocks
    return {};
}

std::uint64_t WriteTx::publish() {
    const std::uint64_t committed = seq_ + 1;
    section_lock::publish(ck_->data.control(slot_), committed); // readers now see this state
    open_ = false;
    return committed;
}

Result<std::uint64_t> WriteTx::finish(Ack ack, std::chrono::milliseconds timeout, bool overwrite) {
    CKPT_TRY(prepare(overwrite));
    detail::CheckpointCore& ck = *ck_;
    section_group::leave(ck.data.control(slot_)); // a commit of this section alone
    const std::uint64_t committed = publish();
    ck.data.ring_doorbell(slot_);
    ck.session->kick_engine();
    if (ack == Ack::kDefault) ack = ck.attrs.update_mode() == UpdateMode::kSync ? Ack::kSync : Ack::kAsync;
    if (ack == Ack::kSync)
        CKPT_TRY(wait_replication(ck, slot_, load_relaxed(ck.meta.desc(slot_).generation), committed, timeout));
    return committed;
}

// ------------------------------------------------------------------------------------------
// Write groups (section_group.hpp)
// ------------------------------------------------------------------------------------------

// Test seam: a test program that defines it is called after each member's publication, where a
// writer killed leaves an open group (tests/integration/test_write_group.cpp). Weak and
// unresolved in every other program: a null check.
extern "C" [[gnu::weak]] void hotspare_test_group_member_published(std::size_t published, std::size_t members);

Status commit_group(std::span<WriteTx> txs, Ack ack, std::chrono::milliseconds timeout,
                    std::span<std::uint64_t> sequences) {
    if (txs.empty()) return fail(Error::kInvalidParam, "a write group needs at least one transaction");
    if (!sequences.empty() && sequences.size() != txs.size())
        return fail(Error::kInvalidParam, "sequences holds " + std::to_string(sequences.size()) + " entries for " +
                                              std::to_string(txs.size()) + " transactions");
    for (std::size_t i = 0; i < txs.size(); ++i) {
        if (!txs[i].open_)
            return fail(Error::kInvalidParam, "transaction " + std::to_string(i) + " of the group is not open");
        if (txs[i].ck_ != txs[0].ck_)
            return fail(Error::kInvalidParam, "the transactions of a write group must be of one checkpoint handle");
    }
    // Ring order = slot order (also the order the members are published in).
    std::vector<std::size_t> order(txs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return txs[a].slot_ < txs[b].slot_; });
    for (std::size_t i = 1; i < order.size(); ++i)
        if (txs[order[i]].slot_ == txs[order[i - 1]].slot_)
            return fail(Error::kInvalidParam, "a write group names one section twice");
    if (txs.size() == 1) {
        CKPT_TRY_ASSIGN(seq, txs[0].commit(ack, timeout));
        if (!sequences.empty()) sequences[0] = seq;
        return {};
    }
    detail::CheckpointCore& ck = *txs[0].ck_;
    const auto abort_open = [&] {
        for (WriteTx& tx : txs)
            if (tx.open_) (void)tx.abort();
    };
    if (txs.size() > ck.attrs.max_sections) { // cannot happen with distinct slots; bounds the engine's walk
        abort_open();
        return fail(Error::kInvalidParam, "a write group of more sections than the checkpoint has");
    }
    // Everything that can fail happens before the first publication: then nothing is published.
    for (std::size_t i : order)
        if (auto st = txs[i].prepare(false); !st) {
            abort_open();
            return st;
        }
    static std::atomic<std::uint64_t> tickets{0};
    const std::uint64_t tag = section_group::make_tag(ck.writer, tickets.fetch_add(1, std::memory_order_relaxed) + 1);
    const auto members = static_cast<std::uint32_t>(txs.size());
    for (std::size_t k = 0; k < order.size(); ++k)
        section_group::join(ck.data.control(txs[order[k]].slot_), tag, txs[order[(k + 1) % order.size()]].slot_,
                            members);
    std::vector<std::uint64_t> committed(txs.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
        committed[order[k]] = txs[order[k]].publish();
        if (&hotspare_test_group_member_published) hotspare_test_group_member_published(k + 1, order.size());
    }
    for (const WriteTx& tx : txs) ck.data.ring_doorbell(tx.slot_);
    ck.session->kick_engine();
    if (!sequences.empty()) std::copy(committed.begin(), committed.end(), sequences.begin());
    if (ack == Ack::kDefault) ack = ck.attrs.update_mode() == UpdateMode::kSync ? Ack::kSync : Ack::kAsync;
    if (ack != Ack::kSync) return {};
    // The engine acknowledges the group as one unit; each member's acknowledged sequence moves
    // when every required standby applied all of them.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (std::size_t i = 0; i < txs.size(); ++i) {
        const auto left =
            std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                     std::chrono::milliseconds(0));
        const std::uint32_t slot = txs[i].slot_;
        CKPT_TRY(wait_replication(ck, slot, load_relaxed(ck.meta.desc(slot).generation), committed[i], left));
    }
    return {};
}

Status WriteTx::reserve() {
    if (!open_) return fail(Error::kBadOperation, "transaction already finished");
    detail::CheckpointCore& ck = *ck_;
    if (!ck.attrs.net_size() || size_ <= load_acquire(ck.meta.desc(slot_).committed_size)) return {};
    auto granted = ck.session->request(
        proto::ReserveRequest{.handle = ck.handle, .slot = slot_, .size = static_cast<std::uint64_t>(size_)});
    if (!granted) return granted.failure();
    return {};
}

Status WriteTx::abort() {
    if (!open_) return fail(Error::kBadOperation, "transaction already finished");
    open_ = false;
    // Only the engine holds the committed copy: ask it to put the section back.
    CKPT_TRY(ck_->session->request(proto::RollbackRequest{.handle = ck_->handle, .slot = slot_}));
    return {};
}

} // namespace ckpt::client
