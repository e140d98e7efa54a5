#pragma once
/// The reader API over a mapped checkpoint: attach() validates a META / DATA mapping once (magic,
/// version, every offset recomputed from the attributes), after which accessors are bounds-safe.
/// Directory reads copy fields out under the directory seqlock and validate them before returning,
/// so no caller dereferences a shared offset twice. Used by libckpt, ckptd and ckptstat alike.
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ckpt::shm {

/// How a header looks to a reader (Aeron's cnc states): retry only kNotReady.
enum class HeaderState { kReady, kNotReady, kVersionMismatch, kCorrupt };

/// A copied-out, validated snapshot of one section's directory entry.
struct SectionInfo {
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint32_t state = kSectionFree;
    std::string id;                ///< raw bytes
    std::uint64_t data_offset = 0; ///< from the data area's start
    std::uint64_t capacity = 0;
    std::uint64_t committed_size = 0;
    std::int64_t expiration_ns = 0;
    std::int64_t last_update_ns = 0;
    std::uint64_t captured_seq = 0;
    std::uint64_t acked_seq = 0;
    std::uint64_t change_seq = 0;
};

class MetaView {
public:
    MetaView() = default;
    /// Validates the META mapping. `base` stays owned by the caller's Mapping.
    static Result<MetaView> attach(std::byte* base, std::uint64_t size);
    /// Classifies a header without attaching (for waiting on a segment being created).
    static HeaderState classify(const std::byte* base, std::uint64_t size);

    const MetaHeader& header() const { return *hdr_; }
    const Layout& layout() const { return layout_; }
    const CheckpointAttributes& attributes() const { return attrs_; }
    std::string name() const;

    std::uint64_t commit_seq() const { return load_acquire(hdr_->commit_seq); }
    std::uint64_t epoch() const { return load_acquire(hdr_->epoch); }
    std::uint32_t state() const { return load_acquire(hdr_->state); }
    std::uint32_t section_count() const { return load_acquire(hdr_->section_count); }
    std::uint64_t bytes_used() const { return load_acquire(hdr_->bytes_used); }

    /// O(1) lookup by id (hash index); nullopt when absent.
    std::optional<SectionInfo> find(std::span<const std::byte> id) const;
    /// Entry of one slot; nullopt when the slot is free or out of range.
    std::optional<SectionInfo> info(std::uint32_t slot) const;
    /// All sections in slot order.
    std::vector<SectionInfo> list() const;

    /// Slots that changed after `since`; returns the commit_seq the answer is complete up to.
    /// Uses the change log, or a full scan when `since` fell out of it.
    std::uint64_t changed_since(std::uint64_t since, std::vector<std::uint32_t>& slots) const;

    /// Per-section words a waiter polls (acquire loads).
    const SectionDesc& desc(std::uint32_t slot) const;
    const WriterSlot& writer(std::uint32_t i) const;

    // --- engine-only mutable access (the engine maps META read-write) ---
    MetaHeader& mutable_header() const { return *hdr_; }
    SectionDesc& mutable_desc(std::uint32_t slot) const { return const_cast<SectionDesc&>(desc(slot)); }
    std::uint8_t* mutable_desc_id(std::uint32_t slot) const;
    std::uint32_t* mutable_index() const;
    WriterSlot& mutable_writer(std::uint32_t i) const { return const_cast<WriterSlot&>(writer(i)); }
    ChangeRecord* mutable_changelog() const;
    std::byte* base() const { return base_; }

private:
    std::optional<SectionInfo> read_slot(std::uint32_t slot) const; // caller holds the seqlock loop
    std::byte* base_ = nullptr;
    std::uint64_t size_ = 0;
    MetaHeader* hdr_ = nullptr;
    Layout layout_{};
    CheckpointAttributes attrs_{};
};

class DataView {
public:
    DataView() = default;
    /// Validates the DATA mapping against the META it belongs to.
    static Result<DataView> attach(std::byte* base, std::uint64_t size, const MetaView& meta);

    DataHeader& header() const { return *hdr_; }
    SectionControl& control(std::uint32_t slot) const;
    std::uint64_t* dirty_words() const { return reinterpret_cast<std::uint64_t*>(base_ + layout_.dirty_offset); }
    std::uint64_t* summary_words() const { return reinterpret_cast<std::uint64_t*>(base_ + layout_.pending_offset); }
    std::uint64_t* pending_words() const { return summary_words() + layout_.summary_words; }
    std::byte* area() const { return base_ + layout_.area_offset; }
    std::uint64_t area_size() const { return layout_.area_size; }
    std::uint32_t block_size() const { return block_size_; }

    /// The local stage (layout minor 6, local_stage.hpp): false when the DATA object ends at
    /// data_size (an engine before minor 6 made it).
    bool has_stage() const { return has_stage_; }
    StageRecord& stage_record(std::uint32_t r) const {
        return reinterpret_cast<StageRecord*>(base_ + layout_.stage_offset)[r % kStageRecords];
    }
    std::byte* stage_bytes(std::uint32_t r) const {
        return base_ + layout_.stage_data_offset + std::uint64_t{r % kStageRecords} * layout_.stage_record_bytes;
    }
    std::uint64_t stage_record_bytes() const { return layout_.stage_record_bytes; }

    /// Bytes of a section (its whole capacity); info must come from the same checkpoint's MetaView.
    std::span<std::byte> section_bytes(const SectionInfo& info) const;

    /// Marks [offset, offset+len) of a section dirty (writer side; relaxed: the commit's release
    /// store orders it).
    void mark_dirty(const SectionInfo& info, std::uint64_t offset, std::uint64_t len) const;
    /// Announces a commit of `slot` to the engine (doorbell bit, summary bit, pending_any).
    void ring_doorbell(std::uint32_t slot) const;

private:
    std::byte* base_ = nullptr;
    std::uint64_t size_ = 0;
    DataHeader* hdr_ = nullptr;
    Layout layout_{};
    std::uint32_t block_size_ = 0;
    std::uint32_t max_sections_ = 0;
    bool has_stage_ = false;
};

/// Validates an engine's NODE header.
Result<const NodeHeader*> attach_node(const std::byte* base, std::uint64_t size);

/// CLOCK_REALTIME in ns (SaTimeT).
std::int64_t now_realtime_ns();

} // namespace ckpt::shm
