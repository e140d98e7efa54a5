#pragma once
/// Which carrier moves the peer link's frames, and what each needs to open: a DPDK port (memif,
/// af_packet, a PCI NIC) or a kernel UDP socket. Plain C++ (no DPDK header): the engine's
/// configuration holds one of these.
#include "ckpt/net/fault_config.hpp"
#include "ckpt/net/wire_format.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::net {

/// The carriers, as `transport = ...` spells them.
enum class Carrier : std::uint8_t {
    kNone,     ///< no peer link: the engine is node-local
    kMemif,    ///< DPDK memif between two processes of one host
    kAfPacket, ///< DPDK af_packet on a kernel interface (a veth, a NIC)
    kPci,      ///< DPDK on a PCI NIC bound to vfio-pci
    kUdp,      ///< a kernel UDP socket
};

/// "none", "memif", "af_packet", "pci", "udp".
const char* carrier_name(Carrier c);
/// The carrier a configuration value names; nullopt for anything else.
std::optional<Carrier> parse_carrier(std::string_view s);
/// memif, af_packet and pci run on a DPDK port.
constexpr bool is_dpdk(Carrier c) {
    return c == Carrier::kMemif || c == Carrier::kAfPacket || c == Carrier::kPci;
}

/// One peer's address on the link.
struct PeerConfig {
    std::uint16_t node_id = 0;
    std::uint32_t ip = 0; ///< host order; 0: derived from the node id (10.77.hi.lo)
    /// 0: the same as this node's udp_port. Set by NODE@IP:PORT; only transport = udp can reach a
    /// peer on another port (several engines sharing one host address), and it does so itself.
    std::uint16_t udp_port = 0;
};

/// What opening a carrier needs (the link part of ckptd's configuration).
struct CarrierConfig {
    Carrier transport = Carrier::kNone;
    std::string memif_socket = "/run/hotspare/memif.sock";
    std::string memif_role = "server"; ///< one side "server", the other "client"
    bool memif_wakeup = false;         ///< memif: the RX wake-up beside the socket (memif_wake.hpp)
    std::string af_packet_iface;       ///< transport = af_packet: the kernel interface (a veth, a NIC)
    std::string pci_address;           ///< transport = pci: the NIC, bound to vfio-pci ("0000:03:00.0")
    std::string lcores = "0";
    unsigned memory_mb = 128;
    bool hugepages = false;
    std::string file_prefix; ///< DPDK --file-prefix, unique per engine on a host
    std::uint16_t node_id = 1;
    std::uint32_t ip = 0;
    std::uint16_t udp_port = kDefaultUdpPort;
    std::vector<PeerConfig> peers;
    unsigned mtu = 1500; ///< IPv4 MTU of the link: frames never exceed mtu + 14 bytes
    FaultConfig fault;   ///< seeded fault injection on the carrier (tests); off by default
};

/// The address a node id gets when none is configured: 10.77.<id / 256>.<id % 256>.
std::uint32_t default_ip(std::uint16_t node_id);

/// A locally administered unicast MAC for a carrier without one of its own (kernel UDP):
/// 02:48:53:00:<node hi>:<node lo> ("HS"), so frames from a node always show the same source.
std::array<std::uint8_t, 6> node_mac(std::uint16_t node_id);

} // namespace ckpt::net
