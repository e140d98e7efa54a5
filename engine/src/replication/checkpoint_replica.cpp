// The replication side of a Checkpoint: role and epoch, acknowledgements from replicas, and on a
// standby the mirror of the active's directory plus all-or-nothing application of whole commits.
#include "ckpt/shm/atomics.hpp"
#include "store/checkpoint.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace ckpt::engine {

using namespace ckpt::shm;

std::uint32_t Checkpoint::role() const {
    return load_acquire(meta_.header().role);
}

void Checkpoint::set_role(std::uint32_t role, std::uint64_t epoch, std::uint32_t active_node) {
    MetaHeader& h = meta_.mutable_header();
    store_release(h.epoch, epoch);
    store_release(h.active_node, active_node);
    store_release(h.role, role);
    batch_dirty_ = true; // waiters re-check (a demoted writer's sync commit fails)
}

void Checkpoint::set_replicating(EventSink sink) {
    if (block_hash_.empty()) block_hash_.allocate(layout_.area_size / attrs_.block_size); // 0: not known yet
    sink_ = std::move(sink);
    replicating_ = true;
}

void Checkpoint::stop_replicating(bool ack_captured) {
    replicating_ = false;
    sink_ = nullptr;
    if (!ack_captured) return;
    for (std::uint32_t s = 0; s < slots_.size(); ++s)
        if (slots_[s].used) store_release(meta_.mutable_desc(s).acked_seq, slots_[s].captured_seq);
    batch_dirty_ = true;
}

void Checkpoint::set_acked(std::uint32_t slot, std::uint64_t generation, std::uint64_t seq) {
    if (slot >= slots_.size() || !slots_[slot].used || slots_[slot].generation != generation) return;
    SectionDesc& d = meta_.mutable_desc(slot);
    if (seq > load_relaxed(d.acked_seq)) {
        store_release(d.acked_seq, std::min(seq, slots_[slot].captured_seq));
        batch_dirty_ = true;
    }
}

void Checkpoint::publish_lag(std::uint64_t commits, std::uint64_t bytes, std::uint32_t replicas,
                             std::uint32_t sync_blocked) {
    MetaHeader& h = meta_.mutable_header();
    store_relaxed(h.repl_lag_bytes, bytes);
    store_release(h.repl_lag_commits, commits);
    store_release(h.replicas, replicas);
    if (load_relaxed(h.sync_blocked) != sync_blocked) {
        store_release(h.sync_blocked, sync_blocked);
        batch_dirty_ = true; // sleeping sync committers must see it now
    }
}

void Checkpoint::set_window(std::uint32_t commits, std::uint32_t policy) {
    MetaHeader& h = meta_.mutable_header();
    store_release(h.async_window, commits);
    store_release(h.window_policy, policy);
}

std::optional<SectionState> Checkpoint::section_state(std::uint32_t slot) const {
    if (slot >= slots_.size() || !slots_[slot].used) return std::nullopt;
    const Slot& sl = slots_[slot];
    return SectionState{sl.id,           sl.generation,     sl.offset,       sl.capacity,
                        sl.captured_seq, sl.committed_size, sl.expiration_ns};
}

std::span<const std::byte> Checkpoint::committed_bytes(std::uint32_t slot) const {
    const Slot& sl = slots_[slot];
    return {shadow_area() + sl.offset, sl.capacity};
}

std::vector<std::uint64_t> Checkpoint::block_hashes(std::uint32_t slot, bool live) const {
    std::vector<std::uint64_t> r;
    if (slot >= slots_.size() || !slots_[slot].used) return r;
    const Slot& sl = slots_[slot];
    const std::uint32_t bs = attrs_.block_size;
    const std::byte* base = (live ? data_.area() : shadow_area()) + sl.offset;
    r.reserve(sl.capacity / bs);
    for (std::uint64_t off = 0; off < sl.capacity; off += bs) r.push_back(XXH3_64bits(base + off, bs));
    return r;
}

void Checkpoint::set_replicated_hashes(std::uint32_t slot, std::span<const std::uint64_t> hashes) {
    if (block_hash_.empty() || slot >= slots_.size() || !slots_[slot].used) return;
    const Slot& sl = slots_[slot];
    const std::uint64_t first = sl.offset / attrs_.block_size;
    const std::uint64_t n = std::min<std::uint64_t>(hashes.size(), sl.capacity / attrs_.block_size);
    std::copy_n(hashes.begin(), n, block_hash_.begin() + static_cast<std::ptrdiff_t>(first));
}

