#include "link/peer_link.hpp"

#include "ckpt/net/fault_shim.hpp"
#include "crash/crash_points.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include <cstdio>

namespace ckpt::engine {

using namespace ckpt::net;

namespace {
constexpr std::uint16_t kBroadcastNode = 0xFFFF;
const std::array<std::uint8_t, 6> kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
} // namespace

PeerLink::~PeerLink() = default;

namespace {

/// The frame authentication `cfg` asks for: the cluster key from auth_key_file (or given
/// directly), or none when the configuration says `auth = none` in so many words.
Result<std::unique_ptr<FrameAuth>> make_auth(const LinkConfig& cfg) {
    auto a = std::make_unique<FrameAuth>();
    if (cfg.auth == AuthMode::kNone) return a;
    if (!cfg.auth_key_file.empty()) {
        ClusterKey k;
        if (std::string e = load_key_file(cfg.auth_key_file, k); !e.empty()) return fail(Error::kAccess, e);
        std::string e = a->add_key(k);
        wipe_key(k);
        if (!e.empty()) return fail(Error::kInvalidParam, "auth_key_file " + cfg.auth_key_file + ": " + e);
        return a;
    }
    if (cfg.auth_keys.empty())
        return fail(Error::kInvalidParam,
                    "replication needs a cluster key: set auth_key_file = PATH (make the key with `ckptctl keygen "
                    "PATH` and copy the file to every node), or auth = none to replicate without authentication");
    for (const auto& k : cfg.auth_keys)
        if (std::string e = a->add_key(k); !e.empty()) return fail(Error::kInvalidParam, e);
    return a;
}

} // namespace

Result<std::unique_ptr<PeerLink>> PeerLink::open(const LinkConfig& cfg, std::uint64_t boot_id) {
    if (cfg.peers.empty())
        return fail(Error::kInvalidParam,
                    std::string("transport ") + carrier_name(cfg.transport) + " needs at least one peer (peers = ...)");
    CKPT_TRY_ASSIGN(auth, make_auth(cfg)); // before the carrier: a missing key costs no DPDK start-up
    CKPT_TRY_ASSIGN(t, open_transport(cfg));
    auto l = over(cfg, boot_id, std::move(t));
    l->auth_ = std::move(auth);
    return l;
}

std::unique_ptr<PeerLink> PeerLink::over(const LinkConfig& cfg, std::uint64_t boot_id,
                                         std::unique_ptr<Transport> carrier) {
    std::unique_ptr<PeerLink> l(new PeerLink);
    auto auth = make_auth(cfg);
    CKPT_ENFORCE(auth.ok(), "PeerLink::over: no usable key (LinkConfig::auth_keys, or auth = none)");
    l->auth_ = std::move(*auth);
    CKPT_ENFORCE(boot_id != 0, "PeerLink: session 0 is reserved");
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
        s.challenge = random_u64();
        l->peers_.push_back(std::move(s));
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
    return cfg_.mtu - kIpv4Header - kUdpHeader - kHotspareHeader - kFrameTrailer - kDataBodyFixed;
}

std::uint8_t PeerLink::tx_key(const PeerStatus& p) const {
    const std::uint8_t newest = auth_->newest_key(), previous = auth_->previous_key();
    if (newest == 0) return 0;
    auto held = [&](std::uint8_t id) { return id != 0 && (p.key_newest == id || p.key_previous == id); };
    if (held(newest) || p.key_newest == 0) return newest; // it holds it, or we do not know yet
    if (held(previous)) return previous;                  // a rotation under way: the key it holds
    return newest;
}

bool PeerLink::seal(PeerStatus& p, std::span<std::byte> frame) {
    const std::uint8_t key = tx_key(p);
    if (key != p.tx_key) {
        if (p.tx_key != 0)
            events_.push_back("frames to peer " + std::to_string(p.node_id) + " are now MACed with cluster key " +
                              std::to_string(key) + " (was " + std::to_string(p.tx_key) + ")");
        p.tx_key = key;
    }
    return seal_frame(frame, *auth_, key, boot_id_, ++tx_counter_);
}

Status PeerLink::reload_key() {
    if (cfg_.auth == AuthMode::kNone)
        return fail(Error::kInvalidParam, "auth = none: no key to reload (set auth_key_file and restart)");
    if (cfg_.auth_key_file.empty()) return fail(Error::kInvalidParam, "no auth_key_file configured");
    ClusterKey k;
    if (std::string e = load_key_file(cfg_.auth_key_file, k); !e.empty()) return fail(Error::kAccess, e);
    const std::uint8_t before = auth_->newest_key();
    std::string e = auth_->add_key(k);
    wipe_key(k);
    if (!e.empty()) return fail(Error::kInvalidParam, "auth_key_file " + cfg_.auth_key_file + ": " + e);
    if (auth_->newest_key() != before)
        events_.push_back("cluster key " + std::to_string(auth_->newest_key()) + " loaded (key " +
                          std::to_string(auth_->previous_key()) +
                          " still accepted); frames to a peer use it once the peer holds it too");
    else
        events_.push_back("cluster key " + std::to_string(before) + " reloaded: unchanged");
    // Tell the peers at once which keys we hold, so that they switch without waiting a heartbeat.
    for (auto& p : peers_)
        if (p.state == PeerState::kUp) {
            std::byte body[kHeartbeatBody];
            const std::size_t n = encode_heartbeat_body(
                body, HeartbeatBody{boot_id_, checkpoints_, auth_->newest_key(), auth_->previous_key(), 0, p.boot_id});
            send_liveness(p, FrameType::kHeartbeat, {body, n});
        }
    return {};
}

std::size_t PeerLink::max_frame_body() const {
    return cfg_.mtu - kIpv4Header - kUdpHeader - kHotspareHeader - kFrameTrailer; // the tag follows the body
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

bool PeerLink::send(PeerStatus& p, FrameType type, std::span<const std::byte> body) {
    FrameHeader h;
    h.type = type;
    h.src_node = cfg_.node_id;
    h.dst_node = p.node_id;
    h.epoch = 0;    // link-level frames belong to no checkpoint
    h.link_seq = 0; // and to no stream: they are never resent
    const std::size_t n = encode_frame_unsealed(frame_buf_, self_, endpoint_of(p), h, body);
    if (n == 0 || !seal(p, {frame_buf_.data(), n})) return false;
    if (port_->send({frame_buf_.data(), n})) {
        ++p.stream.counters().tx_frames;
        p.stream.counters().tx_bytes += n;
        ++counters_.tx_frames;
        return true;
    }
    ++counters_.tx_dropped; // link down or ring full: the caller keeps what must not be lost
    return false;
}

void PeerLink::send_liveness(PeerStatus& p, FrameType type, std::span<const std::byte> body) {
    // A HELLO or HEARTBEAT that found the TX ring full (of data) is kept, the newest one only,
    // and goes out at the head of the next flush, before any data to that peer: liveness is
    // never dropped for a full ring.
    p.liveness_held = false;
    if (send(p, type, body)) return;
    p.liveness_held = true;
    p.liveness_type = type;
    p.liveness_body.assign(body.begin(), body.end());
    ++counters_.liveness_held;
}

bool PeerLink::flush_liveness(PeerStatus& p) {
    if (!p.liveness_held) return true;
    if (!send(p, p.liveness_type, p.liveness_body)) return false;
    p.liveness_held = false;
    return true;
}

bool PeerLink::send_sequenced(std::uint16_t node, FrameType type, std::uint16_t flags, std::uint64_t epoch,
                              std::span<const std::byte> body, Completion c) {
    const PeerStatus* p = find(node);
    if (!p || p->state != PeerState::kUp) return false; // before taking a buffer
    if (body.size() > max_frame_body())                 // said and counted by send_sequenced_frame
        return send_sequenced_frame(node, type, flags, epoch,
                                    FrameBuf::copy_of(std::vector<std::byte>(kFrameOverhead + body.size())), c);
    FrameBuf frame = frame_buffer(body.size());
    if (!body.empty()) std::memcpy(frame.data() + kFrameBodyOffset, body.data(), body.size());
    return send_sequenced_frame(node, type, flags, epoch, std::move(frame), c);
}

FrameBuf PeerLink::frame_buffer(std::size_t body_len, std::size_t body_room) {
    FrameBuf f = port_->frame_pool().alloc(kFrameOverhead + body_len, body_room ? kFrameOverhead + body_room : 0);
    CKPT_ENFORCE(f, "no frame buffer for a sequenced frame (longer than a jumbo frame?)");
    return f;
}

bool PeerLink::send_sequenced_frame(std::uint16_t node, FrameType type, std::uint16_t flags, std::uint64_t epoch,
                                    FrameBuf frame, Completion c) {
    PeerStatus* p = find(node);
    if (!p || p->state != PeerState::kUp) return false;
    CKPT_ENFORCE(frame.size() >= kFrameOverhead, "sequenced frame buffer shorter than the headers and tag");
    const std::size_t body_len = frame.size() - kFrameOverhead;
    if (body_len > max_frame_body()) {
        // Would abort in the DPDK port (or be cut by the kernel): never queued, and said. The
        // control path refuses what it can see coming (a section id too long for the mtu); this
        // catches the rest, e.g. sections adopted after the mtu was lowered.
        ++counters_.tx_dropped;
        events_.push_back("frame of type " + std::to_string(static_cast<int>(type)) + " with a " +
                          std::to_string(body_len) + "-byte body does not fit mtu " + std::to_string(cfg_.mtu) +
                          " (at most " + std::to_string(max_frame_body()) + "): not sent to node " +
                          std::to_string(node));
        return false;
    }
    const std::uint64_t link_seq = p->stream.next_link_seq();
    if (type == FrameType::kRefused) p->refused_through = link_seq;
    const std::size_t n = write_headers(frame, *p, type, flags, epoch, link_seq);
    CKPT_ENFORCE(n == frame.size(), "sequenced frame does not fit the MTU"); // sealed when sent
    p->stream.enqueue(std::move(frame), c);
    return true;
}

std::size_t PeerLink::write_headers(FrameBuf& frame, const PeerStatus& p, FrameType type, std::uint16_t flags,
                                    std::uint64_t epoch, std::uint64_t link_seq) const {
    const std::span<const std::byte> body(frame.data() + kFrameBodyOffset, frame.size() - kFrameOverhead);
    FrameHeader h;
    h.type = type;
    h.flags = flags;
    h.src_node = cfg_.node_id;
    h.dst_node = p.node_id;
    h.epoch = epoch;
    h.link_seq = link_seq;
    // The body is in place: only the headers are written.
    return encode_frame_unsealed(frame.bytes(), self_, endpoint_of(p), h, body);
}

FrameBuf* PeerLink::untransmitted_tail(std::uint16_t node, std::uint64_t link_seq) {
    PeerStatus* p = find(node);
    if (!p || p->state != PeerState::kUp) return nullptr;
    return p->stream.untransmitted_tail(link_seq);
}

bool PeerLink::rewrite_tail(std::uint16_t node, std::uint64_t link_seq, FrameType type, std::uint16_t flags,
                            std::uint64_t epoch, Completion c) {
    PeerStatus* p = find(node);
    FrameBuf* frame = p && p->state == PeerState::kUp ? p->stream.untransmitted_tail(link_seq) : nullptr;
    if (!frame || frame->size() < kFrameOverhead || frame->size() - kFrameOverhead > max_frame_body()) return false;
    const std::size_t n = write_headers(*frame, *p, type, flags, epoch, link_seq);
    CKPT_ENFORCE(n == frame->size(), "coalesced frame does not fit its buffer");
    p->stream.set_tail_completion(c);
    return true;
}

void PeerLink::send_ack(PeerStatus& p) {
    auto [cum, sel] = p.stream.ack_fields();
    std::byte body[kAckBody];
    // The last REFUSED we queued (about a frame this ACK may cover): the peer takes it in first.
    const std::size_t n = encode_ack_body(body, AckBody{cum, sel, p.refused_through, 0});
    if (!send(p, FrameType::kAck, {body, n})) return; // ring full: still pending, sent next flush
    p.stream.ack_pending = false;
    ++counters_.acks_sent;
}

std::size_t PeerLink::flush(std::int64_t now_ns) {
    std::size_t sent = 0;
    for (auto& p : peers_) {
        // Liveness first, to every peer (up or not): data waits behind a held HELLO or HEARTBEAT.
        if (!flush_liveness(p)) continue;
        if (p.state != PeerState::kUp) continue;
        if (p.stream.ack_pending) send_ack(p);
        std::uint64_t first = 0, last = 0;
        // A gap: ask for it at once rather than after the sender's timeout.
        if (p.stream.nack_due(now_ns, p.stream.rto() / 2, first, last)) {
            std::byte body[kNackBody];
            send(p, FrameType::kNack, {body, encode_nack_body(body, NackBody{first, last})});
            ++counters_.nacks_sent;
        }
        if (p.stream.idle()) continue;
        // Bursts of sequenced frames, straight from the buffers the stream keeps until they are
        // acknowledged: sealed in place (a retransmission is a new frame counter, so the
        // receiver's replay window never mistakes it for a replay), then one submission each.
        std::size_t budget = kTxTurnBudget;
        while (budget > 0) {
            PeerStream::Picks picks;
            const std::size_t m = p.stream.pick(now_ns, picks, std::min(budget, kSubmitBurst));
            if (m == 0) break;
            TxBurst burst;
            for (std::size_t i = 0; i < m; ++i) {
                FrameBuf& f = p.stream.picked(picks, i);
                if (!FramePool::exclusive(f)) {
                    // The NIC still reads this mbuf from its last transmission (a PCI NIC frees it
                    // on TX completion; memif and af_packet copy within the burst call): the new
                    // counter and tag go into a copy, never under the DMA.
                    FrameBuf copy = port_->frame_pool().alloc(f.size());
                    if (!copy) break;
                    std::memcpy(copy.data(), f.data(), f.size());
                    f = std::move(copy);
                    ++tx_copied_;
                }
                if (!seal(p, f.bytes())) break;
                burst.push(&f);
            }
            const std::size_t ok = burst.n ? port_->submit(burst.view()) : 0;
            for (std::size_t i = 0; i < ok; ++i) p.stream.counters().tx_bytes += burst.frames[i]->size();
            p.stream.sent(now_ns, picks, ok); // moves new frames to the unacknowledged: burst is void
            p.stream.counters().tx_frames += ok;
            counters_.tx_frames += ok;
            sent += ok;
            budget -= ok;
            if (ok < m) break; // the carrier is full (or a frame could not be sealed): next flush
        }
    }
    port_->flush_tx();          // a batching carrier (kernel UDP) sends this flush's frames in one system call
    if (sent) crash::flushed(); // a crash point waiting for these frames to leave (crash_points.hpp)
    return sent;
}

void PeerLink::apply_ack(PeerStatus& p, std::uint64_t cumulative, std::uint64_t selective, std::int64_t now_ns) {
    p.stream.on_ack(
        cumulative, selective,
        [&](Completion c) {
            if (c.kind && listener_) listener_->on_completed(p.node_id, c);
        },
        now_ns);
}

std::uint64_t PeerLink::next_link_seq(std::uint16_t node) const {
    const PeerStatus* p = find(node);
    return p ? p->stream.next_link_seq() : 0;
}

namespace {

std::uint32_t carrier_kind(Carrier t) {
    switch (t) {
    case Carrier::kMemif:
        return shm::kStatsTransportMemif;
    case Carrier::kAfPacket:
        return shm::kStatsTransportAfPacket;
    case Carrier::kPci:
        return shm::kStatsTransportPci;
    case Carrier::kUdp:
        return shm::kStatsTransportUdp;
    case Carrier::kNone:
        break;
    }
    return shm::kStatsTransportNone;
}

} // namespace

shm::LinkStats PeerLink::stats() const {
    shm::LinkStats l = counters_;
    l.carrier = port_->stats();
    l.transport = carrier_kind(cfg_.transport);
    if (const auto* shim = dynamic_cast<const FaultShim*>(port_.get())) {
        l.fault_enabled = 1;
        l.fault_tx = shim->tx_counters();
        l.fault_rx = shim->rx_counters();
    }
    return l;
}

std::size_t PeerLink::backlog(std::uint16_t node) const {
    const PeerStatus* p = find(node);
    return p ? p->stream.backlog() : 0;
}

bool PeerLink::idle() const {
    for (const auto& p : peers_)
        if (p.state == PeerState::kUp && (!p.stream.idle() || p.stream.ack_pending)) return false;
    return true;
}

std::int64_t PeerLink::sleep_deadline() const {
    std::int64_t d = INT64_MAX;
    for (const auto& p : peers_) {
        if (p.state != PeerState::kUp) continue;
        if (p.stream.ack_pending || p.stream.backlog() > 0) return 0;
        if (p.stream.in_flight() > 0) d = std::min(d, p.stream.next_deadline());
    }
    return d;
}

std::size_t PeerLink::poll(std::int64_t now_ns) {
    struct Ctx {
        PeerLink* link;
        std::int64_t now_ns;
    } ctx{this, now_ns};
    return port_->receive_held(
        32,
        [](void* c, std::span<const std::byte> f, net::FrameBuf* b) {
            static_cast<Ctx*>(c)->link->handle(f, static_cast<Ctx*>(c)->now_ns, b);
        },
        &ctx);
}

void PeerLink::mark_down(PeerStatus& p, const std::string& why) {
    p.state = PeerState::kDown;
    events_.push_back("peer " + std::to_string(p.node_id) + " is down (" + why + ")");
    p.ack_deferred = false;
    p.refused_through = 0; // its stream starts over: a new generation
    auto abandoned = p.stream.reset_tx();
    if (listener_) listener_->on_peer_down(p.node_id, abandoned);
}

void PeerLink::refuse_foreign_version(std::span<const std::byte> frame) {
    ForeignVersion v;
    if (!identify_foreign_version(frame, cfg_.udp_port, v, auth_.get())) return; // damaged: counted, nothing more
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

Reject PeerLink::check_session(PeerStatus& p, const DecodedFrame& f, std::int64_t now_ns) {
    if (p.boot_id != 0 && f.header.session == p.boot_id)
        return p.replay.accept(f.header.counter) ? Reject::kNone : Reject::kReplayed;
    // Another session of the peer: only a HELLO that echoes our current challenge may start one
    // (it was made after the peer heard that challenge, so it is no recording of an older one).
    if (f.header.type != FrameType::kHello) return Reject::kStaleSession;
    HelloBody h;
    if (decode_hello_body(f.body, h) != Reject::kNone) return Reject::kBadBody;
    // Its challenge and keys, so that our answer can be accepted by it; a replayed HELLO can only
    // delay that until the peer's next one.
    p.its_challenge = h.challenge;
    p.key_newest = h.key_newest;
    p.key_previous = h.key_previous;
    if (h.echo != p.challenge) {
        if (h.peer_session != boot_id_) send_hello(p, now_ns);
        if (h.echo == 0) { // it has not heard our challenge yet: a handshake, not a replay
            ++counters_.handshakes;
            return Reject::kNone;
        }
        return Reject::kStaleSession;
    }
    if (p.boot_id != 0) {
        ++p.stream.counters().restarts;
        events_.push_back("peer " + std::to_string(p.node_id) + " restarted (new session)");
        // Its numbering starts again, and what we queued for its previous life is void.
        p.stream.reset_rx();
        p.ack_deferred = false;
        if (p.state == PeerState::kUp) mark_down(p, "restarted");
    }
    p.boot_id = f.header.session;
    p.replay.reset();
    (void)p.replay.accept(f.header.counter);
    p.challenge = random_u64(); // a HELLO made against the old challenge never passes again
    return Reject::kNone;
}

void PeerLink::send_hello(PeerStatus& p, std::int64_t now_ns) {
    // An answer at most every quarter heartbeat: replayed HELLOs cannot make us flood.
    const std::int64_t gap = std::int64_t{cfg_.heartbeat_ms} * 250'000;
    if (p.hello_sent_ns != 0 && now_ns - p.hello_sent_ns < gap) return;
    p.hello_sent_ns = now_ns;
    std::byte body[kHelloBody];
    HelloBody h;
    h.heartbeat_ms = cfg_.heartbeat_ms;
    h.boot_id = boot_id_;
    h.challenge = p.challenge;
    h.echo = p.its_challenge;
    h.peer_session = p.boot_id;
    h.key_newest = auth_->newest_key();
    h.key_previous = auth_->previous_key();
    send_liveness(p, FrameType::kHello, {body, encode_hello_body(body, h)});
}

void PeerLink::handle(std::span<const std::byte> frame, std::int64_t now_ns, net::FrameBuf* buffer) {
    ++counters_.rx_frames;
    DecodedFrame f;
    const Reject r = decode_frame(frame, cfg_.udp_port, f, auth_.get());
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
    // Only from the address we send to it: anything else is counted and dropped (logged once).
    if (const std::uint32_t want = endpoint_of(*p).ip; f.src.ip != want) {
        ++counters_.rejected[static_cast<std::size_t>(Reject::kWrongSource)];
        if (!p->warned_source) {
            p->warned_source = true;
            auto ip = [](std::uint32_t a) {
                return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                       std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
            };
            events_.push_back("frames naming node " + std::to_string(p->node_id) + " come from " + ip(f.src.ip) +
                              ", not from its configured address " + ip(want) +
                              ": dropped (peers = " + std::to_string(p->node_id) + "@ADDRESS sets it)");
        }
        return;
    }
    if (const Reject s = check_session(*p, f, now_ns); s != Reject::kNone) {
        ++counters_.rejected[static_cast<std::size_t>(s) & 15];
        return;
    }
    if (f.header.session != p->boot_id) return; // a handshake HELLO, answered: nothing more
    ++p->stream.counters().rx_frames;
    p->stream.counters().rx_bytes += frame.size();
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
                listener_->on_frame(p->node_id, f, buffer);
            } else { // a frame that waited behind a gap: its tag held when it arrived
                DecodedFrame g;
                if (decode_frame(in_order, cfg_.udp_port, g, nullptr) == Reject::kNone)
                    listener_->on_frame(p->node_id, g, nullptr);
            }
        });
        if (p->ack_deferred && p->stream.delivered_through() >= p->deferred_until) {
            p->ack_deferred = false;
            apply_ack(*p, p->deferred_cumulative, p->deferred_selective, 0); // held: no round-trip sample
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
            apply_ack(*p, a.cumulative, a.selective, now_ns);
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
        p->its_challenge = h.challenge;
        p->key_newest = h.key_newest;
        p->key_previous = h.key_previous;
        p->accepted_us = h.peer_session;
        // It has not accepted our session yet: it needs a HELLO echoing its challenge.
        if (h.peer_session != boot_id_) send_hello(*p, now_ns);
    } else if (type == FrameType::kHeartbeat) {
        HeartbeatBody h;
        if (decode_heartbeat_body(f.body, h) != Reject::kNone) {
            ++counters_.rejected[static_cast<std::size_t>(Reject::kBadBody)];
            return;
        }
        p->key_newest = h.key_newest;
        p->key_previous = h.key_previous;
        p->accepted_us = h.peer_session;
    } else {
        return;
    }
    if (p->state == PeerState::kIncompatible && type != FrameType::kHello) return;
    p->mac = f.src.mac;
    p->last_heard_ns = now_ns;
    if (p->state != PeerState::kUp) {
        events_.push_back("peer " + std::to_string(p->node_id) + " is up");
        p->state = PeerState::kUp;
        if (listener_) listener_->on_peer_up(p->node_id);
    }
}

