// ckptctl against a real ckptd: every command is run as a process and its effect checked through the
// client API (what it made, wrote, deleted), or its output checked against what the API made; every
// failure must give the documented exit code and the engine's words on stderr.
#include "child_process.hpp"
#include "engine_test.hpp"
#include "tool_run.hpp"

#include "ckpt/client/session.hpp"
#include "ckpt/shm/checkpoint_view.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::test_app_path;

extern char** environ;

namespace {

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

using ckpt::testing::describe;
using ckpt::testing::ToolRun;

/// A private temporary directory, removed with everything in it.
struct TempDir {
    TempDir() {
        char t[] = "/tmp/ckptctl-test-XXXXXX";
        const char* d = ::mkdtemp(t);
        path = d ? d : "";
    }
    ~TempDir() {
        if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
    }
    std::string path;
};

std::string ckptctl_path() {
    const char* p = std::getenv("CKPTCTL");
    return p && *p ? p : "ckptctl";
}

ToolRun run_ckptctl(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    return ckpt::testing::run_tool(ckptctl_path(), args, extra_env);
}

std::vector<std::string> tokens(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    return t;
}

/// A table of the output: header tokens, then rows as column -> cell; "  ..." lines are notes.
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

Table parse_table(const std::string& text) {
    Table t;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (t.header.empty()) {
            t.header = tokens(line);
            continue;
        }
        if (line.starts_with("  ")) {
            t.notes.push_back(line);
            continue;
        }
        const auto cells = tokens(line);
        EXPECT_EQ(cells.size(), t.header.size()) << "ragged row: '" << line << "'";
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < cells.size() && i < t.header.size(); ++i) row[t.header[i]] = cells[i];
        t.rows.push_back(std::move(row));
    }
    return t;
}

/// `status` output: "key: value" lines.
std::map<std::string, std::string> parse_status(const std::string& text) {
    std::map<std::string, std::string> kv;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        EXPECT_NE(colon, std::string::npos) << "not a key: value line: '" << line << "'";
        if (colon == std::string::npos) continue;
        const auto value = line.find_first_not_of(' ', colon + 1);
        kv[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
    }
    return kv;
}

/// The bytes a `hexdump -C`-style dump shows, checking each line's offset and ASCII column on the way.
std::string parse_hexdump(const std::string& text) {
    std::string bytes;
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    EXPECT_FALSE(lines.empty());
    if (lines.empty()) return bytes;
    for (std::size_t k = 0; k + 1 < lines.size(); ++k) {
        const std::string& line = lines[k];
        EXPECT_EQ(std::stoul(line.substr(0, 8), nullptr, 16), bytes.size()) << line;
        // "OOOOOOOO  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  |ascii|"
        const std::string hex = line.substr(10, 49);
        std::string here;
        for (const auto& tok : tokens(hex)) here += static_cast<char>(std::stoul(tok, nullptr, 16));
        const auto bar = line.find('|', 59);
        EXPECT_NE(bar, std::string::npos) << line;
        EXPECT_EQ(line.back(), '|') << line;
        std::string ascii;
        for (char c : here) ascii += c >= 0x20 && c < 0x7f ? c : '.';
        EXPECT_EQ(line.substr(bar + 1, line.size() - bar - 2), ascii) << line;
        bytes += here;
    }
    // The last line is the total length.
    EXPECT_EQ(std::stoul(lines.back(), nullptr, 16), bytes.size()) << lines.back();
    return bytes;
}

/// "2030-01-01T00:00:00.000Z". By hand: GCC 12 warns inside <regex> under the sanitizers (-Werror).
bool is_iso_utc(const std::string& t) {
    const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (t.size() != shape.size()) return false;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const bool ok = shape[i] == 'd' ? t[i] >= '0' && t[i] <= '9' : t[i] == shape[i];
        if (!ok) return false;
    }
    return true;
}

CheckpointAttributes attrs(UpdateMode mode, std::uint32_t sections, std::uint64_t size = 64 * 1024) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(mode);
    a.checkpoint_size = size;
    a.max_sections = sections;
    a.max_section_size = 4096;
    a.max_section_id_size = 32;
    a.block_size = 256;
    return a;
}

// 2100-01-01T00:00:00.250Z: far enough ahead never to expire during a test.
constexpr std::int64_t kExpiry = 4'102'444'800'000'000'000 + 250'000'000;
constexpr std::int64_t kHourNs = 3'600'000'000'000;

void expect_engine_error(const ToolRun& r, const std::string& code, const std::string& words) {
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
    EXPECT_TRUE(r.err.starts_with("ckptctl: ")) << describe(r);
    EXPECT_NE(r.err.find(words), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find(code), std::string::npos) << describe(r);
}

void expect_usage_error(const ToolRun& r, const std::string& words) {
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
    EXPECT_TRUE(r.err.starts_with("ckptctl: ")) << describe(r);
    EXPECT_NE(r.err.find(words), std::string::npos) << describe(r);
}