std::uint64_t Checkpoint::zero_block_hash() const {
    static thread_local std::uint32_t cached_bs = 0;
    static thread_local std::uint64_t cached = 0;
    if (cached_bs != attrs_.block_size) {
        std::vector<std::byte> zero(attrs_.block_size);
        cached = XXH3_64bits(zero.data(), zero.size());
        cached_bs = attrs_.block_size;
    }
    return cached;
}

ReplEvent Checkpoint::install_event(std::uint32_t slot) const {
    const Slot& sl = slots_[slot];
    ReplEvent ev;
    ev.kind = ReplEvent::Kind::kInstall;
    ev.slot = slot;
    ev.generation = sl.generation;
    ev.seq = sl.captured_seq;
    ev.size = sl.committed_size;
    ev.id = sl.id;
    ev.data_offset = sl.offset;
    ev.capacity = sl.capacity;
    ev.expiration_ns = sl.expiration_ns;
    return ev;
}

// ------------------------------------------------------------------------------------------
// Standby side
// ------------------------------------------------------------------------------------------

Status Checkpoint::install_section(std::uint32_t slot, std::span<const std::byte> id_bytes,
                                   std::uint64_t remote_generation, std::uint64_t data_offset, std::uint64_t capacity,
                                   std::int64_t expiration_ns, std::uint64_t seq, std::uint64_t size) {
    const std::uint32_t bs = attrs_.block_size;
    // Everything here came off the wire: check it against this checkpoint's (identical) layout.
    if (slot >= slots_.size() || id_bytes.size() > attrs_.max_section_id_size || capacity == 0 || capacity % bs ||
        data_offset % bs || capacity > layout_.area_size || data_offset > layout_.area_size - capacity ||
        size > capacity)
        return fail(Error::kInvalidParam,
                    "section install outside the checkpoint's layout (slot " + std::to_string(slot) + ")");
    const std::string id(reinterpret_cast<const char*>(id_bytes.data()), id_bytes.size());
    Slot& sl = slots_[slot];
    if (sl.used && sl.id == id && sl.offset == data_offset && sl.capacity == capacity) {
        // The same section: keep its bytes (a resync sends only the blocks that differ).
        sl.remote_generation = remote_generation;
        if (sl.expiration_ns != expiration_ns) {
            sl.expiration_ns = expiration_ns;
            begin_dir_edit();
            store_relaxed(meta_.mutable_desc(slot).expiration_ns, expiration_ns);
            end_dir_edit();
        }
        (void)seq;
        return {};
    }
    if (sl.used) remove_section_at(slot, 0);
    if (auto other = lookup(id_bytes)) remove_section_at(*other, 0);
    // Sections of a diverged layout that overlap the extent give way to the active's. A free extent
    // overlaps none: the scan of every slot runs only when it is not, so a replica receiving its
    // sections one after another stays linear (100,000 sections were quadratic).
    if (!alloc_.reserve(data_offset / bs, capacity / bs)) {
        for (std::uint32_t s = 0; s < slots_.size(); ++s) {
            const Slot& o = slots_[s];
            if (o.used && o.offset < data_offset + capacity && data_offset < o.offset + o.capacity)
                remove_section_at(s, 0);
        }
        if (!alloc_.reserve(data_offset / bs, capacity / bs))
            return fail(Error::kFailedOperation, "extent of slot " + std::to_string(slot) + " is not free");
    }
    free_slots_.erase(slot);
    occupy(slot, id, data_offset, capacity, expiration_ns, {});
    sl.remote_generation = remote_generation;
    (void)size; // the bytes and the size come with the DATA that follows
    return {};
}

void Checkpoint::remove_section_at(std::uint32_t slot, std::uint64_t remote_generation) {
    if (slot >= slots_.size() || !slots_[slot].used) return;
    if (remote_generation != 0 && slots_[slot].remote_generation != remote_generation) return;
    SectionControl& ctl = data_.control(slot);
    std::uint64_t lock = load_acquire(ctl.lock);
    if (lock_held(lock)) { // a stale local writer (this node was demoted): its transaction is void
        recover(slot, lock, false);
        lock = load_acquire(ctl.lock);
    }
    // Fence it as delete_section does: readers and writers see the engine's owner and go away.
    const std::uint64_t fenced = lock_seq(lock) + 1;
    store_release(ctl.lock, make_lock(fenced, kOwnerEngine));
    slots_[slot].captured_seq = fenced;
    remove_section(slot);
}

