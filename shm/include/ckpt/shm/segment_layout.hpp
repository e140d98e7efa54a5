#pragma once
/// The checkpoint segment ABI. Every process that maps a checkpoint (ckptd, libckpt, ckptstat, and a
/// standby node's engine) relies on these exact bytes: change nothing here without bumping
/// kLayoutMajor, and carve additions from the reserved tails (bumping kLayoutMinor).
///
/// A checkpoint is three shared-memory objects, so that the OS, not a convention, enforces who may
/// write what:
///
///   META  (engine writes; clients map it read-only from an O_RDONLY fd the engine passes them)
///   +--------------------------------+ 0
///   | MetaHeader (512)               |  attributes, epoch, commit_seq, dir_seq, name; magic last
///   +--------------------------------+ writers_offset
///   | WriterSlot[kMaxWriters] (32 B) |  which process holds writer slot i (pid + start time)
///   +--------------------------------+ index_offset
///   | u32 index[index_capacity]      |  open-addressing hash of section ids -> slot + 1
///   +--------------------------------+ desc_offset
///   | SectionDesc[max_sections]      |  stride desc_stride: fixed 96 B + id bytes, 64-aligned
///   +--------------------------------+ changelog_offset
///   | ChangeRecord[changelog_cap]    |  ring of (commit_seq, slot): "what changed since seq N"
///   +--------------------------------+ meta_size
///
///   DATA  (application-writable when opened for write; read-only otherwise)
///   +--------------------------------+ 0
///   | DataHeader (128)               |  offsets, doorbell summary flag, sync-waiter count
///   +--------------------------------+ pending_offset
///   | u64 summary[summary_words]     |  bit w set: pending[w] may have bits
///   | u64 pending[pending_words]     |  bit s set: section slot s committed (doorbell)
///   +--------------------------------+ control_offset
///   | SectionControl[max_sections]   |  one cache line each: seqlock+owner word, size, flags
///   +--------------------------------+ dirty_offset
///   | u64 dirty[dirty_words]         |  one bit per block of the data area
///   +--------------------------------+ area_offset (4 KiB aligned)
///   | section bytes                  |  sections are block-aligned extents; written in place
///   +--------------------------------+ data_size (= stage_offset; META's data_size ends here)
///   | StageRecord[kStageRecords]     |  local stage (layout minor 6): a writer that finds its
///   | record bytes[kStageRecords]    |  previous commit not yet captured copies that commit's
///   +--------------------------------+ data_object_size   blocks here (local_stage.hpp)
///
///   SHADOW (engine-private, never given to clients)
///   +--------------------------------+ 0
///   | ShadowHeader (128)             |
///   | ShadowEntry[max_sections]      |  committed (seq, size) per slot
///   +--------------------------------+ area_offset (4 KiB aligned)
///   | committed copy of the area     |  restores a section whose writer died mid-transaction
///   +--------------------------------+ shadow_size
///
///   NODE  (engine writes; clients map read-only), one per engine:
///   +--------------------------------+ 0
///   | NodeHeader (256)               |  engine_sleeping flag, capture count, where the stats are
///   +--------------------------------+ stats_offset (4096; 0 before layout minor 3)
///   | stats region (stats_size)      |  counters and histograms: stats_layout.hpp
///   +--------------------------------+
///
/// All offsets are from the start of their own object; nothing holds a pointer. Readers recompute
/// the whole layout from the header's attributes (compute_layout) and refuse a header whose offsets
/// differ, so a corrupt header cannot steer a reader outside its mapping.
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ckpt::shm {

inline constexpr std::uint64_t kMetaMagic = 0x4154'454D'5450'4B43ULL;   // "CKPTMETA"
inline constexpr std::uint64_t kDataMagic = 0x4154'4144'5450'4B43ULL;   // "CKPTDATA"
inline constexpr std::uint64_t kShadowMagic = 0x4441'4853'5450'4B43ULL; // "CKPTSHAD"
inline constexpr std::uint64_t kNodeMagic = 0x4544'4F4E'5450'4B43ULL;   // "CKPTNODE"
inline constexpr std::uint16_t kLayoutMajor = 1;                        ///< bump on any incompatible change
inline constexpr std::uint16_t kLayoutMinor = 6; ///< bump when a field is carved from reserved (1: dirty range, 2:
                                                 ///< replication, 3: NODE stats region, 4: lost commits,
                                                 ///< 5: write groups in SectionControl, 6: local stage
                                                 ///< after data_size, SectionControl::stage)

inline constexpr std::uint32_t kMaxWriters = 64;          ///< processes with a checkpoint open for write
inline constexpr std::uint32_t kChangelogCapacity = 4096; ///< power of two
inline constexpr std::uint64_t kAreaAlign = 4096;

/// MetaHeader::role
inline constexpr std::uint32_t kRoleLocal = 0;   ///< no peers: the node-local engine
inline constexpr std::uint32_t kRoleActive = 1;  ///< writers commit here; replicas follow
inline constexpr std::uint32_t kRoleStandby = 2; ///< a replica: read-only for applications until promoted

/// MetaHeader::epoch: (promotion count << 16) | the node id that made it. Every promotion takes the
/// count past the highest it knows and adds its own node id, so two promotions anywhere (even of
/// the same epoch, on both sides of a partition) give distinct epochs, ordered by count first.
/// Epochs below 1 << 16 come from engines before this encoding; the next promotion leaves them behind.
inline constexpr unsigned kEpochNodeBits = 16;
constexpr std::uint64_t next_epoch(std::uint64_t current, std::uint16_t node) {
    return (((current >> kEpochNodeBits) + 1) << kEpochNodeBits) | node;
}
constexpr std::uint64_t epoch_count(std::uint64_t epoch) {
    return epoch >> kEpochNodeBits;
}
constexpr std::uint16_t epoch_node(std::uint64_t epoch) {
    return static_cast<std::uint16_t>(epoch & ((1u << kEpochNodeBits) - 1));
}

/// MetaHeader::window_policy: what an async writer meets when the replication lag reaches the window.
inline constexpr std::uint32_t kWindowBlock = 0;    ///< write() waits until the lag drops below it
inline constexpr std::uint32_t kWindowTryAgain = 1; ///< write() fails with TRY_AGAIN

/// MetaHeader::state bits (engine-written).
inline constexpr std::uint32_t kMetaDamaged = 0x1;  ///< the engine found application-writable words invalid
inline constexpr std::uint32_t kMetaUnlinked = 0x2; ///< name removed; data goes at the last close

// ---------------------------------------------------------------------------------------------
// META
// ---------------------------------------------------------------------------------------------

struct alignas(64) MetaHeader {
    std::uint64_t magic; ///< 0 until the engine finished creating; then kMetaMagic (release)
    std::uint16_t layout_major;
    std::uint16_t layout_minor;
    std::uint32_t header_size;         ///< sizeof(MetaHeader) of the writer
    std::uint64_t meta_size;           ///< bytes of the META object
    std::uint64_t data_size;           ///< bytes of the DATA object
    std::uint64_t checkpoint_size;     ///< creation attribute
    std::uint64_t max_section_size;    ///< creation attribute
    std::int64_t retention_ns;         ///< creation attribute
    std::uint32_t max_sections;        ///< creation attribute
    std::uint32_t max_section_id_size; ///< creation attribute
    std::uint32_t block_size;          ///< creation attribute
    std::uint32_t creation_flags;      ///< creation attribute (UpdateMode | kFlag*)
    std::uint64_t writers_offset;
    std::uint64_t index_offset;
    std::uint32_t index_capacity; ///< power of two, >= 2 * max_sections
    std::uint32_t desc_stride;
    std::uint64_t desc_offset;
    std::uint64_t changelog_offset;
    std::uint32_t changelog_capacity;
    std::uint32_t node_id;
    std::uint64_t incarnation; ///< unique per creation; a re-created name gets a new one
    std::int64_t created_ns;   ///< CLOCK_REALTIME
    // -- live words, engine-written --
    std::uint64_t epoch;      ///< raised by promotion (replication)
    std::uint64_t commit_seq; ///< captured commits so far; changelog head (release)
    std::uint64_t dir_seq;    ///< directory seqlock: odd while the engine edits index or descriptors
    std::uint32_t section_count;
    std::uint32_t state;      ///< kMeta* bits
    std::uint64_t bytes_used; ///< sum of section capacities (block-rounded)
    std::uint32_t ack_futex;  ///< bumped after each capture batch; waiters FUTEX_WAIT on it
    std::uint32_t name_len;
    std::uint64_t generated_ids; ///< counter behind generated section ids
    // -- replication (layout minor 2), engine-written --
    std::uint32_t role;             ///< kRole*
    std::uint32_t active_node;      ///< node id of the active replica (this node when active)
    std::uint64_t repl_lag_commits; ///< commits captured here, not yet applied by every required replica
    std::uint64_t repl_lag_bytes;   ///< bytes those commits put on the wire
    std::uint32_t sync_blocked;     ///< node id of a required replica that is down (0: none): sync commits fail
    std::uint32_t async_window;     ///< lag (commits) past which an async writer waits or gets TRY_AGAIN; 0: none
    std::uint32_t window_policy;    ///< kWindow*
    std::uint32_t replicas;         ///< replicas in sync with this active
    // -- lost commits (layout minor 4), engine-written when an active steps down --
    std::uint32_t lost_events;       ///< step-downs that gave up unacknowledged commits (release, last)
    std::uint32_t lost_commits;      ///< commits the last of them gave up
    std::uint64_t lost_first_change; ///< their range in the change sequence (commit_seq): first
    std::uint64_t lost_last_change;  ///< and last
    char name[256];
};
static_assert(sizeof(MetaHeader) == 512, "MetaHeader is ABI: bump kLayoutMajor");
static_assert(offsetof(MetaHeader, magic) == 0);
static_assert(offsetof(MetaHeader, block_size) == 64);
static_assert(offsetof(MetaHeader, incarnation) == 120);
static_assert(offsetof(MetaHeader, epoch) == 136);
static_assert(offsetof(MetaHeader, commit_seq) == 144);
static_assert(offsetof(MetaHeader, dir_seq) == 152);
static_assert(offsetof(MetaHeader, ack_futex) == 176);
static_assert(offsetof(MetaHeader, role) == 192);
static_assert(offsetof(MetaHeader, repl_lag_commits) == 200);
static_assert(offsetof(MetaHeader, sync_blocked) == 216);
static_assert(offsetof(MetaHeader, replicas) == 228);
static_assert(offsetof(MetaHeader, name) == 256);

/// WriterSlot::state
inline constexpr std::uint32_t kWriterFree = 0;
inline constexpr std::uint32_t kWriterAttached = 1;

struct WriterSlot {
    std::uint32_t pid;        ///< process holding the slot
    std::uint32_t state;      ///< kWriter*
    std::uint64_t start_time; ///< /proc/PID/stat starttime: tells a reused pid from the holder
    std::uint64_t reserved[2];
};
static_assert(sizeof(WriterSlot) == 32);

/// Index entries: 0 empty, kIndexTombstone deleted, otherwise slot + 1.
inline constexpr std::uint32_t kIndexEmpty = 0;
inline constexpr std::uint32_t kIndexTombstone = 0xFFFF'FFFFu;

/// SectionDesc::state (SaCkptSectionStateT values, plus free).
inline constexpr std::uint32_t kSectionFree = 0;
inline constexpr std::uint32_t kSectionValid = 1;     ///< SA_CKPT_SECTION_VALID
inline constexpr std::uint32_t kSectionCorrupted = 2; ///< SA_CKPT_SECTION_CORRUPTED

struct SectionDesc {
    std::uint32_t state;          ///< kSection*; changes under dir_seq
    std::uint32_t id_len;         ///< bytes of id; under dir_seq
    std::uint64_t generation;     ///< bumped each time the slot is (re)used; stale handles notice
    std::uint64_t data_offset;    ///< from DataHeader::area_offset; block-aligned; under dir_seq
    std::uint64_t capacity;       ///< block-rounded bytes reserved; under dir_seq
    std::int64_t expiration_ns;   ///< absolute CLOCK_REALTIME; kTimeEnd = never
    std::int64_t last_update_ns;  ///< CLOCK_REALTIME of the last captured commit
    std::uint64_t captured_seq;   ///< section seq held in the shadow (release); writers wait for it
    std::uint64_t acked_seq;      ///< section seq every required replica applied (release)
    std::uint64_t change_seq;     ///< MetaHeader::commit_seq when this section last changed
    std::uint64_t committed_size; ///< size of the committed state
    std::uint8_t reserved[16];
    // std::uint8_t id[max_section_id_size] follows; the stride rounds up to 64.
};
static_assert(sizeof(SectionDesc) == 96, "SectionDesc is ABI: bump kLayoutMajor");
static_assert(offsetof(SectionDesc, generation) == 8);
static_assert(offsetof(SectionDesc, captured_seq) == 48);
static_assert(offsetof(SectionDesc, acked_seq) == 56);
static_assert(offsetof(SectionDesc, committed_size) == 72);

struct ChangeRecord {
    std::uint64_t commit_seq; ///< written last (release): a reader that sees its expected seq has the record
    std::uint32_t slot;
    std::uint32_t generation; ///< low 32 bits of SectionDesc::generation
};
static_assert(sizeof(ChangeRecord) == 16);

// ---------------------------------------------------------------------------------------------
// DATA
// ---------------------------------------------------------------------------------------------

struct alignas(64) DataHeader {
    std::uint64_t magic; ///< kDataMagic, written last at creation
    std::uint16_t layout_major;
    std::uint16_t layout_minor;
    std::uint32_t header_size;
    std::uint64_t data_size;
    std::uint64_t incarnation;    ///< equals MetaHeader::incarnation
    std::uint64_t pending_offset; ///< summary words, then pending words
    std::uint32_t summary_words;
    std::uint32_t pending_words;
    std::uint64_t control_offset;
    std::uint64_t dirty_offset;
    std::uint64_t dirty_words;
    std::uint64_t area_offset;
    std::uint64_t area_size;
    std::uint32_t block_size;
    std::uint32_t max_sections;
    // -- application-writable words; the engine treats them as hints only --
    std::uint32_t pending_any;  ///< set to 1 after a doorbell bit; the engine exchanges it to 0
    std::uint32_t sync_waiters; ///< clients sleeping on MetaHeader::ack_futex
    std::uint8_t reserved[24];
};
static_assert(sizeof(DataHeader) == 128, "DataHeader is ABI: bump kLayoutMajor");
static_assert(offsetof(DataHeader, pending_offset) == 32);
static_assert(offsetof(DataHeader, area_offset) == 72);
static_assert(offsetof(DataHeader, pending_any) == 96);

/// SectionControl::lock = (seq << kLockSeqShift) | owner. seq is odd while a writer holds the section;
/// owner is the writer slot + 1 of the holder (0 when free). One CAS takes both, so the engine always
/// knows whose death leaves a section half-written. The protocol over this word: section_lock.hpp.
inline constexpr unsigned kLockSeqShift = 16;
inline constexpr std::uint64_t kLockOwnerMask = (1u << kLockSeqShift) - 1;
/// The owner of a held word when the engine fenced the section to delete it (no writer slot).
inline constexpr std::uint32_t kLockOwnerEngine = 0xFFFF;
inline constexpr std::uint64_t lock_seq(std::uint64_t lock) {
    return lock >> kLockSeqShift;
}
inline constexpr std::uint32_t lock_owner(std::uint64_t lock) {
    return static_cast<std::uint32_t>(lock & kLockOwnerMask);
}
inline constexpr bool lock_held(std::uint64_t lock) {
    return (lock_seq(lock) & 1) != 0;
}
inline constexpr std::uint64_t make_lock(std::uint64_t seq, std::uint32_t owner) {
    return (seq << kLockSeqShift) | owner;
}

/// SectionControl::commit_flags
inline constexpr std::uint32_t kCommitOverwrite = 0x1; ///< the commit replaced the whole section

struct alignas(64) SectionControl {
    std::uint64_t lock;         ///< seqlock + owner, see make_lock
    std::uint64_t size;         ///< section size the writer set; meaningful when lock is even
    std::uint32_t commit_flags; ///< kCommit*, for the commit that made lock even
    /// Layout minor 6, local_stage.hpp: who may copy the section's committed bytes now (0 nobody,
    /// kStageEngine the engine capturing, kStageWriter a writer staging), or which stage record
    /// holds its previous commit (kStagedBase + record).
    std::uint32_t stage;
    /// Blocks (from the section's start, inclusive) the transaction marked dirty; first > last when
    /// none. Written by the holder of the lock before its release store; the engine scans only this
    /// range of the dirty bitmap (validated), so a commit's cost does not grow with the section.
    std::uint64_t dirty_first;
    std::uint64_t dirty_last;
    // -- write groups (layout minor 5): section_group.hpp. Written by the holder of the lock before
    // its release store, like size; cleared by the engine when it captured the commit. --
    std::uint64_t group_tag;  ///< 0: the commit stands alone; else make_group_tag(writer, ticket)
    std::uint32_t group_next; ///< the next member's slot (the members form a ring)
    std::uint32_t group_size; ///< members in the group
    std::uint8_t reserved[8];
};
static_assert(sizeof(SectionControl) == 64, "SectionControl is ABI: bump kLayoutMajor");
static_assert(offsetof(SectionControl, size) == 8 && offsetof(SectionControl, stage) == 20);
static_assert(offsetof(SectionControl, dirty_first) == 24 && offsetof(SectionControl, dirty_last) == 32);
static_assert(offsetof(SectionControl, group_tag) == 40 && offsetof(SectionControl, group_next) == 48 &&
              offsetof(SectionControl, group_size) == 52);

/// SectionControl::stage values (local_stage.hpp).
inline constexpr std::uint32_t kStageFree = 0;
inline constexpr std::uint32_t kStageEngine = 1;    ///< the engine copies the live bytes into the shadow
inline constexpr std::uint32_t kStageWriter = 2;    ///< the lock holder copies its previous commit to a record
inline constexpr std::uint32_t kStagedBase = 0x100; ///< + r: record r holds the previous commit
inline constexpr std::uint32_t kStageRecords = 8;   ///< records of a checkpoint's local stage
inline constexpr std::uint64_t kStageRecordMaxBytes = 64 * 1024; ///< bytes one record holds (or a block)

/// StageRecord::state
inline constexpr std::uint32_t kRecordFree = 0;
inline constexpr std::uint32_t kRecordReady = 2;           ///< complete (release); SectionControl::stage names it
inline constexpr std::uint32_t kRecordFillingBase = 0x100; ///< + writer slot + 1: that writer took it (CAS), copies

/// A commit a writer copied aside because the engine had not captured it yet (local_stage.hpp).
/// Application-writable like the rest of DATA: the engine validates every field against its own
/// bookkeeping before it copies a byte.
struct alignas(64) StageRecord {
    std::uint32_t state;        ///< kRecordFree, kRecordReady or kRecordFillingBase + writer slot + 1
    std::uint32_t slot;         ///< section slot
    std::uint64_t generation;   ///< SectionDesc::generation of the section
    std::uint64_t seq;          ///< the staged commit's (even) section sequence
    std::uint64_t size;         ///< its SectionControl::size
    std::uint32_t commit_flags; ///< its SectionControl::commit_flags
    std::uint32_t writer;       ///< writer slot + 1 of the process that filled it
    std::uint64_t first_block;  ///< blocks [first_block, first_block + blocks) of the section, copied
    std::uint64_t blocks;
    std::uint8_t reserved[8];
};
static_assert(sizeof(StageRecord) == 64);
static_assert(offsetof(StageRecord, seq) == 16 && offsetof(StageRecord, first_block) == 40);

// ---------------------------------------------------------------------------------------------
// SHADOW
// ---------------------------------------------------------------------------------------------

struct alignas(64) ShadowHeader {
    std::uint64_t magic;
    std::uint16_t layout_major;
    std::uint16_t layout_minor;
    std::uint32_t header_size;
    std::uint64_t shadow_size;
    std::uint64_t incarnation;
    std::uint64_t entries_offset;
    std::uint64_t area_offset;
    std::uint64_t area_size;
    std::uint32_t max_sections;
    std::uint32_t reserved0;
    std::uint8_t reserved[64];
};
static_assert(sizeof(ShadowHeader) == 128);

struct ShadowEntry {
    std::uint64_t seq;  ///< section seq of the committed copy
    std::uint64_t size; ///< committed size
};
static_assert(sizeof(ShadowEntry) == 16);

// ---------------------------------------------------------------------------------------------
// NODE
// ---------------------------------------------------------------------------------------------

struct alignas(64) NodeHeader {
    std::uint64_t magic;
    std::uint16_t layout_major;
    std::uint16_t layout_minor;
    std::uint32_t header_size;
    std::uint32_t node_id;
    std::uint32_t engine_pid;
    std::int64_t started_ns;
    std::uint32_t engine_sleeping; ///< 1 while the engine blocks; committers then kick its eventfd (seq_cst)
    std::uint32_t reserved0;
    std::uint64_t captures; ///< commits captured since start
    // -- layout minor 3 --
    std::uint64_t stats_offset; ///< where the stats region starts in this object (0: none)
    std::uint64_t stats_size;   ///< its bytes
    std::uint8_t reserved[192];
};
static_assert(sizeof(NodeHeader) == 256);
static_assert(offsetof(NodeHeader, stats_offset) == 48 && offsetof(NodeHeader, stats_size) == 56);
static_assert(offsetof(NodeHeader, engine_sleeping) == 32);

static_assert(std::is_standard_layout_v<MetaHeader> && std::is_trivially_copyable_v<MetaHeader>);
static_assert(std::is_standard_layout_v<SectionDesc> && std::is_trivially_copyable_v<SectionDesc>);
static_assert(std::is_standard_layout_v<DataHeader> && std::is_trivially_copyable_v<DataHeader>);
static_assert(std::is_standard_layout_v<SectionControl> && std::is_trivially_copyable_v<SectionControl>);
static_assert(std::is_standard_layout_v<ShadowHeader> && std::is_standard_layout_v<NodeHeader>);

// ---------------------------------------------------------------------------------------------
// Layout computation: the single source of every offset.
// ---------------------------------------------------------------------------------------------

struct Layout {
    // meta
    std::uint64_t writers_offset, index_offset, desc_offset, changelog_offset, meta_size;
    std::uint32_t index_capacity, desc_stride;
    // data
    std::uint64_t pending_offset, control_offset, dirty_offset, dirty_words, area_offset, area_size, data_size;
    std::uint32_t summary_words, pending_words;
    // shadow
    std::uint64_t shadow_entries_offset, shadow_area_offset, shadow_size;
    // the local stage (minor 6), in the DATA object after data_size: StageRecord headers at
    // stage_offset, record r's bytes at stage_data_offset + r * stage_record_bytes
    std::uint64_t stage_offset, stage_data_offset, stage_record_bytes, data_object_size;
};

/// Every offset and size for a checkpoint with these (already validated) attributes.
Result<Layout> compute_layout(const CheckpointAttributes& attrs);

/// Attributes as recorded in a header.
CheckpointAttributes attributes_of(const MetaHeader& h);

} // namespace ckpt::shm
