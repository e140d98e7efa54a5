// Pins the shared-memory ABI of shm/include/ckpt/shm/segment_layout.hpp with literal numbers (as
// iceoryx does): every size, every field offset, every magic word. A change to any of them is an
// incompatible change of the segment format and must come with a kLayoutMajor bump and an update
// of this file. Also checks the properties of compute_layout() that readers rely on.
#include "ckpt/shm/segment_layout.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

using namespace ckpt;
using namespace ckpt::shm;

namespace {

std::string ascii_of(std::uint64_t magic) {
    char c[8];
    std::memcpy(c, &magic, sizeof c); // the bytes as they lie in the segment
    return std::string(c, sizeof c);
}

#define CKPT_EXPECT_OFFSET(type, field, value) EXPECT_EQ(offsetof(type, field), std::size_t{value}) << #type "::" #field

} // namespace

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

TEST(Layout, VersionAndConstants) {
    EXPECT_EQ(kLayoutMajor, 1);
    EXPECT_EQ(kLayoutMinor, 6);
    EXPECT_EQ(kMaxWriters, 64u);
    EXPECT_EQ(kChangelogCapacity, 4096u);
    EXPECT_TRUE(std::has_single_bit(kChangelogCapacity));
    EXPECT_EQ(kAreaAlign, 4096u);
    EXPECT_EQ(kMetaDamaged, 0x1u);
    EXPECT_EQ(kMetaUnlinked, 0x2u);
    EXPECT_EQ(kWriterFree, 0u);
    EXPECT_EQ(kWriterAttached, 1u);
    EXPECT_EQ(kIndexEmpty, 0u);
    EXPECT_EQ(kIndexTombstone, 0xFFFF'FFFFu);
    EXPECT_EQ(kSectionFree, 0u);
    EXPECT_EQ(kSectionValid, 1u);     // SA_CKPT_SECTION_VALID
    EXPECT_EQ(kSectionCorrupted, 2u); // SA_CKPT_SECTION_CORRUPTED
    EXPECT_EQ(kLockSeqShift, 16u);
    EXPECT_EQ(kLockOwnerMask, 0xFFFFu);
    EXPECT_EQ(kLockOwnerEngine, 0xFFFFu); // the engine's fence of a deleted section; clients test for it
    EXPECT_EQ(kCommitOverwrite, 0x1u);
}

TEST(Layout, MagicWordsReadAsAscii) {
    EXPECT_EQ(ascii_of(kMetaMagic), "CKPTMETA");
    EXPECT_EQ(ascii_of(kDataMagic), "CKPTDATA");
    EXPECT_EQ(ascii_of(kShadowMagic), "CKPTSHAD");
    EXPECT_EQ(ascii_of(kNodeMagic), "CKPTNODE");
    EXPECT_EQ(kMetaMagic, 0x4154'454D'5450'4B43ULL);
    EXPECT_EQ(kDataMagic, 0x4154'4144'5450'4B43ULL);
    EXPECT_EQ(kShadowMagic, 0x4441'4853'5450'4B43ULL);
    EXPECT_EQ(kNodeMagic, 0x4544'4F4E'5450'4B43ULL);
}

// ---------------------------------------------------------------------------------------------
// Struct sizes, alignments and field offsets
// ---------------------------------------------------------------------------------------------

TEST(Layout, MetaHeader) {
    EXPECT_EQ(sizeof(MetaHeader), 512u);
    EXPECT_EQ(alignof(MetaHeader), 64u);
    CKPT_EXPECT_OFFSET(MetaHeader, magic, 0);
    CKPT_EXPECT_OFFSET(MetaHeader, layout_major, 8);
    CKPT_EXPECT_OFFSET(MetaHeader, layout_minor, 10);
    CKPT_EXPECT_OFFSET(MetaHeader, header_size, 12);
    CKPT_EXPECT_OFFSET(MetaHeader, meta_size, 16);
    CKPT_EXPECT_OFFSET(MetaHeader, data_size, 24);
    CKPT_EXPECT_OFFSET(MetaHeader, checkpoint_size, 32);
    CKPT_EXPECT_OFFSET(MetaHeader, max_section_size, 40);
    CKPT_EXPECT_OFFSET(MetaHeader, retention_ns, 48);
    CKPT_EXPECT_OFFSET(MetaHeader, max_sections, 56);
    CKPT_EXPECT_OFFSET(MetaHeader, max_section_id_size, 60);
    CKPT_EXPECT_OFFSET(MetaHeader, block_size, 64);
    CKPT_EXPECT_OFFSET(MetaHeader, creation_flags, 68);
    CKPT_EXPECT_OFFSET(MetaHeader, writers_offset, 72);
    CKPT_EXPECT_OFFSET(MetaHeader, index_offset, 80);
    CKPT_EXPECT_OFFSET(MetaHeader, index_capacity, 88);
    CKPT_EXPECT_OFFSET(MetaHeader, desc_stride, 92);
    CKPT_EXPECT_OFFSET(MetaHeader, desc_offset, 96);
    CKPT_EXPECT_OFFSET(MetaHeader, changelog_offset, 104);
    CKPT_EXPECT_OFFSET(MetaHeader, changelog_capacity, 112);
    CKPT_EXPECT_OFFSET(MetaHeader, node_id, 116);
    CKPT_EXPECT_OFFSET(MetaHeader, incarnation, 120);
    CKPT_EXPECT_OFFSET(MetaHeader, created_ns, 128);
    CKPT_EXPECT_OFFSET(MetaHeader, epoch, 136);
    CKPT_EXPECT_OFFSET(MetaHeader, commit_seq, 144);
    CKPT_EXPECT_OFFSET(MetaHeader, dir_seq, 152);
    CKPT_EXPECT_OFFSET(MetaHeader, section_count, 160);
    CKPT_EXPECT_OFFSET(MetaHeader, state, 164);
    CKPT_EXPECT_OFFSET(MetaHeader, bytes_used, 168);
    CKPT_EXPECT_OFFSET(MetaHeader, ack_futex, 176);
    CKPT_EXPECT_OFFSET(MetaHeader, name_len, 180);
    CKPT_EXPECT_OFFSET(MetaHeader, generated_ids, 184);
    CKPT_EXPECT_OFFSET(MetaHeader, role, 192);
    CKPT_EXPECT_OFFSET(MetaHeader, active_node, 196);
    CKPT_EXPECT_OFFSET(MetaHeader, repl_lag_commits, 200);
    CKPT_EXPECT_OFFSET(MetaHeader, repl_lag_bytes, 208);
    CKPT_EXPECT_OFFSET(MetaHeader, sync_blocked, 216);
    CKPT_EXPECT_OFFSET(MetaHeader, async_window, 220);
    CKPT_EXPECT_OFFSET(MetaHeader, window_policy, 224);
    CKPT_EXPECT_OFFSET(MetaHeader, replicas, 228);
    CKPT_EXPECT_OFFSET(MetaHeader, lost_events, 232);
    CKPT_EXPECT_OFFSET(MetaHeader, lost_commits, 236);
    CKPT_EXPECT_OFFSET(MetaHeader, lost_first_change, 240);
    CKPT_EXPECT_OFFSET(MetaHeader, lost_last_change, 248);
    CKPT_EXPECT_OFFSET(MetaHeader, name, 256);
    EXPECT_EQ(sizeof(MetaHeader::name), 256u);
}

TEST(Layout, WriterSlot) {
    EXPECT_EQ(sizeof(WriterSlot), 32u);
    EXPECT_EQ(alignof(WriterSlot), 8u);
    CKPT_EXPECT_OFFSET(WriterSlot, pid, 0);
    CKPT_EXPECT_OFFSET(WriterSlot, state, 4);
    CKPT_EXPECT_OFFSET(WriterSlot, start_time, 8);
    CKPT_EXPECT_OFFSET(WriterSlot, reserved, 16);
    EXPECT_EQ(sizeof(WriterSlot::reserved), 16u);
}

TEST(Layout, SectionDesc) {
    EXPECT_EQ(sizeof(SectionDesc), 96u);
    EXPECT_EQ(alignof(SectionDesc), 8u);
    CKPT_EXPECT_OFFSET(SectionDesc, state, 0);
    CKPT_EXPECT_OFFSET(SectionDesc, id_len, 4);
    CKPT_EXPECT_OFFSET(SectionDesc, generation, 8);
    CKPT_EXPECT_OFFSET(SectionDesc, data_offset, 16);
    CKPT_EXPECT_OFFSET(SectionDesc, capacity, 24);
    CKPT_EXPECT_OFFSET(SectionDesc, expiration_ns, 32);
    CKPT_EXPECT_OFFSET(SectionDesc, last_update_ns, 40);
    CKPT_EXPECT_OFFSET(SectionDesc, captured_seq, 48);
    CKPT_EXPECT_OFFSET(SectionDesc, acked_seq, 56);
    CKPT_EXPECT_OFFSET(SectionDesc, change_seq, 64);
    CKPT_EXPECT_OFFSET(SectionDesc, committed_size, 72);
    CKPT_EXPECT_OFFSET(SectionDesc, reserved, 80);
    EXPECT_EQ(sizeof(SectionDesc::reserved), 16u);
}

TEST(Layout, ChangeRecord) {
    EXPECT_EQ(sizeof(ChangeRecord), 16u);
    EXPECT_EQ(alignof(ChangeRecord), 8u);
    CKPT_EXPECT_OFFSET(ChangeRecord, commit_seq, 0);
    CKPT_EXPECT_OFFSET(ChangeRecord, slot, 8);
    CKPT_EXPECT_OFFSET(ChangeRecord, generation, 12);
}

TEST(Layout, DataHeader) {
    EXPECT_EQ(sizeof(DataHeader), 128u);
    EXPECT_EQ(alignof(DataHeader), 64u);
    CKPT_EXPECT_OFFSET(DataHeader, magic, 0);
    CKPT_EXPECT_OFFSET(DataHeader, layout_major, 8);
    CKPT_EXPECT_OFFSET(DataHeader, layout_minor, 10);
    CKPT_EXPECT_OFFSET(DataHeader, header_size, 12);
    CKPT_EXPECT_OFFSET(DataHeader, data_size, 16);
    CKPT_EXPECT_OFFSET(DataHeader, incarnation, 24);
    CKPT_EXPECT_OFFSET(DataHeader, pending_offset, 32);
    CKPT_EXPECT_OFFSET(DataHeader, summary_words, 40);
    CKPT_EXPECT_OFFSET(DataHeader, pending_words, 44);
    CKPT_EXPECT_OFFSET(DataHeader, control_offset, 48);
    CKPT_EXPECT_OFFSET(DataHeader, dirty_offset, 56);
    CKPT_EXPECT_OFFSET(DataHeader, dirty_words, 64);
    CKPT_EXPECT_OFFSET(DataHeader, area_offset, 72);
    CKPT_EXPECT_OFFSET(DataHeader, area_size, 80);
    CKPT_EXPECT_OFFSET(DataHeader, block_size, 88);
    CKPT_EXPECT_OFFSET(DataHeader, max_sections, 92);
    CKPT_EXPECT_OFFSET(DataHeader, pending_any, 96);
    CKPT_EXPECT_OFFSET(DataHeader, sync_waiters, 100);
    CKPT_EXPECT_OFFSET(DataHeader, reserved, 104);
    EXPECT_EQ(sizeof(DataHeader::reserved), 24u);
}

TEST(Layout, SectionControl) {
    EXPECT_EQ(sizeof(SectionControl), 64u);
    EXPECT_EQ(alignof(SectionControl), 64u); // one cache line each: writers of two sections never share one
    CKPT_EXPECT_OFFSET(SectionControl, lock, 0);
    CKPT_EXPECT_OFFSET(SectionControl, size, 8);
    CKPT_EXPECT_OFFSET(SectionControl, commit_flags, 16);
    CKPT_EXPECT_OFFSET(SectionControl, stage, 20); // layout minor 6
    CKPT_EXPECT_OFFSET(SectionControl, dirty_first, 24);
    CKPT_EXPECT_OFFSET(SectionControl, dirty_last, 32);
    CKPT_EXPECT_OFFSET(SectionControl, group_tag, 40); // layout minor 5
    CKPT_EXPECT_OFFSET(SectionControl, group_next, 48);
    CKPT_EXPECT_OFFSET(SectionControl, group_size, 52);
    CKPT_EXPECT_OFFSET(SectionControl, reserved, 56);
    EXPECT_EQ(sizeof(SectionControl::reserved), 8u);
}

TEST(Layout, StageRecord) { // layout minor 6: the local stage after data_size
    EXPECT_EQ(sizeof(StageRecord), 64u);
    CKPT_EXPECT_OFFSET(StageRecord, state, 0);
    CKPT_EXPECT_OFFSET(StageRecord, slot, 4);
    CKPT_EXPECT_OFFSET(StageRecord, generation, 8);
    CKPT_EXPECT_OFFSET(StageRecord, seq, 16);
    CKPT_EXPECT_OFFSET(StageRecord, size, 24);
    CKPT_EXPECT_OFFSET(StageRecord, commit_flags, 32);
    CKPT_EXPECT_OFFSET(StageRecord, writer, 36);
    CKPT_EXPECT_OFFSET(StageRecord, first_block, 40);
    CKPT_EXPECT_OFFSET(StageRecord, blocks, 48);
    EXPECT_EQ(kStageRecords, 8u);
    EXPECT_EQ(kStagedBase, 0x100u);
}

TEST(Layout, ShadowHeader) {
    EXPECT_EQ(sizeof(ShadowHeader), 128u);
    EXPECT_EQ(alignof(ShadowHeader), 64u);
    CKPT_EXPECT_OFFSET(ShadowHeader, magic, 0);
    CKPT_EXPECT_OFFSET(ShadowHeader, layout_major, 8);
    CKPT_EXPECT_OFFSET(ShadowHeader, layout_minor, 10);
    CKPT_EXPECT_OFFSET(ShadowHeader, header_size, 12);
    CKPT_EXPECT_OFFSET(ShadowHeader, shadow_size, 16);
    CKPT_EXPECT_OFFSET(ShadowHeader, incarnation, 24);
    CKPT_EXPECT_OFFSET(ShadowHeader, entries_offset, 32);
    CKPT_EXPECT_OFFSET(ShadowHeader, area_offset, 40);
    CKPT_EXPECT_OFFSET(ShadowHeader, area_size, 48);
    CKPT_EXPECT_OFFSET(ShadowHeader, max_sections, 56);
    CKPT_EXPECT_OFFSET(ShadowHeader, reserved0, 60);
    CKPT_EXPECT_OFFSET(ShadowHeader, reserved, 64);
}

TEST(Layout, ShadowEntry) {
    EXPECT_EQ(sizeof(ShadowEntry), 16u);
    EXPECT_EQ(alignof(ShadowEntry), 8u);
    CKPT_EXPECT_OFFSET(ShadowEntry, seq, 0);
    CKPT_EXPECT_OFFSET(ShadowEntry, size, 8);
}

TEST(Layout, NodeHeader) {
    EXPECT_EQ(sizeof(NodeHeader), 256u);
    EXPECT_EQ(alignof(NodeHeader), 64u);
    CKPT_EXPECT_OFFSET(NodeHeader, magic, 0);
    CKPT_EXPECT_OFFSET(NodeHeader, layout_major, 8);
    CKPT_EXPECT_OFFSET(NodeHeader, layout_minor, 10);
    CKPT_EXPECT_OFFSET(NodeHeader, header_size, 12);
    CKPT_EXPECT_OFFSET(NodeHeader, node_id, 16);
    CKPT_EXPECT_OFFSET(NodeHeader, engine_pid, 20);
    CKPT_EXPECT_OFFSET(NodeHeader, started_ns, 24);
    CKPT_EXPECT_OFFSET(NodeHeader, engine_sleeping, 32);
    CKPT_EXPECT_OFFSET(NodeHeader, reserved0, 36);
    CKPT_EXPECT_OFFSET(NodeHeader, captures, 40);
    CKPT_EXPECT_OFFSET(NodeHeader, stats_offset, 48);
    CKPT_EXPECT_OFFSET(NodeHeader, stats_size, 56);
    CKPT_EXPECT_OFFSET(NodeHeader, reserved, 64);
    EXPECT_EQ(sizeof(NodeHeader::reserved), 192u);
}

TEST(Layout, StandardLayoutTriviallyCopyable) {
    EXPECT_TRUE((std::is_standard_layout_v<MetaHeader> && std::is_trivially_copyable_v<MetaHeader>));
    EXPECT_TRUE((std::is_standard_layout_v<WriterSlot> && std::is_trivially_copyable_v<WriterSlot>));
    EXPECT_TRUE((std::is_standard_layout_v<SectionDesc> && std::is_trivially_copyable_v<SectionDesc>));
    EXPECT_TRUE((std::is_standard_layout_v<ChangeRecord> && std::is_trivially_copyable_v<ChangeRecord>));
    EXPECT_TRUE((std::is_standard_layout_v<DataHeader> && std::is_trivially_copyable_v<DataHeader>));
    EXPECT_TRUE((std::is_standard_layout_v<SectionControl> && std::is_trivially_copyable_v<SectionControl>));
    EXPECT_TRUE((std::is_standard_layout_v<ShadowHeader> && std::is_trivially_copyable_v<ShadowHeader>));
    EXPECT_TRUE((std::is_standard_layout_v<ShadowEntry> && std::is_trivially_copyable_v<ShadowEntry>));
    EXPECT_TRUE((std::is_standard_layout_v<NodeHeader> && std::is_trivially_copyable_v<NodeHeader>));
}

// Every byte of a shared struct is a named field or an explicit reserved[] byte (STYLE point 1):
// implicit padding is bytes no writer is obliged to zero and no later minor version can claim.
TEST(Layout, NoImplicitPadding) {
    EXPECT_TRUE(std::has_unique_object_representations_v<MetaHeader>);
    EXPECT_TRUE(std::has_unique_object_representations_v<WriterSlot>);
    EXPECT_TRUE(std::has_unique_object_representations_v<SectionDesc>);
    EXPECT_TRUE(std::has_unique_object_representations_v<ChangeRecord>);
    EXPECT_TRUE(std::has_unique_object_representations_v<DataHeader>);
    EXPECT_TRUE(std::has_unique_object_representations_v<SectionControl>);
    EXPECT_TRUE(std::has_unique_object_representations_v<ShadowEntry>);
}

// Same rule for the two headers padded out by alignas(64): their reserved[] must reach the end.
TEST(Layout, NoTailPaddingInShadowAndNodeHeaders) {
    // reserved[] ends at 64 + 56 = 120 of 128 bytes: 8 bytes of tail padding from alignas(64).
    EXPECT_TRUE(std::has_unique_object_representations_v<ShadowHeader>)
        << "ShadowHeader::reserved ends at " << offsetof(ShadowHeader, reserved) + sizeof(ShadowHeader::reserved)
        << " of " << sizeof(ShadowHeader) << " bytes";
    // reserved[] ends at 64 + 192 = 256 of 256 bytes.
    EXPECT_TRUE(std::has_unique_object_representations_v<NodeHeader>)
        << "NodeHeader::reserved ends at " << offsetof(NodeHeader, reserved) + sizeof(NodeHeader::reserved) << " of "
        << sizeof(NodeHeader) << " bytes";
}

// ---------------------------------------------------------------------------------------------
// Lock word helpers
// ---------------------------------------------------------------------------------------------

TEST(Layout, LockWordRoundTrip) {
    EXPECT_EQ(make_lock(0, 0), 0u);
    EXPECT_EQ(make_lock(1, 3), 0x1'0003u); // literal encoding: seq above bit 16, owner below
    EXPECT_EQ(make_lock(2, 0), 0x2'0000u);
    const std::uint64_t seqs[] = {
        0, 1, 2, 3, 4, 1001, 0xFFFF, 0x1'0000, (std::uint64_t{1} << 48) - 1, (std::uint64_t{1} << 48) - 2};
    for (std::uint64_t seq : seqs) {
        for (std::uint32_t owner = 0; owner <= kMaxWriters; ++owner) {
            std::uint64_t l = make_lock(seq, owner);
            EXPECT_EQ(lock_seq(l), seq) << "seq " << seq << " owner " << owner;
            EXPECT_EQ(lock_owner(l), owner) << "seq " << seq << " owner " << owner;
            EXPECT_EQ(lock_held(l), (seq & 1) != 0) << "seq " << seq << " owner " << owner;
        }
        EXPECT_EQ(lock_owner(make_lock(seq, 0xFFFF)), 0xFFFFu);
        EXPECT_EQ(lock_seq(make_lock(seq, 0xFFFF)), seq);
    }
    EXPECT_EQ(make_lock(3, kLockOwnerEngine), 0x3'FFFFu);
    EXPECT_GT(kLockOwnerEngine, kMaxWriters) << "no writer slot + 1 reads as the engine";
    static_assert(lock_held(make_lock(7, 1)) && !lock_held(make_lock(8, 1)), "usable in constant expressions");
}

// ---------------------------------------------------------------------------------------------
// compute_layout()
// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t kPage = 4096;

CheckpointAttributes make_attrs(std::uint32_t sections, std::uint64_t size, std::uint32_t block,
                                std::uint32_t id_size) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = size;
    a.max_section_size = size;
    a.max_sections = sections;
    a.max_section_id_size = id_size;
    a.block_size = block;
    a.retention_ns = 0;
    return a;
}

std::string describe(const CheckpointAttributes& a) {
    return "max_sections " + std::to_string(a.max_sections) + " checkpoint_size " + std::to_string(a.checkpoint_size) +
           " block_size " + std::to_string(a.block_size) + " id_size " + std::to_string(a.max_section_id_size);
}

std::vector<CheckpointAttributes> attribute_sets() {
    std::vector<CheckpointAttributes> out;
    const std::uint32_t sections[] = {1, 2, 3, 16, 63, 64, 65, 100, 4095, 4096, 4097, 100000};
    const std::uint32_t blocks[] = {64, 128, 256, 4096, 8192, 65536, 1u << 20};
    const std::uint64_t sizes[] = {1, 64, 1000, 4096, 65537, 1 << 20, (1 << 20) + 1, 10'000'000};
    const std::uint32_t ids[] = {0, 1, 31, 32, 33, 64, 1024};
    for (std::uint32_t s : sections)
        for (std::uint32_t b : blocks)
            for (std::uint64_t z : sizes)
                for (std::uint32_t id : ids) {
                    if (s > 1 && id == 0) continue; // invalid: ids needed with more than one section
                    out.push_back(make_attrs(s, z, b, id));
                }
    // The limits.
    out.push_back(make_attrs(kMaxSectionsLimit, 1ull << 40, 1u << 20, kMaxSectionIdSize));
    out.push_back(make_attrs(kMaxSectionsLimit, 1ull << 40, 64, kMaxSectionIdSize));
    out.push_back(make_attrs(1, 1ull << 40, 64, 0));
    return out;
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}

} // namespace

TEST(ComputeLayout, AllAttributeSetsAreValid) {
    for (const auto& a : attribute_sets()) {
        Status s = validate_attributes(a);
        ASSERT_TRUE(s.ok()) << describe(a) << ": " << s.message();
    }
}

TEST(ComputeLayout, MetaRegionsInOrderWithoutOverlap) {
    for (const auto& a : attribute_sets()) {
        SCOPED_TRACE(describe(a));
        auto r = compute_layout(a);
        ASSERT_TRUE(r.ok()) << r.message();
        const Layout& l = *r;
        // MetaHeader | WriterSlot[64] | u32 index[] | SectionDesc stride[] | ChangeRecord[4096] | end
        EXPECT_GE(l.writers_offset, sizeof(MetaHeader));
        EXPECT_EQ(l.writers_offset % alignof(WriterSlot), 0u);
        EXPECT_GE(l.index_offset, l.writers_offset + sizeof(WriterSlot) * kMaxWriters);
        EXPECT_EQ(l.index_offset % 4, 0u);
        EXPECT_GE(l.desc_offset, l.index_offset + 4ull * l.index_capacity);
        EXPECT_EQ(l.desc_offset % 64, 0u);
        EXPECT_GE(l.changelog_offset, l.desc_offset + std::uint64_t{l.desc_stride} * a.max_sections);
        EXPECT_EQ(l.changelog_offset % alignof(ChangeRecord), 0u);
        const std::uint64_t meta_end = l.changelog_offset + sizeof(ChangeRecord) * kChangelogCapacity;
        EXPECT_GE(l.meta_size, meta_end);
        EXPECT_LT(l.meta_size - meta_end, kPage) << "META larger than its last region needs";
        EXPECT_EQ(l.meta_size % kPage, 0u);

        EXPECT_TRUE(std::has_single_bit(l.index_capacity)) << l.index_capacity;
        EXPECT_GE(std::uint64_t{l.index_capacity}, 2ull * a.max_sections);
        EXPECT_EQ(l.desc_stride % 64, 0u);
        EXPECT_GE(l.desc_stride, 96u + a.max_section_id_size);
        EXPECT_LT(l.desc_stride, 96u + a.max_section_id_size + 64);
    }
}

TEST(ComputeLayout, DataRegionsInOrderWithoutOverlap) {
    for (const auto& a : attribute_sets()) {
        SCOPED_TRACE(describe(a));
        auto r = compute_layout(a);
        ASSERT_TRUE(r.ok()) << r.message();
        const Layout& l = *r;
        // DataHeader | summary[] pending[] | SectionControl[] | dirty[] | area | end
        EXPECT_GE(l.pending_offset, sizeof(DataHeader));
        EXPECT_EQ(l.pending_offset % 8, 0u);
        EXPECT_GE(std::uint64_t{l.pending_words} * 64, a.max_sections); // one doorbell bit per slot
        EXPECT_LT(std::uint64_t{l.pending_words - 1} * 64, a.max_sections);
        EXPECT_GE(std::uint64_t{l.summary_words} * 64, l.pending_words); // one summary bit per pending word
        EXPECT_GE(l.control_offset, l.pending_offset + 8ull * (l.summary_words + l.pending_words));
        EXPECT_EQ(l.control_offset % alignof(SectionControl), 0u);
        EXPECT_GE(l.dirty_offset, l.control_offset + sizeof(SectionControl) * std::uint64_t{a.max_sections});
        EXPECT_EQ(l.dirty_offset % 8, 0u);
        EXPECT_GE(l.area_offset, l.dirty_offset + 8 * l.dirty_words);
        EXPECT_EQ(l.area_offset % kPage, 0u);
        EXPECT_EQ(l.area_offset % a.block_size, 0u);
        EXPECT_EQ(l.area_size, round_up(a.checkpoint_size, a.block_size));
        EXPECT_GE(l.area_size, a.checkpoint_size);
        EXPECT_GE(l.data_size, l.area_offset + l.area_size);
        EXPECT_LT(l.data_size - (l.area_offset + l.area_size), kPage);
        EXPECT_EQ(l.data_size % kPage, 0u);
        // The local stage (minor 6) follows data_size in the same object, never larger than the
        // area (plus its page of record headers) unless a record must hold one big block.
        EXPECT_EQ(l.stage_offset, l.data_size);
        EXPECT_GE(l.stage_data_offset, l.stage_offset + sizeof(StageRecord) * kStageRecords);
        EXPECT_EQ(l.stage_data_offset % kPage, 0u);
        EXPECT_GE(l.stage_record_bytes, a.block_size);
        EXPECT_EQ(l.stage_record_bytes % a.block_size, 0u);
        EXPECT_LE(l.stage_record_bytes, std::max<std::uint64_t>(a.block_size, kStageRecordMaxBytes));
        if (a.block_size * kStageRecords <= l.area_size) {
            EXPECT_LE(l.stage_record_bytes * kStageRecords, l.area_size + kStageRecords * a.block_size);
        }
        EXPECT_GE(l.data_object_size, l.stage_data_offset + kStageRecords * l.stage_record_bytes);
        EXPECT_EQ(l.data_object_size % kPage, 0u);
        // The dirty bitmap: one bit per block of the area, no more words than needed.
        const std::uint64_t blocks = l.area_size / a.block_size;
        EXPECT_GE(l.dirty_words * 64, blocks);
        EXPECT_LT((l.dirty_words - 1) * 64, blocks);
    }
}

TEST(ComputeLayout, ShadowRegionsInOrderWithoutOverlap) {
    for (const auto& a : attribute_sets()) {
        SCOPED_TRACE(describe(a));
        auto r = compute_layout(a);
        ASSERT_TRUE(r.ok()) << r.message();
        const Layout& l = *r;
        EXPECT_GE(l.shadow_entries_offset, sizeof(ShadowHeader));
        EXPECT_EQ(l.shadow_entries_offset % alignof(ShadowEntry), 0u);
        EXPECT_GE(l.shadow_area_offset, l.shadow_entries_offset + sizeof(ShadowEntry) * std::uint64_t{a.max_sections});
        EXPECT_EQ(l.shadow_area_offset % kPage, 0u);
        EXPECT_GE(l.shadow_size, l.shadow_area_offset + l.area_size);
        EXPECT_LT(l.shadow_size - (l.shadow_area_offset + l.area_size), kPage);
        EXPECT_EQ(l.shadow_size % kPage, 0u);
    }
}

TEST(ComputeLayout, Deterministic) {
    for (const auto& a : attribute_sets()) {
        auto x = compute_layout(a);
        auto y = compute_layout(a);
        ASSERT_TRUE(x.ok() && y.ok());
        EXPECT_EQ(std::memcmp(&*x, &*y, sizeof(Layout)), 0) << describe(a);
    }
}

// One fully pinned layout: a reader built from another revision of the library must compute the same
// offsets for the same attributes, so the arithmetic itself is ABI.
TEST(ComputeLayout, PinnedExample) {
    auto r = compute_layout(make_attrs(16, 64 * 1024, 256, 32));
    ASSERT_TRUE(r.ok());
    const Layout& l = *r;
    EXPECT_EQ(l.writers_offset, 512u);
    EXPECT_EQ(l.index_offset, 2560u);
    EXPECT_EQ(l.index_capacity, 32u);
    EXPECT_EQ(l.desc_offset, 2688u);
    EXPECT_EQ(l.desc_stride, 128u);
    EXPECT_EQ(l.changelog_offset, 4736u);
    EXPECT_EQ(l.meta_size, 73728u);
    EXPECT_EQ(l.pending_offset, 128u);
    EXPECT_EQ(l.summary_words, 1u);
    EXPECT_EQ(l.pending_words, 1u);
    EXPECT_EQ(l.control_offset, 192u);
    EXPECT_EQ(l.dirty_offset, 1216u);
    EXPECT_EQ(l.dirty_words, 4u);
    EXPECT_EQ(l.area_offset, 4096u);
    EXPECT_EQ(l.area_size, 65536u);
    EXPECT_EQ(l.data_size, 69632u);
    EXPECT_EQ(l.stage_offset, 69632u);
    EXPECT_EQ(l.stage_data_offset, 73728u);
    EXPECT_EQ(l.stage_record_bytes, 8192u); // 8 records as large as the 64 KiB area together
    EXPECT_EQ(l.data_object_size, 139264u);
    EXPECT_EQ(l.shadow_entries_offset, 128u);
    EXPECT_EQ(l.shadow_area_offset, 4096u);
    EXPECT_EQ(l.shadow_size, 69632u);
}

TEST(ComputeLayout, SingleSectionAndLargeBlocks) {
    auto one = compute_layout(make_attrs(1, 100, 64, 0));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->index_capacity, 16u); // never below 16
    EXPECT_EQ(one->desc_stride, 128u);   // 96 rounded up to 64
    EXPECT_EQ(one->area_size, 128u);
    EXPECT_EQ(one->dirty_words, 1u);

    auto big = compute_layout(make_attrs(4, 3 << 20, 1u << 20, 8));
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(big->area_offset, 1u << 20); // aligned to the block, not only the page
    EXPECT_EQ(big->area_size, 3u << 20);
    EXPECT_EQ(big->dirty_words, 1u);
    EXPECT_EQ(big->data_size, 4u << 20);

    auto many = compute_layout(make_attrs(100000, 1 << 20, 256, 64));
    ASSERT_TRUE(many.ok());
    EXPECT_EQ(many->index_capacity, 262144u);
    EXPECT_EQ(many->pending_words, 1563u);
    EXPECT_EQ(many->summary_words, 25u);
}

TEST(ComputeLayout, AttributesOfHeaderRoundTrip) {
    MetaHeader h{};
    h.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync) | kFlagPersistent;
    h.checkpoint_size = 123456;
    h.retention_ns = 987654321;
    h.max_sections = 77;
    h.max_section_size = 4321;
    h.max_section_id_size = 99;
    h.block_size = 512;
    CheckpointAttributes a = attributes_of(h);
    EXPECT_EQ(a.creation_flags, h.creation_flags);
    EXPECT_EQ(a.checkpoint_size, 123456u);
    EXPECT_EQ(a.retention_ns, 987654321);
    EXPECT_EQ(a.max_sections, 77u);
    EXPECT_EQ(a.max_section_size, 4321u);
    EXPECT_EQ(a.max_section_id_size, 99u);
    EXPECT_EQ(a.block_size, 512u);
}
