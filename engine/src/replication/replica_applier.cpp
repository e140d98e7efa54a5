// The standby side of one checkpoint's replica: it mirrors the active's directory (sections at the
// very slots and extents the active has them) and applies whole commits, all or nothing, under
// each section's seqlock. Fragments of a commit being received stay in the buffers they arrived in
// (the carrier's RX mbufs), which no reader sees, and are copied to the live area only when the
// commit's last fragment arrived: one copy per byte before the ACK. A commit over the hold limit
// is staged in the shadow instead (two copies, as before). The shadow catches up with what was
// applied from held buffers after the ACK went out (settle()).
#include "replication/replica_applier.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "crash/crash_points.hpp"

#include <algorithm>
#include <cstring>

namespace ckpt::engine {

using namespace ckpt::shm;

Status ReplicaApplier::install(std::uint32_t slot, std::span<const std::byte> id_bytes, std::uint64_t remote_generation,
                               std::uint64_t data_offset, std::uint64_t capacity, std::int64_t expiration_ns,
                               std::uint64_t seq, std::uint64_t size) {
    const std::uint32_t bs = c_.attrs_.block_size;
    // Everything here came off the wire: check it against this checkpoint's (identical) layout.
    if (slot >= c_.slots_.size() || id_bytes.size() > c_.attrs_.max_section_id_size || capacity == 0 || capacity % bs ||
        data_offset % bs || capacity > c_.layout_.area_size || data_offset > c_.layout_.area_size - capacity ||
        size > capacity)
        return fail(Error::kInvalidParam,
                    "section install outside the checkpoint's layout (slot " + std::to_string(slot) + ")");
    const std::string id(reinterpret_cast<const char*>(id_bytes.data()), id_bytes.size());
    Checkpoint::Slot& sl = c_.slots_[slot];
    if (sl.used && sl.id == id && sl.offset == data_offset && sl.capacity == capacity) {
        // The same section: keep its bytes (a resync sends only the blocks that differ).
        sl.remote_generation = remote_generation;
        if (sl.expiration_ns != expiration_ns) {
            c_.set_slot_expiration(slot, expiration_ns);
            c_.begin_dir_edit();
            store_relaxed(c_.meta_.mutable_desc(slot).expiration_ns, expiration_ns);
            c_.end_dir_edit();
        }
        (void)seq;
        return {};
    }
    if (sl.used) remove(slot, 0);
    if (auto other = c_.lookup(id_bytes)) remove(*other, 0);
    // Sections of a diverged layout that overlap the extent give way to the active's. A free extent
    // overlaps none: the scan of every slot runs only when it is not, so a replica receiving its
    // sections one after another stays linear in their number.
    if (!c_.alloc_.reserve(data_offset / bs, capacity / bs)) {
        for (std::uint32_t s = 0; s < c_.slots_.size(); ++s) {
            const Checkpoint::Slot& o = c_.slots_[s];
            if (o.used && o.offset < data_offset + capacity && data_offset < o.offset + o.capacity) remove(s, 0);
        }
        if (!c_.alloc_.reserve(data_offset / bs, capacity / bs))
            return fail(Error::kFailedOperation, "extent of slot " + std::to_string(slot) + " is not free");
    }
    c_.free_slots_.erase(slot);
    c_.occupy(slot, id, data_offset, capacity, expiration_ns, {});
    sl.remote_generation = remote_generation;
    (void)size; // the bytes and the size come with the DATA that follows
    return {};
}

bool ReplicaApplier::remove(std::uint32_t slot, std::uint64_t remote_generation) {
    if (slot >= c_.slots_.size() || !c_.slots_[slot].used) return false;
    if (remote_generation != 0 && c_.slots_[slot].remote_generation != remote_generation) return false;
    settle_slot(slot); // a stale writer's rollback below reads the shadow
    SectionControl& ctl = c_.data_.control(slot);
    // Fence it as delete_section does: readers and writers see the engine's owner and go away. A
    // CAS, not a store: a stale writer on a node just demoted may take the lock at any moment, and
    // a store would erase its hold without a rollback.
    std::uint64_t lock = section_lock::load(ctl);
    std::uint64_t fenced = 0;
    for (;;) {
        if (lock_held(lock)) { // a stale local writer (this node was demoted): its transaction is void
            c_.commit_.recover(slot, lock, false);
            lock = section_lock::load(ctl);
            continue;
        }
        fenced = lock_seq(lock) + 1;
        if (race_window_for_test) race_window_for_test(ctl.lock);
        if (section_lock::try_fence(ctl, lock)) break;
    }
    c_.slots_[slot].captured_seq = fenced;
    c_.commit_.drop_stage(slot); // a stale writer's staged commit goes with the section
    c_.remove_section(slot);
    return true;
}

void ReplicaApplier::set_expiration(std::uint32_t slot, std::uint64_t remote_generation, std::int64_t expiration_ns) {
    if (slot >= c_.slots_.size() || !c_.slots_[slot].used || c_.slots_[slot].remote_generation != remote_generation)
        return;
    c_.set_slot_expiration(slot, expiration_ns);
    c_.begin_dir_edit();
    store_relaxed(c_.meta_.mutable_desc(slot).expiration_ns, expiration_ns);
    c_.end_dir_edit();
}

bool ReplicaApplier::stage(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t offset,
                           std::span<const std::byte> bytes) {
    if (slot >= c_.slots_.size() || !c_.slots_[slot].used || c_.slots_[slot].remote_generation != remote_generation)
        return false;
    const Checkpoint::Slot& sl = c_.slots_[slot];
    if (offset > sl.capacity || bytes.size() > sl.capacity - offset) return false;
    // The shadow is about to differ from the live bytes on purpose: what settle() would copy over
    // it must be there first.
    if (!unsettled_.empty()) settle();
    if (!held_.empty()) fall_back();
    if (!bytes.empty()) std::memcpy(c_.shadow_area() + sl.offset + offset, bytes.data(), bytes.size());
    staged_.push_back({sl.offset + offset, bytes.size()});
    counters_.copied_in += bytes.size();
    return true;
}

bool ReplicaApplier::receive(std::uint32_t slot, std::uint64_t remote_generation, std::span<const net::DataRun> runs,
                             std::span<const std::byte> payload, net::FrameBuf* buffer) {
    if (slot >= c_.slots_.size() || !c_.slots_[slot].used || c_.slots_[slot].remote_generation != remote_generation)
        return false;
    const Checkpoint::Slot& sl = c_.slots_[slot];
    std::uint64_t total = 0;
    for (const net::DataRun& run : runs) { // every run checked before anything is kept
        if (run.offset > sl.capacity || run.length > sl.capacity - run.offset || run.length > payload.size() - total)
            return false;
        total += run.length;
    }
    retired_.clear(); // buffers of earlier commits: their frames' handling is over
    if (!fell_back_ &&
        (bufs_.size() + 1 > limits_.frames || held_bytes_ + total > limits_.bytes)) { // over the hold limit
        fall_back();
        ++counters_.fallbacks;
    }
    if (fell_back_) {
        std::uint64_t at = 0;
        for (const net::DataRun& run : runs) {
            if (!stage(slot, remote_generation, run.offset, payload.subspan(at, run.length))) return false;
            at += run.length;
        }
        return true;
    }
    if (total == 0) { // nothing to copy: only the size changes (an empty commit)
        return true;
    }
    if (!buffer || !*buffer || payload.data() < buffer->data() ||
        payload.data() + payload.size() > buffer->data() + buffer->size()) {
        // No buffer to keep (kernel UDP and the fault shim hand none over; a frame that waited
        // behind a gap is a copy the link made): the commit goes to the shadow, as before issue
        // 14 (two copies, no settle), rather than a third copy into a buffer of ours.
        fall_back();
        ++counters_.unheld;
        return receive(slot, remote_generation, runs, payload, nullptr);
    }
    net::FrameBuf keep = std::move(*buffer); // the carrier's buffer: the bytes stay where they arrived
    const std::byte* base = payload.data();
    std::uint64_t at = 0;
    for (const net::DataRun& run : runs) {
        if (run.length) held_.push_back({slot, sl.offset + run.offset, run.length, base + at});
        at += run.length;
    }
    held_bytes_ += total;
    bufs_.push_back(std::move(keep));
    counters_.buffers_held = bufs_.size();
    return true;
}

void ReplicaApplier::fall_back() {
    fell_back_ = true;
    if (!unsettled_.empty()) settle();
    std::byte* shadow = c_.shadow_area();
    for (const Held& h : held_) {
        std::memcpy(shadow + h.area_offset, h.bytes, h.length);
        staged_.push_back({h.area_offset, h.length});
        counters_.copied_in += h.length;
    }
    release_held();
}

void ReplicaApplier::release_held() {
    for (net::FrameBuf& b : bufs_) retired_.push_back(std::move(b));
    bufs_.clear();
    held_.clear();
    held_bytes_ = 0;
    counters_.buffers_held = 0;
}

bool ReplicaApplier::settle_one(const Unsettled& u) {
    if (u.slot >= c_.slots_.size() || !c_.slots_[u.slot].used || c_.slots_[u.slot].generation != u.generation)
        return false; // removed since: its extent's shadow was set when it was installed again
    // Only while the section still holds that commit: nobody may write it before its shadow is
    // current (writers wait for desc.captured_seq, which moves after this copy).
    if (section_lock::load(c_.data_.control(u.slot)) != make_lock(u.seq, 0)) return false;
    std::memcpy(c_.shadow_area() + u.area_offset, c_.data_.area() + u.area_offset, u.length);
    counters_.settled_bytes += u.length;
    return true;
}

std::uint64_t ReplicaApplier::settle() {
    retired_.clear();
    if (unsettled_.empty()) return 0;
    const std::uint64_t n = unsettled_bytes_;
    bool ok_all = true;
    for (const Unsettled& u : unsettled_) ok_all &= settle_one(u);
    (void)ok_all;
    // Every range copied first, then the writers' word: a section of several ranges is let go
    // only once all of them are in the shadow.
    for (const Unsettled& u : unsettled_)
        if (u.slot < c_.slots_.size() && c_.slots_[u.slot].used && c_.slots_[u.slot].generation == u.generation &&
            section_lock::load(c_.data_.control(u.slot)) == make_lock(u.seq, 0))
            store_release(c_.meta_.mutable_desc(u.slot).captured_seq, u.seq);
    unsettled_.clear();
    unsettled_bytes_ = 0;
    return n;
}

void ReplicaApplier::settle_slot(std::uint32_t slot) {
    bool any = false;
    for (const Unsettled& u : unsettled_) any |= u.slot == slot;
    if (any) settle(); // bounded (limits_.unsettled) and rare: the loop settles after every flush
}

bool ReplicaApplier::fits(const Member& m) const {
    return m.slot < c_.slots_.size() && c_.slots_[m.slot].used &&
           c_.slots_[m.slot].remote_generation == m.remote_generation && m.size <= c_.slots_[m.slot].capacity;
}

bool ReplicaApplier::hold(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq, std::uint64_t size,
                          bool overwrite) {
    const Member m{slot, remote_generation, seq, size, overwrite};
    // Each member once (the active never names a section twice in a group; a second take of a
    // lock this applier holds would void the first).
    const bool twice = std::any_of(group_.begin(), group_.end(), [&](const Member& o) { return o.slot == slot; });
    if (!fits(m) || twice || group_.size() >= c_.slots_.size()) {
        discard();
        return false;
    }
    group_.push_back(m);
    return true;
}

std::uint64_t ReplicaApplier::take(std::uint32_t slot, std::uint64_t seq) {
    SectionControl& ctl = c_.data_.control(slot);
    std::uint64_t lock = section_lock::load(ctl);
    for (;;) {
        if (lock_held(lock)) { // a stale local writer (this node was demoted): void its transaction first
            // c_.commit_.recover() copies the whole shadow back, staged bytes included: that is the new state.
            c_.commit_.recover(slot, lock, false);
            lock = section_lock::load(ctl);
            continue;
        }
        // The sequence only grows, even when the active's is lower (a diverged former active being
        // resynced): a reader that saw the old value must see a different one after the change.
        const std::uint64_t next = std::max<std::uint64_t>(seq & ~1ull, (lock_seq(lock) | 1) + 1);
        if (race_window_for_test) race_window_for_test(ctl.lock);
        // Odd (readers wait or retry), by CAS: a stale writer that took the lock since our load
        // keeps it, and is voided (rolled back) on the next turn instead of silently overwritten.
        if (section_lock::try_take(ctl, lock, next - 1, 0)) return next;
    }
}

void ReplicaApplier::finish(const Member& m, bool shadow_behind) {
    Checkpoint::Slot& sl = c_.slots_[m.slot];
    SectionControl& ctl = c_.data_.control(m.slot);
    store_relaxed(ctl.size, m.size);
    store_relaxed(ctl.commit_flags, m.overwrite ? kCommitOverwrite : 0u);
    section_group::leave(ctl);
    section_lock::publish(ctl, m.next);
    sl.captured_seq = m.next;
    sl.committed_size = m.size;
    ShadowEntry& se = c_.shadow_entry(m.slot);
    se.seq = m.next;
    se.size = m.size;
    SectionDesc& d = c_.meta_.mutable_desc(m.slot);
    if (m.overwrite && load_relaxed(d.state) == kSectionCorrupted) {
        c_.begin_dir_edit();
        store_relaxed(d.state, kSectionValid);
        c_.end_dir_edit();
    }
    store_relaxed(d.last_update_ns, now_realtime_ns());
    store_release(d.committed_size, m.size);
    if (!shadow_behind) store_release(d.captured_seq, m.next); // else settle() moves it
    store_release(d.acked_seq, m.next);
    c_.record_change(m.slot);
    ++c_.counters().commits;
}

bool ReplicaApplier::apply(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq, std::uint64_t size,
                           bool overwrite) {
    if (!hold(slot, remote_generation, seq, size, overwrite)) return false; // discarded
    // Every member's lock first (readers of several of them wait), then every byte, then every
    // publication: a multi-section reader on this node sees the group whole or not at all.
    // A section's shadow is current before its lock is taken: an engine killed in the middle of
    // this apply rolls the section back from it at its restart (Checkpoint::adopt).
    for (const Member& m : group_) settle_slot(m.slot);
    for (Member& m : group_) m.next = take(m.slot, m.seq);
    std::byte* live = c_.data_.area();
    const std::byte* shadow = c_.shadow_area();
    // The copy, with the crash point `mid-apply` half-way through its bytes.
    std::uint64_t total = 0, done = 0;
    for (const Staged& st : staged_) total += st.length;
    for (const Held& h : held_) total += h.length;
    auto copy = [&](std::uint64_t area_offset, const std::byte* from, std::uint64_t len) {
        const std::uint64_t half = total / 2;
        if (done <= half && half < done + len) {
            std::memcpy(live + area_offset, from, half - done);
            crash::hit(crash::Point::kMidApply);
            std::memcpy(live + area_offset + (half - done), from + (half - done), len - (half - done));
        } else {
            std::memcpy(live + area_offset, from, len);
        }
        done += len;
        counters_.applied_bytes += len;
    };
    for (const Staged& st : staged_) copy(st.area_offset, shadow + st.area_offset, st.length);
    staged_.clear();
    for (const Held& h : held_) { // the one copy: from the buffer the fragment arrived in
        copy(h.area_offset, h.bytes, h.length);
        counters_.held_bytes += h.length;
    }
    for (const Member& m : group_) {
        // What came from held buffers is not in the shadow yet: settle() copies it after the ACK,
        // and only then lets writers at the section (desc.captured_seq stays behind until then).
        const std::size_t before = unsettled_.size();
        for (const Held& h : held_) {
            if (h.slot != m.slot) continue;
            Unsettled* last = unsettled_.size() > before ? &unsettled_.back() : nullptr;
            if (last && last->area_offset + last->length == h.area_offset) {
                last->length += h.length; // the fragments of a commit are adjacent: one range
            } else {
                unsettled_.push_back({m.slot, c_.slots_[m.slot].generation, m.next, h.area_offset, h.length});
            }
            unsettled_bytes_ += h.length;
        }
        finish(m, unsettled_.size() > before);
    }
    group_.clear();
    release_held();
    fell_back_ = false;
    if (unsettled_bytes_ > limits_.unsettled) settle(); // bounds what a promotion copies
    return true;
}

void ReplicaApplier::discard_after_restart() {
    staged_.clear();
    group_.clear();
    release_held();
    retired_.clear();
    unsettled_.clear();
    unsettled_bytes_ = 0;
    fell_back_ = false;
    const std::byte* live = c_.data_.area();
    std::byte* shadow = c_.shadow_area();
    for (std::uint32_t s = 0; s < c_.slots_.size(); ++s) {
        const Checkpoint::Slot& sl = c_.slots_[s];
        // A locked section belongs to a writer left from before a demotion: its rollback needs
        // the shadow as it is.
        if (!sl.used || lock_held(section_lock::load(c_.data_.control(s)))) continue;
        std::memcpy(shadow + sl.offset, live + sl.offset, sl.capacity);
    }
}

void ReplicaApplier::discard() {
    const std::byte* live = c_.data_.area();
    std::byte* shadow = c_.shadow_area();
    for (const Staged& st : staged_) std::memcpy(shadow + st.area_offset, live + st.area_offset, st.length);
    staged_.clear();
    group_.clear();
    release_held(); // held bytes never touched the section or its shadow
    fell_back_ = false;
}

} // namespace ckpt::engine
