// ckptstat on two nodes joined by DPDK memif (tests/testing/two_nodes.hpp): a known replicated
// load (N synchronous commits of K changed bytes, then M rewrites of the same bytes) must show up
// exactly in the active's and the standby's figures (commits, bytes on the wire, acknowledged
// commits, the ack-latency histogram, lag per standby), and the seeded fault shim's known losses
// and corruptions must show up as drops, retransmissions and rejected frames.
#include "ckpt/client/session.hpp"
#include "ckpt/net/wire_format.hpp"
#include "ckptstat_helpers.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

std::span<const std::byte> B(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::vector<std::string> at(const EngineProcess& e, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--socket", e.socket()});
    return args;
}

constexpr std::uint64_t kBlock = 256; // replica_attrs()

/// Writes `commits` synchronous commits of `bytes` bytes (new content each time unless `same`).
void drive(Section& sec, int commits, std::size_t bytes, bool same, std::string& buf) {
    buf.resize(bytes, 'x');
    for (int i = 0; i < commits; ++i) {
        if (!same) {
            buf[0] = static_cast<char>('A' + i % 26);
            buf[bytes - 1] = static_cast<char>('a' + i % 26);
            buf[bytes / 2] = static_cast<char>('0' + i % 10);
        }
        auto seq = sec.write(0, B(buf), Ack::kSync);
        ASSERT_TRUE(seq.ok()) << seq.message();
    }
}

TEST(CkptstatReplication, KnownLoadShowsOnBothNodes) {
    TwoNodes n("statrepl");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    ASSERT_TRUE(sa.ok()) << sa.message();
    auto ck = sa->create("repl", replica_attrs(UpdateMode::kSync));
    ASSERT_TRUE(ck.ok()) << ck.message();
    ASSERT_TRUE(ck->create_section({.id = "s", .capacity = 4096}).ok());
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sb.ok()) << sb.message();
    auto replica = open_replica(*sb, "repl");
    ASSERT_TRUE(replica.ok()) << replica.message();
    // Until the standby is in sync, a commit could ride the resync instead of a DATA frame.
    ASSERT_TRUE(eventually([&] { return ck->replication().replicas == 1; }));
    auto sec = ck->section("s");
    ASSERT_TRUE(sec.ok());

    // The join's resync may have shipped the (empty) section already: the load is measured from
    // a baseline taken once the standby is in sync and everything is acknowledged.
    const auto settled = [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "repl");
        return c.is_object() && c["replicas"] == 1 && c["lag_commits"] == 0 && c["lag"].size() == 1 &&
               c["lag"][0]["state"] == "in-sync";
    };
    const auto a0 = wait_json(at(*n.a), settled);
    ASSERT_TRUE(settled(a0)) << a0;
    const auto c0 = checkpoint_of(a0, "repl");
    // The standby publishes its counters every stats_interval_ms: its baseline must be a
    // publication made after the active's (everything acknowledged was applied before), not an
    // older one that still lacks the join's commits.
    const auto b0 = wait_json(at(*n.b), [&](const nlohmann::json& j) {
        return checkpoint_of(j, "repl").is_object() && j["time_ns"].get<std::uint64_t>() > a0["time_ns"].get<std::uint64_t>();
    });
    const auto cb0 = checkpoint_of(b0, "repl");
    ASSERT_TRUE(cb0.is_object()) << b0;
    const auto delta = [](const nlohmann::json& now, const nlohmann::json& before, const char* field) {
        return now[field].get<std::uint64_t>() - before[field].get<std::uint64_t>();
    };

    constexpr int kCommits = 20, kSame = 6;
    constexpr std::size_t kBytes = 512; // two whole blocks, both changed by every commit
    std::string buf;
    drive(*sec, kCommits, kBytes, false, buf);
    drive(*sec, kSame, kBytes, true, buf); // same bytes again: dirty, but no block crosses the wire

    constexpr std::uint64_t kDataFrame = net::kFrameOverhead + net::kDataBodyFixed; // + payload
    const auto active_done = [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "repl");
        return c.is_object() &&
               c["commits_acked"].get<std::uint64_t>() == c0["commits_acked"].get<std::uint64_t>() + kCommits + kSame &&
               c["lag"].size() == 1 && c["lag"][0]["commits"] == 0;
    };
    const auto a = wait_json(at(*n.a), active_done);
    ASSERT_TRUE(active_done(a)) << a;
    const auto c = checkpoint_of(a, "repl");
    EXPECT_EQ(c["role"], "active");
    EXPECT_EQ(delta(c, c0, "commits"), std::uint64_t{kCommits + kSame});
    EXPECT_EQ(delta(c, c0, "dirty_bytes"), (kCommits + kSame) * kBytes);
    EXPECT_EQ(delta(c, c0, "commits_sent"), std::uint64_t{kCommits + kSame}); // one standby
    // 512 bytes fit one frame; a same-bytes commit sends an empty one (the new sequence).
    EXPECT_EQ(delta(c, c0, "data_frames"), std::uint64_t{kCommits + kSame});
    EXPECT_EQ(delta(c, c0, "data_bytes"), kCommits * kBytes); // only changed blocks
    EXPECT_EQ(delta(c, c0, "wire_bytes"), kCommits * (kDataFrame + kBytes) + kSame * kDataFrame);
    EXPECT_EQ(c["lag_commits"], 0);
    EXPECT_EQ(c["lag_bytes"], 0);
    EXPECT_EQ(c["replicas"], 1);
    EXPECT_EQ(c["lag"][0]["peer"], 2);
    EXPECT_EQ(c["lag"][0]["state"], "in-sync");
    EXPECT_EQ(c["lag"][0]["bytes"], 0);
    EXPECT_EQ(c["lag"][0]["age_ns"], 0);
    // Every acknowledged commit has a latency; percentiles are ordered and within the extremes.
    const auto& lat = c["ack_latency_total"];
    EXPECT_EQ(lat["count"], c["commits_acked"]);
    EXPECT_GE(lat["count"].get<std::uint64_t>(), std::uint64_t{kCommits + kSame});
    EXPECT_GT(lat["p50_ns"].get<std::uint64_t>(), 0u);
    EXPECT_LE(lat["p50_ns"].get<std::uint64_t>(), lat["p99_ns"].get<std::uint64_t>());
    EXPECT_LE(lat["p99_ns"].get<std::uint64_t>(), lat["p999_ns"].get<std::uint64_t>());
    EXPECT_LE(lat["p999_ns"].get<std::uint64_t>(), lat["max_ns"].get<std::uint64_t>());
    EXPECT_GE(lat["sum_ns"].get<std::uint64_t>(), lat["max_ns"].get<std::uint64_t>());
    // The delta ratio (since the start, in a first sample): changed bytes sent per dirty byte
    // captured, per standby. The load alone sent 20 of its 26 commits' dirty bytes, so the ratio
    // lies below 1 and is exactly what the counters say.
    ASSERT_TRUE(c["delta_ratio"].is_number()) << c;
    const double d = c["data_bytes"].get<double>(), k = c["commits"].get<double>();
    const double dirty = c["dirty_bytes"].get<double>(), sent = c["commits_sent"].get<double>();
    EXPECT_NEAR(c["delta_ratio"].get<double>(), d * k / (dirty * sent), 1e-9);
    EXPECT_LT(c["delta_ratio"].get<double>(), 1.0);
    // The link: peer 2 up, frames both ways; the engine's PEERS reply counts the same peer.
    ASSERT_EQ(a["peers"].size(), 1u) << a;
    EXPECT_EQ(a["peers"][0]["node"], 2);
    EXPECT_EQ(a["peers"][0]["state"], "up");
    EXPECT_GE(a["peers"][0]["tx_frames"].get<std::uint64_t>(), std::uint64_t{kCommits + kSame});
    EXPECT_GE(a["peers"][0]["tx_bytes"].get<std::uint64_t>(), c["wire_bytes"].get<std::uint64_t>());
    EXPECT_EQ(a["node"]["transport"], "memif");
    EXPECT_EQ(a["link"]["fault_injection"], false);
    // Drops here are the carrier refusing frames (HELLOs before the memif link came up).
    EXPECT_EQ(a["link"]["drops"],
              a["link"]["tx_dropped"].get<std::uint64_t>() + a["link"]["rx_missed"].get<std::uint64_t>());

    // The standby applied exactly those commits.
    const auto standby_done = [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "repl");
        return c.is_object() && c["commits_applied"].get<std::uint64_t>() ==
                                    cb0["commits_applied"].get<std::uint64_t>() + kCommits + kSame;
    };
    const auto b = wait_json(at(*n.b), standby_done);
    ASSERT_TRUE(standby_done(b)) << b;
    const auto cb = checkpoint_of(b, "repl");
    EXPECT_EQ(cb["role"], "standby");
    EXPECT_EQ(delta(cb, cb0, "commits"), std::uint64_t{kCommits + kSame});
    EXPECT_EQ(cb["commits_sent"], 0);
    EXPECT_TRUE(cb["lag"].empty());
    EXPECT_EQ(cb["epoch"], c["epoch"]);
    EXPECT_EQ(b["link"]["rejected"]["bad_hash"], 0);
    // The frame authentication's refusals have their rows (issue 13), none here.
    for (const char* reason : {"unknown_key", "replayed", "stale_session", "wrong_source"})
        EXPECT_EQ(b["link"]["rejected"][reason], 0) << reason << " " << b["link"]["rejected"];

    // The text screen: lag table, peer table, link table.
    const ToolRun r = run_ckptstat(at(*n.a));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto row = table_of(r.out, "NAME")->row("repl");
    ASSERT_TRUE(row) << r.out;
    EXPECT_EQ((*row)["ROLE"], "active");
    EXPECT_EQ((*row)["COMMITS"], std::to_string(c["commits"].get<std::uint64_t>()));
    EXPECT_NE((*row)["ACK_P50"], "-");
    auto lag = table_of(r.out, "CHECKPOINT");
    ASSERT_TRUE(lag) << r.out;
    auto l = lag->row("repl");
    ASSERT_TRUE(l) << r.out;
    EXPECT_EQ((*l)["PEER"], "2");
    EXPECT_EQ((*l)["STATE"], "in-sync");
    EXPECT_EQ((*l)["LAG_COMMITS"], "0");
    auto peers = table_of(r.out, "PEER");
    ASSERT_TRUE(peers && peers->row("2")) << r.out;
    EXPECT_EQ((*peers->row("2"))["STATE"], "up");
    auto link = table_of(r.out, "TRANSPORT");
    ASSERT_TRUE(link && link->row("memif")) << r.out;
    EXPECT_EQ((*link->row("memif"))["REJ_REPLAY"], "0") << r.out;
    EXPECT_EQ((*link->row("memif"))["REJ_SOURCE"], "0") << r.out;

    // Prometheus: the peer and the replication counters, labelled.
    const ToolRun p = run_ckptstat(at(*n.a, {"--prometheus"}));
    ASSERT_EQ(p.exit_code, 0) << describe(p);
    EXPECT_NE(p.out.find("ckpt_peer_up{node=\"1\",peer=\"2\"} 1\n"), std::string::npos) << p.out;
    const auto acked = std::to_string(c["commits_acked"].get<std::uint64_t>());
    EXPECT_NE(p.out.find("ckpt_commits_acked_total{node=\"1\",checkpoint=\"repl\"} " + acked + "\n"), std::string::npos)
        << p.out;
    EXPECT_NE(p.out.find("ckpt_data_bytes_total{node=\"1\",checkpoint=\"repl\"} " +
                         std::to_string(c["data_bytes"].get<std::uint64_t>()) + "\n"),
              std::string::npos)
        << p.out;
    EXPECT_NE(p.out.find("ckpt_ack_latency_seconds_count{node=\"1\",checkpoint=\"repl\"} " + acked + "\n"),
              std::string::npos)
        << p.out;
}

