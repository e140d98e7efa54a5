#pragma once
/// The engine's link to its peers: one carrier (net::Transport), HELLO on link-up, HEARTBEATs,
/// and a peer declared down when it has been silent for peer_timeout_ms. Frames are the wire
/// format of docs/PROTOCOL.md; every refused frame is counted by reason.
#include "ckpt/common/result.hpp"
#include "ckpt/engine/link_config.hpp"
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/transport.hpp"
#include "ckpt/net/wire_format.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "link/link_listener.hpp"
#include "link/peer_status.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::engine {

class PeerLink {
public:
    /// Opens the carrier cfg.transport names (a DPDK EAL and port, or a UDP socket). The link need
    /// not be up yet.
    static Result<std::unique_ptr<PeerLink>> open(const LinkConfig& cfg, std::uint64_t boot_id);
    /// The link over a carrier the caller opened (in-process tests: an in-memory pair).
    static std::unique_ptr<PeerLink> over(const LinkConfig& cfg, std::uint64_t boot_id,
                                          std::unique_ptr<net::Transport> carrier);
    ~PeerLink();

    void set_listener(LinkListener* l) { listener_ = l; }
    /// Receives and handles what arrived; returns frames handled (hot: the engine's poll loop).
    std::size_t poll(std::int64_t now_ns);
    /// Queues a sequenced frame for `node` (false when it is not up: nothing is queued).
    bool send_sequenced(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                        std::span<const std::byte> body, Completion c = {});
    /// The same for a body built in place: `frame` (from frame_buffer()) holds kFrameOverhead + n
    /// bytes with the n-byte body already at kFrameBodyOffset (the headers and tag are written
    /// here, the body is not copied again). False, and nothing queued, when the node is not up or
    /// the body is too long.
    bool send_sequenced_frame(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
                              net::FrameBuf frame, Completion c = {});
    /// A carrier buffer for a sequenced frame with a `body_len`-byte body (an mbuf of the DPDK
    /// port's TX pool, or a pooled heap slot): build the body at kFrameBodyOffset, then
    /// send_sequenced_frame(). Hot path, no heap allocation in steady state.
    net::FrameBuf frame_buffer(std::size_t body_len, std::size_t body_room = 0);
    /// Coalescing (docs/PROTOCOL.md, "Batches"): the buffer of the last sequenced frame queued for
    /// `node`, if it carries `link_seq` and has not been transmitted yet (nullptr otherwise). The
    /// caller may rewrite and resize its body (FrameBuf::resize), then must call rewrite_tail().
    net::FrameBuf* untransmitted_tail(std::uint16_t node, std::uint64_t link_seq);
    /// Writes the headers of untransmitted_tail()'s frame again for its new body (lengths, IPv4
    /// checksum, `flags`; type, epoch and link_seq unchanged) and replaces its completion. False
    /// (the caller must not have changed it) when the node has no such frame or the body is
    /// longer than max_frame_body().
    bool rewrite_tail(std::uint16_t node, std::uint64_t link_seq, net::FrameType type, std::uint16_t flags,
                      std::uint64_t epoch, Completion c);
    /// Transmits queued and due frames, ACKs and NACKs; returns frames sent. Sequenced frames go
    /// to the carrier in bursts of up to net::TxBurst::kMaxBurst, each sealed in its buffer just
    /// before (a new counter per transmission).
    std::size_t flush(std::int64_t now_ns);
    bool idle() const;
    /// Until when the engine may sleep as far as this link is concerned, on a carrier whose
    /// wait_fd() wakes it when frames come (memif with memif_wakeup = true): INT64_MAX with nothing in flight; the
    /// earliest retransmission deadline when sent frames only wait for their acknowledgement (which wakes it); 0 (do
    /// not sleep) while an ACK is owed or frames are queued and not sent yet.
    std::int64_t sleep_deadline() const;
    /// Sequenced frames queued for `node` and not sent yet (0: not a peer).
    std::size_t backlog(std::uint16_t node) const;
    bool is_up(std::uint16_t node) const;
    /// The link_seq the next sequenced frame to `node` will carry (0: not a peer).
    std::uint64_t next_link_seq(std::uint16_t node) const;
    std::uint16_t node_id() const { return cfg_.node_id; }
    const LinkConfig& config() const { return cfg_; }
    /// Largest payload a DATA frame can carry on this link.
    std::size_t max_data_payload() const;
    /// Largest body of one frame on this link (the configured IPv4 mtu less IPv4, UDP and our header).
    std::size_t max_frame_body() const;
    const net::Transport& transport() const { return *port_; }
    net::Transport& transport() { return *port_; }
    /// Heartbeats and HELLOs that are due, and peers that went silent (timer path).
    void tick(std::int64_t now_ns, std::uint32_t checkpoints);
    const std::vector<PeerStatus>& peers() const { return peers_; }
    /// The node's link figures as counted (the link's own, and replication's, which the Replicator
    /// counts here too); the carrier's and the fault shim's parts are filled by stats() only.
    const shm::LinkStats& counters() const { return counters_; }
    shm::LinkStats& counters() { return counters_; }
    /// counters() with the carrier's and the fault shim's figures taken now: what the stats
    /// region publishes (timer path).
    shm::LinkStats stats() const;
    unsigned heartbeat_ms() const { return cfg_.heartbeat_ms; }
    /// Lines for the engine log (state changes), taken by the caller.
    std::vector<std::string> take_events();
    /// Reads auth_key_file again (SIGHUP): a new key id becomes the newest (sent with as soon as
    /// each peer holds it too), the one before stays accepted. Error: the file is refused, or
    /// `auth = none`; the keys in use do not change.
    Status reload_key();
    const net::FrameAuth& auth() const { return *auth_; }
    /// Retransmissions that went out in a copy because the carrier still held the frame's buffer
    /// from its previous transmission (a PCI NIC before TX completion; 0 on memif and af_packet).
    std::uint64_t tx_copied() const { return tx_copied_; }
    /// This engine's session (random per start, never 0): every frame carries it.
    std::uint64_t session() const { return boot_id_; }

private:
    PeerLink() = default;
    /// `buffer`: the carrier buffer holding `frame`, when the carrier hands it over (see
    /// LinkListener::on_frame), else nullptr.
    void handle(std::span<const std::byte> frame, std::int64_t now_ns, net::FrameBuf* buffer);
    /// A link-level frame now; false when the carrier did not take it (counted in tx_dropped).
    bool send(PeerStatus& p, net::FrameType type, std::span<const std::byte> body);
    /// A HELLO or HEARTBEAT: sent now, or kept (the newest) and sent ahead of data on the next flush.
    void send_liveness(PeerStatus& p, net::FrameType type, std::span<const std::byte> body);
    /// Sends a held liveness frame; false when the ring is still full (data to `p` waits).
    bool flush_liveness(PeerStatus& p);

public:
    /// flush(): frames sealed and submitted to the carrier together (at most
    /// net::TxBurst::kMaxBurst, the port's 32 per rte_eth_tx_burst). 8, not 32: a burst is also
    /// the granularity of the pipeline between this node sealing frames and the peer taking them
    /// in (the peer sees nothing of a burst until it is submitted); with 32, a 64 KiB sync commit
    /// over memif on two cores took 15% longer than with one frame per call, with 8 it did not
    /// (BENCHMARKS.md, "Issue 14, bursts and pools").
    static constexpr std::size_t kSubmitBurst = 8;

private:
    /// flush(): sequenced frames sent to one peer per call at most (a loop turn's share; the
    /// window bounds what is in flight, this bounds how long one turn spends sending).
    static constexpr std::size_t kTxTurnBudget = 256;
    /// tick(): RX polls (32 frames each) before peers are judged silent. Small on purpose: the
    /// frames handled here (a standby installing sections, applying commits) are work of this
    /// turn, and a long drain is a long turn in which this node sends nothing (a first version
    /// drained up to 8,192 frames and made a standby silent for its active during a 1 GiB fill).
    static constexpr int kMaxDrainPolls = 4;
    /// Key id, session, a new counter and the tag into an encoded frame about to go to `p`.
    bool seal(PeerStatus& p, std::span<std::byte> frame);
    /// The key frames to `p` are MACed with: our newest when it holds it, else one it holds.
    std::uint8_t tx_key(const PeerStatus& p) const;
    void send_hello(PeerStatus& p, std::int64_t now_ns);
    /// The session/replay check of a frame whose tag held: kNone, kReplayed, kStaleSession.
    net::Reject check_session(PeerStatus& p, const net::DecodedFrame& f, std::int64_t now_ns);
    net::Endpoint endpoint_of(const PeerStatus& p) const;
    /// Writes the headers of sequenced frame `frame` (its body in place) for peer `p`; returns the
    /// frame's length as encoded (the buffer's size when it fits).
    std::size_t write_headers(net::FrameBuf& frame, const PeerStatus& p, net::FrameType type, std::uint16_t flags,
                              std::uint64_t epoch, std::uint64_t link_seq) const;
    void send_ack(PeerStatus& p);
    /// `now_ns` > 0: the ACK just arrived, a round-trip sample for the RTO; 0: it was held back.
    void apply_ack(PeerStatus& p, std::uint64_t cumulative, std::uint64_t selective, std::int64_t now_ns);
    void mark_down(PeerStatus& p, const std::string& why);
    /// A frame refused as kBadVersion: if it is intact and from a configured peer, that peer is
    /// marked incompatible and the reason logged once (both versions named).
    void refuse_foreign_version(std::span<const std::byte> frame);
    PeerStatus* find(std::uint16_t node_id);
    const PeerStatus* find(std::uint16_t node_id) const;

    LinkConfig cfg_;
    std::unique_ptr<net::Transport> port_;
    net::Endpoint self_{};
    std::uint64_t boot_id_ = 0;    ///< our session
    std::uint64_t tx_counter_ = 0; ///< frames sealed in this session: the MAC's nonce
    std::uint64_t tx_copied_ = 0;
    std::unique_ptr<net::FrameAuth> auth_;
    std::uint32_t checkpoints_ = 0; ///< for HEARTBEATs sent outside tick()
    std::int64_t next_heartbeat_ns_ = 0;
    std::int64_t last_tick_ns_ = 0; ///< tick(): a long gap means this engine was stopped
    std::vector<PeerStatus> peers_;
    shm::LinkStats counters_{};
    std::vector<std::string> events_;
    std::vector<std::byte> frame_buf_ = std::vector<std::byte>(net::kMaxFrame);
    LinkListener* listener_ = nullptr;
};

} // namespace ckpt::engine
