#include "ckpt/engine/peer_link.hpp"

#include "ckpt/engine/transport.hpp"

#include <cstdio>

namespace ckpt::engine {

using namespace ckpt::net;

namespace {
constexpr std::uint16_t kBroadcastNode = 0xFFFF;
const std::array<std::uint8_t, 6> kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
} // namespace

std::uint32_t default_ip(std::uint16_t node_id) {
    return (10u << 24) | (77u << 16) | (std::uint32_t{node_id} & 0xFFFF);
}

const char* peer_state_name(PeerState s) {
    switch (s) {
    case PeerState::kUnknown:
        return "unknown";
    case PeerState::kUp:
        return "up";
    case PeerState::kDown:
        return "down";
    case PeerState::kIncompatible:
        return "incompatible";
    }
    return "?";
}

PeerLink::~PeerLink() = default;

Result<std::unique_ptr<PeerLink>> PeerLink::open(const LinkConfig& cfg, std::uint64_t boot_id) {
    if (cfg.peers.empty())
        return fail(Error::kInvalidParam, "transport " + cfg.transport + " needs at least one peer (peers = ...)");
    CKPT_TRY_ASSIGN(t, open_transport(cfg));
    std::unique_ptr<PeerLink> l(new PeerLink);
    l->cfg_ = cfg;
    l->port_ = std::move(t);
    l->boot_id_ = boot_id;
    l->self_.mac = l->port_->mac();
    l->self_.ip = cfg.ip ? cfg.ip : default_ip(cfg.node_id);
    l->self_.port = cfg.udp_port;
    for (const auto& p : cfg.peers) {
        PeerStatus s;
        s.node_id = p.node_id;
        s.mac = kBroadcastMac; // until its first frame tells us
        l->peers_.push_back(s);
    }
    return l;
}

PeerStatus* PeerLink::find(std::uint16_t node_id) {
    for (auto& p : peers_)
        if (p.node_id == node_id) return &p;
    return nullptr;
}

void PeerLink::send(PeerStatus& p, FrameType type, std::span<const std::byte> body) {
    Endpoint dst;
    dst.mac = p.mac;
    dst.port = cfg_.udp_port;
    dst.ip = default_ip(p.node_id);
    for (const auto& pc : cfg_.peers)
        if (pc.node_id == p.node_id && pc.ip) dst.ip = pc.ip;
    FrameHeader h;
    h.type = type;
    h.src_node = cfg_.node_id;
    h.dst_node = p.node_id;
    h.epoch = 0; // link-level frames belong to no checkpoint
    h.link_seq = ++link_seq_;
    const std::size_t n = encode_frame(frame_buf_, self_, dst, h, body);
    if (n == 0) return;
    if (port_->send({frame_buf_.data(), n})) {
        ++p.tx_frames;
        ++counters_.tx_frames;
    } else {
        ++counters_.tx_dropped; // link down or ring full: heartbeats are best effort
    }
}

std::size_t PeerLink::poll(std::int64_t now_ns) {
    return port_->receive([&](std::span<const std::byte> f) { handle(f, now_ns); });
}

void PeerLink::handle(std::span<const std::byte> frame, std::int64_t now_ns) {
    ++counters_.rx_frames;
    DecodedFrame f;
    const Reject r = decode_frame(frame, cfg_.udp_port, f);
    if (r != Reject::kNone) {
        ++counters_.rejected[static_cast<std::size_t>(r) & 15];
        return;
    }
    if (f.header.dst_node != cfg_.node_id && f.header.dst_node != kBroadcastNode) {
        ++counters_.not_for_us;
        return;
    }
    PeerStatus* p = find(f.header.src_node);
    if (!p) {
        ++counters_.unknown_peer;
        return;
    }
    ++p->rx_frames;
    std::uint64_t boot = 0;
    if (f.header.type == FrameType::kHello) {
        HelloBody h;
        if (decode_hello_body(f.body, h) != Reject::kNone) {
            ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
            return;
        }
        if (h.version_max < kWireVersion || h.version_min > kWireVersion) {
            if (p->state != PeerState::kIncompatible)
                events_.push_back("peer " + std::to_string(p->node_id) + " speaks frame versions " +
                                  std::to_string(h.version_min) + ".." + std::to_string(h.version_max) +
                                  ", this node " + std::to_string(kWireVersion) + ": refused");
            p->state = PeerState::kIncompatible;
            return;
        }
        boot = h.boot_id;
    } else if (f.header.type == FrameType::kHeartbeat) {
        HeartbeatBody h;
        if (decode_heartbeat_body(f.body, h) != Reject::kNone) {
            ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
            return;
        }
        boot = h.boot_id;
    } else {
        return; // DATA/ACK/NACK: the replication pipeline (not built yet) takes them
    }
    if (p->state == PeerState::kIncompatible && f.header.type != FrameType::kHello) return;
    if (p->boot_id != 0 && boot != p->boot_id) {
        ++p->restarts;
        events_.push_back("peer " + std::to_string(p->node_id) + " restarted (new boot id)");
    }
    p->boot_id = boot;
    p->mac = f.src.mac;
    p->last_heard_ns = now_ns;
    if (p->state != PeerState::kUp) {
        events_.push_back("peer " + std::to_string(p->node_id) + " is up");
        p->state = PeerState::kUp;
    }
}

void PeerLink::tick(std::int64_t now_ns, std::uint32_t checkpoints) {
    const std::int64_t timeout = std::int64_t{cfg_.peer_timeout_ms} * 1'000'000;
    for (auto& p : peers_) {
        if (p.state == PeerState::kUp && now_ns - p.last_heard_ns > timeout) {
            p.state = PeerState::kDown;
            events_.push_back("peer " + std::to_string(p.node_id) + " is down (silent for " +
                              std::to_string(cfg_.peer_timeout_ms) + " ms)");
        }
    }
    if (now_ns < next_heartbeat_ns_) return;
    next_heartbeat_ns_ = now_ns + std::int64_t{cfg_.heartbeat_ms} * 1'000'000;
    std::byte body[32];
    for (auto& p : peers_) {
        if (p.state == PeerState::kUp) {
            const std::size_t n = encode_heartbeat_body(body, HeartbeatBody{boot_id_, checkpoints, 0});
            send(p, FrameType::kHeartbeat, {body, n});
        } else { // introduce ourselves until it answers (it may have started after us)
            const std::size_t n =
                encode_hello_body(body, HelloBody{kWireVersion, kWireVersion, cfg_.heartbeat_ms, boot_id_});
            send(p, FrameType::kHello, {body, n});
        }
    }
}

std::vector<std::string> PeerLink::take_events() {
    return std::exchange(events_, {});
}

} // namespace ckpt::engine
