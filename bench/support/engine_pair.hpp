// Two ckptd nodes for the end-to-end benchmarks: A (node 1, the active) and B (node 2, the
// standby) over DPDK memif, kernel UDP on loopback or DPDK af_packet on a veth pair between two
// network namespaces, each pinned to its own CPU; or A alone ("none": node-local). The engines are
// real processes (ckpt::testing::EngineProcess runs $CKPTD), so a benchmark can SIGKILL and
// restart one of them as a test would.
#pragma once

#include "ckpt/client/session.hpp"
#include "engine_process.hpp"
#include "netns.hpp"
#include "report.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::bench {

struct PairConfig {
    std::string transport = "memif";               ///< none, memif, udp or af_packet
    bool busy = true;                              ///< idle_spin_us = kBusySpinUs on both engines
    int cpu_a = 0, cpu_b = 1;                      ///< engine A (memif server) and engine B
    std::string log_dir;                           ///< where the engines' logs are copied when the pair ends
    std::string ip_cmd;                            ///< absolute path of iproute2's ip (af_packet: ip netns exec)
    const ckpt::testing::VethPair* veth = nullptr; ///< af_packet: A in ns1 on dev1, B in ns2 on dev2
    std::vector<std::string> engine_set;           ///< extra "key=value" lines for both engines (experiments)
};

constexpr unsigned kBusySpinUs = 1'000'000; ///< idle_spin_us of the busy-poll mode

class EnginePair {
public:
    EnginePair(PairConfig cfg, Results& res);
    ~EnginePair();
    EnginePair(const EnginePair&) = delete;
    EnginePair& operator=(const EnginePair&) = delete;

    /// "memif.busy", "udp.default", ...
    std::string name() const;
    /// Starts the engine(s), waits until each sees the other up, connects a session to each;
    /// false with an error in Results otherwise.
    bool start();

    client::Session& a() { return *sa_; }
    client::Session* b() { return sb_ ? &*sb_ : nullptr; } ///< null when node-local
    ckpt::testing::EngineProcess& engine_a() { return *a_; }
    ckpt::testing::EngineProcess* engine_b() { return b_.get(); }

    /// Restarts B (after the caller killed or stopped it) and reconnects its session; waits until
    /// the peers see each other again.
    bool restart_b();

    /// Opens `name` read-only on B and waits until A reports every replica in sync (lag 0), for
    /// up to `timeout`; the handle stays open (a hot-standby reader, as an application waiting to
    /// take over keeps it). Node-local: true at once.
    bool wait_replica(const std::string& name, client::Checkpoint& on_a, client::Checkpoint& on_b,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

    /// Both engines' link counters.
    struct Counters {
        client::LinkInfo a, b;
    };
    std::optional<Counters> counters();

    /// Records `what` (with engine `e`'s log when given) as an error of the run; returns false.
    bool failed(const std::string& what);
    bool failed(const std::string& what, const ckpt::testing::EngineProcess& e);

private:
    std::vector<std::string> common() const;
    bool peer_up(const std::string& socket, std::uint16_t peer);
    void copy_log(const ckpt::testing::EngineProcess& e, const char* which);

    PairConfig cfg_;
    Results& res_;
    std::string memif_;
    std::unique_ptr<ckpt::testing::EngineProcess> a_, b_;
    std::optional<client::Session> sa_, sb_;
};

} // namespace ckpt::bench