class Ckptctl : public ckpt::testing::EngineTest {
protected:
    ToolRun ctl(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--socket", engine.socket()});
        return run_ckptctl(args);
    }

    /// Runs a command that must succeed and returns its stdout.
    std::string ok(std::vector<std::string> args) const {
        const ToolRun r = ctl(std::move(args));
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_EQ(r.err, "") << describe(r);
        return r.out;
    }

    CheckpointAttributes attributes_of(const std::string& name) {
        auto ck = session->open(name, kOpenRead);
        EXPECT_TRUE(ck.ok()) << ck.message();
        return ck.ok() ? ck->attributes() : CheckpointAttributes{};
    }
};

// ------------------------------------------------------------------------------------------
// create / unlink
// ------------------------------------------------------------------------------------------

TEST_F(Ckptctl, CreateSetsEveryAttribute) {
    EXPECT_EQ(ok({"create", "calls", "--size", "2M", "--max-sections", "16", "--max-section-size", "64K",
                  "--max-section-id-size", "48", "--retention-ms", "5000", "--mode", "sync", "--block-size", "1K",
                  "--persistent"}),
              "");
    CheckpointAttributes want;
    want.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync) | kFlagPersistent;
    want.checkpoint_size = 2 << 20;
    want.max_sections = 16;
    want.max_section_size = 64 << 10;
    want.max_section_id_size = 48;
    want.retention_ns = 5'000'000'000;
    want.block_size = 1024;
    EXPECT_EQ(attributes_of("calls"), want);

    // The other two modes, and the G suffix.
    ok({"create", "async1", "--mode", "async", "--size", "1G", "--max-section-size", "4k"});
    const auto a = attributes_of("async1");
    EXPECT_EQ(a.update_mode(), UpdateMode::kAsync);
    EXPECT_EQ(a.checkpoint_size, std::uint64_t{1} << 30);
    EXPECT_EQ(a.max_section_size, 4096u);
    EXPECT_FALSE(a.persistent());
    ok({"create", "weak1", "--mode", "weak"});
    EXPECT_EQ(attributes_of("weak1").update_mode(), UpdateMode::kAsyncWeak);
}

TEST_F(Ckptctl, CreateDefaultsAreTheLibrarysButRetentionIsAnHour) {
    ok({"create", "plain"});
    // ckptctl has exited and closed its handle: the checkpoint is still there, held by retention.
    CheckpointAttributes want;
    want.retention_ns = kHourNs;
    EXPECT_EQ(attributes_of("plain"), want);
}

TEST_F(Ckptctl, CreateWithRetentionZeroLeavesNothingBehind) {
    ok({"create", "fleeting", "--retention-ms", "0"});
    auto ck = session->open("fleeting", kOpenRead);
    ASSERT_FALSE(ck.ok());
    EXPECT_EQ(ck.error(), Error::kNotExist);
}

TEST_F(Ckptctl, CreateTwiceWithOtherAttributesIsExist) {
    ok({"create", "calls", "--size", "64K", "--max-section-size", "4K", "--max-sections", "8"});
    // The same attributes again: opens the existing checkpoint, which is success.
    ok({"create", "calls", "--size", "64K", "--max-section-size", "4K", "--max-sections", "8"});
    const ToolRun r = ctl({"create", "calls", "--size", "128K", "--max-section-size", "4K", "--max-sections", "8"});
    expect_engine_error(r, "SA_AIS_ERR_EXIST", "checkpoint 'calls' exists with other creation attributes");
    EXPECT_EQ(attributes_of("calls").checkpoint_size, 64u << 10);
}

TEST_F(Ckptctl, CreateRefusedByTheEngineSaysWhy) {
    // Syntactically fine, refused by the attribute rules: an engine error (1), not a usage error.
    const ToolRun r = ctl({"create", "odd", "--block-size", "100"});
    expect_engine_error(r, "SA_AIS_ERR_INVALID_PARAM", "block_size must be a power of two");
    const ToolRun e = ctl({"create", ""});
    expect_engine_error(e, "SA_AIS_ERR_INVALID_PARAM", "checkpoint name is empty");
    const ToolRun n = ctl({"create", std::string(257, 'n')});
    expect_engine_error(n, "SA_AIS_ERR_NAME_TOO_LONG", "checkpoint name is 257 bytes, at most 256");
}

