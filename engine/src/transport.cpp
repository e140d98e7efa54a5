// open_transport: the carrier named by the configuration, behind the seeded fault shim when any
// fault_* key is set.
#include "carriers.hpp"
#include "ckpt/engine/fault_shim.hpp"

namespace ckpt::engine {

std::array<std::uint8_t, 6> node_mac(std::uint16_t node_id) {
    return {0x02, 0x48, 0x53, 0x00, static_cast<std::uint8_t>(node_id >> 8), static_cast<std::uint8_t>(node_id)};
}

Result<std::unique_ptr<Transport>> open_transport(const LinkConfig& cfg) {
    std::unique_ptr<Transport> t;
    if (cfg.transport == "memif" || cfg.transport == "af_packet" || cfg.transport == "pci") {
        CKPT_TRY_ASSIGN(d, open_dpdk_transport(cfg));
        t = std::move(d);
    } else if (cfg.transport == "udp") {
        CKPT_TRY_ASSIGN(u, open_udp_transport(cfg));
        t = std::move(u);
    } else {
        return fail(Error::kInvalidParam,
                    "transport '" + cfg.transport + "' is not supported (memif, af_packet, pci, udp, or none)");
    }
    if (cfg.fault.enabled()) t = std::make_unique<FaultShim>(std::move(t), cfg.fault);
    return t;
}

} // namespace ckpt::engine
