// ckptstat against a real ckptd: checkpoints and sections made through the client API with known
// values, and a known load (N commits of K dirty bytes), must show up in the tool's columns, JSON
// and Prometheus output exactly; a missing engine, an unknown checkpoint, a stats layout of another
// version, another node and --help must give the documented exit codes and messages.
#include "ckpt/client/inspect.hpp"
#include "ckpt/client/session.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "ckptstat_helpers.hpp"
#include "engine_test.hpp"
#include "tool_run.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

extern char** environ;

namespace {

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

using ckpt::testing::describe;
using ckpt::testing::ToolRun;
using namespace ckpt::testing;

/// The checkpoint table of a screen, or of the only one in the text (empty when absent).
TextTable ckpt_table(const std::string& text) {
    auto t = table_of(text, "NAME");
    return t ? *t : TextTable{};
}

CheckpointAttributes attrs(UpdateMode mode, std::uint32_t sections, std::uint64_t size, std::uint32_t block) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(mode);
    a.checkpoint_size = size;
    a.max_sections = sections;
    a.max_section_size = 4096;
    a.max_section_id_size = 32;
    a.block_size = block;
    return a;
}

// 2100-01-01T00:00:00.250Z: far enough ahead never to expire during a test.
constexpr std::int64_t kExpiry = 4'102'444'800'000'000'000 + 250'000'000;

class Ckptstat : public ckpt::testing::EngineTest {
protected:
    std::vector<std::string> at_engine(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--socket", engine.socket()});
        return args;
    }
};

TEST_F(Ckptstat, ListsCheckpointsWithTheirCounts) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8, 64 * 1024, 512));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ASSERT_TRUE(calls->create_section({.id = "alpha", .capacity = 1024, .initial = B("0123456789")}).ok());
    ASSERT_TRUE(calls->create_section({.id = "beta", .capacity = 2048}).ok());
    ASSERT_TRUE(calls->create_section({.id = "gamma", .expiration_ns = kExpiry, .capacity = 512}).ok());
    auto alpha = calls->section("alpha");
    ASSERT_TRUE(alpha.ok());
    ASSERT_TRUE(alpha->write(0, B("hello world, 24 bytes!!!"), Ack::kSync).ok());

    auto single = session->create("single", attrs(UpdateMode::kSync, 1, 4096, 256));
    ASSERT_TRUE(single.ok()) << single.message();
    CheckpointAttributes weak = attrs(UpdateMode::kAsyncWeak, 4, 16 * 1024, 1024);
    weak.creation_flags |= kFlagPersistent;
    auto durable = session->create("durable", weak);
    ASSERT_TRUE(durable.ok()) << durable.message();

    auto st = calls->status();
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(st->sections, 3u);
    ASSERT_GT(st->commit_seq, 0u);

    // The figures are published every stats_interval_ms: wait until all three are there.
    const auto j = wait_json(at_engine({}), [](const nlohmann::json& j) { return j["checkpoints"].size() == 3; });
    ASSERT_EQ(j["checkpoints"].size(), 3u) << j;

    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::vector<std::string> ragged;
    const auto blocks = parse_blocks(r.out, &ragged);
    EXPECT_TRUE(ragged.empty()) << r.out;
    ASSERT_EQ(blocks.size(), 2u) << r.out; // the node line, the checkpoints (no transport: no link tables)
    EXPECT_EQ(blocks[0].header.at(0), "node");
    EXPECT_EQ(blocks[0].header.at(1), std::to_string(session->node_id())) << r.out;
    const auto& t = blocks[1];
    EXPECT_EQ(t.header, (std::vector<std::string>{"NAME", "ROLE", "EPOCH", "MODE", "SECTIONS", "BYTES", "COMMITS",
                                                  "COMMITS/S", "DIRTY_B/S", "WIRE_B/S", "DELTA", "ACK_P50", "ACK_P99",
                                                  "ACK_P99.9", "OPEN", "FLAGS"}));
    ASSERT_EQ(t.rows.size(), 3u) << r.out;
    EXPECT_TRUE(t.notes.empty()) << r.out;

    auto c = t.row("calls");
    ASSERT_TRUE(c) << r.out;
    EXPECT_EQ((*c)["ROLE"], "local");
    EXPECT_EQ((*c)["EPOCH"], "1");
    EXPECT_EQ((*c)["MODE"], "async");
    EXPECT_EQ((*c)["SECTIONS"], "3/8");
    EXPECT_EQ((*c)["BYTES"], std::to_string(st->bytes_used) + "/65536");
    EXPECT_EQ((*c)["COMMITS"], std::to_string(st->captures));
    EXPECT_EQ((*c)["DELTA"], "-"); // nothing replicated
    EXPECT_EQ((*c)["ACK_P50"], "-");
    EXPECT_EQ((*c)["OPEN"], "1");
    EXPECT_EQ((*c)["FLAGS"], "-");

    auto s = t.row("single");
    ASSERT_TRUE(s) << r.out;
    EXPECT_EQ((*s)["MODE"], "sync");
    EXPECT_EQ((*s)["SECTIONS"], "1/1");
    EXPECT_EQ((*s)["FLAGS"], "-");

    auto d = t.row("durable");
    ASSERT_TRUE(d) << r.out;
    EXPECT_EQ((*d)["MODE"], "weak");
    EXPECT_EQ((*d)["SECTIONS"], "0/4");
    EXPECT_EQ((*d)["BYTES"], "0/16384");
    EXPECT_EQ((*d)["COMMITS"], "0");
    EXPECT_EQ((*d)["FLAGS"], "persistent");

    // The open-handle count follows the handles: close one and it drops.
    ASSERT_TRUE(single->close().ok());
    const ToolRun after = run_ckptstat(at_engine({}));
    ASSERT_EQ(after.exit_code, 0) << after.err;
    // Retention 0: the closed checkpoint either is gone or shows no handle.
    if (auto s2 = ckpt_table(after.out).row("single")) {
        EXPECT_TRUE((*s2)["OPEN"] == "0" || (*s2)["OPEN"] == "-") << after.out;
    }
}

