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
    if (a.net_size()) {
        // The SA Forum's rule: checkpointSize <= maxSections * maxSectionSize (without overflowing).
        if (a.checkpoint_size / a.max_sections > a.max_section_size ||
            (a.checkpoint_size / a.max_sections == a.max_section_size && a.checkpoint_size % a.max_sections != 0))
            return fail(Error::kInvalidParam, "checkpoint_size (" + std::to_string(a.checkpoint_size) +
                                                  ") exceeds max_sections * max_section_size (" +
                                                  std::to_string(a.max_sections) + " * " +
                                                  std::to_string(a.max_section_size) + ")");
        if (std::has_single_bit(a.block_size)) {
            const std::uint64_t extent = a.max_section_size > kMaxReservation
                                             ? kMaxReservation + 1
                                             : (a.max_section_size + a.block_size - 1) / a.block_size * a.block_size;
            if (extent > kMaxReservation / a.max_sections)
                return fail(Error::kNoResources, "a net-size checkpoint reserves max_sections * max_section_size (" +
                                                     std::to_string(a.max_sections) + " * " +
                                                     std::to_string(a.max_section_size) +
                                                     ", block-rounded): more than the 1 TiB a checkpoint may reserve");
        }
    } else if (a.max_section_size > a.checkpoint_size) {
        return fail(Error::kInvalidParam, "max_section_size (" + std::to_string(a.max_section_size) +
                                              ") exceeds checkpoint_size (" + std::to_string(a.checkpoint_size) + ")");
    }
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
    if (name.empty())
        return fail(Error::kInvalidParam, "checkpoint name is empty (1.." + std::to_string(kMaxNameLength) + " bytes)");
    if (name.size() > kMaxNameLength)
        return fail(Error::kNameTooLong, "checkpoint name is " + std::to_string(name.size()) + " bytes, at most " +
                                             std::to_string(kMaxNameLength) + " allowed");
    return {};
}

std::string printable_name(std::string_view name) {
    std::string s;
    s.reserve(name.size());
    for (unsigned char c : name) {
        if (c > 0x20 && c < 0x7f && c != '\\') { // a space too: tools print names in columns
            s += static_cast<char>(c);
        } else {
            char b[5];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            s += b;
        }
    }
    return s;
}

std::string unescape_name(std::string_view text) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' && hex(text[i + 2]) >= 0 &&
            hex(text[i + 3]) >= 0) {
            out += static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3]));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

Status validate_open_flags(std::uint32_t flags) {
    if ((flags & ~(kOpenRead | kOpenWrite | kOpenCreate)) != 0 || (flags & (kOpenRead | kOpenWrite)) == 0)
        return fail(Error::kBadFlags, "open flags must be READ and/or WRITE, optionally CREATE; got " + hex(flags));
    return {};
}

} // namespace ckpt