// Names are SaNameTs: ckptctl takes and shows the real name (a byte that is not printable ASCII,
// a space or a backslash as \xHH, both ways), and every command reaches the checkpoint by it.
TEST_F(Ckptctl, RealNamesInEveryCommand) {
    const std::string csa103 = "safCkpt=csa103Ckpt,safApp=safCkptService";
    // csa103's shape: 4 bytes held by at most 2 sections of at most 4 bytes.
    ok({"create", csa103, "--max-sections", "2", "--max-section-size", "4", "--size", "4", "--net-size", "--block-size",
        "64"});
    ok({"section-create", csa103, "s", "--data", "ab"});
    ok({"section-create", csa103, "t", "--data", "xy"});
    ok({"write", csa103, "s", "--data", "cd"});
    expect_engine_error(ctl({"write", csa103, "t", "--data", "xyz"}), "SA_AIS_ERR_NO_SPACE", "checkpoint_size 4");
    auto ck = session->open(csa103, kOpenRead); // the API sees the checkpoint ckptctl made, by its name
    ASSERT_TRUE(ck.ok()) << ck.message();
    EXPECT_EQ(ck->attributes().max_sections, 2u);
    EXPECT_TRUE(ck->attributes().net_size());
    EXPECT_EQ(parse_status(ok({"status", csa103}))["net_size"], "yes");

    // A name with a space, a newline, a slash and a byte above 0x7f, made through the API.
    const std::string odd = "call state/\n\xff";
    auto held = session->create(odd, attrs(UpdateMode::kAsync, 4)); // held open: retention 0
    ASSERT_TRUE(held.ok()) << held.message();
    const std::string shown = "call\\x20state/\\x0a\\xff";

    const Table t = parse_table(ok({"list"}));
    ASSERT_EQ(t.rows.size(), 2u);
    EXPECT_TRUE(t.row(csa103)) << ok({"list"});
    EXPECT_TRUE(t.row(shown)) << ok({"list"});
    EXPECT_EQ(parse_status(ok({"status", csa103}))["name"], csa103);
    EXPECT_EQ(parse_status(ok({"status", shown}))["name"], shown);
    EXPECT_EQ(parse_hexdump(ok({"dump", csa103, "s"})), "cd");
    ok({"section-create", shown, "x", "--data", "zz"});
    auto oc = session->open(odd, kOpenRead);
    ASSERT_TRUE(oc.ok()) << oc.message();
    EXPECT_TRUE(oc->section("x").ok());
    EXPECT_EQ(ok({"unlink", shown}), "");
    EXPECT_EQ(session->open(odd, kOpenRead).error(), Error::kNotExist);
    expect_engine_error(ctl({"status", shown}), "SA_AIS_ERR_NOT_EXIST", "no checkpoint '" + shown + "'");
}

TEST_F(Ckptctl, UnlinkRemovesTheName) {
    ok({"create", "gone"});
    EXPECT_EQ(ok({"unlink", "gone"}), "");
    auto ck = session->open("gone", kOpenRead);
    ASSERT_FALSE(ck.ok());
    EXPECT_EQ(ck.error(), Error::kNotExist);
}

TEST_F(Ckptctl, UnlinkUnknownIsNotExist) {
    expect_engine_error(ctl({"unlink", "nosuchckpt"}), "SA_AIS_ERR_NOT_EXIST", "no checkpoint 'nosuchckpt'");
}

// ------------------------------------------------------------------------------------------
// usage errors
// ------------------------------------------------------------------------------------------

TEST_F(Ckptctl, UsageErrorsExit64) {
    expect_usage_error(ctl({"create", "x", "--size", "12Q"}), "--size");
    expect_usage_error(ctl({"create", "x", "--size", "-1"}), "--size");
    expect_usage_error(ctl({"create", "x", "--size", "1.5M"}), "--size");
    expect_usage_error(ctl({"create", "x", "--size", "99999999999999999999"}), "--size");
    expect_usage_error(ctl({"create", "x", "--block-size", "8G"}), "--block-size");
    expect_usage_error(ctl({"create", "x", "--mode", "fast"}), "--mode");
    expect_usage_error(ctl({"create", "x", "--max-sections", "lots"}), "--max-sections");
    expect_usage_error(ctl({"create", "x", "--retention-ms", "-5"}), "--retention-ms");
    expect_usage_error(ctl({"create"}), "NAME");
    expect_usage_error(ctl({"frobnicate"}), "frobnicate");
    expect_usage_error(ctl({}), "no command given");
    expect_usage_error(ctl({"list", "--no-such-option"}), "--no-such-option");
    expect_usage_error(ctl({"dump", "ck", "a\\q"}), "\\x5c");
    expect_usage_error(ctl({"section-create", "ck", "s", "--data", "x", "--data-file", "/dev/null"}), "--data");
    expect_usage_error(ctl({"write", "ck", "s"}), "--data");
    // Nothing was created by any of them.
    auto list = session->list();
    ASSERT_TRUE(list.ok());
    EXPECT_TRUE(list->empty());
}

// ------------------------------------------------------------------------------------------
// list / sections / status
// ------------------------------------------------------------------------------------------

