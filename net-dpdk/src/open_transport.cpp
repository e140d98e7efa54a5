// open_transport: the carrier named by the configuration, behind the seeded fault shim when any
// fault_* key is set.
#include "carriers.hpp"
#include "ckpt/net/fault_shim.hpp"

namespace ckpt::net {

Result<std::unique_ptr<Transport>> open_transport(const CarrierConfig& cfg) {
    std::unique_ptr<Transport> t;
    if (is_dpdk(cfg.transport)) {
        CKPT_TRY_ASSIGN(d, open_dpdk_transport(cfg));
        t = std::move(d);
    } else if (cfg.transport == Carrier::kUdp) {
        CKPT_TRY_ASSIGN(u, open_udp_transport(cfg));
        t = std::move(u);
    } else {
        return fail(Error::kInvalidParam, std::string("transport '") + carrier_name(cfg.transport) +
                                              "' is not supported (memif, af_packet, pci, udp, or none)");
    }
    if (cfg.fault.enabled()) t = std::make_unique<FaultShim>(std::move(t), cfg.fault);
    return t;
}

} // namespace ckpt::net
