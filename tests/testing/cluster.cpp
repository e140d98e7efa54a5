#include "cluster.hpp"

#include "ckpt/client/session.hpp"

#include <unistd.h>

namespace ckpt::testing {

bool wait_peer_state(const std::string& socket, std::uint16_t peer, const std::string& state) {
    for (int i = 0; i < 2000; ++i) {
        auto s = client::Session::connect({socket, client::kDefaultTimeout, false});
        if (s) {
            if (auto l = s->peers())
                for (auto& p : l->peers)
                    if (p.node_id == peer && p.state == state) return true;
        }
        ::usleep(10'000);
    }
    return false;
}

Cluster::Cluster(const std::string& tag, ClusterOptions o) : opts_(std::move(o)) {
    if (opts_.carrier == ClusterCarrier::kMemif) {
        memif_ = "/tmp/hotspare-" + tag + "-" + std::to_string(::getpid()) + ".sock";
        ::unlink(memif_.c_str());
    }
    port_base_ =
        opts_.udp_port_base ? opts_.udp_port_base : static_cast<std::uint16_t>(20000 + (::getpid() % 2000) * 16);
    nodes_.resize(static_cast<std::size_t>(opts_.nodes) + 1);
    for (int i = 1; i <= opts_.nodes; ++i) {
        const std::string suffix =
            opts_.nodes == 2 ? std::string(1, static_cast<char>('a' + i - 1)) : std::to_string(i);
        node(i) = std::make_unique<EngineProcess>(tag + "-" + suffix, config(i));
        if (opts_.carrier == ClusterCarrier::kAfPacket && opts_.veth)
            node(i)->set_prefix_command(in_netns(i == 1 ? opts_.veth->ns1() : opts_.veth->ns2()));
    }
}

Cluster::~Cluster() {
    for (auto& n : nodes_) n.reset();
    if (!memif_.empty()) ::unlink(memif_.c_str());
}

std::vector<std::string> Cluster::config(int i) const {
    std::vector<std::string> c = {"node_id = " + std::to_string(i)};
    std::string peers;
    for (int j = 1; j <= opts_.nodes; ++j) {
        if (j == i) continue;
        peers += peers.empty() ? "" : ",";
        peers += std::to_string(j);
        if (opts_.carrier == ClusterCarrier::kUdp) peers += "@127.0.0.1:" + std::to_string(udp_port(j));
        if (opts_.carrier == ClusterCarrier::kAfPacket && opts_.veth)
            peers += "@" + (j == 1 ? opts_.veth->ip1() : opts_.veth->ip2());
    }
    switch (opts_.carrier) {
    case ClusterCarrier::kMemif:
        c.insert(c.end(), {"transport = memif", "memif_socket = " + memif_,
                           std::string("memif_role = ") + (i == 1 ? "server" : "client"),
                           "dpdk_lcores = " + std::to_string((i - 1) % 2)});
        break;
    case ClusterCarrier::kUdp:
        c.insert(c.end(), {"transport = udp", "ip = 127.0.0.1", "udp_port = " + std::to_string(udp_port(i))});
        break;
    case ClusterCarrier::kAfPacket:
        if (opts_.veth)
            c.insert(c.end(), {"transport = af_packet",
                               "af_packet_iface = " + (i == 1 ? opts_.veth->dev1() : opts_.veth->dev2()),
                               "ip = " + (i == 1 ? opts_.veth->ip1() : opts_.veth->ip2()),
                               "dpdk_lcores = " + std::to_string((i - 1) % 2)});
        break;
    }
    c.insert(c.end(), {"peers = " + peers, "heartbeat_ms = 20", "peer_timeout_ms = 300", "reattach_grace_ms = 0"});
    c.insert(c.end(), opts_.extra.begin(), opts_.extra.end());
    if (auto it = opts_.extra_for.find(i); it != opts_.extra_for.end())
        c.insert(c.end(), it->second.begin(), it->second.end());
    return c;
}

bool Cluster::start() {
    for (int i = 1; i <= opts_.nodes; ++i)
        if (!node(i)->start()) return false;
    return all_up();
}

bool Cluster::all_up() {
    for (int i = 1; i <= opts_.nodes; ++i)
        for (int j = 1; j <= opts_.nodes; ++j)
            if (i != j && node(i) && node(j) && node(i)->running() && node(j)->running() &&
                !wait_peer_state(node(i)->socket(), static_cast<std::uint16_t>(j), "up"))
                return false;
    return true;
}

std::string Cluster::logs() const {
    std::string s;
    for (int i = 1; i <= opts_.nodes; ++i)
        if (nodes_[static_cast<std::size_t>(i)])
            s += "--- node " + std::to_string(i) + " ---\n" + nodes_[static_cast<std::size_t>(i)]->log();
    return s;
}

} // namespace ckpt::testing
