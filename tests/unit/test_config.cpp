// ckptd's configuration keys for the carriers and the fault shim: what parses, what is refused,
// and that every refusal names the key and says what was expected.
#include "ckpt/engine/config.hpp"

#include "crash/crash_points.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace ckpt::engine;

namespace {

/// Runs ckptd's command-line parser with --set KEY=VALUE for each entry; the error, or "" to run.
/// A key file is named unless an entry sets auth... itself (the tests below are about other keys).
std::string parse(const std::vector<std::string>& sets, Config& cfg) {
    std::vector<std::string> args = {"ckptd"};
    bool auth = false;
    for (const auto& s : sets) auth = auth || s.rfind("auth", 0) == 0;
    if (!auth) args.insert(args.end(), {"--set", "auth_key_file=/etc/hotspare/cluster.key"});
    for (const auto& s : sets) {
        args.push_back("--set");
        args.push_back(s);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::string error;
    const int rc = parse_command_line(static_cast<int>(argv.size()), argv.data(), cfg, error);
    return rc == -1 ? "" : error.empty() ? "exit " + std::to_string(rc) : error;
}

std::string parse(const std::vector<std::string>& sets) {
    Config cfg;
    return parse(sets, cfg);
}

TEST(Config, PeersWithAddressesAndPorts) {
    Config c;
    ASSERT_EQ(parse({"transport=udp", "ip=127.0.0.1", "peers=2@127.0.0.1:7491, 3, 4@10.0.0.4"}, c), "");
    ASSERT_EQ(c.link.peers.size(), 3u);
    EXPECT_EQ(c.link.peers[0].node_id, 2);
    EXPECT_EQ(c.link.peers[0].ip, 0x7F000001u);
    EXPECT_EQ(c.link.peers[0].udp_port, 7491);
    EXPECT_EQ(c.link.peers[1].ip, 0u) << "default: 10.77.hi.lo, derived later";
    EXPECT_EQ(c.link.peers[1].udp_port, 0) << "default: this node's udp_port";
    EXPECT_EQ(c.link.peers[2].ip, 0x0A000004u);
    for (const char* bad : {"peers=2@127.0.0.1:0", "peers=2@127.0.0.1:65536", "peers=2@127.0.0.1:", "peers=2@host",
                            "peers=2@127.0.0.1:x", "peers=2,2"})
        EXPECT_NE(parse({"transport=udp", bad}).find("peers = "), std::string::npos) << bad;
    EXPECT_NE(parse({"transport=udp", "peers=2,2"}).find("peer 2 is listed twice"), std::string::npos);
}

TEST(Config, TransportsAndTheirKeys) {
    EXPECT_EQ(parse({"transport=udp", "peers=2"}), "");
    EXPECT_NE(parse({"transport=tcp"}).find("expected none, memif, af_packet, pci or udp"), std::string::npos);
    EXPECT_NE(parse({"transport=af_packet", "peers=2"}).find("af_packet needs af_packet_iface"), std::string::npos);
    EXPECT_EQ(parse({"transport=af_packet", "af_packet_iface=veth0", "peers=2"}), "");
    // The name ends up in a DPDK device argument list: nothing that could add an argument passes.
    EXPECT_NE(parse({"af_packet_iface=veth0,qdisc_bypass=1"}).find("af_packet_iface"), std::string::npos);
    EXPECT_NE(parse({"af_packet_iface=averyveryverylongname"}).find("1..15 characters"), std::string::npos);
    EXPECT_NE(parse({"transport=pci", "peers=2"}).find("pci needs pci_address"), std::string::npos);
    Config c;
    ASSERT_EQ(parse({"transport=pci", "pci_address=03:00.1", "peers=2"}, c), "");
    EXPECT_EQ(c.link.pci_address, "0000:03:00.1") << "the domain is implied, as lspci prints it";
    ASSERT_EQ(parse({"pci_address=0000:AF:1F.7"}, c), "");
    EXPECT_EQ(c.link.pci_address, "0000:af:1f.7");
    for (const char* bad :
         {"pci_address=0000:03:00.8", "pci_address=03:00", "pci_address=0000-03-00.0", "pci_address=zz:00.0"})
        EXPECT_NE(parse({bad}).find("expected a PCI address"), std::string::npos) << bad;
    // Per-peer ports: only the kernel socket can use them (DPDK carriers: one port per node).
    EXPECT_NE(parse({"transport=memif", "peers=2@10.0.0.2:7491"}).find("need transport = udp"), std::string::npos);
    EXPECT_EQ(parse({"transport=memif", "peers=2@10.0.0.2:7490"}), "") << "the same port is no override";
    // The local stage: on unless switched off.
    {
        Config d;
        ASSERT_EQ(parse({}, d), "");
        EXPECT_TRUE(d.local_stage);
        ASSERT_EQ(parse({"local_stage=false"}, d), "");
        EXPECT_FALSE(d.local_stage);
        EXPECT_NE(parse({"local_stage=no"}).find("expected true or false"), std::string::npos);
    }
    // memif's RX wake-up: off unless switched on (BENCHMARKS.md, "memif's RX wake-up").
    {
        Config d;
        ASSERT_EQ(parse({"transport=memif", "peers=2"}, d), "");
        EXPECT_FALSE(d.link.memif_wakeup);
    }
    ASSERT_EQ(parse({"transport=memif", "peers=2", "memif_wakeup=true"}, c), "");
    EXPECT_TRUE(c.link.memif_wakeup);
    EXPECT_NE(parse({"memif_wakeup=off"}).find("memif_wakeup"), std::string::npos);
    EXPECT_NE(parse({"memif_wakeup=off"}).find("expected true or false"), std::string::npos);
    EXPECT_NE(parse({"transport=udp", "ip=127.0.0.1", "peers=2@127.0.0.1"}).find("this node's own address"),
              std::string::npos);
}

TEST(Config, FaultKeys) {
    Config c;
    ASSERT_EQ(
        parse({"transport=udp", "peers=2", "fault_seed=18446744073709551615", "fault_drop_pct=0.5", "fault_dup_pct=100",
               "fault_reorder_pct=0", "fault_corrupt_pct=2.25", "fault_delay_us=1500", "fault_direction=both"},
              c),
        "");
    EXPECT_EQ(c.link.fault.seed, 18446744073709551615ull);
    EXPECT_DOUBLE_EQ(c.link.fault.drop_pct, 0.5);
    EXPECT_DOUBLE_EQ(c.link.fault.dup_pct, 100);
    EXPECT_DOUBLE_EQ(c.link.fault.corrupt_pct, 2.25);
    EXPECT_EQ(c.link.fault.delay_us, 1500u);
    EXPECT_TRUE(c.link.fault.tx && c.link.fault.rx);
    EXPECT_TRUE(c.link.fault.enabled());
    Config off;
    ASSERT_EQ(parse({"transport=udp", "peers=2"}, off), "");
    EXPECT_FALSE(off.link.fault.enabled()) << "off by default";
    EXPECT_TRUE(off.link.fault.tx && !off.link.fault.rx) << "TX only by default";
    for (const char* bad : {"fault_drop_pct=100.5", "fault_drop_pct=-1", "fault_dup_pct=nan", "fault_reorder_pct=inf",
                            "fault_corrupt_pct=5%", "fault_corrupt_pct="})
        EXPECT_NE(parse({bad}).find("expected a percentage 0..100"), std::string::npos) << bad;
    EXPECT_NE(parse({"fault_direction=up"}).find("expected tx, rx or both"), std::string::npos);
    EXPECT_NE(parse({"fault_delay_us=10000001"}).find("fault_delay_us"), std::string::npos);
    EXPECT_NE(parse({"fault_drop_pct=1"}).find("fault_* keys apply to a peer link"), std::string::npos);
    Config burst;
    ASSERT_EQ(parse({"transport=udp", "peers=2", "fault_drop_pct=20", "fault_burst_frames=8"}, burst), "");
    EXPECT_DOUBLE_EQ(burst.link.fault.burst_frames, 8);
    for (const char* bad : {"fault_burst_frames=0.5", "fault_burst_frames=-3", "fault_burst_frames=8x",
                            "fault_burst_frames=", "fault_burst_frames=2000000"})
        EXPECT_NE(parse({bad}).find("expected 0 (independent loss) or a mean burst length"), std::string::npos) << bad;
}

} // namespace

namespace {

TEST(Config, StatsKeys) {
    Config d;
    EXPECT_EQ(d.stats_interval_ms, 10u);
    EXPECT_EQ(d.stats_checkpoints, 128u);
    Config c;
    ASSERT_EQ(parse({"stats_interval_ms=250", "stats_checkpoints=4096"}, c), "");
    EXPECT_EQ(c.stats_interval_ms, 250u);
    EXPECT_EQ(c.stats_checkpoints, 4096u);
    for (const char* bad : {"stats_interval_ms=0", "stats_interval_ms=60001", "stats_interval_ms=fast"}) {
        const std::string e = parse({bad});
        EXPECT_NE(e.find("stats_interval_ms"), std::string::npos) << bad << ": " << e;
        EXPECT_NE(e.find("1..60000"), std::string::npos) << bad << ": " << e;
    }
    for (const char* bad : {"stats_checkpoints=0", "stats_checkpoints=4097", "stats_checkpoints=-1"}) {
        const std::string e = parse({bad});
        EXPECT_NE(e.find("stats_checkpoints"), std::string::npos) << bad << ": " << e;
        EXPECT_NE(e.find("1..4096"), std::string::npos) << bad << ": " << e;
    }
}

// Issue 14 / 13: the RTO floor, and the bounds on what a peer's ANNOUNCE may make this node create.
TEST(Config, RetransmitFloorAndReplicaLimits) {
    Config d;
    EXPECT_EQ(d.link.stream.min_rto_ns, 1'000'000);
    EXPECT_EQ(d.link.replica_max_bytes, std::uint64_t{64} << 30);
    EXPECT_EQ(d.link.replica_max_sections, 1u << 20);
    Config c;
    ASSERT_EQ(parse({"retransmit_min_ms=3", "replica_max_bytes=1048576", "replica_max_sections=100"}, c), "");
    EXPECT_EQ(c.link.stream.min_rto_ns, 3'000'000);
    EXPECT_EQ(c.link.replica_max_bytes, 1048576u);
    EXPECT_EQ(c.link.replica_max_sections, 100u);
    for (const char* bad : {"retransmit_min_ms=0", "retransmit_min_ms=10001", "replica_max_bytes=0",
                            "replica_max_bytes=lots", "replica_max_sections=0", "replica_max_sections=4294967296"}) {
        const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
        const std::string e = parse({bad});
        EXPECT_NE(e.find(key), std::string::npos) << bad << ": " << e;
    }
}

// replicas: this node's copy and replicas - 1 standbys per checkpoint (issue 12's replica count).
TEST(Config, ReplicaCount) {
    Config d;
    EXPECT_EQ(d.link.replicas, 0u) << "default: one replica on every configured peer";
    Config c;
    ASSERT_EQ(parse({"transport=udp", "peers=2,3", "replicas=2"}, c), "");
    EXPECT_EQ(c.link.replicas, 2u);
    ASSERT_EQ(parse({"transport=udp", "peers=2,3", "replicas=3"}), "");
    for (const char* bad : {"replicas=1", "replicas=-1", "replicas=two", "replicas=65536"}) {
        const std::string e = parse({"transport=udp", "peers=2,3", bad});
        EXPECT_NE(e.find("replicas"), std::string::npos) << bad << ": " << e;
    }
    const std::string e = parse({"transport=udp", "peers=2,3", "replicas=4"});
    EXPECT_NE(e.find("replicas = 4 needs 3 peers, and peers lists 2"), std::string::npos) << e;
}

// Crash points (engine/src/crash/crash_points.hpp) are armed from the environment only; a
// malformed value stops ckptd with the value and what was expected.
TEST(CrashPointEnvironment, ParsedWithClearErrors) {
    auto with = [](const char* point, const char* node) {
        if (point)
            ::setenv("CKPT_CRASH_POINT", point, 1);
        else
            ::unsetenv("CKPT_CRASH_POINT");
        if (node)
            ::setenv("CKPT_CRASH_NODE", node, 1);
        else
            ::unsetenv("CKPT_CRASH_NODE");
        auto r = ckpt::engine::crash::arm_from_env(2);
        ckpt::engine::crash::disarm(); // never armed past this line: the test process must not die
        ::unsetenv("CKPT_CRASH_POINT");
        ::unsetenv("CKPT_CRASH_NODE");
        return r;
    };
    auto armed = [&](const char* point, const char* node) {
        auto r = with(point, node);
        return r.ok() ? std::string(*r) : "error: " + r.message();
    };
    EXPECT_EQ(armed(nullptr, nullptr), "") << "off unless set";
    EXPECT_EQ(armed("mid-resync", nullptr), "mid-resync (hit 1)");
    EXPECT_EQ(armed("send-before-ack:7", "2"), "send-before-ack (hit 7)");
    EXPECT_EQ(armed("send-before-ack:7", "1"), "") << "armed on node 1 only";
    EXPECT_NE(with("send-before-ack:0", nullptr).message().find("expected NAME[:N], N >= 1"), std::string::npos);
    EXPECT_NE(with("send-before-ack:x", nullptr).message().find("expected NAME[:N], N >= 1"), std::string::npos);
    EXPECT_NE(with("mid-resync", "two").message().find("CKPT_CRASH_NODE='two': expected a node id"), std::string::npos);
    auto bad = with("after-lunch", nullptr);
    EXPECT_EQ(bad.error(), ckpt::Error::kInvalidParam);
    EXPECT_NE(bad.message().find("no such crash point (capture-before-send, send-before-ack, staged-before-apply, "
                                 "applied-before-ack, mid-resync, group-staged-before-apply, mid-apply)"),
              std::string::npos)
        << bad.message();
    for (int i = 0; i < ckpt::engine::crash::kPointCount; ++i) {
        const auto p = static_cast<ckpt::engine::crash::Point>(i);
        EXPECT_EQ(ckpt::engine::crash::parse(ckpt::engine::crash::name(p)), p);
    }
}

TEST(Config, FencePeerCommand) {
    Config d;
    EXPECT_TRUE(d.fence_peer_command.empty()) << "outside a cluster: member_timeout_ms decides";
    EXPECT_EQ(d.fence_timeout_ms, 10'000u);
    EXPECT_EQ(d.fence_retry_ms, 1'000u);
    Config c;
    ASSERT_EQ(parse({"transport=udp", "peers=2", "fence_peer_command=/bin/true", "fence_timeout_ms=3000",
                     "fence_retry_ms=250"},
                    c),
              "");
    EXPECT_EQ(c.fence_peer_command, "/bin/true");
    EXPECT_EQ(c.fence_timeout_ms, 3000u);
    EXPECT_EQ(c.fence_retry_ms, 250u);
    EXPECT_NE(parse({"transport=udp", "peers=2", "fence_peer_command=fence-it"}).find("expected an absolute path"),
              std::string::npos);
    const std::string missing = parse({"transport=udp", "peers=2", "fence_peer_command=/nonexistent/fence-it"});
    EXPECT_NE(missing.find("fence_peer_command '/nonexistent/fence-it' is not an executable file"), std::string::npos)
        << missing;
    EXPECT_NE(parse({"fence_peer_command=/bin/true"}).find("no peers are: nothing to fence"), std::string::npos);
    for (const char* bad : {"fence_timeout_ms=0", "fence_retry_ms=600001", "fence_timeout_ms=soon"})
        EXPECT_NE(parse({bad}).find("1..600000"), std::string::npos) << bad;
}

} // namespace

TEST(Config, ReplicationNeedsAKeyOrAuthNoneInSoManyWords) {
    // No key and no auth = none: refused, naming both ways out.
    const std::string e = parse({"transport=memif", "peers=2", "auth=key"});
    EXPECT_NE(e.find("replication needs a cluster key"), std::string::npos) << e;
    EXPECT_NE(e.find("auth_key_file = PATH"), std::string::npos) << e;
    EXPECT_NE(e.find("ckptctl keygen"), std::string::npos) << e;
    EXPECT_NE(e.find("auth = none"), std::string::npos) << e;
    Config c;
    ASSERT_EQ(parse({"transport=memif", "peers=2", "auth=none"}, c), "");
    EXPECT_EQ(c.link.auth, AuthMode::kNone);
    Config k;
    ASSERT_EQ(parse({"transport=memif", "peers=2", "auth_key_file=/etc/hotspare/k"}, k), "");
    c = k;
    EXPECT_EQ(c.link.auth, AuthMode::kKey);
    EXPECT_EQ(c.link.auth_key_file, "/etc/hotspare/k");
    EXPECT_NE(parse({"auth=maybe"}).find("expected key"), std::string::npos);
    EXPECT_NE(parse({"auth_key_file=relative.key"}).find("absolute path"), std::string::npos);
    EXPECT_NE(parse({"transport=memif", "peers=2", "auth=none", "auth_key_file=/k"}).find("keep one"),
              std::string::npos);
    // A node-local engine needs no key.
    EXPECT_EQ(parse({"transport=none", "auth=key"}), "");
}
