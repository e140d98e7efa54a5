#pragma once
/// The engine's link to its peers: one DPDK port (memif for now), HELLO on link-up, HEARTBEATs,
/// and a peer declared down when it has been silent for peer_timeout_ms. Frames are the wire
/// format of docs/PROTOCOL.md; every refused frame is counted by reason.
#include "ckpt/common/result.hpp"
#include "ckpt/engine/fault_shim.hpp"
#include "ckpt/engine/peer_stream.hpp"
#include "ckpt/engine/transport.hpp"
#include "ckpt/net/wire_format.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::engine {

struct PeerConfig {
    std::uint16_t node_id = 0;
    std::uint32_t ip = 0; ///< host order; 0: derived from the node id (10.77.hi.lo)
    /// 0: the same as this node's udp_port. Set by NODE@IP:PORT; only transport = udp can reach a
    /// peer on another port (several engines sharing one host address), and it does so itself.
    std::uint16_t udp_port = 0;
};

struct LinkConfig {
    std::string transport = "none"; ///< none (node-local), memif, af_packet, pci or udp
    std::string memif_socket = "/run/hotspare/memif.sock";
    std::string memif_role = "server"; ///< one side "server", the other "client"
    std::string af_packet_iface;       ///< transport = af_packet: the kernel interface (a veth, a NIC)
    std::string pci_address;           ///< transport = pci: the NIC, bound to vfio-pci ("0000:03:00.0")
    std::string lcores = "0";
    unsigned memory_mb = 128;
    bool hugepages = false;
    std::string file_prefix; ///< DPDK --file-prefix, unique per engine on a host
    std::uint16_t node_id = 1;
    std::uint32_t ip = 0;
    std::uint16_t udp_port = net::kDefaultUdpPort;
    std::vector<PeerConfig> peers;
    unsigned heartbeat_ms = 50;
    unsigned peer_timeout_ms = 500;
    unsigned mtu = 1500;                 ///< IPv4 MTU of the link: frames never exceed mtu + 14 bytes
    StreamConfig stream;                 ///< window, retransmission timeout
    std::uint32_t async_window = 4096;   ///< replication lag (commits) an async writer may run ahead
    std::uint32_t window_policy = 0;     ///< 0 block, 1 try_again (shm::kWindow*)
    std::uint32_t member_timeout_ms = 0; ///< a down replica stops being required after this; 0 never
    FaultConfig fault;                   ///< seeded fault injection on the carrier (tests); off by default
};

/// The address a node id gets when none is configured: 10.77.<id / 256>.<id % 256>.
std::uint32_t default_ip(std::uint16_t node_id);

enum class PeerState : std::uint8_t {
    kUnknown = 0,      ///< never heard from
    kUp = 1,           ///< heard from within peer_timeout_ms
    kDown = 2,         ///< was up, then silent for peer_timeout_ms
    kIncompatible = 3, ///< speaks no frame version this node speaks: refused
};
const char* peer_state_name(PeerState s);

/// The replication layer above the link (the Replicator).
class LinkListener {
public:
    virtual ~LinkListener() = default;
    /// The peer became reachable (first contact, after being down, or after it restarted).
    virtual void on_peer_up(std::uint16_t node) = 0;
    /// The peer is gone (silent for peer_timeout_ms, or it restarted): frames queued for it were
    /// dropped; `abandoned` lists their completions.
    virtual void on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) = 0;
    /// A sequenced frame, in the sender's order, exactly once.
    virtual void on_frame(std::uint16_t node, const net::DecodedFrame& f) = 0;
    /// The peer acknowledged the frame that carried `c`.
    virtual void on_completed(std::uint16_t node, Completion c) = 0;
};

struct PeerStatus {
    std::uint16_t node_id = 0;
    PeerState state = PeerState::kUnknown;
    std::int64_t last_heard_ns = 0; ///< CLOCK_MONOTONIC, 0 = never
    std::uint64_t boot_id = 0;
    std::uint64_t rx_frames = 0, tx_frames = 0;
    std::uint64_t rx_bytes = 0, tx_bytes = 0; ///< whole Ethernet frames, valid ones from / sent to it
    std::uint64_t restarts = 0;               ///< times its boot id changed while we watched
    std::array<std::uint8_t, 6> mac{};
    PeerStream stream;
    /// An ACK that names sequenced frames of this peer (a REFUSED) we have not taken in yet: it
    /// waits for them, so a refusal is always seen before the acknowledgement it qualifies.
    bool ack_deferred = false;
    std::uint64_t deferred_cumulative = 0, deferred_selective = 0, deferred_until = 0;
};

