#pragma once
// The carriers behind open_transport (engine-internal): each checks what it needs from the
// configuration and the host, and says precisely what is missing.
#include "ckpt/engine/peer_link.hpp"
#include "ckpt/engine/transport.hpp"

#include <array>
#include <cstdint>
#include <memory>

namespace ckpt::engine {

/// memif, af_packet or pci: one DPDK EAL and port for this engine (transport_dpdk.cpp).
Result<std::unique_ptr<Transport>> open_dpdk_transport(const LinkConfig& cfg);
/// udp: a kernel UDP socket (transport_udp.cpp).
Result<std::unique_ptr<Transport>> open_udp_transport(const LinkConfig& cfg);

/// A locally administered unicast MAC for a carrier without one of its own (kernel UDP):
/// 02:48:53:00:<node hi>:<node lo> ("HS"), so frames from a node always show the same source.
std::array<std::uint8_t, 6> node_mac(std::uint16_t node_id);

} // namespace ckpt::engine
