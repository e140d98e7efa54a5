#include "mapping.hpp"

#include <cstdio>

namespace hotspare::sa {

namespace {
constexpr std::uint64_t kMaxEngineSize = std::uint64_t{1} << 40; // ckptd's checkpoint_size limit
} // namespace

std::uint32_t block_for(SaSizeT max_section_size) {
    if (max_section_size <= 16384) return 64;
    if (max_section_size <= (1u << 20)) return 256;
    return 4096;
}

SaAisErrorT to_engine(const SaCkptCheckpointCreationAttributesT& a, ckpt::CheckpointAttributes& out, std::string& why) {
    const SaUint32T mode = a.creationFlags & 0x7;
    if ((a.creationFlags & ~SaUint32T{0xF}) != 0 ||
        (mode != SA_CKPT_WR_ALL_REPLICAS && mode != SA_CKPT_WR_ACTIVE_REPLICA &&
         mode != SA_CKPT_WR_ACTIVE_REPLICA_WEAK)) {
        why = "creationFlags must be exactly one of SA_CKPT_WR_ALL_REPLICAS, SA_CKPT_WR_ACTIVE_REPLICA, "
              "SA_CKPT_WR_ACTIVE_REPLICA_WEAK, optionally with SA_CKPT_CHECKPOINT_COLLOCATED; got " +
              std::to_string(a.creationFlags);
        return SA_AIS_ERR_INVALID_PARAM;
    }
    if (a.maxSections == 0)
        return why = "maxSections is 0 (every checkpoint has at least one section)", SA_AIS_ERR_INVALID_PARAM;
    if (a.maxSections > ckpt::kMaxSectionsLimit)
        return why = "maxSections above " + std::to_string(ckpt::kMaxSectionsLimit), SA_AIS_ERR_NO_RESOURCES;
    if (a.maxSectionSize == 0) return why = "maxSectionSize is 0", SA_AIS_ERR_INVALID_PARAM;
    if (a.maxSectionSize > kMaxEngineSize) return why = "maxSectionSize above 1 TiB", SA_AIS_ERR_NO_RESOURCES;
    // checkpointSize <= maxSections * maxSectionSize (the spec's rule), without overflowing.
    if (a.checkpointSize / a.maxSections > a.maxSectionSize ||
        (a.checkpointSize / a.maxSections == a.maxSectionSize && a.checkpointSize % a.maxSections != 0)) {
        why = "checkpointSize (" + std::to_string(a.checkpointSize) + ") exceeds maxSections * maxSectionSize (" +
              std::to_string(a.maxSections) + " * " + std::to_string(a.maxSectionSize) + ")";
        return SA_AIS_ERR_INVALID_PARAM;
    }
    if (a.retentionDuration < 0) return why = "retentionDuration is negative", SA_AIS_ERR_INVALID_PARAM;
    if (a.maxSections > 1 && a.maxSectionIdSize == 0)
        return why = "maxSectionIdSize is 0 with more than one section", SA_AIS_ERR_INVALID_PARAM;
    if (a.maxSectionIdSize > ckpt::kMaxSectionIdSize)
        return why = "maxSectionIdSize above Hotspare's limit of " + std::to_string(ckpt::kMaxSectionIdSize) + " bytes",
               SA_AIS_ERR_INVALID_PARAM;
    const std::uint32_t block = block_for(a.maxSectionSize);
    const std::uint64_t extent = (a.maxSectionSize + block - 1) / block * block;
    if (extent > ckpt::kMaxReservation / a.maxSections)
        return why = "maxSections * maxSectionSize needs more than Hotspare's 1 TiB per checkpoint",
               SA_AIS_ERR_NO_RESOURCES;
    if (a.checkpointSize == 0) return why = "checkpointSize is 0", SA_AIS_ERR_INVALID_PARAM;
    out = ckpt::CheckpointAttributes{};
    // checkpointSize is the net size: ckptd counts the bytes sections hold against it and reserves
    // room for maxSections sections of maxSectionSize (kFlagNetSize).
    out.creation_flags = a.creationFlags | ckpt::kFlagNetSize;
    out.checkpoint_size = a.checkpointSize;
    out.retention_ns = a.retentionDuration > kRetentionForever ? kRetentionForever : a.retentionDuration;
    out.max_sections = a.maxSections;
    out.max_section_size = a.maxSectionSize;
    out.max_section_id_size = static_cast<std::uint32_t>(a.maxSectionIdSize);
    out.block_size = block;
    return SA_AIS_OK;
}

SaCkptCheckpointCreationAttributesT to_sa(const ckpt::CheckpointAttributes& e) {
    SaCkptCheckpointCreationAttributesT a{};
    a.creationFlags = e.creation_flags & 0xF;
    a.maxSections = e.max_sections;
    a.maxSectionSize = e.max_section_size;
    a.maxSectionIdSize = e.max_section_id_size;
    a.retentionDuration = e.retention_ns >= kRetentionForever ? SA_TIME_END : e.retention_ns;
    a.checkpointSize = e.checkpoint_size; // kFlagNetSize: the SA Forum's net size itself
    return a;
}

} // namespace hotspare::sa