TEST_F(Ckptctl, ListShowsEveryCheckpoint) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ASSERT_TRUE(calls->create_section({.id = "alpha", .capacity = 1024, .initial = B("0123456789")}).ok());
    ASSERT_TRUE(calls->create_section({.id = "beta", .capacity = 2048}).ok());
    CheckpointAttributes pa = attrs(UpdateMode::kAsyncWeak, 4, 16 * 1024);
    pa.creation_flags |= kFlagPersistent;
    auto durable = session->create("durable", pa);
    ASSERT_TRUE(durable.ok()) << durable.message();
    auto single = session->create("single", attrs(UpdateMode::kSync, 1, 4096));
    ASSERT_TRUE(single.ok()) << single.message();
    auto st = calls->status();
    ASSERT_TRUE(st.ok()) << st.message();

    const Table t = parse_table(ok({"list"}));
    EXPECT_EQ(t.header, (std::vector<std::string>{"NAME", "MODE", "SECTIONS", "BYTES", "COMMIT_SEQ", "OPEN", "FLAGS"}));
    ASSERT_EQ(t.rows.size(), 3u);
    EXPECT_TRUE(t.notes.empty());
    auto c = t.row("calls");
    ASSERT_TRUE(c);
    EXPECT_EQ((*c)["MODE"], "async");
    EXPECT_EQ((*c)["SECTIONS"], "2/8");
    EXPECT_EQ((*c)["BYTES"], std::to_string(st->bytes_used) + "/65536");
    EXPECT_EQ((*c)["COMMIT_SEQ"], std::to_string(st->commit_seq));
    EXPECT_EQ((*c)["OPEN"], "1");
    EXPECT_EQ((*c)["FLAGS"], "-");
    auto d = t.row("durable");
    ASSERT_TRUE(d);
    EXPECT_EQ((*d)["MODE"], "weak");
    EXPECT_EQ((*d)["SECTIONS"], "0/4");
    EXPECT_EQ((*d)["BYTES"], "0/16384");
    EXPECT_EQ((*d)["FLAGS"], "persistent");
    auto s = t.row("single");
    ASSERT_TRUE(s);
    EXPECT_EQ((*s)["MODE"], "sync");
    EXPECT_EQ((*s)["SECTIONS"], "1/1");
}

TEST_F(Ckptctl, PeersOfANodeLocalEngine) {
    const std::string out = ok({"peers"});
    EXPECT_EQ(out.rfind("transport none: rx 0 tx 0", 0), 0u) << out;
    EXPECT_EQ(out.find("NODE"), std::string::npos) << "no peer table without peers\n" << out;
}

TEST_F(Ckptctl, ListOfAnEmptyEngineIsTheHeader) {
    const Table t = parse_table(ok({"list"}));
    EXPECT_EQ(t.header.size(), 7u);
    EXPECT_TRUE(t.rows.empty());
}

TEST_F(Ckptctl, SectionsShowEveryColumn) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ASSERT_TRUE(calls->create_section({.id = "alpha", .capacity = 1024, .initial = B("0123456789")}).ok());
    ASSERT_TRUE(calls->create_section({.id = "gamma", .expiration_ns = kExpiry, .capacity = 512}).ok());
    const std::string odd_id("a b\\\x01", 5);
    ASSERT_TRUE(calls->create_section({.id = odd_id, .capacity = 256, .initial = B("x")}).ok());
    auto alpha = calls->section("alpha");
    ASSERT_TRUE(alpha.ok());
    ASSERT_TRUE(alpha->write(10, B("+more"), Ack::kSync).ok());

    const Table t = parse_table(ok({"sections", "calls"}));
    EXPECT_EQ(t.header, (std::vector<std::string>{"ID", "SIZE", "CAPACITY", "STATE", "EXPIRES", "LAST_UPDATE", "SEQ"}));
    const auto descs = calls->sections();
    ASSERT_EQ(t.rows.size(), descs.size());
    ASSERT_EQ(descs.size(), 3u);
    const std::map<std::string, std::string> shown_id{
        {"alpha", "alpha"}, {"gamma", "gamma"}, {odd_id, "a\\x20b\\x5c\\x01"}};
    for (const auto& desc : descs) {
        auto r = t.row(shown_id.at(desc.id));
        ASSERT_TRUE(r) << shown_id.at(desc.id);
        EXPECT_EQ((*r)["SIZE"], std::to_string(desc.size));
        EXPECT_EQ((*r)["CAPACITY"], std::to_string(desc.capacity));
        EXPECT_EQ((*r)["STATE"], "valid");
        EXPECT_EQ((*r)["SEQ"], std::to_string(desc.sequence));
        EXPECT_TRUE(is_iso_utc((*r)["LAST_UPDATE"])) << (*r)["LAST_UPDATE"];
    }
    EXPECT_EQ((*t.row("alpha"))["SIZE"], "15");
    EXPECT_EQ((*t.row("alpha"))["EXPIRES"], "never");
    EXPECT_EQ((*t.row("gamma"))["EXPIRES"], "2100-01-01T00:00:00.250Z");

    // An id as printed names the same section again.
    EXPECT_EQ(ok({"dump", "calls", "a\\x20b\\x5c\\x01", "--raw"}), "x");
}

