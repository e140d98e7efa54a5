#pragma once
/// Zero-copy access to one section: write transactions over its bytes in shared memory, consistent
/// (seqlock) reads, and waiting for acknowledgements. A Section is a cheap value; it stays tied to
/// the section it was looked up for, and reports NOT_EXIST once that section is deleted.
#include "ckpt/common/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

namespace ckpt::client {

namespace detail {
struct CheckpointCore;
}

/// How long a commit waits.
enum class Ack {
    kDefault, ///< the checkpoint's update mode: sync for ALL_REPLICAS, async otherwise
    kAsync,   ///< return once the commit is published locally (readers see it; the engine picks it up)
    kSync,    ///< return once every required replica applied it (node-local: once the engine captured it)
};

/// Default wait for control calls, locks and sync acknowledgements.
inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};

class Section;

/// An open write transaction: the section is locked (its seqlock odd) and its bytes are yours to
/// change in place. Mark what you change (span()/write()/mark_dirty()) so only those blocks are
/// captured and replicated; a transaction that marks nothing commits the whole section.
/// Destroying an uncommitted transaction aborts it: the engine puts the section back.
class WriteTx {
public:
    WriteTx(WriteTx&& o) noexcept;
    WriteTx& operator=(WriteTx&& o) noexcept;
    WriteTx(const WriteTx&) = delete;
    WriteTx& operator=(const WriteTx&) = delete;
    ~WriteTx();

    /// The whole section capacity, unmarked (mark what you change).
    std::span<std::byte> data() const noexcept { return {bytes_, capacity_}; }
    /// [offset, offset+len) marked dirty; aborts on a range outside the capacity.
    std::span<std::byte> span(std::size_t offset, std::size_t len);
    /// Copies `src` to `offset`, marks it, and grows the size to cover it.
    void write(std::size_t offset, std::span<const std::byte> src);
    void mark_dirty(std::size_t offset, std::size_t len);
    /// Section size after the commit (<= capacity).
    void resize(std::size_t size);
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }

    /// Publishes the transaction. Returns the section's new commit sequence. With Ack::kSync the
    /// call returns after acknowledgement, or TIMEOUT (the commit stays published).
    Result<std::uint64_t> commit(Ack ack = Ack::kDefault, std::chrono::milliseconds timeout = kDefaultTimeout);
    /// Same as commit, and tells the engine the whole section was replaced (clears CORRUPTED).
    Result<std::uint64_t> commit_overwrite(Ack ack = Ack::kDefault,
                                           std::chrono::milliseconds timeout = kDefaultTimeout);
    /// Gives the section back unchanged (the engine restores it from its committed copy).
    Status abort();
    /// A checkpoint created with kFlagNetSize counts the bytes its sections hold against
    /// checkpoint_size: a commit that grows the section asks ckptd for the room first (NO_SPACE,
    /// and the transaction rolled back, when it is not there). reserve() asks now, for size(), and
    /// leaves the transaction open either way, so that several transactions can all be granted
    /// before any commits. OK at once when the section does not grow or the flag is not set.
    Status reserve();

private:
    friend class Section;
    friend Status commit_group(std::span<WriteTx> txs, Ack ack, std::chrono::milliseconds timeout,
                               std::span<std::uint64_t> sequences);
    WriteTx() = default;
    Result<std::uint64_t> finish(Ack ack, std::chrono::milliseconds timeout, bool overwrite);
    /// Everything a commit does before its publication (tracking, the corrupted check, the room in
    /// checkpoint_size, size, flags, dirty range); aborts the transaction on failure.
    [[gnu::visibility("hidden")]] Status prepare(bool overwrite);
    /// Makes the transaction's state the section's (release store of the lock); returns its sequence.
    [[gnu::visibility("hidden")]] std::uint64_t publish();
    std::shared_ptr<detail::CheckpointCore> ck_;
    std::uint32_t slot_ = 0;
    std::uint64_t seq_ = 0; ///< odd sequence held
    std::byte* bytes_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    std::uint64_t data_offset_ = 0;
    std::uint64_t dirty_first_ = ~std::uint64_t{0}; ///< blocks marked (section-relative), published at commit
    std::uint64_t dirty_last_ = 0;
    bool marked_ = false;
    bool open_ = false;
};

