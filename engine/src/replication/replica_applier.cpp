// The standby side of one checkpoint's replica: it mirrors the active's directory (sections at the
// very slots and extents the active has them) and applies whole commits, all or nothing, under
// each section's seqlock. Bytes of a commit being received are staged in the shadow, which no
// reader sees, and copied to the live area only when the commit's last fragment arrived.
#include "replication/replica_applier.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"

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
    if (!bytes.empty()) std::memcpy(c_.shadow_area() + sl.offset + offset, bytes.data(), bytes.size());
    staged_.push_back({sl.offset + offset, bytes.size()});
    return true;
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

void ReplicaApplier::finish(const Member& m) {
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
    store_release(d.captured_seq, m.next);
    store_release(d.acked_seq, m.next);
    c_.record_change(m.slot);
    ++c_.counters().commits;
}

bool ReplicaApplier::apply(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq, std::uint64_t size,
                           bool overwrite) {
    if (!hold(slot, remote_generation, seq, size, overwrite)) return false; // discarded
    // Every member's lock first (readers of several of them wait), then every byte, then every
    // publication: a multi-section reader on this node sees the group whole or not at all.
    for (Member& m : group_) m.next = take(m.slot, m.seq);
    std::byte* live = c_.data_.area();
    const std::byte* shadow = c_.shadow_area();
    for (const Staged& st : staged_) std::memcpy(live + st.area_offset, shadow + st.area_offset, st.length);
    staged_.clear();
    for (const Member& m : group_) finish(m);
    group_.clear();
    return true;
}

void ReplicaApplier::discard_after_restart() {
    staged_.clear();
    group_.clear();
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
}

} // namespace ckpt::engine
