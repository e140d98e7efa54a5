// The local stage with real processes (issue 14's local path, docs/ARCHITECTURE.md §3.6): with
// ckptd stopped (SIGSTOP: the engine is not scheduled at all), a writer's next transaction on a
// section does not wait for the capture of its previous commit, it stages it; one commit more
// waits (a section has at most one staged commit); a write group's member is never staged; a
// writer SIGKILLed after staging is rolled back to the staged commit once the engine runs again.
#include "ckpt/client/session.hpp"
#include "engine_test.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kCap = 4096;

CheckpointAttributes attrs() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = 64 * 1024;
    a.max_sections = 8;
    a.max_section_size = kCap;
    a.max_section_id_size = 16;
    a.block_size = 256;
    a.retention_ns = 0;
    return a;
}

std::vector<std::byte> bytes(std::size_t n, int v) {
    return std::vector<std::byte>(n, std::byte(v));
}

class LocalStageApi : public ckpt::testing::EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        auto ck = session->create("stage", attrs());
        ASSERT_TRUE(ck.ok()) << ck.message();
        ck_.emplace(std::move(*ck));
        for (const char* id : {"s", "t"})
            ASSERT_TRUE(ck_->create_section({.id = id, .capacity = kCap, .initial = bytes(kCap, 0x11)}).ok());
        auto s = ck_->section("s");
        ASSERT_TRUE(s.ok()) << s.message();
        s_.emplace(std::move(*s));
    }
    void TearDown() override { resume(); }
    void pause_engine() {
        ASSERT_EQ(::kill(engine.pid(), SIGSTOP), 0);
        stopped_ = true;
    }
    void resume() {
        if (stopped_) ::kill(engine.pid(), SIGCONT);
        stopped_ = false;
    }
    std::vector<std::byte> read_s() {
        std::vector<std::byte> out(kCap);
        auto n = s_->read(0, out);
        EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.message());
        return out;
    }
    std::optional<Checkpoint> ck_;
    std::optional<Section> s_;
    bool stopped_ = false;
};

TEST_F(LocalStageApi, AWriteDoesNotWaitForTheEngineToCaptureThePreviousOne) {
    ASSERT_TRUE(s_->write(0, bytes(256, 0x11), Ack::kSync).ok()); // captured
    pause_engine();
    ASSERT_TRUE(s_->write(0, bytes(256, 0x22), Ack::kAsync).ok()); // B: nobody captures it now
    // The next transaction stages B instead of waiting for ckptd (it would time out: ckptd is stopped).
    auto tx = s_->write(300ms);
    ASSERT_TRUE(tx.ok()) << tx.message();
    tx->write(256, bytes(256, 0x33));
    ASSERT_TRUE(tx->commit(Ack::kAsync).ok());
    // B is staged and C live: one more waits for the engine, as before the stage.
    auto third = s_->write(300ms);
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.error(), Error::kTimeout) << third.message();
    resume();
    ASSERT_TRUE(s_->write(512, bytes(256, 0x44), Ack::kSync).ok());
    auto want = bytes(kCap, 0x11);
    std::memset(want.data(), 0x22, 256);
    std::memset(want.data() + 256, 0x33, 256);
    std::memset(want.data() + 512, 0x44, 256);
    EXPECT_EQ(read_s(), want);
}

TEST_F(LocalStageApi, AWriteGroupMemberIsNeverStaged) {
    auto t = ck_->section("t");
    ASSERT_TRUE(t.ok());
    pause_engine();
    std::vector<WriteTx> txs;
    for (Section* sec : {&*s_, &*t}) {
        auto tx = sec->write(300ms);
        ASSERT_TRUE(tx.ok()) << tx.message();
        tx->write(0, bytes(256, 0x55));
        txs.push_back(std::move(*tx));
    }
    ASSERT_TRUE(commit_group(txs, Ack::kAsync).ok());
    // Staged alone, s's half of the group would reach the shadow and the standbys without t's.
    auto next = s_->write(300ms);
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.error(), Error::kTimeout) << next.message();
    resume();
    ASSERT_TRUE(s_->write(0, bytes(256, 0x66), Ack::kSync).ok());
}

TEST_F(LocalStageApi, AWriterKilledAfterStagingIsRolledBackToTheStagedCommit) {
    ASSERT_TRUE(s_->write(0, bytes(kCap, 0x11), Ack::kSync).ok());
    int up[2], down[2]; // child -> parent: what it did; parent -> child: go on
    ASSERT_EQ(::pipe(up), 0);
    ASSERT_EQ(::pipe(down), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) { // the writer: its own session; B committed, C staged over it and half written
        ::close(up[0]);
        ::close(down[1]);
        auto say = [&](const char* what) {
            [[maybe_unused]] auto n = ::write(up[1], what, std::strlen(what));
            if (std::strcmp(what, "staged\n") != 0 && std::strcmp(what, "ready\n") != 0) ::_exit(1);
        };
        auto s = Session::connect({engine.socket()});
        if (!s.ok()) say("connect\n");
        auto ck = s->open("stage", kOpenRead | kOpenWrite);
        if (!ck.ok()) say("open\n");
        auto sec = ck->section("s");
        if (!sec.ok()) say("section\n");
        say("ready\n");
        char go = 0;
        if (::read(down[0], &go, 1) != 1) ::_exit(1);
        if (!sec->write(0, bytes(256, 0x22), Ack::kAsync).ok()) say("commit B\n");
        auto tx = sec->write(2000ms);
        if (!tx.ok()) say("stage\n");
        tx->write(0, bytes(1024, 0xEE)); // never committed
        say("staged\n");
        ::pause();
        ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    auto hear = [&] {
        char buf[64] = {};
        const auto n = ::read(up[0], buf, sizeof buf - 1);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("(nothing)");
    };
    const std::string ready = hear();
    if (ready == "ready\n") pause_engine(); // connected and open: from here ckptd does not run
    [[maybe_unused]] auto w = ::write(down[1], "g", 1);
    const std::string staged = ready == "ready\n" ? hear() : ready;
    ::kill(child, SIGKILL);
    int st = 0;
    ::waitpid(child, &st, 0);
    ::close(up[0]);
    ::close(down[1]);
    ASSERT_EQ(staged, "staged\n") << "the child writer failed at: " << staged;
    resume();
    // The engine sees the writer dead and rolls its transaction back: to B, which only the stage
    // record held, not to the commit before it.
    auto want = bytes(kCap, 0x11);
    std::memset(want.data(), 0x22, 256);
    EXPECT_EQ(read_s(), want);
    ASSERT_TRUE(s_->write(1024, bytes(256, 0x77), Ack::kSync).ok()) << "the section is writable again";
}

} // namespace