// The fault shim on node 1 loses a seeded share of what it sends and corrupts another: every
// commit is still acknowledged (retransmitted), node 1 reports the drops and retransmissions, and
// node 2 rejects exactly the frames node 1 corrupted.
TEST(CkptstatReplication, FaultShimLossesShowAsDropsRetransmitsAndRejects) {
    const std::string memif = "/tmp/hotspare-statfault-" + std::to_string(::getpid()) + ".sock";
    ::unlink(memif.c_str());
    EngineProcess a("statfault-a", memif_node_config(1, 2, memif, "server",
                                                     {"fault_seed = 5", "fault_drop_pct = 20", "fault_corrupt_pct = 10",
                                                      "fault_direction = tx"}));
    EngineProcess b("statfault-b", memif_node_config(2, 1, memif, "client"));
    ASSERT_TRUE(a.start()) << a.log();
    ASSERT_TRUE(b.start()) << b.log();
    ASSERT_TRUE(wait_peer_state(a.socket(), 2, "up") && wait_peer_state(b.socket(), 1, "up"));
    auto sa = Session::connect({a.socket()});
    ASSERT_TRUE(sa.ok()) << sa.message();
    auto ck = sa->create("lossy", replica_attrs(UpdateMode::kSync));
    ASSERT_TRUE(ck.ok()) << ck.message();
    ASSERT_TRUE(ck->create_section({.id = "s", .capacity = 4096}).ok());
    ASSERT_TRUE(eventually([&] { return ck->replication().replicas == 1; }));
    auto sec = ck->section("s");
    ASSERT_TRUE(sec.ok());
    constexpr int kCommits = 40;
    std::string buf;
    drive(*sec, kCommits, 1024, false, buf);

    const auto done = [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "lossy");
        return c.is_object() && c["commits_acked"] == kCommits && j["peers"].size() == 1 &&
               j["peers"][0]["retransmits"].get<std::uint64_t>() > 0;
    };
    const auto ja = wait_json(at(a), done);
    ASSERT_TRUE(done(ja)) << ja;
    const auto& link = ja["link"];
    EXPECT_EQ(link["fault_injection"], true);
    const auto dropped = link["fault_tx"]["dropped"].get<std::uint64_t>();
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(link["fault_rx"]["dropped"], 0); // direction tx only
    EXPECT_EQ(link["drops"].get<std::uint64_t>(),
              dropped + link["tx_dropped"].get<std::uint64_t>() + link["rx_missed"].get<std::uint64_t>());
    EXPECT_GT(link["fault_tx"]["corrupted"].get<std::uint64_t>(), 0u);
    // The shim decides per frame from its seed: frames in = frames out of each kind.
    EXPECT_GE(link["fault_tx"]["frames"].get<std::uint64_t>(), dropped);

    // Node 2 refuses corrupted frames (by frame hash, or by a header field the flipped bit broke),
    // never more than node 1 corrupted (a corrupted HELLO sent before the memif link was up never
    // arrives), and only for reasons a flipped Hotspare bit can cause: the Ethernet, IP and UDP
    // headers the shim leaves alone. Read node 2 first: counts only grow.
    const auto jb = stat_json(at(b));
    const auto ja2 = stat_json(at(a));
    ASSERT_TRUE(jb.is_object() && ja2.is_object());
    std::uint64_t rejected = 0;
    for (const auto& [reason, count] : jb["link"]["rejected"].items()) rejected += count.get<std::uint64_t>();
    EXPECT_GT(rejected, 0u) << jb;
    EXPECT_LE(rejected, ja2["link"]["fault_tx"]["corrupted"].get<std::uint64_t>()) << jb << ja2;
    for (const char* untouched : {"not_ipv4", "not_udp", "wrong_port"}) EXPECT_EQ(jb["link"]["rejected"][untouched], 0);
    // Node 2's stream saw the retransmissions as duplicates or gaps; node 2 itself injected nothing.
    EXPECT_EQ(jb["link"]["fault_injection"], false);
    EXPECT_EQ(jb["link"]["drops"],
              jb["link"]["tx_dropped"].get<std::uint64_t>() + jb["link"]["rx_missed"].get<std::uint64_t>());

    // The text screen shows them too.
    const ToolRun r = run_ckptstat(at(a));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto lt = table_of(r.out, "TRANSPORT");
    ASSERT_TRUE(lt && lt->row("memif")) << r.out;
    EXPECT_NE((*lt->row("memif"))["FAULT_DROPS"], "0") << r.out;
    auto pt = table_of(r.out, "PEER");
    ASSERT_TRUE(pt && pt->row("2")) << r.out;
    EXPECT_NE((*pt->row("2"))["RETRANS"], "0") << r.out;
    a.stop();
    b.stop();
    ::unlink(memif.c_str());
}