/// Publishes several open transactions of one checkpoint (each of a different section) as one
/// commit, a write group: readers see all of it or none of it (a reader of a member waits while
/// another member is unpublished), a writer killed in the middle leaves none of it (ckptd rolls
/// back the members already published with the others), and the engine captures and replicates
/// it as one unit that every standby applies whole or not at all. Ack::kSync returns once every
/// required replica applied the whole group. `sequences`, if not empty (then one per transaction),
/// receives each section's new commit sequence. A failure before the publication (a corrupted
/// section, NO_SPACE) aborts every transaction: nothing was published. INVALID_PARAM for
/// transactions that are not open, of several checkpoints or twice the same section (nothing is
/// aborted then). One transaction is a plain commit().
Status commit_group(std::span<WriteTx> txs, Ack ack = Ack::kDefault,
                    std::chrono::milliseconds timeout = kDefaultTimeout, std::span<std::uint64_t> sequences = {});

/// One consistent read attempt (low level; read_view wraps it).
struct ReadSnapshot {
    std::uint64_t lock = 0;
    const std::byte* bytes = nullptr;
    std::size_t size = 0;
};

class Section {
public:
    Section() = default;

    const std::string& id() const noexcept { return id_; }
    std::size_t capacity() const noexcept { return capacity_; }
    std::uint32_t slot() const noexcept { return slot_; }

    /// Locks the section for writing. Waits while another process writes it. If the engine has not
    /// captured this section's previous commit yet, copies that commit's blocks into the
    /// checkpoint's local stage for the engine and goes on; waits for the capture only when it
    /// cannot (a commit staged already, no free stage record, a write group's member, more blocks
    /// than a record holds). TIMEOUT after `timeout`.
    Result<WriteTx> write(std::chrono::milliseconds timeout = kDefaultTimeout);
    /// write(), copy `src` to `offset` (growing the size if needed), commit.
    Result<std::uint64_t> write(std::size_t offset, std::span<const std::byte> src, Ack ack = Ack::kDefault);
    /// Replaces the whole section with `src` (saCkptSectionOverwrite); clears CORRUPTED.
    Result<std::uint64_t> overwrite(std::span<const std::byte> src, Ack ack = Ack::kDefault);

    /// Copies up to out.size() committed bytes from `offset`; returns how many.
    Result<std::size_t> read(std::size_t offset, std::span<std::byte> out) const;
    /// Calls fn(std::span<const std::byte>) over the committed bytes in place, without copying,
    /// and returns its result from an attempt no writer overlapped. fn may run more than once and
    /// must not act on what it sees until read_view returns.
    template <typename F>
    auto read_view(F&& fn) const -> Result<std::invoke_result_t<F&, std::span<const std::byte>>> {
        for (;;) {
            auto snap = begin_read();
            if (!snap) return snap.failure();
            auto r = fn(std::span<const std::byte>(snap->bytes, snap->size));
            if (end_read(*snap)) return r;
        }
    }

    /// Size of the committed state.
    std::size_t size() const;
    /// Sequence of the last commit (even; grows by 2 per commit).
    std::uint64_t sequence() const;
    /// Sequence every required replica has applied.
    std::uint64_t acked_sequence() const;
    /// Waits until acked_sequence() >= seq.
    Status wait_acked(std::uint64_t seq, std::chrono::milliseconds timeout = kDefaultTimeout) const;
    /// Where commit `seq` (a value commit() returned) stands as Ack::kSync counts it, without
    /// waiting: true once every required standby applied it, false while that may still happen,
    /// and the error a sync commit would return when it cannot (UNAVAILABLE: a required standby is
    /// down; BAD_OPERATION: this node was demoted). With commit(Ack::kAsync) this lets an event
    /// loop keep several commits in flight: Checkpoint::notify_fd() turns readable whenever
    /// acknowledgements or the replication state change (see examples/kvstore).
    Result<bool> replicated(std::uint64_t seq) const;
    /// Waits until replicated(seq) is not false: what commit(Ack::kSync) waits for.
    Status wait_replicated(std::uint64_t seq, std::chrono::milliseconds timeout = kDefaultTimeout) const;

    // Low-level seqlock read: begin_read, look, end_read (false: a writer overlapped, retry).
    Result<ReadSnapshot> begin_read(std::chrono::milliseconds timeout = kDefaultTimeout) const;
    bool end_read(const ReadSnapshot& s) const;

private:
    friend class Checkpoint;
    std::shared_ptr<detail::CheckpointCore> ck_;
    std::string id_;
    std::uint32_t slot_ = 0;
    std::uint64_t generation_ = 0;
    std::uint64_t data_offset_ = 0;
    std::size_t capacity_ = 0;
    std::byte* bytes_ = nullptr;
};

} // namespace ckpt::client