TEST_F(Ckptstat, ShowsSectionsOfOneCheckpoint) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8, 64 * 1024, 512));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ASSERT_TRUE(calls->create_section({.id = "alpha", .capacity = 1024, .initial = B("0123456789")}).ok());
    ASSERT_TRUE(calls->create_section({.id = "beta", .capacity = 2048}).ok());
    ASSERT_TRUE(calls->create_section({.id = "gamma", .expiration_ns = kExpiry, .capacity = 512}).ok());
    const std::string odd_id("a b\\\x01", 5);
    ASSERT_TRUE(calls->create_section({.id = odd_id, .capacity = 256, .initial = B("x")}).ok());
    auto alpha = calls->section("alpha");
    ASSERT_TRUE(alpha.ok());
    auto seq1 = alpha->write(0, B("hello world, 24 bytes!!!"), Ack::kSync);
    ASSERT_TRUE(seq1.ok()) << seq1.message();
    auto seq2 = alpha->write(24, B("+6more"), Ack::kSync);
    ASSERT_TRUE(seq2.ok()) << seq2.message();
    ASSERT_GT(*seq2, *seq1);
    const std::uint64_t commit_seq = calls->commit_seq();

    // The figures (commit_seq, sections) as the engine publishes them once it has seen both commits.
    const auto j = wait_json(at_engine({"-c", "calls"}), [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "calls");
        return c.is_object() && c["commit_seq"] == commit_seq;
    });
    const auto jc = checkpoint_of(j, "calls");
    ASSERT_TRUE(jc.is_object()) << j;
    EXPECT_EQ(jc["commit_seq"], commit_seq);
    EXPECT_EQ(jc["sections"], 4);
    ASSERT_EQ(jc["sections_list"].size(), 4u) << jc;

    const ToolRun r = run_ckptstat(at_engine({"-c", "calls"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto blocks = parse_blocks(r.out);
    ASSERT_EQ(blocks.size(), 3u) << r.out; // node line, the checkpoint, its sections

    auto c = blocks[1].row("calls");
    ASSERT_TRUE(c) << r.out;
    ASSERT_EQ(blocks[1].rows.size(), 1u) << r.out;
    EXPECT_EQ((*c)["SECTIONS"], "4/8");
    EXPECT_EQ((*c)["OPEN"], "1");

    const auto& t = blocks[2];
    EXPECT_EQ(t.header, (std::vector<std::string>{"ID", "SIZE", "CAPACITY", "SEQ", "STATE", "EXPIRES", "LAST_UPDATE"}));
    ASSERT_EQ(t.rows.size(), 4u) << r.out;

    auto a = t.row("alpha");
    ASSERT_TRUE(a) << r.out;
    EXPECT_EQ((*a)["SIZE"], "30");
    EXPECT_EQ((*a)["CAPACITY"], "1024");
    EXPECT_EQ((*a)["SEQ"], std::to_string(*seq2));
    EXPECT_EQ((*a)["STATE"], "valid");
    EXPECT_EQ((*a)["EXPIRES"], "never");
    EXPECT_NE((*a)["LAST_UPDATE"], "never");

    auto b = t.row("beta");
    ASSERT_TRUE(b) << r.out;
    EXPECT_EQ((*b)["SIZE"], "0");
    EXPECT_EQ((*b)["CAPACITY"], "2048");
    EXPECT_EQ((*b)["EXPIRES"], "never");

    auto g = t.row("gamma");
    ASSERT_TRUE(g) << r.out;
    EXPECT_EQ((*g)["CAPACITY"], "512");
    EXPECT_EQ((*g)["EXPIRES"], "2100-01-01T00:00:00.250Z");

    // Space, backslash and control bytes are escaped, so the id stays one token.
    auto o = t.row("a\\x20b\\x5c\\x01");
    ASSERT_TRUE(o) << r.out;
    EXPECT_EQ((*o)["SIZE"], "1");
    // The engine rounds capacities up to whole blocks; the client API says what it made.
    bool found = false;
    for (const auto& desc : calls->sections()) {
        if (desc.id != odd_id) continue;
        found = true;
        EXPECT_EQ((*o)["CAPACITY"], std::to_string(desc.capacity));
        EXPECT_EQ((*o)["SEQ"], std::to_string(desc.sequence));
    }
    EXPECT_TRUE(found);

    // The long option is the same as -c.
    const ToolRun r2 = run_ckptstat(at_engine({"--checkpoint", "calls"}));
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    ASSERT_EQ(parse_blocks(r2.out).size(), 3u) << r2.out;
}

TEST_F(Ckptstat, DefaultSectionOfASingleSectionCheckpoint) {
    auto single = session->create("single", attrs(UpdateMode::kSync, 1, 4096, 256));
    ASSERT_TRUE(single.ok()) << single.message();
    auto sec = single->default_section();
    ASSERT_TRUE(sec.ok()) << sec.message();
    auto seq = sec->write(0, B("state"), Ack::kSync);
    ASSERT_TRUE(seq.ok()) << seq.message();

    const ToolRun r = run_ckptstat(at_engine({"-c", "single"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto t = table_of(r.out, "ID");
    ASSERT_TRUE(t) << r.out;
    ASSERT_EQ(t->rows.size(), 1u) << r.out;
    auto d = t->row("(default)");
    ASSERT_TRUE(d) << r.out;
    EXPECT_EQ((*d)["SIZE"], "5");
    EXPECT_EQ((*d)["SEQ"], std::to_string(*seq));
    EXPECT_EQ((*d)["STATE"], "valid");
    EXPECT_EQ((*d)["EXPIRES"], "never");
}

TEST_F(Ckptstat, EmptyEngineShowsOnlyTheHeader) {
    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto blocks = parse_blocks(r.out);
    ASSERT_EQ(blocks.size(), 2u) << r.out;
    EXPECT_EQ(blocks[0].header.at(0), "node") << r.out;
    EXPECT_EQ(blocks[1].header.at(0), "NAME") << r.out;
    EXPECT_TRUE(blocks[1].rows.empty()) << r.out;
}

TEST_F(Ckptstat, SocketComesFromTheEnvironment) {
    // Held open: with retention 0 a closed checkpoint goes at once.
    auto ck = session->create("envck", attrs(UpdateMode::kAsync, 2, 4096, 256));
    ASSERT_TRUE(ck.ok()) << ck.message();
    const ToolRun r = run_ckptstat({}, {"CKPT_SOCKET=" + engine.socket()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(ckpt_table(r.out).row("envck")) << r.out;
}

TEST_F(Ckptstat, UnknownCheckpointIsAnError) {
    const ToolRun r = run_ckptstat(at_engine({"-c", "nosuchckpt"}));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("ckptstat: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nosuchckpt"), std::string::npos) << r.err;

    // A name the engine could never hold is refused with the same exit code, naming the problem.
    const ToolRun bad = run_ckptstat(at_engine({"-c", std::string(257, 'n')}));
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("ckptstat: "), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("checkpoint name is 257 bytes, at most 256"), std::string::npos) << bad.err;
}

// Names are SaNameTs: ckptstat shows the real name (a space, a backslash or a byte that is not
// printable ASCII as \xHH) in the text table and the JSON, and -c takes it the same way.
TEST_F(Ckptstat, ShowsRealNames) {
    const std::string csa103 = "safCkpt=csa103Ckpt,safApp=safCkptService";
    auto c1 = session->create(csa103, attrs(UpdateMode::kAsync, 2, 4096, 256));
    ASSERT_TRUE(c1.ok()) << c1.message();
    ASSERT_TRUE(c1->create_section({.id = "seq", .initial = B("1")}).ok());
    std::string odd(256, 'o'); // a whole SaNameT, with a space and a newline in it
    odd[3] = ' ';
    odd[200] = '\n';
    auto c2 = session->create(odd, attrs(UpdateMode::kAsync, 2, 4096, 256));
    ASSERT_TRUE(c2.ok()) << c2.message();
    const std::string shown = printable_name(odd);
    ASSERT_NE(shown, odd);

    const auto j = wait_json(at_engine({}), [](const nlohmann::json& j) { return j["checkpoints"].size() == 2; });
    EXPECT_TRUE(checkpoint_of(j, csa103).is_object()) << j;
    EXPECT_TRUE(checkpoint_of(j, shown).is_object()) << j;
    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(ckpt_table(r.out).row(csa103)) << r.out;
    EXPECT_TRUE(ckpt_table(r.out).row(shown)) << r.out;
    const ToolRun one = run_ckptstat(at_engine({"-c", shown}));
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_TRUE(ckpt_table(one.out).row(shown)) << one.out;
    EXPECT_FALSE(ckpt_table(one.out).row(csa103)) << one.out;
    const ToolRun mine = run_ckptstat(at_engine({"-c", csa103}));
    ASSERT_EQ(mine.exit_code, 0) << mine.err;
    EXPECT_NE(mine.out.find("seq"), std::string::npos) << mine.out; // its sections
}

// A known load: N synchronous commits of K dirty bytes (whole blocks, new content each time) must
// show up as exactly N commits and N*K dirty bytes, per checkpoint, in the text, the JSON and the
// Prometheus output alike, and agree with the engine's own counters over the control socket.
TEST_F(Ckptstat, KnownLoadIsCountedExactly) {
    constexpr int kCommits = 25;
    constexpr std::size_t kBytes = 512; // two 256-byte blocks
    auto load = session->create("load", attrs(UpdateMode::kSync, 4, 64 * 1024, 256));
    ASSERT_TRUE(load.ok()) << load.message();
    ASSERT_TRUE(load->create_section({.id = "s", .capacity = 4096}).ok());
    auto other = session->create("other", attrs(UpdateMode::kAsync, 4, 64 * 1024, 256));
    ASSERT_TRUE(other.ok()) << other.message();
    ASSERT_TRUE(other->create_section({.id = "t", .capacity = 4096}).ok());
    auto sec = load->section("s");
    ASSERT_TRUE(sec.ok());
    auto sec2 = other->section("t");
    ASSERT_TRUE(sec2.ok());
    std::string buf(kBytes, 'x');
    for (int i = 0; i < kCommits; ++i) {
        buf[0] = static_cast<char>('A' + i % 26);
        buf[kBytes - 1] = static_cast<char>('a' + i % 26);
        ASSERT_TRUE(sec->write(0, B(buf), Ack::kSync).ok());
    }
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(sec2->write(0, B("300 bytes or fewer: one block"), Ack::kSync).ok());

    const auto done = [&](const nlohmann::json& j) {
        auto a = checkpoint_of(j, "load"), b = checkpoint_of(j, "other");
        return a.is_object() && b.is_object() && a["commits"] == kCommits && b["commits"] == 3;
    };
    const auto j = wait_json(at_engine({}), done);
    ASSERT_TRUE(done(j)) << j;
    const auto c = checkpoint_of(j, "load");
    EXPECT_EQ(c["role"], "local");
    EXPECT_EQ(c["mode"], "sync");
    EXPECT_EQ(c["dirty_bytes"], kCommits * kBytes);
    EXPECT_EQ(c["sections"], 1);
    EXPECT_EQ(c["commits_sent"], 0); // node-local: nothing replicated
    EXPECT_EQ(c["wire_bytes"], 0);
    EXPECT_TRUE(c["delta_ratio"].is_null());
    EXPECT_EQ(c["ack_latency_total"]["count"], 0);
    EXPECT_EQ(checkpoint_of(j, "other")["dirty_bytes"], 3 * 256);
    EXPECT_EQ(j["node"]["captures"], kCommits + 3);
    EXPECT_EQ(j["node"]["checkpoints"], 2);
    EXPECT_EQ(j["node"]["transport"], "none");
    EXPECT_EQ(j["node"]["id"], session->node_id());
    EXPECT_TRUE(j["peers"].empty());
    // The engine's own counters, over the control socket, say the same.
    auto st = load->status();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(c["commits"], st->captures);
    EXPECT_EQ(c["dirty_bytes"], st->captured_bytes);
    EXPECT_EQ(c["commit_seq"], load->commit_seq());

    // The same figures in the text screen...
    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto row = ckpt_table(r.out).row("load");
    ASSERT_TRUE(row) << r.out;
    EXPECT_EQ((*row)["COMMITS"], std::to_string(kCommits));
    // ... and as Prometheus metrics.
    const ToolRun p = run_ckptstat(at_engine({"--prometheus"}));
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const std::string labels = "{node=\"" + std::to_string(session->node_id()) + "\",checkpoint=\"load\"}";
    EXPECT_NE(p.out.find("# TYPE ckpt_commits_total counter\n"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("\nckpt_commits_total" + labels + " " + std::to_string(kCommits) + "\n"), std::string::npos)
        << p.out;
    EXPECT_NE(p.out.find("\nckpt_dirty_bytes_total" + labels + " " + std::to_string(kCommits * kBytes) + "\n"),
              std::string::npos)
        << p.out;
    EXPECT_NE(p.out.find("\nckpt_sections" + labels + " 1\n"), std::string::npos) << p.out;
    // Every sample line is NAME{LABELS} VALUE; every family has HELP and TYPE.
    std::istringstream lines(p.out);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("# HELP ckpt_") || line.starts_with("# TYPE ckpt_")) continue;
        ASSERT_TRUE(line.starts_with("ckpt_")) << line;
        ASSERT_NE(line.find("} "), std::string::npos) << line;
    }

    // Rewriting the same bytes still costs a capture of the dirty blocks (the hash check is the
    // replicator's): 5 more commits, 5 * 512 more dirty bytes.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(sec->write(0, B(buf), Ack::kSync).ok());
    const auto j2 = wait_json(at_engine({"-c", "load"}), [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "load");
        return c.is_object() && c["commits"] == kCommits + 5;
    });
    EXPECT_EQ(checkpoint_of(j2, "load")["dirty_bytes"], (kCommits + 5) * kBytes) << j2;
    EXPECT_EQ(j2["checkpoints"].size(), 1u) << j2; // -c: only that one
}

// A client that resizes the DATA segment under the engine (issue 13's attack: its descriptor is
// read-write): ckptd restores the size, and ckptstat shows it in the JSON, the Prometheus counter
// and a note under the checkpoint's row.
TEST_F(Ckptstat, AResizedDataSegmentIsCounted) {
    auto ck = session->create("cut", attrs(UpdateMode::kSync, 4, 64 * 1024, 256));
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto sec = ck->create_section({.id = "s", .capacity = 4096});
    ASSERT_TRUE(sec.ok()) << sec.message();
    ASSERT_TRUE(sec->write(0, B("before the cut"), Ack::kSync).ok());
    // The DATA object this process maps read-write, found by the engine's prefix in /proc/self/maps.
    std::string data_path;
    {
        std::ifstream maps("/proc/self/maps");
        for (std::string line; std::getline(maps, line);) {
            const auto slash = line.find('/');
            if (slash == std::string::npos) continue;
            const std::string path = line.substr(slash);
            if (path.find(engine.prefix()) != std::string::npos && path.ends_with(".data")) data_path = path;
        }
    }
    ASSERT_FALSE(data_path.empty()) << "no DATA mapping with prefix " << engine.prefix();
    const int fd = ::open(data_path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << data_path;
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    ASSERT_EQ(::ftruncate(fd, st.st_size / 2), 0); // this process does not touch the cut half
    ::close(fd);
    // A commit makes the engine touch the section; the scan finds the size anyway.
    ASSERT_TRUE(sec->write(0, B("after the cut!"), Ack::kSync).ok());
    const auto resized = [&](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "cut");
        return c.is_object() && c["segment_resizes"].get<std::uint64_t>() >= 1;
    };
    const auto j = wait_json(at_engine({}), resized);
    ASSERT_TRUE(resized(j)) << j << engine.log();
    const auto n = checkpoint_of(j, "cut")["segment_resizes"].get<std::uint64_t>();
    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("resized: a client changed the size of the DATA segment"), std::string::npos) << r.out;
    const ToolRun p = run_ckptstat(at_engine({"--prometheus"}));
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const std::string labels = "{node=\"" + std::to_string(session->node_id()) + "\",checkpoint=\"cut\"}";
    EXPECT_NE(p.out.find("\nckpt_segment_resizes_total" + labels + " "), std::string::npos) << p.out;
    EXPECT_EQ(checkpoint_of(j, "cut")["corruptions"], 0) << "the committed bytes were not touched";
    EXPECT_GE(n, 1u);
}

// INTERVAL COUNT: COUNT samples, the first with rates since the engine started, the others over
// the interval; an idle interval has zero rates.
TEST_F(Ckptstat, IntervalAndCountPrintOneSampleEach) {
    auto ck = session->create("tick", attrs(UpdateMode::kSync, 2, 4096, 256));
    ASSERT_TRUE(ck.ok()) << ck.message();
    ASSERT_TRUE(ck->create_section({.id = "s", .capacity = 256}).ok());
    auto sec = ck->section("s");
    ASSERT_TRUE(sec.ok());
    ASSERT_TRUE(sec->write(0, B("one"), Ack::kSync).ok());
    wait_json(at_engine({}), [](const nlohmann::json& j) {
        auto c = checkpoint_of(j, "tick");
        return c.is_object() && c["commits"] == 1;
    });
    const ToolRun r = run_ckptstat(at_engine({"--json", "0.2", "3"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream in(r.out);
    std::vector<nlohmann::json> samples;
    for (std::string line; std::getline(in, line);) samples.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(samples.size(), 3u) << r.out;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        EXPECT_EQ(samples[i]["sample"], i + 1);
        EXPECT_EQ(samples[i]["since_start"], i == 0);
        auto c = checkpoint_of(samples[i], "tick");
        ASSERT_TRUE(c.is_object()) << samples[i];
        EXPECT_EQ(c["commits"], 1);
        if (i > 0) {
            EXPECT_EQ(c["commits_per_s"], 0.0) << samples[i]; // nothing committed in between
            EXPECT_EQ(c["dirty_bytes_per_s"], 0.0);
        } else {
            EXPECT_GT(c["commits_per_s"].get<double>(), 0.0); // one commit since the start
        }
    }
    // The text form prints one screen per sample.
    const ToolRun t = run_ckptstat(at_engine({"0.1", "2"}));
    ASSERT_EQ(t.exit_code, 0) << t.err;
    int screens = 0;
    for (const auto& b : parse_blocks(t.out)) screens += b.header.at(0) == "node";
    EXPECT_EQ(screens, 2) << t.out;
}

/// Maps the engine's NODE object read-write, as a test that plays a different engine version.
class NodeObject {
public:
    explicit NodeObject(const std::string& prefix) {
        fd_ = ::open(("/dev/shm/" + prefix + "node").c_str(), O_RDWR | O_CLOEXEC);
        if (fd_ >= 0) base_ = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    }
    ~NodeObject() {
        if (base_ != MAP_FAILED && base_) ::munmap(base_, 8192);
        if (fd_ >= 0) ::close(fd_);
    }
    bool ok() const { return fd_ >= 0 && base_ != MAP_FAILED && base_; }
    template <typename T>
    T& at(std::size_t offset) {
        return *reinterpret_cast<T*>(static_cast<char*>(base_) + offset);
    }

private:
    int fd_ = -1;
    void* base_ = nullptr;
};

// Another stats layout major (an engine of another version) is refused with exit 3 and says so;
// so is an engine without a stats region. Offsets are the pinned ABI: NodeHeader::stats_offset at
// 48, the region at 4096, StatsHeader::layout_major at 8.
TEST_F(Ckptstat, LayoutVersionMismatchExitsThree) {
    NodeObject node(engine.prefix());
    ASSERT_TRUE(node.ok());
    auto& major = node.at<std::uint16_t>(4096 + 8);
    ASSERT_EQ(major, shm::kStatsLayoutMajor);
    major = 99;
    const ToolRun r = run_ckptstat(at_engine({}));
    EXPECT_EQ(r.exit_code, 3) << describe(r);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("stats layout 99."), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("layout versions differ"), std::string::npos) << r.err;
    EXPECT_EQ(run_ckptstat(at_engine({"--json"})).exit_code, 3);
    major = shm::kStatsLayoutMajor;
    EXPECT_EQ(run_ckptstat(at_engine({})).exit_code, 0);

    auto& offset = node.at<std::uint64_t>(48);
    ASSERT_EQ(offset, 4096u);
    offset = 0; // as an engine from before the stats region
    const ToolRun old = run_ckptstat(at_engine({"--prometheus"}));
    EXPECT_EQ(old.exit_code, 3) << describe(old);
    EXPECT_NE(old.err.find("no stats region"), std::string::npos) << old.err;
    offset = 4096;
    EXPECT_EQ(run_ckptstat(at_engine({})).exit_code, 0);
}

TEST_F(Ckptstat, NodeOptionRefusesAnotherNode) {
    const std::string me = std::to_string(session->node_id());
    const ToolRun ok = run_ckptstat(at_engine({"--node", me}));
    EXPECT_EQ(ok.exit_code, 0) << describe(ok);
    const ToolRun other = run_ckptstat(at_engine({"--node", "999"}));
    EXPECT_EQ(other.exit_code, 1) << describe(other);
    EXPECT_EQ(other.out, "");
    EXPECT_NE(other.err.find("is node " + me + ", not node 999"), std::string::npos) << other.err;
}

TEST_F(Ckptstat, JsonAndPrometheusExcludeEachOther) {
    const ToolRun r = run_ckptstat(at_engine({"--json", "--prometheus"}));
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.out, "");
    const ToolRun zero = run_ckptstat(at_engine({"0"}));
    EXPECT_EQ(zero.exit_code, 1) << describe(zero); // an interval must be positive
}

/// An engine with only two stats slots.
class CkptstatTwoSlots : public ckpt::testing::EngineTest {
protected:
    CkptstatTwoSlots() : EngineTest({"stats_checkpoints = 2"}) {}
};

// Checkpoints beyond stats_checkpoints run without figures and are counted; a slot freed by a
// deleted checkpoint goes to the next one, with its own figures from zero.
TEST_F(CkptstatTwoSlots, CheckpointsBeyondTheSlotsAreCountedAndGetAFreedSlot) {
    const std::vector<std::string> at = {"--socket", engine.socket()};
    auto a = session->create("a", attrs(UpdateMode::kSync, 2, 4096, 256));
    ASSERT_TRUE(a.ok()) << a.message();
    ASSERT_TRUE(a->create_section({.id = "s", .capacity = 256}).ok());
    auto sa = a->section("s");
    ASSERT_TRUE(sa.ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(sa->write(0, B("a-state"), Ack::kSync).ok());
    auto b = session->create("b", attrs(UpdateMode::kSync, 2, 4096, 256));
    ASSERT_TRUE(b.ok()) << b.message();
    auto c = session->create("c", attrs(UpdateMode::kSync, 2, 4096, 256));
    ASSERT_TRUE(c.ok()) << c.message();
    const auto j = wait_json(at, [](const nlohmann::json& j) { return j["node"]["untracked_checkpoints"] == 1; });
    EXPECT_EQ(j["node"]["untracked_checkpoints"], 1) << j;
    EXPECT_EQ(j["node"]["checkpoints"], 3);
    EXPECT_EQ(j["checkpoints"].size(), 2u) << j;
    EXPECT_TRUE(checkpoint_of(j, "a").is_object()) << j; // first come, first served
    const ToolRun r = run_ckptstat(at);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("checkpoints 3 (1 without stats: stats_checkpoints)"), std::string::npos) << r.out;
    // Deleting "a" frees its slot (zeroed) for the one left out, whose counters start at zero.
    ASSERT_TRUE(a->close().ok()); // retention 0: deleted at the last close
    const auto j2 = wait_json(at, [](const nlohmann::json& j) {
        return j["node"]["untracked_checkpoints"] == 0 && j["checkpoints"].size() == 2 &&
               !checkpoint_of(j, "a").is_object();
    });
    ASSERT_EQ(j2["checkpoints"].size(), 2u) << j2;
    EXPECT_FALSE(checkpoint_of(j2, "a").is_object()) << j2;
    for (const auto& ck : j2["checkpoints"]) EXPECT_EQ(ck["commits"], 0) << ck;
}

/// An engine that publishes on its own only once a minute.
class CkptstatSlowPublisher : public ckpt::testing::EngineTest {
protected:
    CkptstatSlowPublisher() : EngineTest({"stats_interval_ms = 60000"}) {}
};

// Session::peers() (and so ckptctl peers) reads the stats region ckptstat reads, after asking the
// engine to publish it (STATS): what changed before the call is there at once, not a minute later.
TEST_F(CkptstatSlowPublisher, PeersAsksForAPublicationAndReadsTheStatsRegion) {
    auto st = node_stats(*session);
    ASSERT_TRUE(st.ok()) << st.message();
    const auto before = st->view.read_node();
    ASSERT_TRUE(before.has_value());
    auto c = session->create("fresh", attrs(UpdateMode::kSync, 2, 4096, 256));
    ASSERT_TRUE(c.ok()) << c.message();

    auto l = session->peers();
    ASSERT_TRUE(l.ok()) << l.message();
    EXPECT_EQ(l->transport, "none");
    EXPECT_TRUE(l->peers.empty());
    EXPECT_EQ(l->rx_frames, 0u);
    const auto after = st->view.read_node();
    ASSERT_TRUE(after.has_value());
    EXPECT_GT(after->header.publications, before->header.publications);
    EXPECT_EQ(after->header.checkpoints, 1u);
    EXPECT_TRUE(st->view.read_checkpoint("fresh").has_value()) << "STATS published every checkpoint";
}

// An engine that goes away while ckptstat refreshes ends it with exit 2 (no engine), whatever
// sample it was at.
TEST(CkptstatEngineGoes, RefreshingStopsWithExitTwo) {
    EngineProcess e("statgoes");
    ASSERT_TRUE(e.start()) << e.log();
    ToolRun r;
    std::thread tool([&] { r = run_ckptstat({"--socket", e.socket(), "--json", "0.05"}); }); // no COUNT: forever
    ::usleep(300'000);
    e.stop();
    tool.join();
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_NE(r.err.find("ckptstat: "), std::string::npos) << r.err;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
        EXPECT_TRUE(nlohmann::json::parse(line, nullptr, false).is_object()) << line;
}

TEST(CkptstatNoEngine, ExitsTwoAndNamesTheSocket) {
    char dir_template[] = "/tmp/ckptstat-noengine-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    ASSERT_NE(dir, nullptr);
    const std::string sock = std::string(dir) + "/ckptd.sock";
    const ToolRun r = run_ckptstat({"--socket", sock});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("ckptstat: no ckptd at " + sock), std::string::npos) << r.err;

    // The same through $CKPT_SOCKET.
    const ToolRun e = run_ckptstat({}, {"CKPT_SOCKET=" + sock});
    EXPECT_EQ(e.exit_code, 2);
    EXPECT_NE(e.err.find(sock), std::string::npos) << e.err;
    // Whatever the output format.
    EXPECT_EQ(run_ckptstat({"--socket", sock, "--json"}).exit_code, 2);
    EXPECT_EQ(run_ckptstat({"--socket", sock, "--prometheus", "1", "3"}).exit_code, 2);
    ::rmdir(dir);
}

TEST(CkptstatUsage, HelpExitsZero) {
    const ToolRun r = run_ckptstat({"--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("--checkpoint"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--socket"), std::string::npos) << r.out;
    for (const char* o : {"--json", "--prometheus", "--node", "interval", "count"})
        EXPECT_NE(r.out.find(o), std::string::npos) << o << "\n" << r.out;
}

TEST(CkptstatUsage, UnknownOptionIsAnError) {
    const ToolRun r = run_ckptstat({"--no-such-option"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
}

} // namespace
