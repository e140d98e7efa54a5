#pragma once
/// Two ckptd engines as separate nodes joined by DPDK memif (--no-huge) (a Cluster, cluster.hpp),
/// and what the multi-node tests share: polling, replication attributes, opening a replica.
#include "bytes.hpp"
#include "ckpt/client/session.hpp"
#include "cluster.hpp"
#include "engine_process.hpp"

#include <time.h>
#include <unistd.h>

#include <cstring>

#include <memory>
#include <string>
#include <vector>

namespace ckpt::testing {

/// Configuration lines of node `node` on a memif link shared by two nodes.
inline std::vector<std::string> memif_node_config(int node, int peer, const std::string& memif_socket, const char* role,
                                                  std::vector<std::string> extra = {}) {
    std::vector<std::string> c = {"node_id = " + std::to_string(node),
                                  "transport = memif",
                                  "memif_socket = " + memif_socket,
                                  std::string("memif_role = ") + role,
                                  "dpdk_lcores = " + std::to_string((node - 1) % 2),
                                  "peers = " + std::to_string(peer),
                                  "heartbeat_ms = 20",
                                  "peer_timeout_ms = 300",
                                  "reattach_grace_ms = 0"};
    c.insert(c.end(), extra.begin(), extra.end());
    return c;
}

/// Polls `pred` every 5 ms for up to ~30 s.
template <typename F>
bool eventually(F&& pred, int tries = 6000) {
    for (int i = 0; i < tries; ++i) {
        if (pred()) return true;
        ::usleep(5'000);
    }
    return false;
}

/// Attributes the replication tests use: 1 MiB, 16 sections of up to 64 KiB, 256-byte blocks.
inline CheckpointAttributes replica_attrs(UpdateMode mode = UpdateMode::kSync) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(mode);
    a.checkpoint_size = 1 << 20;
    a.max_sections = 16;
    a.max_section_size = 64 << 10;
    a.max_section_id_size = 32;
    a.block_size = 256;
    return a;
}

inline std::int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Opens `name` read-only on a node once its replica exists (it is a standby there).
inline Result<client::Checkpoint> open_replica(client::Session& s, const std::string& name) {
    Result<client::Checkpoint> c = fail(Error::kNotExist, "never appeared");
    eventually([&] {
        c = s.open(name, kOpenRead);
        return c.ok();
    });
    return c;
}

/// Node 1 (memif server) and node 2 (memif client).
struct TwoNodes {
    Cluster cluster;
    std::unique_ptr<EngineProcess>& a;
    std::unique_ptr<EngineProcess>& b;
    const std::string& memif;
    explicit TwoNodes(const std::string& tag, std::vector<std::string> extra = {})
        : cluster(tag, ClusterOptions{ClusterCarrier::kMemif, 2, std::move(extra)}), a(cluster.node(1)),
          b(cluster.node(2)), memif(cluster.memif_socket()) {}
    /// Starts both and waits until each sees the other up.
    bool start() { return cluster.start(); }
    bool linked() { return cluster.all_up(); }
};

} // namespace ckpt::testing
