// ckptd SIGKILLed and restarted: it re-adopts its segments, clients reconnect by themselves, and no
// committed data is lost; persistent checkpoints survive the loss of /dev/shm byte for byte.
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <random>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::EngineProcess;
using ckpt::testing::test_app_path;

namespace {

CheckpointAttributes attrs(std::uint32_t flags = static_cast<std::uint32_t>(UpdateMode::kAsync),
                           std::int64_t retention_ns = 3'600'000'000'000) {
    CheckpointAttributes a;
    a.creation_flags = flags;
    a.checkpoint_size = 256 * 1024;
    a.max_sections = 8;
    a.max_section_size = 32 * 1024;
    a.max_section_id_size = 16;
    a.block_size = 256;
    a.retention_ns = retention_ns;
    return a;
}

std::uint64_t read_u64(const Section& s) {
    std::uint64_t v = 0;
    auto n = s.read(0, std::as_writable_bytes(std::span(&v, 1)));
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.message());
    return v;
}

TEST(EngineRestart, SigkillUnderLoadLosesNoAcknowledgedCommit) {
    EngineProcess engine("restart");
    ASSERT_TRUE(engine.start()) << engine.log();
    {
        auto s = Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok()) << s.message();
        auto ck = s->create("load", attrs());
        ASSERT_TRUE(ck.ok()) << ck.message();
        for (int k = 0; k < 4; ++k)
            ASSERT_TRUE(ck->create_section({.id = "s" + std::to_string(k), .capacity = 256}).ok());
    }
    ChildProcess load({test_app_path(), "load", engine.socket(), "load", "4", "4000"});
    std::map<int, std::uint64_t> acked;
    std::mt19937 rng(7);
    int kills = 0;
    auto consume = [&](const std::string& line) {
        auto sp = line.find(' ');
        acked[std::stoi(line.substr(0, sp))] = std::stoull(line.substr(sp + 1));
    };
    for (int round = 0; round < 6; ++round) {
        // Let some commits through, then kill the engine at a random moment.
        int lines = std::uniform_int_distribution<int>(50, 400)(rng);
        for (int i = 0; i < lines; ++i) {
            auto l = load.read_line();
            ASSERT_TRUE(l.has_value()) << "load writer stopped; engine log:\n" << engine.log();
            consume(*l);
        }
        engine.kill_hard();
        ++kills;
        ::usleep(static_cast<useconds_t>(std::uniform_int_distribution<int>(0, 50'000)(rng)));
        ASSERT_TRUE(engine.start()) << engine.log();
    }
    while (auto l = load.read_line(std::chrono::seconds(30))) consume(*l);
    ASSERT_EQ(load.wait(), 0) << "the writer saw a commit fail; engine log:\n" << engine.log();
    ASSERT_EQ(acked.size(), 4u);

    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->open("load", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    for (auto [k, v] : acked) {
        auto sec = ck->section("s" + std::to_string(k));
        ASSERT_TRUE(sec.ok());
        EXPECT_EQ(read_u64(*sec), v) << "section s" << k << " lost an acknowledged commit";
    }
    EXPECT_EQ(acked[0], 4000u); // every one of the 4000 commits was acknowledged in the end
    EXPECT_EQ(kills, 6);
    const std::string log = engine.log();
    std::size_t adoptions = 0;
    for (auto p = log.find("adopted checkpoint 'load'"); p != std::string::npos;
         p = log.find("adopted checkpoint 'load'", p + 1))
        ++adoptions;
    EXPECT_EQ(adoptions, 6u) << log;
}

TEST(EngineRestart, WriterInsideTransactionKeepsItAcrossRestart) {
    EngineProcess engine("restart-tx");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->create("tx", attrs());
    ASSERT_TRUE(ck.ok());
    std::vector<std::byte> ones(1024, std::byte{1});
    auto sec = ck->create_section({.id = "s", .capacity = 1024, .initial = ones});
    ASSERT_TRUE(sec.ok());
    ChildProcess w({test_app_path(), "midtx", engine.socket(), "tx", "s"});
    ASSERT_EQ(w.read_line(), "inside");
    engine.kill_hard();
    ASSERT_TRUE(engine.start()) << engine.log();
    // The writer is alive: the new engine must not roll its transaction back.
    w.write_line("commit");
    auto r = w.read_line(std::chrono::seconds(20));
    ASSERT_EQ(r, "committed") << engine.log();
    EXPECT_EQ(w.wait(), 0);
    std::vector<std::byte> back(1024);
    auto n = sec->read(0, back);
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(back, std::vector<std::byte>(1024, std::byte{0xEE}));
}

TEST(EngineRestart, WriterDeadWhileEngineDownIsRolledBack) {
    EngineProcess engine("restart-dead");
    ASSERT_TRUE(engine.start()) << engine.log();
    {
        auto s = Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok());
        auto ck = s->create("tx", attrs());
        ASSERT_TRUE(ck.ok());
        std::vector<std::byte> ones(1024, std::byte{1});
        ASSERT_TRUE(ck->create_section({.id = "s", .capacity = 1024, .initial = ones}).ok());
    }
    ChildProcess w({test_app_path(), "midtx", engine.socket(), "tx", "s"});
    ASSERT_EQ(w.read_line(), "inside");
    engine.kill_hard();
    w.kill(SIGKILL);
    w.wait();
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->open("tx", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto sec = ck->section("s");
    ASSERT_TRUE(sec.ok());
    std::vector<std::byte> back(1024);
    auto n = sec->read(0, back);
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(back, std::vector<std::byte>(1024, std::byte{1}));
}

TEST(EngineRestart, ClientSessionReconnectsTransparently) {
    EngineProcess engine("restart-session");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->create("recon", attrs());
    ASSERT_TRUE(ck.ok());
    auto sec = ck->create_section({.id = "a", .capacity = 256});
    ASSERT_TRUE(sec.ok());
    std::uint64_t v = 41;
    ASSERT_TRUE(sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    const std::byte* before = nullptr;
    ASSERT_TRUE(sec->read_view([&](std::span<const std::byte> b) { return before = b.data(); }).ok());
    engine.kill_hard();
    ASSERT_TRUE(engine.start()) << engine.log();
    // Control calls and sync commits work again on the same objects; the mapping did not move.
    v = 42;
    auto r = sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_TRUE(ck->create_section({.id = "b", .capacity = 256}).ok());
    EXPECT_EQ(read_u64(*sec), 42u);
    const std::byte* after = nullptr;
    ASSERT_TRUE(sec->read_view([&](std::span<const std::byte> b) { return after = b.data(); }).ok());
    EXPECT_EQ(before, after);
}

TEST(EngineRestart, PollingSubscriberFollowsAcrossRestart) {
    EngineProcess engine("restart-notify");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto ws = Session::connect({engine.socket()});
    auto rs = Session::connect({engine.socket()});
    ASSERT_TRUE(ws.ok() && rs.ok());
    auto w = ws->create("follow", attrs(static_cast<std::uint32_t>(UpdateMode::kAsync), 0));
    ASSERT_TRUE(w.ok());
    auto sec = w->create_section({.id = "s", .capacity = 256});
    ASSERT_TRUE(sec.ok());
    auto r = rs->open("follow", kOpenRead);
    ASSERT_TRUE(r.ok());
    auto fd = r->notify_fd();
    ASSERT_TRUE(fd.ok()) << fd.message();
    std::uint64_t seen = r->commit_seq();
    engine.kill_hard();
    // The idle subscriber learns of the restart from its fd alone.
    pollfd p{*fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the notify fd did not report the engine's death";
    ASSERT_TRUE(engine.start()) << engine.log();
    std::vector<std::string> ids;
    seen = r->changes_since(seen, ids); // reconnects and re-subscribes
    EXPECT_EQ(r->notify_fd().value(), *fd) << "the application's fd must stay the same";
    std::uint64_t v = 5;
    ASSERT_TRUE(sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no notification after the restart\n" << engine.log();
    ids.clear();
    r->changes_since(seen, ids);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0], "s");
    // Both sessions hold the checkpoint again: retention 0 has not deleted it.
    auto l = rs->list();
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(l->size(), 1u);
    EXPECT_EQ((*l)[0].open_handles, 2u);
}

TEST(EngineRestart, PersistentCheckpointSurvivesLossOfDevShm) {
    EngineProcess engine("persist");
    ASSERT_TRUE(engine.start()) << engine.log();
    std::vector<std::vector<std::byte>> contents;
    std::mt19937_64 rng(99);
    {
        auto s = Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok());
        auto ck = s->create("durable", attrs(static_cast<std::uint32_t>(UpdateMode::kSync) | kFlagPersistent));
        ASSERT_TRUE(ck.ok()) << ck.message();
        auto volatile_ck = s->create("volatile", attrs());
        ASSERT_TRUE(volatile_ck.ok());
        for (int k = 0; k < 3; ++k) {
            std::vector<std::byte> bytes(10 * 1024 + k);
            for (auto& b : bytes) b = static_cast<std::byte>(rng());
            auto sec = ck->create_section({.id = "p" + std::to_string(k), .capacity = 16 * 1024});
            ASSERT_TRUE(sec.ok()) << sec.message();
            ASSERT_TRUE(sec->overwrite(bytes).ok()); // sync by the checkpoint's update mode
            contents.push_back(std::move(bytes));
        }
    }
    engine.kill_hard();
    // A reboot-like loss: everything in /dev/shm is gone.
    for (auto& n : engine.shm_objects()) ::unlink(("/dev/shm/" + n).c_str());
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->open("volatile", kOpenRead).error(), Error::kNotExist);
    auto ck = s->open("durable", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message() << "\n" << engine.log();
    for (int k = 0; k < 3; ++k) {
        auto sec = ck->section("p" + std::to_string(k));
        ASSERT_TRUE(sec.ok());
        std::vector<std::byte> back(contents[static_cast<std::size_t>(k)].size());
        auto n = sec->read(0, back);
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, back.size());
        EXPECT_EQ(back, contents[static_cast<std::size_t>(k)]) << "section p" << k << " differs";
    }
}

} // namespace
