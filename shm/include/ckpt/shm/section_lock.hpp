#pragma once
/// The section lock: the one place SectionControl::lock is read or written.
///
/// The word is `make_lock(seq, owner)` (segment_layout.hpp). It is a seqlock that also names its
/// holder: seq is even while the section is free (owner 0) and odd while a transaction holds it.
///
///   owner                  who takes it                       how it ends
///   writer slot + 1        a client's write transaction       publish(seq + 1) by the client, or
///                          (try_take from an even word)       the engine's rollback (rollback_seq)
///   kLockOwnerEngine       the engine fencing a section it    never: the slot is freed and the next
///                          deletes (try_fence)                occupant publishes a higher even seq
///   0                      the engine applying a replicated   publish by the engine
///                          commit (try_take, owner 0)
///
/// Orderings, and why:
/// - Taking is a CAS with acquire: the new holder sees the bytes of the commit before it. It is
///   followed by a release fence so that the odd sequence is visible before any byte changes.
/// - publish is a release store of an even word: a reader (or the engine's capture) that loads it
///   with acquire sees every byte, size and dirty word written while the lock was held.
/// - A seqlock reader loads the word with acquire (begin), copies, then unchanged() fences with
///   acquire and reloads it relaxed: equal means the copy is one committed state.
/// - The word is application-writable: the engine treats what it reads as a hint and validates it
///   (commit_path.cpp); the client trusts only its own transactions.
///
/// Header only: every function is a load, a store or a CAS on the commit path, inlined where it is
/// used (and so adds nothing to libckpt's exported ABI).
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <cstdint>

namespace ckpt::shm::section_lock {

/// The word as it is now (acquire): pairs with publish, so a free word comes with its commit.
inline std::uint64_t load(const SectionControl& ctl) noexcept {
    return load_acquire(ctl.lock);
}

/// The word without ordering, for a scan that only decides whether to look closer (the look
/// closer then uses load).
inline std::uint64_t peek(const SectionControl& ctl) noexcept {
    return load_relaxed(ctl.lock);
}

/// Takes the lock from `seen` (a free word the caller loaded) at the odd sequence `odd_seq` for
/// `owner`. On failure `seen` holds the word found instead. On success the odd word is ordered
/// before every later store of the caller (release fence).
[[nodiscard]] inline bool try_take(SectionControl& ctl, std::uint64_t& seen, std::uint64_t odd_seq,
                                   std::uint32_t owner) noexcept {
    if (!compare_exchange_acquire(ctl.lock, seen, make_lock(odd_seq, owner))) return false;
    fence_release();
    return true;
}

/// A writer's begin: takes a free `seen` at its next (odd) sequence for writer slot `writer`.
[[nodiscard]] inline bool try_begin(SectionControl& ctl, std::uint64_t& seen, std::uint32_t writer) noexcept {
    return try_take(ctl, seen, lock_seq(seen) + 1, writer + 1);
}

/// Gives back a lock try_begin took from `seen` before any byte of the section changed (the
/// section was deleted meanwhile): the word returns to the committed state it was.
inline void give_back(SectionControl& ctl, std::uint64_t seen) noexcept {
    store_release(ctl.lock, seen);
}

/// Ends a transaction: the section is free at the even sequence `seq`, and everything written
/// while it was held is visible to whoever loads this word.
inline void publish(SectionControl& ctl, std::uint64_t seq) noexcept {
    store_release(ctl.lock, make_lock(seq, 0));
}

/// The even sequence that ends (aborts) a transaction held at `held`, or fences a word the engine
/// found inconsistent: past anything a reader has seen, so every snapshot taken before fails.
constexpr std::uint64_t rollback_seq(std::uint64_t held) noexcept {
    return (lock_seq(held) | 1) + 1;
}

/// Seqlock reader's check after copying: true when the word still is `seen`, so the copy taken
/// since begin is one committed state.
inline bool unchanged(const SectionControl& ctl, std::uint64_t seen) noexcept {
    fence_acquire(); // the copy happened before the word is looked at again
    return load_relaxed(ctl.lock) == seen;
}

/// The engine fences a section it deletes: from free `seen` to the next odd sequence owned by
/// kLockOwnerEngine, so no writer can take it and every reader and writer reports it deleted.
[[nodiscard]] inline bool try_fence(SectionControl& ctl, std::uint64_t& seen) noexcept {
    return try_take(ctl, seen, lock_seq(seen) + 1, kLockOwnerEngine);
}

/// True when `lock` is the engine's fence of a deleted section.
constexpr bool fenced(std::uint64_t lock) noexcept {
    return lock_held(lock) && lock_owner(lock) == kLockOwnerEngine;
}

} // namespace ckpt::shm::section_lock
