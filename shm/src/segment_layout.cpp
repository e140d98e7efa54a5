#include "ckpt/shm/segment_layout.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace ckpt::shm {
namespace {
constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}
} // namespace

Result<Layout> compute_layout(const CheckpointAttributes& a) {
    Layout l{};
    std::uint64_t off = sizeof(MetaHeader);
    l.writers_offset = off;
    off += sizeof(WriterSlot) * kMaxWriters;
    l.index_offset = off;
    l.index_capacity = std::bit_ceil(std::max<std::uint32_t>(a.max_sections * 2, 16));
    off = round_up(off + std::uint64_t{4} * l.index_capacity, 64);
    l.desc_offset = off;
    l.desc_stride = static_cast<std::uint32_t>(round_up(sizeof(SectionDesc) + a.max_section_id_size, 64));
    off += std::uint64_t{l.desc_stride} * a.max_sections;
    l.changelog_offset = off;
    off += sizeof(ChangeRecord) * kChangelogCapacity;
    l.meta_size = round_up(off, kAreaAlign);

    l.pending_words = (a.max_sections + 63) / 64;
    l.summary_words = (l.pending_words + 63) / 64;
    off = sizeof(DataHeader);
    l.pending_offset = off;
    off = round_up(off + 8ull * (l.summary_words + l.pending_words), 64);
    l.control_offset = off;
    off += sizeof(SectionControl) * std::uint64_t{a.max_sections};
    l.area_size = round_up(a.checkpoint_size, a.block_size);
    if (a.net_size()) // room for every section at its largest; checkpoint_size limits the bytes held
        l.area_size = std::max(l.area_size, std::uint64_t{a.max_sections} * round_up(a.max_section_size, a.block_size));
    std::uint64_t blocks = l.area_size / a.block_size;
    l.dirty_words = (blocks + 63) / 64;
    l.dirty_offset = off;
    off += 8 * l.dirty_words;
    l.area_offset = round_up(off, std::max<std::uint64_t>(kAreaAlign, a.block_size));
    l.data_size = round_up(l.area_offset + l.area_size, kAreaAlign);
    // The local stage follows: data_size (what META records, what engines before minor 6 size the
    // object to) is unchanged, so a library of either side of minor 6 attaches to the other's.
    l.stage_offset = l.data_size;
    l.stage_data_offset = l.stage_offset + round_up(sizeof(StageRecord) * kStageRecords, kAreaAlign);
    // kStageRecords records of at most kStageRecordMaxBytes, together no larger than the area (a
    // small checkpoint's stage is small), and at least a block each.
    l.stage_record_bytes = std::max<std::uint64_t>(
        a.block_size,
        round_up(std::min(l.area_size, kStageRecords * kStageRecordMaxBytes) / kStageRecords, a.block_size));
    l.data_object_size = round_up(l.stage_data_offset + kStageRecords * l.stage_record_bytes, kAreaAlign);

    l.shadow_entries_offset = sizeof(ShadowHeader);
    l.shadow_area_offset =
        round_up(l.shadow_entries_offset + sizeof(ShadowEntry) * std::uint64_t{a.max_sections}, kAreaAlign);
    l.shadow_size = round_up(l.shadow_area_offset + l.area_size, kAreaAlign);
    return l;
}

CheckpointAttributes attributes_of(const MetaHeader& h) {
    CheckpointAttributes a;
    a.creation_flags = h.creation_flags;
    a.checkpoint_size = h.checkpoint_size;
    a.retention_ns = h.retention_ns;
    a.max_sections = h.max_sections;
    a.max_section_size = h.max_section_size;
    a.max_section_id_size = h.max_section_id_size;
    a.block_size = h.block_size;
    return a;
}

} // namespace ckpt::shm