TEST_F(Ckptctl, SectionsOfTheDefaultSection) {
    auto single = session->create("single", attrs(UpdateMode::kSync, 1, 4096));
    ASSERT_TRUE(single.ok()) << single.message();
    const Table t = parse_table(ok({"sections", "single"}));
    ASSERT_EQ(t.rows.size(), 1u);
    EXPECT_TRUE(t.row("(default)"));
}

TEST_F(Ckptctl, SectionsOfAnUnknownCheckpoint) {
    expect_engine_error(ctl({"sections", "nosuchckpt"}), "SA_AIS_ERR_NOT_EXIST", "nosuchckpt");
}

TEST_F(Ckptctl, StatusShowsAttributesAndCounters) {
    CheckpointAttributes a = attrs(UpdateMode::kSync, 8);
    a.retention_ns = 2'500'000'000;
    auto calls = session->create("calls", a);
    ASSERT_TRUE(calls.ok()) << calls.message();
    auto sec = calls->create_section({.id = "alpha", .capacity = 1024});
    ASSERT_TRUE(sec.ok()) << sec.message();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(sec->write(0, B("tick tock"), Ack::kSync).ok());

    auto kv = parse_status(ok({"status", "calls"}));
    auto st = calls->status();
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_GE(st->captures, 3u);
    EXPECT_EQ(kv["name"], "calls");
    EXPECT_EQ(kv["mode"], "sync");
    EXPECT_EQ(kv["persistent"], "no");
    EXPECT_EQ(kv["checkpoint_size"], "65536");
    EXPECT_EQ(kv["max_sections"], "8");
    EXPECT_EQ(kv["max_section_size"], "4096");
    EXPECT_EQ(kv["max_section_id_size"], "32");
    EXPECT_EQ(kv["block_size"], "256");
    EXPECT_EQ(kv["retention"], "2500 ms");
    EXPECT_EQ(kv["sections"], "1/8");
    EXPECT_EQ(kv["bytes_used"], std::to_string(st->bytes_used) + "/65536");
    EXPECT_EQ(kv["commit_seq"], std::to_string(st->commit_seq));
    EXPECT_EQ(kv["captures"], std::to_string(st->captures));
    EXPECT_EQ(kv["captured_bytes"], std::to_string(st->captured_bytes));
    EXPECT_EQ(kv["rollbacks"], "0");
    EXPECT_EQ(kv["corruptions"], "0");
    EXPECT_EQ(kv["invalid_words"], "0");
    EXPECT_EQ(kv["damage"], "none");
    // A node-local engine: the checkpoint's only copy, nothing replicating.
    EXPECT_EQ(kv["role"], "local");
    EXPECT_EQ(kv["replicas_in_sync"], "0");
    EXPECT_EQ(kv["lag"], "0 commits, 0 bytes");
    EXPECT_EQ(kv["sync_blocked_by"], "none");
    EXPECT_EQ(kv["net_size"], "no");
    EXPECT_EQ(kv.size(), 25u);
}

TEST_F(Ckptctl, StatusOfAnUnknownCheckpoint) {
    expect_engine_error(ctl({"status", "nosuchckpt"}), "SA_AIS_ERR_NOT_EXIST", "no checkpoint 'nosuchckpt'");
}

TEST_F(Ckptctl, StatusAndListReportDamage) {
    auto victim = session->create("victim", attrs(UpdateMode::kAsync, 16));
    ASSERT_TRUE(victim.ok()) << victim.message();
    for (int k = 0; k < 8; ++k) ASSERT_TRUE(victim->create_section({.id = "v" + std::to_string(k)}).ok());
    // Scribble over the whole DATA segment, as a hostile writer could.
    const std::string path = "/dev/shm/" + engine.prefix() + "victim.data";
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << path;
    struct stat sb {};
    ASSERT_EQ(::fstat(fd, &sb), 0);
    const auto size = static_cast<std::size_t>(sb.st_size);
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(base, MAP_FAILED);
    std::memset(base, 0xA5, size);
    ::munmap(base, size);
    ::close(fd);
    // The engine finds it on its own (its periodic scan); wait until the API reports it.
    Result<CheckpointStatus> st = victim->status();
    for (int i = 0; i < 1000 && st.ok() && st->damage.empty(); ++i) {
        ::usleep(10'000);
        st = victim->status();
    }
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_FALSE(st->damage.empty()) << "the engine never reported the scribble";

    auto kv = parse_status(ok({"status", "victim"}));
    EXPECT_NE(kv["damage"], "none");
    EXPECT_FALSE(kv["damage"].empty());
    EXPECT_NE(kv["invalid_words"], "0");

    const Table t = parse_table(ok({"list"}));
    auto v = t.row("victim");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)["FLAGS"], "damaged");
    ASSERT_EQ(t.notes.size(), 1u);
    EXPECT_TRUE(t.notes[0].starts_with("  damaged: ")) << t.notes[0];
}

