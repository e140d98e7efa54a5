#pragma once
/// The dirty bitmap: the one place DATA's dirty words (one bit per block of the data area) are read
/// or written.
///
///   who                            what                                   ordering
///   the holder of a section lock   mark: sets the bits of the blocks it   relaxed: the section lock's
///                                  changed (only the missing ones)        release store publishes them
///   the engine, capturing          take: reads the bits of the section's  relaxed loads (after the
///                                  range, copies each block, then clears  lock's acquire load); release
///                                  exactly the bits it took               fetch_and
///   the engine, rolling back or    clear: clears a section's range        release fetch_and
///   (re)creating a section
///
/// With the bits goes the range a transaction marked, SectionControl::dirty_first/dirty_last
/// (blocks from the section's start, inclusive; first > last: none): the lock holder publishes it
/// before the lock's release store (publish_range), the engine reads it once and validates it
/// (scan_range), and resets it when it rolls back or (re)creates a section (reset_range).
///
/// A 64-block word can hold blocks of several sections, whose writers mark while the engine takes
/// another section's bits: every clear is an RMW of only the bits meant, never a store of the
/// word, so a mark made concurrently in the same word is never lost. The same section's bits do
/// not change while the engine takes them: its writer waits for the capture (the section lock).
/// Take copies before it clears: an engine killed in between finds the bits set after a restart.
/// The words are application-writable: the engine only ever walks a range it validated itself.
/// Header only: mark and take are on the commit path.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>

namespace ckpt::shm::dirty_bitmap {

/// Calls fn(word, mask) for each word covering blocks [first, first + count), mask selecting the
/// blocks of the range in that word.
template <typename F>
inline void for_words(std::uint64_t first, std::uint64_t count, F&& fn) {
    for (std::uint64_t b = first; b < first + count;) {
        const std::uint64_t w = b / 64, bit = b % 64;
        const std::uint64_t n = std::min<std::uint64_t>(64 - bit, first + count - b);
        fn(w, (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit);
        b += n;
    }
}

// --- the writer's end ------------------------------------------------------------------------

/// Marks blocks [first, first + count) dirty. A plain load first: re-dirtying a hot block must not
/// bounce the cache line with an atomic RMW.
inline void mark(std::uint64_t* words, std::uint64_t first, std::uint64_t count) noexcept {
    for_words(first, count, [&](std::uint64_t w, std::uint64_t mask) {
        if ((load_relaxed(words[w]) & mask) != mask)
            std::atomic_ref<std::uint64_t>(words[w]).fetch_or(mask, std::memory_order_relaxed);
    });
}

/// Publishes the blocks [first, last] (from the section's start) the transaction marked, so that
/// the engine scans only those (relaxed: the section lock's publish orders it).
inline void publish_range(SectionControl& ctl, std::uint64_t first, std::uint64_t last) noexcept {
    store_relaxed(ctl.dirty_first, first);
    store_relaxed(ctl.dirty_last, last);
}

// --- the engine's end ------------------------------------------------------------------------

/// Blocks [first, first + count) from the section's start.
struct Range {
    std::uint64_t first = 0, count = 0;
};

/// The range to scan for a section of `blocks` blocks: the published one, copied once and
/// validated; one that makes no sense means the whole section (correct, just slower).
inline Range scan_range(const SectionControl& ctl, std::uint64_t blocks) noexcept {
    const std::uint64_t df = load_relaxed(ctl.dirty_first), dl = load_relaxed(ctl.dirty_last);
    if (df <= dl && dl < blocks) return {df, dl - df + 1};
    return {0, blocks};
}

/// No range published: nothing marked (a rollback, a new section).
inline void reset_range(SectionControl& ctl) noexcept {
    publish_range(ctl, ~std::uint64_t{0}, 0);
}

/// Walks blocks [first, first + count): on_block(block) for each dirty one, in ascending order,
/// then clears the bits it walked (word by word, after that word's blocks). Returns the blocks walked.
template <typename OnBlock>
inline std::uint64_t take(std::uint64_t* words, std::uint64_t first, std::uint64_t count, OnBlock&& on_block) {
    std::uint64_t taken = 0;
    for_words(first, count, [&](std::uint64_t w, std::uint64_t mask) {
        const std::uint64_t bits = load_relaxed(words[w]) & mask;
        if (!bits) return;
        for (std::uint64_t rest = bits; rest; rest &= rest - 1) {
            on_block(w * 64 + static_cast<std::uint64_t>(std::countr_zero(rest)));
            ++taken;
        }
        fetch_and_release(words[w], ~bits);
    });
    return taken;
}

/// Clears blocks [first, first + count) (a rollback, a new occupant of the extent).
inline void clear(std::uint64_t* words, std::uint64_t first, std::uint64_t count) noexcept {
    for_words(first, count, [&](std::uint64_t w, std::uint64_t mask) {
        if (load_relaxed(words[w]) & mask) fetch_and_release(words[w], ~mask);
    });
}

} // namespace ckpt::shm::dirty_bitmap
