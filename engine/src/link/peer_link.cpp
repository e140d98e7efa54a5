#include "link/peer_link.hpp"

#include <algorithm>
#include <climits>

#include <cstdio>

namespace ckpt::engine {

using namespace ckpt::net;

namespace {
constexpr std::uint16_t kBroadcastNode = 0xFFFF;
const std::array<std::uint8_t, 6> kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
} // namespace

PeerLink::~PeerLink() = default;

Result<std::unique_ptr<PeerLink>> PeerLink::open(const LinkConfig& cfg, std::uint64_t boot_id) {
    if (cfg.peers.empty())
        return fail(Error::kInvalidParam,
                    std::string("transport ") + carrier_name(cfg.transport) + " needs at least one peer (peers = ...)");
    CKPT_TRY_ASSIGN(t, open_transport(cfg));
    return over(cfg, boot_id, std::move(t));
}

std::unique_ptr<PeerLink> PeerLink::over(const LinkConfig& cfg, std::uint64_t boot_id,
                                         std::unique_ptr<Transport> carrier) {
    std::unique_ptr<PeerLink> l(new PeerLink);
    l->cfg_ = cfg;
    l->port_ = std::move(carrier);
    l->boot_id_ = boot_id;
    l->self_.mac = l->port_->mac();
    l->self_.ip = cfg.ip ? cfg.ip : default_ip(cfg.node_id);
    l->self_.port = cfg.udp_port;
    for (const auto& p : cfg.peers) {
        PeerStatus s;
        s.stream = PeerStream(cfg.stream);
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

const PeerStatus* PeerLink::find(std::uint16_t node_id) const {
    for (const auto& p : peers_)
        if (p.node_id == node_id) return &p;
    return nullptr;
}

bool PeerLink::is_up(std::uint16_t node) const {
    const PeerStatus* p = find(node);
    return p && p->state == PeerState::kUp;
}

std::size_t PeerLink::max_data_payload() const {
    return cfg_.mtu - kIpv4Header - kUdpHeader - kHotspareHeader - kDataBodyFixed;
}

Endpoint PeerLink::endpoint_of(const PeerStatus& p) const {
    Endpoint dst;
    dst.mac = p.mac;
    dst.port = cfg_.udp_port;
    dst.ip = default_ip(p.node_id);
    for (const auto& pc : cfg_.peers) {
        if (pc.node_id != p.node_id) continue;
        if (pc.ip) dst.ip = pc.ip;
        if (pc.udp_port) dst.port = pc.udp_port;
    }
    return dst;
}

void PeerLink::send(PeerStatus& p, FrameType type, std::span<const std::byte> body) {
    FrameHeader h;
    h.type = type;
    h.src_node = cfg_.node_id;
    h.dst_node = p.node_id;
    h.epoch = 0;    // link-level frames belong to no checkpoint
    h.link_seq = 0; // and to no stream: they are never resent
    const std::size_t n = encode_frame(frame_buf_, self_, endpoint_of(p), h, body);
    if (n == 0) return;
    if (port_->send({frame_buf_.data(), n})) {
        ++p.tx_frames;
        p.tx_bytes += n;
        ++counters_.tx_frames;
    } else {
        ++counters_.tx_dropped; // link down or ring full: heartbeats and ACKs are best effort
    }
}

bool PeerLink::send_sequenced(std::uint16_t node, FrameType type, std::uint16_t flags, std::uint64_t epoch,
                              std::span<const std::byte> body, Completion c) {
    PeerStatus* p = find(node);
    if (!p || p->state != PeerState::kUp) return false;
    FrameHeader h;
    h.type = type;
    h.flags = flags;
    h.src_node = cfg_.node_id;
    h.dst_node = node;
    h.epoch = epoch;
    h.link_seq = p->stream.next_link_seq();
    std::vector<std::byte> frame(kFrameOverhead + body.size());
    const std::size_t n = encode_frame(frame, self_, endpoint_of(*p), h, body);
    CKPT_ENFORCE(n == frame.size(), "sequenced frame does not fit the MTU");
    p->stream.enqueue(std::move(frame), c);
    return true;
}

void PeerLink::send_ack(PeerStatus& p) {
    auto [cum, sel] = p.stream.ack_fields();
    std::byte body[kAckBody];
    // Everything we queued for the peer so far, REFUSED frames about what this ACK covers included.
    const std::size_t n = encode_ack_body(body, AckBody{cum, sel, p.stream.next_link_seq() - 1, 0});
    send(p, FrameType::kAck, {body, n});
    p.stream.ack_pending = false;
    ++counters_.acks_sent;
}

std::size_t PeerLink::flush(std::int64_t now_ns) {
    std::size_t sent = 0;
    for (auto& p : peers_) {
        if (p.state != PeerState::kUp) continue;
        if (p.stream.ack_pending) send_ack(p);
        std::uint64_t first = 0, last = 0;
        // A gap: ask for it at once rather than after the sender's timeout.
        if (p.stream.nack_due(now_ns, cfg_.stream.rto_ns / 2, first, last)) {
            std::byte body[kNackBody];
            send(p, FrameType::kNack, {body, encode_nack_body(body, NackBody{first, last})});
            ++counters_.nacks_sent;
        }
        if (p.stream.idle()) continue;
        sent += p.stream.transmit(now_ns, [&](std::span<const std::byte> f) {
            if (!port_->send(f)) return false;
            ++p.tx_frames;
            p.tx_bytes += f.size();
            ++counters_.tx_frames;
            return true;
        });
    }
    return sent;
}

void PeerLink::apply_ack(PeerStatus& p, std::uint64_t cumulative, std::uint64_t selective) {
    p.stream.on_ack(cumulative, selective, [&](Completion c) {
        if (c.kind && listener_) listener_->on_completed(p.node_id, c);
    });
}

std::uint64_t PeerLink::next_link_seq(std::uint16_t node) const {
    const PeerStatus* p = find(node);
    return p ? p->stream.next_link_seq() : 0;
}

bool PeerLink::idle() const {
    for (const auto& p : peers_)
        if (p.state == PeerState::kUp && (!p.stream.idle() || p.stream.ack_pending)) return false;
    return true;
}

std::size_t PeerLink::poll(std::int64_t now_ns) {
    return port_->receive([&](std::span<const std::byte> f) { handle(f, now_ns); });
}

void PeerLink::mark_down(PeerStatus& p, const std::string& why) {
    p.state = PeerState::kDown;
    events_.push_back("peer " + std::to_string(p.node_id) + " is down (" + why + ")");
    p.ack_deferred = false;
    auto abandoned = p.stream.reset_tx();
    if (listener_) listener_->on_peer_down(p.node_id, abandoned);
}

void PeerLink::refuse_foreign_version(std::span<const std::byte> frame) {
    ForeignVersion v;
    if (!identify_foreign_version(frame, cfg_.udp_port, v)) return; // damaged: counted, nothing more
    if (v.dst_node != cfg_.node_id && v.dst_node != kBroadcastNode) return;
    PeerStatus* p = find(v.src_node);
    if (!p || p->state == PeerState::kIncompatible) return; // logged once, when it started
    // A peer that restarted with another version: what it had of our stream is void.
    if (p->state == PeerState::kUp) mark_down(*p, "now sends frame version " + std::to_string(v.version));
    events_.push_back("peer " + std::to_string(p->node_id) + " sends frame version " + std::to_string(v.version) +
                      ", this node speaks " + std::to_string(kWireVersion) +
                      " only: refused, nothing is replicated to or from it (run one wire version on both nodes)");
    p->state = PeerState::kIncompatible;
}

void PeerLink::handle(std::span<const std::byte> frame, std::int64_t now_ns) {
    ++counters_.rx_frames;
    DecodedFrame f;
    const Reject r = decode_frame(frame, cfg_.udp_port, f);
    if (r != Reject::kNone) {
        ++counters_.rejected[static_cast<std::size_t>(r) & 15];
        if (r == Reject::kBadVersion) refuse_foreign_version(frame);
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
    p->rx_bytes += frame.size();
    const FrameType type = f.header.type;
    if (is_sequenced(type)) {
        if (p->state != PeerState::kUp || f.header.link_seq == 0) {
            ++counters_.not_up; // it resends once we have exchanged HELLOs
            return;
        }
        p->last_heard_ns = now_ns;
        p->stream.receive(f.header.link_seq, frame, [&](std::span<const std::byte> in_order) {
            if (!listener_) return;
            if (in_order.data() == frame.data()) {
                listener_->on_frame(p->node_id, f);
            } else { // a frame that waited behind a gap: decode its own bytes
                DecodedFrame g;
                if (decode_frame(in_order, cfg_.udp_port, g) == Reject::kNone) listener_->on_frame(p->node_id, g);
            }
        });
        if (p->ack_deferred && p->stream.delivered_through() >= p->deferred_until) {
            p->ack_deferred = false;
            apply_ack(*p, p->deferred_cumulative, p->deferred_selective);
        }
        return;
    }
    if (type == FrameType::kAck || type == FrameType::kNack) {
        if (p->state != PeerState::kUp) return;
        p->last_heard_ns = now_ns;
        if (type == FrameType::kAck) {
            AckBody a;
            if (decode_ack_body(f.body, a) != Reject::kNone) {
                ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
                return;
            }
            // The peer queued sequenced frames for us before this ACK (a REFUSED of a frame it
            // acknowledges, say): take them in first. Conditions only grow within a generation,
            // so the newest ACK supersedes a held one.
            const bool conditional = (a.sent_through & kLinkSeqMask) != 0;
            if (conditional && p->stream.delivered_through() < a.sent_through) {
                p->ack_deferred = true;
                p->deferred_cumulative = a.cumulative;
                p->deferred_selective = a.selective;
                p->deferred_until = a.sent_through;
                ++counters_.acks_deferred;
                return;
            }
            p->ack_deferred = false;
            apply_ack(*p, a.cumulative, a.selective);
        } else {
            NackBody n;
            if (decode_nack_body(f.body, n) != Reject::kNone) {
                ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
                return;
            }
            p->stream.on_nack(n.first, n.last);
        }
        return;
    }
    std::uint64_t boot = 0;
    if (type == FrameType::kHello) {
        HelloBody h;
        if (decode_hello_body(f.body, h) != Reject::kNone) {
            ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
            return;
        }
        if (h.version_max < kWireVersion || h.version_min > kWireVersion) {
            if (p->state == PeerState::kUp) mark_down(*p, "speaks no frame version of ours");
            if (p->state != PeerState::kIncompatible)
                events_.push_back(
                    "peer " + std::to_string(p->node_id) + " speaks frame versions " + std::to_string(h.version_min) +
                    ".." + std::to_string(h.version_max) + ", this node " + std::to_string(kWireVersion) +
                    ": refused, nothing is replicated to or from it (run one wire version on both nodes)");
            p->state = PeerState::kIncompatible;
            return;
        }
        boot = h.boot_id;
    } else if (type == FrameType::kHeartbeat) {
        HeartbeatBody h;
        if (decode_heartbeat_body(f.body, h) != Reject::kNone) {
            ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
            return;
        }
        boot = h.boot_id;
    } else {
        return;
    }
    if (p->state == PeerState::kIncompatible && type != FrameType::kHello) return;
    if (p->boot_id != 0 && boot != p->boot_id) {
        ++p->restarts;
        events_.push_back("peer " + std::to_string(p->node_id) + " restarted (new boot id)");
        // Its numbering starts again, and what we queued for its previous life is void.
        p->stream.reset_rx();
        p->ack_deferred = false;
        if (p->state == PeerState::kUp) mark_down(*p, "restarted");
    }
    p->boot_id = boot;
    p->mac = f.src.mac;
    p->last_heard_ns = now_ns;
    if (p->state != PeerState::kUp) {
        events_.push_back("peer " + std::to_string(p->node_id) + " is up");
        p->state = PeerState::kUp;
        if (listener_) listener_->on_peer_up(p->node_id);
    }
}

void PeerLink::tick(std::int64_t now_ns, std::uint32_t checkpoints) {
    const std::int64_t timeout = std::int64_t{cfg_.peer_timeout_ms} * 1'000'000;
    // The loop ticks every heartbeat at least; a gap of half a timeout means this engine did not
    // run (SIGSTOP, a paused VM, a descheduled host). The peers' silence was ours: they get a
    // fresh timeout (their queued frames were read just before), instead of being declared down,
    // which would make a resumed former active fence a standby that was promoted meanwhile.
    if (last_tick_ns_ != 0 && now_ns - last_tick_ns_ > timeout / 2) {
        events_.push_back("this engine did not run for " + std::to_string((now_ns - last_tick_ns_) / 1'000'000) +
                          " ms: peers get a fresh timeout");
        for (auto& p : peers_)
            if (p.state == PeerState::kUp) p.last_heard_ns = std::max(p.last_heard_ns, now_ns);
    }
    last_tick_ns_ = now_ns;
    for (auto& p : peers_)
        if (p.state == PeerState::kUp && now_ns - p.last_heard_ns > timeout)
            mark_down(p, "silent for " + std::to_string(cfg_.peer_timeout_ms) + " ms");
    if (now_ns < next_heartbeat_ns_) return;
    next_heartbeat_ns_ = now_ns + std::int64_t{cfg_.heartbeat_ms} * 1'000'000;
    port_->maintain(now_ns);
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