TEST_F(Ckptctl, CorruptedSectionIsShownAndCannotBeDumped) {
    auto weak = session->create("weak", attrs(UpdateMode::kAsyncWeak, 4));
    ASSERT_TRUE(weak.ok()) << weak.message();
    auto sec = weak->create_section({.id = "s", .capacity = 1024, .initial = B("before")});
    ASSERT_TRUE(sec.ok()) << sec.message();
    ChildProcess w({test_app_path(), "midtx", engine.socket(), "weak", "s"});
    ASSERT_EQ(w.read_line(), "inside");
    w.kill(SIGKILL);
    w.wait();
    // The engine notices the death on its own; wait until the API shows the section corrupted.
    for (int i = 0; i < 1000 && weak->sections(SectionsChosen::kCorrupted).empty(); ++i) ::usleep(10'000);
    ASSERT_EQ(weak->sections(SectionsChosen::kCorrupted).size(), 1u);

    const Table t = parse_table(ok({"sections", "weak"}));
    auto r = t.row("s");
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)["STATE"], "corrupted");
    EXPECT_NE(parse_status(ok({"status", "weak"}))["corruptions"], "0");
    expect_engine_error(ctl({"dump", "weak", "s"}), "SA_AIS_ERR_FAILED_OPERATION", "corrupted");
    expect_engine_error(ctl({"write", "weak", "s", "--data", "x"}), "SA_AIS_ERR_FAILED_OPERATION", "corrupted");
}

// ------------------------------------------------------------------------------------------
// sections: create, delete, dump, write
// ------------------------------------------------------------------------------------------

TEST_F(Ckptctl, SectionCreateWithEveryOption) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    const std::int64_t before = shm::now_realtime_ns();

    EXPECT_EQ(ok({"section-create", "calls", "plain"}), "");
    ok({"section-create", "calls", "given", "--size", "1K", "--data", "hello"});
    ok({"section-create", "calls", "expiring", "--size", "512", "--expires-in-ms", "3600000"});
    TempDir dir;
    const std::string file = dir.path + "/payload";
    const std::string payload("bin\0ary\xff\n", 9);
    std::ofstream(file, std::ios::binary) << payload;
    ok({"section-create", "calls", "fromfile", "--data-file", file});
    ok({"section-create", "calls", "a\\x20b"});

    std::map<std::string, SectionDescriptor> by_id;
    for (auto& d : calls->sections()) by_id[d.id] = d;
    ASSERT_EQ(by_id.size(), 5u);
    EXPECT_EQ(by_id["plain"].capacity, 4096u); // max_section_size
    EXPECT_EQ(by_id["plain"].size, 0u);
    EXPECT_EQ(by_id["plain"].expiration_ns, kTimeEnd);
    EXPECT_EQ(by_id["given"].capacity, 1024u);
    EXPECT_EQ(by_id["given"].size, 5u);
    EXPECT_EQ(by_id["expiring"].capacity, 512u);
    EXPECT_GE(by_id["expiring"].expiration_ns, before + kHourNs);
    EXPECT_NE(by_id["expiring"].expiration_ns, kTimeEnd);
    EXPECT_EQ(by_id["fromfile"].size, payload.size());
    EXPECT_TRUE(by_id.count("a b"));

    auto given = calls->section("given");
    ASSERT_TRUE(given.ok());
    char buf[16];
    auto n = given->read(0, std::as_writable_bytes(std::span(buf)));
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(std::string(buf, *n), "hello");
    auto fromfile = calls->section("fromfile");
    ASSERT_TRUE(fromfile.ok());
    n = fromfile->read(0, std::as_writable_bytes(std::span(buf)));
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(std::string(buf, *n), payload);
}

TEST_F(Ckptctl, SectionCreateErrors) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ok({"section-create", "calls", "dup"});
    expect_engine_error(ctl({"section-create", "calls", "dup"}), "SA_AIS_ERR_EXIST", "'dup' exists");
    expect_engine_error(ctl({"section-create", "nosuchckpt", "s"}), "SA_AIS_ERR_NOT_EXIST", "nosuchckpt");
    const ToolRun big = ctl({"section-create", "calls", "big", "--size", "1M"});
    EXPECT_EQ(big.exit_code, 1) << describe(big);
    EXPECT_TRUE(big.err.starts_with("ckptctl: ")) << describe(big);
    const ToolRun nofile = ctl({"section-create", "calls", "nofile", "--data-file", "/nonexistent/file"});
    EXPECT_EQ(nofile.exit_code, 1) << describe(nofile);
    EXPECT_NE(nofile.err.find("/nonexistent/file"), std::string::npos) << describe(nofile);
    EXPECT_FALSE(calls->section("nofile").ok());
}

TEST_F(Ckptctl, SectionDelete) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    ASSERT_TRUE(calls->create_section({.id = "doomed", .capacity = 256}).ok());
    ASSERT_TRUE(calls->create_section({.id = "kept", .capacity = 256}).ok());
    EXPECT_EQ(ok({"section-delete", "calls", "doomed"}), "");
    auto gone = calls->section("doomed");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error(), Error::kNotExist);
    EXPECT_TRUE(calls->section("kept").ok());
    expect_engine_error(ctl({"section-delete", "calls", "doomed"}), "SA_AIS_ERR_NOT_EXIST", "doomed");
}

