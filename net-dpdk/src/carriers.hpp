#pragma once
// The carriers behind open_transport (internal to net-dpdk): each checks what it needs from the
// configuration and the host, and says precisely what is missing.
#include "ckpt/net/transport.hpp"

#include <array>
#include <cstdint>
#include <memory>

namespace ckpt::net {

/// memif, af_packet or pci: one DPDK EAL and port for this engine (dpdk_transport.cpp).
Result<std::unique_ptr<Transport>> open_dpdk_transport(const CarrierConfig& cfg);
/// udp: a kernel UDP socket (udp_transport.cpp).
Result<std::unique_ptr<Transport>> open_udp_transport(const CarrierConfig& cfg);

} // namespace ckpt::net
