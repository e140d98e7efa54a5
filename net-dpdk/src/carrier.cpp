#include "ckpt/net/carrier.hpp"

namespace ckpt::net {

namespace {
struct Named {
    Carrier carrier;
    const char* name;
};
constexpr Named kCarriers[] = {{Carrier::kNone, "none"},
                               {Carrier::kMemif, "memif"},
                               {Carrier::kAfPacket, "af_packet"},
                               {Carrier::kPci, "pci"},
                               {Carrier::kUdp, "udp"}};
} // namespace

const char* carrier_name(Carrier c) {
    for (const auto& n : kCarriers)
        if (n.carrier == c) return n.name;
    return "?";
}

std::optional<Carrier> parse_carrier(std::string_view s) {
    for (const auto& n : kCarriers)
        if (s == n.name) return n.carrier;
    return std::nullopt;
}

std::uint32_t default_ip(std::uint16_t node_id) {
    return (10u << 24) | (77u << 16) | (std::uint32_t{node_id} & 0xFFFF);
}

std::array<std::uint8_t, 6> node_mac(std::uint16_t node_id) {
    return {0x02, 0x48, 0x53, 0x00, static_cast<std::uint8_t>(node_id >> 8), static_cast<std::uint8_t>(node_id)};
}

} // namespace ckpt::net
