#pragma once
/// Write groups: one commit over several sections (saCkptCheckpointWrite of several elements,
/// client::commit_group), all of it or none of it, for readers, after a writer's or the engine's
/// death, and on every replica. The one place SectionControl::group_* is read or written.
///
/// A writer holds the lock of every member. Before it publishes any, it writes into each member's
/// control word the group's tag (its writer slot and a ticket of its own), the next member's slot
/// (the members form a ring, in slot order) and the member count; then it publishes the members
/// one after another. The group is **complete** once every member's lock is free with the tag:
/// nothing else marks the end, so a writer killed between two publications leaves a ring with a
/// member still held, which everybody reads as "open":
///
///   who            an open group (a member still held)          a complete group
///   the engine     captures none of it; a dead writer's         captures every member, then hands
///                  published members are rolled back with       replication one unit (all the
///                  its held ones (Checkpoint::release_writer)   members' changes)
///   a reader       waits, as for a held lock (begin_read)       reads
///
/// The engine clears the tag of each member it captured (before captured_seq moves, so the next
/// writer of the section, which waits for captured_seq, never races with it); a commit that stands
/// alone writes 0. Every word here is application-writable: the engine bounds the walk by the
/// member count and max_sections and checks every hop, and a ring that does not close (a hostile
/// writer, or a member already captured and written again after an engine restart in the middle of
/// a group's capture) is "broken": the engine then captures the section alone, a reader reads it.
///
/// Orderings: the tag words are written with relaxed stores while every member is held; the
/// publication of the first member (release) orders all of them. Whoever loads a member's free
/// lock with acquire sees its tag, and every other member held or published later (their locks
/// were taken before that publication), never an older free word: so "all free with the tag" is
/// only ever seen once the last member was published.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <cstdint>

namespace ckpt::shm::section_group {

inline constexpr unsigned kTicketBits = 48;
inline constexpr std::uint64_t kTicketMask = (std::uint64_t{1} << kTicketBits) - 1;

/// A group's tag: the writer slot + 1 above the ticket (never 0).
constexpr std::uint64_t make_tag(std::uint32_t writer, std::uint64_t ticket) {
    return (std::uint64_t{writer + 1} << kTicketBits) | (ticket & kTicketMask);
}
/// The writer slot a tag names (kMaxWriters or more: not a writer's).
constexpr std::uint32_t tag_writer(std::uint64_t tag) {
    return static_cast<std::uint32_t>(tag >> kTicketBits) - 1;
}

/// The writer, holding the lock: this commit is a member of group `tag` of `size` members, the
/// next in the ring at slot `next`.
inline void join(SectionControl& ctl, std::uint64_t tag, std::uint32_t next, std::uint32_t size) noexcept {
    store_relaxed(ctl.group_next, next);
    store_relaxed(ctl.group_size, size);
    store_relaxed(ctl.group_tag, tag);
}

/// The writer, holding the lock, for a commit of this section alone; the engine, once it captured
/// or rolled back the commit.
inline void leave(SectionControl& ctl) noexcept {
    store_relaxed(ctl.group_tag, std::uint64_t{0});
}

/// The tag of the commit whose free lock word the caller loaded (acquire): 0 when it stands alone.
inline std::uint64_t tag_of(const SectionControl& ctl) noexcept {
    return load_relaxed(ctl.group_tag);
}

enum class State : std::uint8_t {
    kAlone,    ///< no tag: not a group's
    kOpen,     ///< a member is still held: the group is not committed yet
    kComplete, ///< every member is free with the tag
    kBroken,   ///< the ring does not close (see above)
};

/// Walks the ring of the group that `start`'s commit belongs to; `start`'s lock is `start_lock`, a
/// free word the caller loaded with acquire. `ctl_of(slot)` gives a member's control word, or
/// nullptr for a slot that holds no section; `visit(slot, lock)` is called for every member
/// (start first, then in ring order) with the lock word loaded. At most `max_members` hops.
template <typename CtlOf, typename Visit>
State walk(std::uint32_t start, std::uint64_t start_lock, std::uint32_t max_members, CtlOf&& ctl_of, Visit&& visit) {
    const SectionControl* first = ctl_of(start);
    if (!first) return State::kBroken;
    const std::uint64_t tag = tag_of(*first);
    if (tag == 0) return State::kAlone;
    const std::uint32_t size = load_relaxed(first->group_size);
    if (size < 2 || size > max_members) return State::kBroken;
    bool open = false;
    std::uint32_t slot = start;
    std::uint64_t lock = start_lock;
    for (std::uint32_t i = 0;; ++i) {
        const SectionControl* ctl = ctl_of(slot);
        if (!ctl) return State::kBroken;
        if (i > 0) {
            if (slot == start) return State::kBroken; // a ring shorter than its size
            lock = load_acquire(ctl->lock);
            if (load_relaxed(ctl->group_tag) != tag || load_relaxed(ctl->group_size) != size) return State::kBroken;
        }
        if (lock_held(lock)) open = true;
        visit(slot, lock);
        slot = load_relaxed(ctl->group_next);
        if (i + 1 == size) return slot == start ? (open ? State::kOpen : State::kComplete) : State::kBroken;
    }
}

} // namespace ckpt::shm::section_group
