#pragma once
// N ckptd engines as separate nodes of one cluster, for the multi-node tests: each node's
// configuration (its address on the chosen carrier, every other node as a peer, fast liveness),
// start-up, and waiting until every pair sees the other up. One builder for the fixtures that
// used to write these configurations out each on its own (two nodes over memif, two or three over
// kernel UDP on loopback, two hosts over af_packet in network namespaces).
#include "engine_process.hpp"
#include "netns.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::testing {

/// The engine at `socket` sees `peer` in `state` (polls up to ~20 s); returns whether it did.
bool wait_peer_state(const std::string& socket, std::uint16_t peer, const std::string& state);

enum class ClusterCarrier : std::uint8_t {
    kMemif,    ///< DPDK memif between processes (two nodes: node 1 the server, node 2 the client)
    kUdp,      ///< kernel UDP on 127.0.0.1, node i on udp_port_base + i
    kAfPacket, ///< DPDK af_packet across `veth`, node i in its namespace (two nodes)
};

struct ClusterOptions {
    ClusterCarrier carrier = ClusterCarrier::kMemif;
    int nodes = 2;
    std::vector<std::string> extra;                    ///< lines for every node (after the defaults: they override)
    std::map<int, std::vector<std::string>> extra_for; ///< lines for node i only (after `extra`)
    std::uint16_t udp_port_base = 0;                   ///< kUdp; 0: derived from the pid
    const VethPair* veth = nullptr;                    ///< kAfPacket
};

class Cluster {
public:
    Cluster(const std::string& tag, ClusterOptions o);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    /// Starts every node, then waits until every pair sees the other up.
    bool start();
    /// Every pair of running nodes sees the other up (polls up to ~20 s per pair).
    bool all_up();
    /// Node i (1..nodes); the pointer may be reset or replaced by the test (a node restarted).
    std::unique_ptr<EngineProcess>& node(int i) { return nodes_.at(static_cast<std::size_t>(i)); }
    int size() const { return opts_.nodes; }
    /// The memif socket (kMemif), removed when the cluster goes.
    const std::string& memif_socket() const { return memif_; }
    std::uint16_t udp_port(int i) const { return static_cast<std::uint16_t>(port_base_ + i); }
    /// Every node's log, headed "--- node i ---".
    std::string logs() const;

private:
    std::vector<std::string> config(int i) const;

    ClusterOptions opts_;
    std::string memif_;
    std::uint16_t port_base_ = 0;
    std::vector<std::unique_ptr<EngineProcess>> nodes_; ///< [0] unused
};

} // namespace ckpt::testing
