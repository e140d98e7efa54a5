#pragma once
/// The local stage (layout minor 6): the one place SectionControl::stage and the StageRecords after
/// DATA's data_size are read or written (docs/ARCHITECTURE.md §3.6).
///
/// A writer's next transaction on a section used to wait until ckptd had copied the previous commit
/// N into the shadow (the rollback source, the replication source). With the stage, a writer that
/// finds N not captured yet copies N's dirty range into a stage record itself and writes on; the
/// engine captures N from the record, in order, before it captures N's successor from the live
/// bytes. The shadow stays the engine's alone (invariant 5): a writer only ever writes DATA.
///
///   who          SectionControl::stage               when
///   the engine   kStageFree|kStageEngine -> kStageEngine  CAS before it copies live bytes into the
///                                                     shadow; -> kStageFree (release) after
///   a writer     kStageFree -> kStageWriter            CAS, holding the section lock (N+1), before
///                                                     any store; then either -> kStageFree (it
///                                                     found N captured meanwhile, or no room) or
///                                                     -> kStagedBase + r (release) once record r
///                                                     holds N (its state kRecordReady, release)
///   the engine   kStagedBase + r -> kStageFree        CAS after it captured N from record r and
///                                                     freed it (or found the record invalid)
///
/// A record: kRecordFree -> filling_by(writer) (the writer's CAS: the owner is in the state word
/// itself) -> kRecordReady (release, after the bytes and the header) -> kRecordFree (the engine,
/// after the capture). Records of a dead writer (filling, or ready and never named) are given back
/// by `CommitPath::sweep_stage` when the engine releases its writer slot or adopts the segments.
///
/// Why the claim: the engine loads a free lock word and then copies; a writer that takes the lock
/// in between must not store before that copy is done. It cannot: its stores come after its own
/// CAS to kStageWriter, which fails while the engine holds kStageEngine, and the engine accepts a
/// lock taken meanwhile (N+1, held) as "unchanged" because its holder waits. A writer that finds
/// the engine's claim gives the lock back and waits as before (the engine is capturing N now).
///
/// One record per section at a time: a writer stages only from kStageFree, so a section has at most
/// two commits the engine has not captured (N in a record, N+2 live), never more. A commit that was
/// a write group's member is never staged (the group must reach the shadow and the replicas as one;
/// the writer waits as before), nor a range larger than a record.
///
/// Every word here is application-writable: the engine validates a record (slot, generation,
/// sequence between what it captured and the live lock, range inside the section and the record)
/// before it copies a byte, and a claim it finds with a free lock is damage it clears.
/// Header only: every function is a load, a store or a CAS on the commit path.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <atomic>
#include <cstdint>

namespace ckpt::shm::local_stage {

inline std::uint32_t load(const SectionControl& ctl) noexcept {
    return load_acquire(ctl.stage);
}

/// kStagedBase + r, r < kStageRecords.
constexpr bool names_record(std::uint32_t word) noexcept {
    return word >= kStagedBase && word < kStagedBase + kStageRecords;
}

/// CAS from `expected` to `desired` (acq_rel: a writer's claim sees the engine's copy finished and
/// its dirty bits cleared; the engine's sees a writer's record).
inline bool claim(SectionControl& ctl, std::uint32_t expected, std::uint32_t desired) noexcept {
    return std::atomic_ref<std::uint32_t>(ctl.stage).compare_exchange_strong(expected, desired,
                                                                             std::memory_order_acq_rel);
}

/// Ends a claim (release: the copy made under it happens before whatever the next claimer does).
inline void release(SectionControl& ctl, std::uint32_t word = kStageFree) noexcept {
    store_release(ctl.stage, word);
}

/// The state of a record writer slot `writer` is filling: the owner is in the word the CAS that
/// took it wrote, so a writer that dies at any point leaves a record the engine can give back.
constexpr std::uint32_t filling_by(std::uint32_t writer) noexcept {
    return kRecordFillingBase + writer + 1;
}
/// The writer slot of a filling state, or kMaxWriters for any other state.
constexpr std::uint32_t filler_of(std::uint32_t state) noexcept {
    return state > kRecordFillingBase && state <= kRecordFillingBase + kMaxWriters ? state - kRecordFillingBase - 1
                                                                                   : kMaxWriters;
}

/// Writer slot `writer` takes a free record (CAS kRecordFree -> filling_by(writer)), starting at
/// `hint`; returns its index or kStageRecords when every record is in use.
inline std::uint32_t take_record(StageRecord* records, std::uint32_t hint, std::uint32_t writer) noexcept {
    for (std::uint32_t i = 0; i < kStageRecords; ++i) {
        const std::uint32_t r = (hint + i) % kStageRecords;
        std::uint32_t expected = kRecordFree;
        if (load_relaxed(records[r].state) == kRecordFree &&
            std::atomic_ref<std::uint32_t>(records[r].state)
                .compare_exchange_strong(expected, filling_by(writer), std::memory_order_acquire))
            return r;
    }
    return kStageRecords;
}

/// Gives back a record only if its state is still `seen` (the engine's cleanup: never a record
/// someone took again meanwhile).
inline bool free_record_if(StageRecord& rec, std::uint32_t seen) noexcept {
    return std::atomic_ref<std::uint32_t>(rec.state).compare_exchange_strong(seen, kRecordFree,
                                                                             std::memory_order_acq_rel);
}

/// Gives a record back (release: whoever takes it next sees it finished with).
inline void free_record(StageRecord& rec) noexcept {
    store_release(rec.state, kRecordFree);
}

} // namespace ckpt::shm::local_stage