TEST_F(Ckptctl, DumpShowsTheCommittedBytes) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    std::string bytes;
    for (int i = 0; i < 40; ++i) bytes += static_cast<char>(i * 37 + 5); // control bytes, letters, high bytes
    bytes.replace(0, 12, "hello, world");
    auto sec = calls->create_section({.id = "blob", .capacity = 1024});
    ASSERT_TRUE(sec.ok()) << sec.message();
    ASSERT_TRUE(sec->write(0, B(bytes), Ack::kSync).ok());

    const std::string hex = ok({"dump", "calls", "blob"});
    EXPECT_EQ(parse_hexdump(hex), bytes) << hex;
    EXPECT_TRUE(hex.starts_with("00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 ")) << hex;
    EXPECT_NE(hex.find("|hello, world"), std::string::npos) << hex;
    EXPECT_EQ(ok({"dump", "calls", "blob", "--raw"}), bytes);

    // An empty section: no byte lines, only the length.
    ASSERT_TRUE(calls->create_section({.id = "empty", .capacity = 256}).ok());
    EXPECT_EQ(ok({"dump", "calls", "empty"}), "00000000\n");
    EXPECT_EQ(ok({"dump", "calls", "empty", "--raw"}), "");

    expect_engine_error(ctl({"dump", "calls", "nosuch"}), "SA_AIS_ERR_NOT_EXIST", "no section 'nosuch'");
}

TEST_F(Ckptctl, WriteThenReadBack) {
    auto calls = session->create("calls", attrs(UpdateMode::kAsync, 8));
    ASSERT_TRUE(calls.ok()) << calls.message();
    auto sec = calls->create_section({.id = "alpha", .capacity = 1024, .initial = B("0123456789")});
    ASSERT_TRUE(sec.ok()) << sec.message();

    const std::string out = ok({"write", "calls", "alpha", "--data", "abc", "--offset", "4"});
    // The printed commit sequence is the section's, and a sync write means the engine holds it.
    EXPECT_EQ(out, std::to_string(sec->sequence()) + "\n");
    EXPECT_GE(sec->acked_sequence(), sec->sequence());
    char buf[32];
    auto n = sec->read(0, std::as_writable_bytes(std::span(buf)));
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(std::string(buf, *n), "0123abc789");

    // Writing past the end grows the section.
    const std::string out2 = ok({"write", "calls", "alpha", "--data", "XYZ", "--offset", "10"});
    EXPECT_GT(std::stoull(out2), std::stoull(out));
    EXPECT_EQ(ok({"dump", "calls", "alpha", "--raw"}), "0123abc789XYZ");

    const ToolRun beyond = ctl({"write", "calls", "alpha", "--data", "x", "--offset", "4096"});
    expect_engine_error(beyond, "SA_AIS_ERR_INVALID_PARAM", "exceeds section capacity");
    expect_engine_error(ctl({"write", "calls", "nosuch", "--data", "x"}), "SA_AIS_ERR_NOT_EXIST", "nosuch");
}

TEST_F(Ckptctl, DefaultSectionByEmptyId) {
    auto single = session->create("single", attrs(UpdateMode::kSync, 1, 4096));
    ASSERT_TRUE(single.ok()) << single.message();
    ok({"write", "single", "", "--data", "state"});
    auto sec = single->default_section();
    ASSERT_TRUE(sec.ok()) << sec.message();
    char buf[16];
    auto n = sec->read(0, std::as_writable_bytes(std::span(buf)));
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(std::string(buf, *n), "state");
    EXPECT_EQ(ok({"dump", "single", "", "--raw"}), "state");
}

// ------------------------------------------------------------------------------------------
// environment, engine absence, replication, help
// ------------------------------------------------------------------------------------------

TEST_F(Ckptctl, SocketComesFromTheEnvironment) {
    const ToolRun r = run_ckptctl({"create", "envck"}, {"CKPT_SOCKET=" + engine.socket()});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(session->open("envck", kOpenRead).ok());
    // --socket is also accepted after the command.
    const ToolRun l = run_ckptctl({"list", "--socket", engine.socket()});
    EXPECT_EQ(l.exit_code, 0) << describe(l);
    EXPECT_TRUE(parse_table(l.out).row("envck")) << l.out;
}

TEST(CkptctlNoEngine, ExitsTwoAndNamesTheSocket) {
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string sock = dir.path + "/ckptd.sock";
    for (const auto& cmd :
         std::vector<std::vector<std::string>>{{"list"}, {"create", "x"}, {"status", "x"}, {"dump", "x", "s"}}) {
        std::vector<std::string> args{"--socket", sock};
        args.insert(args.end(), cmd.begin(), cmd.end());
        const ToolRun r = run_ckptctl(args);
        EXPECT_EQ(r.exit_code, 2) << describe(r);
        EXPECT_EQ(r.out, "");
        EXPECT_TRUE(r.err.starts_with("ckptctl: no ckptd at " + sock)) << describe(r);
        EXPECT_NE(r.err.find("SA_AIS_ERR_UNAVAILABLE"), std::string::npos) << describe(r);
    }
    const ToolRun e = run_ckptctl({"list"}, {"CKPT_SOCKET=" + sock});
    EXPECT_EQ(e.exit_code, 2) << describe(e);
    EXPECT_NE(e.err.find(sock), std::string::npos) << describe(e);
}