void Checkpoint::set_expiration_at(std::uint32_t slot, std::uint64_t remote_generation, std::int64_t expiration_ns) {
    if (slot >= slots_.size() || !slots_[slot].used || slots_[slot].remote_generation != remote_generation) return;
    slots_[slot].expiration_ns = expiration_ns;
    begin_dir_edit();
    store_relaxed(meta_.mutable_desc(slot).expiration_ns, expiration_ns);
    end_dir_edit();
}

bool Checkpoint::stage(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t offset,
                       std::span<const std::byte> bytes) {
    if (slot >= slots_.size() || !slots_[slot].used || slots_[slot].remote_generation != remote_generation)
        return false;
    const Slot& sl = slots_[slot];
    if (offset > sl.capacity || bytes.size() > sl.capacity - offset) return false;
    if (!bytes.empty()) std::memcpy(shadow_area() + sl.offset + offset, bytes.data(), bytes.size());
    staged_.push_back({sl.offset + offset, bytes.size()});
    return true;
}

bool Checkpoint::apply_staged(std::uint32_t slot, std::uint64_t remote_generation, std::uint64_t seq,
                              std::uint64_t size, bool overwrite) {
    if (slot >= slots_.size() || !slots_[slot].used || slots_[slot].remote_generation != remote_generation ||
        size > slots_[slot].capacity) {
        discard_staged();
        return false;
    }
    Slot& sl = slots_[slot];
    SectionControl& ctl = data_.control(slot);
    std::uint64_t lock = load_acquire(ctl.lock);
    if (lock_held(lock)) { // a stale local writer (this node was demoted): void its transaction first
        // recover() copies the whole shadow back, staged bytes included: that is the new state.
        recover(slot, lock, false);
        lock = load_acquire(ctl.lock);
    }
    // The sequence only grows, even when the active's is lower (a diverged former active being
    // resynced): a reader that saw the old value must see a different one after the change.
    const std::uint64_t cur = lock_seq(lock);
    const std::uint64_t next = std::max<std::uint64_t>(seq & ~1ull, (cur | 1) + 1);
    store_relaxed(ctl.lock, make_lock(next - 1, 0)); // odd: readers wait or retry
    fence_release();
    std::byte* live = data_.area();
    const std::byte* shadow = shadow_area();
    for (const Staged& st : staged_) std::memcpy(live + st.area_offset, shadow + st.area_offset, st.length);
    staged_.clear();
    store_relaxed(ctl.size, size);
    store_relaxed(ctl.commit_flags, overwrite ? kCommitOverwrite : 0u);
    store_release(ctl.lock, make_lock(next, 0));
    sl.captured_seq = next;
    sl.committed_size = size;
    ShadowEntry& se = shadow_entry(slot);
    se.seq = next;
    se.size = size;
    SectionDesc& d = meta_.mutable_desc(slot);
    if (overwrite && load_relaxed(d.state) == kSectionCorrupted) {
        begin_dir_edit();
        store_relaxed(d.state, kSectionValid);
        end_dir_edit();
    }
    store_relaxed(d.last_update_ns, now_realtime_ns());
    store_release(d.committed_size, size);
    store_release(d.captured_seq, next);
    store_release(d.acked_seq, next);
    record_change(slot);
    ++counters_.captures;
    return true;
}

void Checkpoint::discard_staged_after_restart() {
    staged_.clear();
    const std::byte* live = data_.area();
    std::byte* shadow = shadow_area();
    for (std::uint32_t s = 0; s < slots_.size(); ++s) {
        const Slot& sl = slots_[s];
        // A locked section belongs to a writer left from before a demotion: its rollback needs
        // the shadow as it is.
        if (!sl.used || lock_held(load_acquire(data_.control(s).lock))) continue;
        std::memcpy(shadow + sl.offset, live + sl.offset, sl.capacity);
    }
}

void Checkpoint::discard_staged() {
    const std::byte* live = data_.area();
    std::byte* shadow = shadow_area();
    for (const Staged& st : staged_) std::memcpy(shadow + st.area_offset, live + st.area_offset, st.length);
    staged_.clear();
}

} // namespace ckpt::engine
