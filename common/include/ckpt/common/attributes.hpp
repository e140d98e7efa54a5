#pragma once
/// Checkpoint creation attributes and open flags, with the SA Forum's values (SaCkpt*), plus
/// Hotspare's own block size and persistence. Shared by the client API, the control protocol
/// and the engine.
#include "ckpt/common/result.hpp"

#include <cstdint>
#include <limits>
#include <string_view>

namespace ckpt {

/// How updates reach replicas (SA_CKPT_WR_*; exactly one is set).
enum class UpdateMode : std::uint32_t {
    kSync = 0x1,      ///< SA_CKPT_WR_ALL_REPLICAS: commits default to waiting for every replica
    kAsync = 0x2,     ///< SA_CKPT_WR_ACTIVE_REPLICA: atomic; a dead writer is rolled back
    kAsyncWeak = 0x4, ///< SA_CKPT_WR_ACTIVE_REPLICA_WEAK: a dead writer leaves the section corrupted
};

inline constexpr std::uint32_t kUpdateModeMask = 0x7;
inline constexpr std::uint32_t kFlagCollocated = 0x8;   ///< SA_CKPT_CHECKPOINT_COLLOCATED (accepted, no effect yet)
inline constexpr std::uint32_t kFlagPersistent = 0x100; ///< segments live in files under the state dir
/// checkpoint_size is the net size, as the SA Forum means it: the bytes the sections hold (the sum
/// of their sizes), checked by ckptd at section creation and at every commit that grows a section
/// (RESERVE). Room is reserved for max_sections sections of max_section_size each (block-rounded),
/// so max_section_size may exceed checkpoint_size, and checkpoint_size may be as large as
/// max_sections * max_section_size. Without it, checkpoint_size is the area the sections' capacities
/// are carved from. libSaCkpt creates every checkpoint with it.
inline constexpr std::uint32_t kFlagNetSize = 0x200;
inline constexpr std::uint32_t kKnownCreationFlags = kUpdateModeMask | kFlagCollocated | kFlagPersistent | kFlagNetSize;
/// Room a kFlagNetSize checkpoint may reserve (max_sections * block-rounded max_section_size).
inline constexpr std::uint64_t kMaxReservation = std::uint64_t{1} << 40;

inline constexpr std::int64_t kTimeEnd = std::numeric_limits<std::int64_t>::max(); ///< SA_TIME_END

/// Limits that keep a segment's bookkeeping bounded; stated in errors when exceeded.
inline constexpr std::size_t kMaxNameLength = 256;           ///< checkpoint names: SaNameT's SA_MAX_NAME_LENGTH
inline constexpr std::uint32_t kMaxSectionIdSize = 1024;     ///< bytes in a section id
inline constexpr std::uint32_t kMaxSectionsLimit = 1u << 24; ///< sections in one checkpoint
inline constexpr std::uint32_t kMinBlockSize = 64;
inline constexpr std::uint32_t kMaxBlockSize = 1u << 20;

/// SaCkptCheckpointCreationAttributesT plus block size. Sizes in bytes, durations in ns.
struct CheckpointAttributes {
    std::uint32_t creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    std::uint64_t checkpoint_size = 1 << 20;  ///< bytes of section data the checkpoint can hold
    std::int64_t retention_ns = 0;            ///< kept this long after the last close
    std::uint32_t max_sections = 1;           ///< 1 means a single default section (empty id)
    std::uint64_t max_section_size = 1 << 20; ///< upper bound of one section's size
    std::uint32_t max_section_id_size = 64;   ///< bytes
    std::uint32_t block_size = 256;           ///< dirty-tracking and replication granularity

    UpdateMode update_mode() const { return static_cast<UpdateMode>(creation_flags & kUpdateModeMask); }
    bool persistent() const { return (creation_flags & kFlagPersistent) != 0; }
    bool net_size() const { return (creation_flags & kFlagNetSize) != 0; }
    friend bool operator==(const CheckpointAttributes&, const CheckpointAttributes&) = default;
};

/// SaCkptCheckpointOpenFlagsT.
inline constexpr std::uint32_t kOpenRead = 0x1;
inline constexpr std::uint32_t kOpenWrite = 0x2;
inline constexpr std::uint32_t kOpenCreate = 0x4;

/// Checks every attribute against the spec's rules and Hotspare's limits; the message names the field.
Status validate_attributes(const CheckpointAttributes& a);

/// Checkpoint names are SaNameT values: 1..kMaxNameLength bytes of any value (NUL included).
/// Empty: INVALID_PARAM; longer: NAME_TOO_LONG. Segment file names are derived from the name
/// (ckptd's segment_stem), never the raw bytes, so no byte is refused for the file system's sake.
Status validate_name(std::string_view name);

/// A name (or any bytes) for a message, a log line or a tool's output: printable ASCII as is,
/// a backslash and every other byte as \xHH. Unquoted; the inverse is unescape_name.
std::string printable_name(std::string_view name);

/// The inverse of printable_name: "\xHH" becomes the byte HH, anything else stays. A backslash
/// not followed by x and two hex digits stays as it is (so ordinary names pass through unchanged).
std::string unescape_name(std::string_view text);

/// Open flags: READ and/or WRITE, optionally CREATE; BAD_FLAGS otherwise.
Status validate_open_flags(std::uint32_t flags);

} // namespace ckpt
