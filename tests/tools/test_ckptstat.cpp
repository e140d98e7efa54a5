// ckptstat against a real ckptd: checkpoints and sections made through the client API with known
// values must show up in the tool's columns; a missing engine, an unknown checkpoint and --help
// must give the documented exit codes and messages.
#include "ckpt/client/session.hpp"
#include "engine_test.hpp"
#include "tool_run.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
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

std::string ckptstat_path() {
    const char* p = std::getenv("CKPTSTAT");
    return p && *p ? p : "ckptstat";
}

ToolRun run_ckptstat(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    return ckpt::testing::run_tool(ckptstat_path(), args, extra_env);
}

/// One table of the output: column name -> cell, per row (note lines such as "  damaged: ..." are
/// kept apart). Tables are separated by blank lines.
struct Table {
    std::vector<std::string> header;
    std::vector<std::map<std::string, std::string>> rows;
    std::vector<std::string> notes;

    std::optional<std::map<std::string, std::string>> row(const std::string& first_cell) const {
        for (const auto& r : rows)
            if (r.at(header.at(0)) == first_cell) return r;
        return std::nullopt;
    }
};

std::vector<std::string> tokens(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    return t;
}

std::vector<Table> parse_tables(const std::string& text) {
    std::vector<Table> tables;
    std::istringstream in(text);
    bool new_table = true;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) {
            new_table = true;
            continue;
        }
        if (new_table) {
            tables.push_back(Table{tokens(line), {}, {}});
            new_table = false;
            continue;
        }
        if (line.starts_with("  ")) {
            tables.back().notes.push_back(line);
            continue;
        }
        const auto cells = tokens(line);
        EXPECT_EQ(cells.size(), tables.back().header.size()) << "ragged row: '" << line << "'";
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < cells.size() && i < tables.back().header.size(); ++i)
            row[tables.back().header[i]] = cells[i];
        tables.back().rows.push_back(std::move(row));
    }
    return tables;
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

    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto tables = parse_tables(r.out);
    ASSERT_EQ(tables.size(), 1u) << r.out;
    const auto& t = tables[0];
    EXPECT_EQ(t.header,
              (std::vector<std::string>{"NAME", "MODE", "SECTIONS", "BYTES", "BLOCK", "COMMIT_SEQ", "OPEN", "FLAGS"}));
    ASSERT_EQ(t.rows.size(), 3u) << r.out;
    EXPECT_TRUE(t.notes.empty()) << r.out;

    auto c = t.row("calls");
    ASSERT_TRUE(c) << r.out;
    EXPECT_EQ((*c)["MODE"], "async");
    EXPECT_EQ((*c)["SECTIONS"], "3/8");
    EXPECT_EQ((*c)["BYTES"], std::to_string(st->bytes_used) + "/65536");
    EXPECT_EQ((*c)["BLOCK"], "512");
    EXPECT_EQ((*c)["COMMIT_SEQ"], std::to_string(st->commit_seq));
    EXPECT_EQ((*c)["OPEN"], "1");
    EXPECT_EQ((*c)["FLAGS"], "-");

    auto s = t.row("single");
    ASSERT_TRUE(s) << r.out;
    EXPECT_EQ((*s)["MODE"], "sync");
    EXPECT_EQ((*s)["SECTIONS"], "1/1");
    EXPECT_EQ((*s)["BLOCK"], "256");
    EXPECT_EQ((*s)["FLAGS"], "-");

    auto d = t.row("durable");
    ASSERT_TRUE(d) << r.out;
    EXPECT_EQ((*d)["MODE"], "weak");
    EXPECT_EQ((*d)["SECTIONS"], "0/4");
    EXPECT_EQ((*d)["BYTES"], "0/16384");
    EXPECT_EQ((*d)["BLOCK"], "1024");
    EXPECT_EQ((*d)["FLAGS"], "persistent");

    // The open-handle count follows the handles: close one and it drops.
    ASSERT_TRUE(single->close().ok());
    const ToolRun after = run_ckptstat(at_engine({}));
    ASSERT_EQ(after.exit_code, 0) << after.err;
    const auto tables2 = parse_tables(after.out);
    ASSERT_EQ(tables2.size(), 1u) << after.out;
    // Retention 0: the closed checkpoint either is gone or shows no handle.
    if (auto s2 = tables2[0].row("single")) {
        EXPECT_EQ((*s2)["OPEN"], "0");
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

    const ToolRun r = run_ckptstat(at_engine({"-c", "calls"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto tables = parse_tables(r.out);
    ASSERT_EQ(tables.size(), 2u) << r.out;

    auto c = tables[0].row("calls");
    ASSERT_TRUE(c) << r.out;
    EXPECT_EQ((*c)["SECTIONS"], "4/8");
    EXPECT_EQ((*c)["COMMIT_SEQ"], std::to_string(commit_seq));
    EXPECT_EQ((*c)["OPEN"], "1");

    const auto& t = tables[1];
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
    ASSERT_EQ(parse_tables(r2.out).size(), 2u) << r2.out;
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
    const auto tables = parse_tables(r.out);
    ASSERT_EQ(tables.size(), 2u) << r.out;
    ASSERT_EQ(tables[1].rows.size(), 1u) << r.out;
    auto d = tables[1].row("(default)");
    ASSERT_TRUE(d) << r.out;
    EXPECT_EQ((*d)["SIZE"], "5");
    EXPECT_EQ((*d)["SEQ"], std::to_string(*seq));
    EXPECT_EQ((*d)["STATE"], "valid");
    EXPECT_EQ((*d)["EXPIRES"], "never");
}

TEST_F(Ckptstat, EmptyEngineShowsOnlyTheHeader) {
    const ToolRun r = run_ckptstat(at_engine({}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto tables = parse_tables(r.out);
    ASSERT_EQ(tables.size(), 1u) << r.out;
    EXPECT_TRUE(tables[0].rows.empty()) << r.out;
}

TEST_F(Ckptstat, SocketComesFromTheEnvironment) {
    // Held open: with retention 0 a closed checkpoint goes at once.
    auto ck = session->create("envck", attrs(UpdateMode::kAsync, 2, 4096, 256));
    ASSERT_TRUE(ck.ok()) << ck.message();
    const ToolRun r = run_ckptstat({}, {"CKPT_SOCKET=" + engine.socket()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto tables = parse_tables(r.out);
    ASSERT_EQ(tables.size(), 1u) << r.out;
    EXPECT_TRUE(tables[0].row("envck")) << r.out;
}

TEST_F(Ckptstat, UnknownCheckpointIsAnError) {
    const ToolRun r = run_ckptstat(at_engine({"-c", "nosuchckpt"}));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("ckptstat: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nosuchckpt"), std::string::npos) << r.err;

    // A name the engine could never hold is refused with the same exit code, naming the problem.
    const ToolRun bad = run_ckptstat(at_engine({"-c", "bad/name"}));
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("ckptstat: "), std::string::npos) << bad.err;
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
    ::rmdir(dir);
}

TEST(CkptstatUsage, HelpExitsZero) {
    const ToolRun r = run_ckptstat({"--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("--checkpoint"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--socket"), std::string::npos) << r.out;
}

TEST(CkptstatUsage, UnknownOptionIsAnError) {
    const ToolRun r = run_ckptstat({"--no-such-option"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
}

} // namespace
