#include "ckpt/common/attributes.hpp"

#include <bit>
#include <cstdio>
#include <string>

namespace ckpt {

namespace {
std::string hex(std::uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}
} // namespace

Status validate_attributes(const CheckpointAttributes& a) {
    if ((a.creation_flags & ~kKnownCreationFlags) != 0)
        return fail(Error::kBadFlags, "unknown creation flags " + hex(a.creation_flags & ~kKnownCreationFlags));
    std::uint32_t mode = a.creation_flags & kUpdateModeMask;
    if (mode != 0x1 && mode != 0x2 && mode != 0x4)
        return fail(Error::kBadFlags, "creation flags must hold exactly one of ALL_REPLICAS, ACTIVE_REPLICA, "
                                      "ACTIVE_REPLICA_WEAK");
    if (a.max_sections == 0 || a.max_sections > kMaxSectionsLimit)
        return fail(Error::kInvalidParam, "max_sections must be 1.." + std::to_string(kMaxSectionsLimit) + ", got " +
                                              std::to_string(a.max_sections));
    if (a.max_section_size == 0) return fail(Error::kInvalidParam, "max_section_size must be > 0");
    if (a.checkpoint_size == 0) return fail(Error::kInvalidParam, "checkpoint_size must be > 0");
    if (a.checkpoint_size > (std::uint64_t{1} << 40)) return fail(Error::kInvalidParam, "checkpoint_size above 1 TiB");
    if (a.max_section_size > a.checkpoint_size)
        return fail(Error::kInvalidParam, "max_section_size (" + std::to_string(a.max_section_size) +
                                              ") exceeds checkpoint_size (" + std::to_string(a.checkpoint_size) + ")");
    if (a.max_sections > 1 && (a.max_section_id_size == 0 || a.max_section_id_size > kMaxSectionIdSize))
        return fail(Error::kInvalidParam, "max_section_id_size must be 1.." + std::to_string(kMaxSectionIdSize));
    if (a.max_section_id_size > kMaxSectionIdSize)
        return fail(Error::kInvalidParam, "max_section_id_size must be <= " + std::to_string(kMaxSectionIdSize));
    if (!std::has_single_bit(a.block_size) || a.block_size < kMinBlockSize || a.block_size > kMaxBlockSize)
        return fail(Error::kInvalidParam, "block_size must be a power of two in [" + std::to_string(kMinBlockSize) +
                                              ", " + std::to_string(kMaxBlockSize) + "], got " +
                                              std::to_string(a.block_size));
    if (a.retention_ns < 0) return fail(Error::kInvalidParam, "retention duration must be >= 0");
    return {};
}

Status validate_name(std::string_view name) {
    if (name.empty()) return fail(Error::kInvalidParam, "checkpoint name is empty");
    if (name.size() > kMaxNameLength)
        return fail(Error::kNameTooLong, "checkpoint name is " + std::to_string(name.size()) + " bytes, at most " +
                                             std::to_string(kMaxNameLength) + " allowed");
    if (name.front() == '.') return fail(Error::kInvalidParam, "checkpoint name may not start with '.'");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok)
            return fail(Error::kInvalidParam,
                        "checkpoint name '" + std::string(name) + "' holds a character outside [A-Za-z0-9._-]");
    }
    return {};
}

Status validate_open_flags(std::uint32_t flags) {
    if ((flags & ~(kOpenRead | kOpenWrite | kOpenCreate)) != 0 || (flags & (kOpenRead | kOpenWrite)) == 0)
        return fail(Error::kBadFlags, "open flags must be READ and/or WRITE, optionally CREATE; got " + hex(flags));
    return {};
}

} // namespace ckpt