void PeerLink::tick(std::int64_t now_ns, std::uint32_t checkpoints) {
    checkpoints_ = checkpoints;
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
    // What arrived is read before anyone is judged silent: a peer whose frames wait in our RX
    // ring (a long turn of ours) is not silent. Bounded (the ring is); a ring still not empty
    // after that means the peers are talking: no judgement this tick.
    bool drained = false;
    for (int i = 0; i < kMaxDrainPolls; ++i) {
        if (poll(now_ns) == 0) {
            drained = true;
            break;
        }
    }
    if (!drained) ++counters_.silence_deferred;
    for (auto& p : peers_)
        if (drained && p.state == PeerState::kUp && now_ns - p.last_heard_ns > timeout)
            mark_down(p, "silent for " + std::to_string(cfg_.peer_timeout_ms) + " ms");
    if (now_ns < next_heartbeat_ns_) return;
    next_heartbeat_ns_ = now_ns + std::int64_t{cfg_.heartbeat_ms} * 1'000'000;
    port_->maintain(now_ns);
    std::byte body[kHeartbeatBody];
    for (auto& p : peers_) {
        // A HEARTBEAT to a peer that is up and has accepted our session; else introduce
        // ourselves until it answers (it may have started after us, or restarted).
        if (p.state == PeerState::kUp && p.accepted_us == boot_id_) {
            const std::size_t n = encode_heartbeat_body(
                body, HeartbeatBody{boot_id_, checkpoints, auth_->newest_key(), auth_->previous_key(), 0, p.boot_id});
            send_liveness(p, FrameType::kHeartbeat, {body, n});
        } else {
            p.hello_sent_ns = 0; // the periodic one is never rate-limited away
            send_hello(p, now_ns);
        }
    }
}

std::vector<std::string> PeerLink::take_events() {
    return std::exchange(events_, {});
}

} // namespace ckpt::engine