TEST(CkptctlReplication, PromoteAndDemoteNeedAnEngineWithPeersAndSayWhy) {
    // No engine: exit 2 naming the socket.
    const ToolRun none = run_ckptctl({"--socket", "/nonexistent/ckptd.sock", "promote", "x"});
    EXPECT_EQ(none.exit_code, 2) << describe(none);
    // A node-local engine has no other replica: the engine says so, exit 1.
    ckpt::testing::EngineProcess e("ctl-promote");
    ASSERT_TRUE(e.start()) << e.log();
    ASSERT_EQ(run_ckptctl({"--socket", e.socket(), "create", "solo"}).exit_code, 0);
    for (const std::string cmd : {"promote", "demote"}) {
        const ToolRun r = run_ckptctl({"--socket", e.socket(), cmd, "solo"});
        EXPECT_EQ(r.exit_code, 1) << describe(r);
        EXPECT_NE(r.err.find("node-local"), std::string::npos) << describe(r);
        const ToolRun missing = run_ckptctl({"--socket", e.socket(), cmd, "nosuch"});
        EXPECT_EQ(missing.exit_code, 1) << describe(missing);
        EXPECT_NE(missing.err.find("no checkpoint 'nosuch'"), std::string::npos) << describe(missing);
        const ToolRun usage = run_ckptctl({"--socket", e.socket(), cmd});
        EXPECT_EQ(usage.exit_code, 64) << describe(usage);
    }
    // status shows the replication role.
    const ToolRun st = run_ckptctl({"--socket", e.socket(), "status", "solo"});
    EXPECT_EQ(st.exit_code, 0) << describe(st);
    EXPECT_NE(st.out.find("role:"), std::string::npos) << st.out;
    EXPECT_NE(st.out.find("local"), std::string::npos) << st.out;
}

TEST(CkptctlKeygen, WritesAPrivateKeyNeverOverwritesAndRotates) {
    const std::string path = "/tmp/hs-ckptctl-key-" + std::to_string(::getpid());
    ::unlink(path.c_str());
    const ToolRun made = run_ckptctl({"keygen", path});
    ASSERT_EQ(made.exit_code, 0) << describe(made);
    EXPECT_EQ(made.out, "cluster key 1 written to " + path + " (0600)\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const ToolRun again = run_ckptctl({"keygen", path});
    EXPECT_EQ(again.exit_code, 1) << describe(again);
    EXPECT_NE(again.err.find("never overwritten: use --rotate"), std::string::npos) << again.err;
    const ToolRun rotated = run_ckptctl({"keygen", "--rotate", path});
    ASSERT_EQ(rotated.exit_code, 0) << describe(rotated);
    EXPECT_NE(rotated.out.find("cluster key 2 written"), std::string::npos) << rotated.out;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ::chmod(path.c_str(), 0644);
    const ToolRun loose = run_ckptctl({"keygen", "--rotate", path});
    EXPECT_EQ(loose.exit_code, 1) << describe(loose);
    EXPECT_NE(loose.err.find("chmod 600"), std::string::npos) << loose.err;
    EXPECT_EQ(run_ckptctl({"keygen", path, "--id", "0"}).exit_code, 64) << "ids are 1..255";
    ::unlink(path.c_str());
}

TEST(CkptctlUsage, HelpExitsZero) {
    const ToolRun r = run_ckptctl({"--help"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "");
    for (const char* word : {"--socket", "list", "create", "unlink", "status", "sections", "section-create",
                             "section-delete", "dump", "write", "promote", "demote", "peers", "keygen", "Exit codes"})
        EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;

    const ToolRun c = run_ckptctl({"create", "--help"});
    EXPECT_EQ(c.exit_code, 0) << describe(c);
    for (const char* word : {"--size", "--max-sections", "--max-section-size", "--max-section-id-size",
                             "--retention-ms", "--mode", "--block-size", "--persistent", "Retention"})
        EXPECT_NE(c.out.find(word), std::string::npos) << word << "\n" << c.out;

    for (const std::string cmd : {"list", "unlink", "status", "sections", "section-create", "section-delete", "dump",
                                  "write", "promote", "demote", "peers"}) {
        const ToolRun h = run_ckptctl({cmd, "--help"});
        EXPECT_EQ(h.exit_code, 0) << cmd << "\n" << describe(h);
        EXPECT_NE(h.out.find("Usage: ckptctl " + cmd), std::string::npos) << h.out;
    }
}

} // namespace
