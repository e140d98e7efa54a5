// Write groups (commit_group, saCkptCheckpointWrite of several sections) with real processes: a
// writer SIGKILLed between two of its publications leaves none of the group, also when ckptd is
// SIGKILLed too before it noticed; a writer that lives through an engine restart in the middle of
// its group finishes it; readers of one member wait while the group is open. The writer is
// ckpt_test_app midgroup, stopped by the library's test seam after N publications.
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::EngineProcess;
using ckpt::testing::test_app_path;

namespace {

constexpr int kMembers = 3;
constexpr std::size_t kCapacity = 1024;

CheckpointAttributes attrs() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = 64 * 1024;
    a.max_sections = 8;
    a.max_section_size = 4096;
    a.max_section_id_size = 16;
    a.block_size = 256;
    a.retention_ns = 3'600'000'000'000;
    return a;
}

/// Creates "g" with sections s0..s2 of 1 KiB of 0x01.
void create_group_checkpoint(const EngineProcess& engine) {
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok()) << s.message();
    auto ck = s->create("g", attrs());
    ASSERT_TRUE(ck.ok()) << ck.message();
    const std::vector<std::byte> ones(kCapacity, std::byte{1});
    for (int k = 0; k < kMembers; ++k)
        ASSERT_TRUE(ck->create_section({.id = "s" + std::to_string(k), .capacity = kCapacity, .initial = ones}).ok());
}

/// The first byte of each member, read as one state (a multi-element read).
std::vector<int> first_bytes(Checkpoint& ck) {
    std::vector<std::array<std::byte, 1>> bufs(kMembers);
    std::vector<std::string> ids;
    std::vector<ReadRequest> req;
    for (int k = 0; k < kMembers; ++k) ids.push_back("s" + std::to_string(k));
    for (int k = 0; k < kMembers; ++k) req.push_back({.id = ids[k], .offset = 0, .buffer = bufs[k]});
    auto st = ck.read(req);
    EXPECT_TRUE(st.ok()) << st.message();
    std::vector<int> v;
    for (auto& b : bufs) v.push_back(static_cast<int>(b[0]));
    return v;
}

const std::vector<int> kOld(kMembers, 0x01), kNew(kMembers, 0xEE);

TEST(WriteGroup, AWriterKilledBetweenItsPublicationsLeavesNoneOfTheGroup) {
    EngineProcess engine("wgroup-kill");
    ASSERT_TRUE(engine.start()) << engine.log();
    create_group_checkpoint(engine);
    ChildProcess w({test_app_path(), "midgroup", engine.socket(), "g", std::to_string(kMembers), "2"});
    ASSERT_EQ(w.read_line(std::chrono::seconds(20)), "published 2") << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->open("g", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    // s0 and s1 are published, s2 held: a reader of s0 alone waits, as for a held lock.
    auto s0 = ck->section("s0");
    ASSERT_TRUE(s0.ok());
    auto snap = s0->begin_read(std::chrono::milliseconds(200));
    ASSERT_FALSE(snap.ok()) << "a member of an open group was readable";
    EXPECT_TRUE(snap.error() == Error::kTimeout || snap.error() == Error::kTryAgain) << snap.message();
    w.kill(SIGKILL);
    w.wait();
    // ckptd rolls back the two published members with the held one.
    EXPECT_EQ(first_bytes(*ck), kOld) << engine.log();
    for (int k = 0; k < kMembers; ++k) {
        auto sec = ck->section("s" + std::to_string(k));
        ASSERT_TRUE(sec.ok());
        std::vector<std::byte> back(kCapacity);
        ASSERT_TRUE(sec->read(0, back).ok());
        EXPECT_EQ(back, std::vector<std::byte>(kCapacity, std::byte{1})) << "s" << k;
        EXPECT_EQ(sec->sequence() % 2, 0u);
    }
    // The sections are free: a new group commits whole.
    ChildProcess again({test_app_path(), "midgroup", engine.socket(), "g", std::to_string(kMembers), "0"});
    EXPECT_EQ(again.read_line(std::chrono::seconds(20)), "committed") << engine.log();
    EXPECT_EQ(again.wait(), 0);
    EXPECT_EQ(first_bytes(*ck), kNew);
}

TEST(WriteGroup, AWriterAndItsEngineKilledMidGroupLeaveNoneOfIt) {
    EngineProcess engine("wgroup-both");
    ASSERT_TRUE(engine.start()) << engine.log();
    create_group_checkpoint(engine);
    ChildProcess w({test_app_path(), "midgroup", engine.socket(), "g", std::to_string(kMembers), "1"});
    ASSERT_EQ(w.read_line(std::chrono::seconds(20)), "published 1") << engine.log();
    engine.kill_hard(); // before it saw anything of the writer's death
    w.kill(SIGKILL);
    w.wait();
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->open("g", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    EXPECT_EQ(first_bytes(*ck), kOld) << engine.log();
}

TEST(WriteGroup, AWriterAliveAcrossAnEngineRestartFinishesItsGroup) {
    EngineProcess engine("wgroup-alive");
    ASSERT_TRUE(engine.start()) << engine.log();
    create_group_checkpoint(engine);
    ChildProcess w({test_app_path(), "midgroup", engine.socket(), "g", std::to_string(kMembers), "1"});
    ASSERT_EQ(w.read_line(std::chrono::seconds(20)), "published 1") << engine.log();
    engine.kill_hard();
    ASSERT_TRUE(engine.start()) << engine.log();
    // The restarted engine neither captures the open group's published member nor rolls it back.
    w.write_line("go");
    ASSERT_EQ(w.read_line(std::chrono::seconds(20)), "committed") << engine.log();
    EXPECT_EQ(w.wait(), 0);
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->open("g", kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    EXPECT_EQ(first_bytes(*ck), kNew) << engine.log();
    auto st = ck->status();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->rollbacks, 0u);
}

} // namespace