struct LinkCounters {
    std::uint64_t rx_frames = 0, tx_frames = 0, tx_dropped = 0;
    std::uint64_t rejected[16] = {}; ///< by net::Reject value
    std::uint64_t not_for_us = 0;    ///< valid frames addressed to another node
    std::uint64_t unknown_peer = 0;  ///< valid frames from a node id not configured as a peer
    std::uint64_t not_up = 0;        ///< sequenced frames from a peer not (yet) up: it resends them
    std::uint64_t acks_sent = 0, nacks_sent = 0;
    std::uint64_t acks_deferred = 0; ///< ACKs held back behind the peer's own sequenced frames
};

class PeerLink {
public:
    /// Initialises DPDK (EAL + port) for this engine. The link need not be up yet.
    static Result<std::unique_ptr<PeerLink>> open(const LinkConfig& cfg, std::uint64_t boot_id);
    ~PeerLink();

    void set_listener(LinkListener* l) { listener_ = l; }
    /// Receives and handles what arrived; returns frames handled (hot: the engine's poll loop).
    std::size_t poll(std::int64_t now_ns);
    /// Queues a sequenced frame for `node` (false when it is not up: nothing is queued).
    bool send_sequenced(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                        std::span<const std::byte> body, Completion c = {});
    /// Transmits queued and due frames, ACKs and NACKs; returns frames sent.
    std::size_t flush(std::int64_t now_ns);
    bool idle() const;
    bool is_up(std::uint16_t node) const;
    /// The link_seq the next sequenced frame to `node` will carry (0: not a peer).
    std::uint64_t next_link_seq(std::uint16_t node) const;
    std::uint16_t node_id() const { return cfg_.node_id; }
    const LinkConfig& config() const { return cfg_; }
    /// Largest payload a DATA frame can carry on this link.
    std::size_t max_data_payload() const;
    const Transport& transport() const { return *port_; }
    Transport& transport() { return *port_; }
    /// Heartbeats and HELLOs that are due, and peers that went silent (timer path).
    void tick(std::int64_t now_ns, std::uint32_t checkpoints);
    const std::vector<PeerStatus>& peers() const { return peers_; }
    const LinkCounters& counters() const { return counters_; }
    unsigned heartbeat_ms() const { return cfg_.heartbeat_ms; }
    /// Lines for the engine log (state changes), taken by the caller.
    std::vector<std::string> take_events();

private:
    PeerLink() = default;
    void handle(std::span<const std::byte> frame, std::int64_t now_ns);
    void send(PeerStatus& p, net::FrameType type, std::span<const std::byte> body);
    net::Endpoint endpoint_of(const PeerStatus& p) const;
    void send_ack(PeerStatus& p);
    void apply_ack(PeerStatus& p, std::uint64_t cumulative, std::uint64_t selective);
    void mark_down(PeerStatus& p, const std::string& why);
    /// A frame refused as kBadVersion: if it is intact and from a configured peer, that peer is
    /// marked incompatible and the reason logged once (both versions named).
    void refuse_foreign_version(std::span<const std::byte> frame);
    PeerStatus* find(std::uint16_t node_id);
    const PeerStatus* find(std::uint16_t node_id) const;

    LinkConfig cfg_;
    std::unique_ptr<Transport> port_;
    net::Endpoint self_{};
    std::uint64_t boot_id_ = 0;
    std::uint64_t link_seq_ = 0;
    std::int64_t next_heartbeat_ns_ = 0;
    std::vector<PeerStatus> peers_;
    LinkCounters counters_;
    std::vector<std::string> events_;
    std::vector<std::byte> frame_buf_ = std::vector<std::byte>(net::kMaxFrame);
    LinkListener* listener_ = nullptr;
};

} // namespace ckpt::engine