ToolRun run_ckptctl(const std::vector<std::string>& args) {
    const char* p = std::getenv("CKPTCTL");
    return run_tool(p && *p ? p : "ckptctl", args);
}

// ckptctl's replication commands where they succeed (test_ckptctl.cpp covers their errors on a
// node-local engine): peers of a two-node pair, a planned switch-over (demote on node 1, promote
// on node 2), and ckptstat agreeing with them on both nodes.
TEST(CkptctlReplication, PeersDemoteAndPromoteOnTwoNodes) {
    TwoNodes n("ctlrepl");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    const ToolRun peers = run_ckptctl({"--socket", n.a->socket(), "peers"});
    ASSERT_EQ(peers.exit_code, 0) << describe(peers);
    EXPECT_TRUE(peers.out.starts_with("transport memif: ")) << peers.out;
    auto row = table_of(peers.out.substr(peers.out.find('\n') + 1), "NODE");
    ASSERT_TRUE(row && row->row("2")) << peers.out;
    EXPECT_EQ((*row->row("2"))["STATE"], "up");

    ASSERT_EQ(run_ckptctl({"--socket", n.a->socket(), "create", "ha", "--mode", "sync", "--max-sections", "4", "--size",
                           "64K", "--max-section-size", "4K"})
                  .exit_code,
              0);
    const auto standby = [](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "ha");
        return c.is_object() && c["role"] == "standby";
    };
    ASSERT_TRUE(standby(wait_json(at(*n.b), standby)));

    const ToolRun demote = run_ckptctl({"--socket", n.a->socket(), "demote", "ha"});
    ASSERT_EQ(demote.exit_code, 0) << describe(demote);
    const ToolRun promote = run_ckptctl({"--socket", n.b->socket(), "promote", "ha"});
    ASSERT_EQ(promote.exit_code, 0) << describe(promote);
    EXPECT_NE(promote.out.find("checkpoint 'ha' is active on this node, epoch 131074 (promotion 2, by node 2)"),
              std::string::npos)
        << promote.out;

    // Both tools agree: node 2 active at epoch 2, node 1 its standby.
    const auto active2 = [](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "ha");
        return c.is_object() && c["role"] == "active" && c["epoch"] == 131074 && c["replicas"] == 1;
    };
    const auto jb = wait_json(at(*n.b), active2);
    EXPECT_TRUE(active2(jb)) << jb;
    EXPECT_EQ(jb["node"]["id"], 2);
    const auto standby2 = [](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "ha");
        return c.is_object() && c["role"] == "standby" && c["epoch"] == 131074;
    };
    EXPECT_TRUE(standby2(wait_json(at(*n.a), standby2)));
    const ToolRun st = run_ckptctl({"--socket", n.b->socket(), "status", "ha"});
    ASSERT_EQ(st.exit_code, 0) << describe(st);
    EXPECT_NE(st.out.find("role:                active"), std::string::npos) << st.out;
}

} // namespace
