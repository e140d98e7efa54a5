// Handles, retention and writer slots: a client that dies has its handles closed; retention then
// deletes the checkpoint (unless it is opened again in time).
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "engine_test.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::EngineProcess;
using ckpt::testing::test_app_path;

namespace {

CheckpointAttributes attrs(std::int64_t retention_ns) {
    CheckpointAttributes a;
    a.checkpoint_size = 16 * 1024;
    a.max_sections = 4;
    a.max_section_size = 4096;
    a.max_section_id_size = 16;
    a.retention_ns = retention_ns;
    return a;
}

class Lifecycle : public ckpt::testing::EngineTest {
protected:
    bool exists(const std::string& name) {
        auto l = session->list();
        EXPECT_TRUE(l.ok());
        return l.ok() && std::any_of(l->begin(), l->end(), [&](auto& c) { return c.name == name; });
    }
    std::uint32_t open_handles(const std::string& name) {
        auto l = session->list();
        for (auto& c : *l)
            if (c.name == name) return c.open_handles;
        return 0;
    }
    /// Polls until `pred` holds (the engine reacts asynchronously); false after ~5 s.
    template <typename P>
    bool eventually(P pred) {
        for (int i = 0; i < 500; ++i) {
            if (pred()) return true;
            ::usleep(10'000);
        }
        return pred();
    }
};

TEST_F(Lifecycle, ClientDeathClosesHandlesThenRetentionDeletes) {
    auto ck = session->create("ret", attrs(300'000'000)); // 300 ms
    ASSERT_TRUE(ck.ok());
    ChildProcess holder({test_app_path(), "holder", engine.socket(), "ret", "w"});
    ASSERT_EQ(holder.read_line(), "open");
    ASSERT_TRUE(ck->close().ok());
    EXPECT_EQ(open_handles("ret"), 1u);
    holder.kill(SIGKILL);
    holder.wait();
    ASSERT_TRUE(eventually([&] { return open_handles("ret") == 0; }));
    EXPECT_TRUE(exists("ret")) << "retention must keep it for a while after the last close";
    ASSERT_TRUE(eventually([&] { return !exists("ret"); })) << engine.log();
    EXPECT_EQ(engine.shm_objects().size(), 1u) << "only the NODE segment should remain";
}

TEST_F(Lifecycle, ReopenWithinRetentionKeepsIt) {
    auto ck = session->create("keep", attrs(400'000'000));
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "s", .initial = std::as_bytes(std::span("kept", 4))}).ok());
    ASSERT_TRUE(ck->close().ok());
    auto again = session->open("keep", kOpenRead);
    ASSERT_TRUE(again.ok()) << again.message();
    ::usleep(800'000); // two retention periods while open
    EXPECT_TRUE(exists("keep"));
    auto sec = again->section("s");
    ASSERT_TRUE(sec.ok());
    EXPECT_EQ(sec->size(), 4u);
    ASSERT_TRUE(again->close().ok());
    ASSERT_TRUE(eventually([&] { return !exists("keep"); }));
}

TEST_F(Lifecycle, ZeroRetentionDeletesAtLastClose) {
    auto ck = session->create("now", attrs(0));
    ASSERT_TRUE(ck.ok());
    auto second = session->open("now", kOpenRead);
    ASSERT_TRUE(second.ok());
    ASSERT_TRUE(ck->close().ok());
    EXPECT_TRUE(exists("now"));
    ASSERT_TRUE(second->close().ok());
    EXPECT_FALSE(exists("now"));
}

TEST_F(Lifecycle, WriterSlotsAreBoundedAndReleased) {
    auto ck = session->create("writers", attrs(3'600'000'000'000));
    ASSERT_TRUE(ck.ok()); // writer slot 1 of 64
    std::vector<Checkpoint> handles;
    for (int i = 1; i < 64; ++i) {
        auto h = session->open("writers", kOpenRead | kOpenWrite);
        ASSERT_TRUE(h.ok()) << i << ": " << h.message();
        handles.push_back(std::move(*h));
    }
    auto extra = session->open("writers", kOpenRead | kOpenWrite);
    ASSERT_FALSE(extra.ok());
    EXPECT_EQ(extra.error(), Error::kNoResources);
    EXPECT_TRUE(session->open("writers", kOpenRead).ok()) << "readers need no writer slot";
    ASSERT_TRUE(handles.back().close().ok());
    EXPECT_TRUE(session->open("writers", kOpenRead | kOpenWrite).ok());
}

TEST_F(Lifecycle, DeadWritersSlotIsReused) {
    auto ck = session->create("reuse", attrs(3'600'000'000'000));
    ASSERT_TRUE(ck.ok());
    for (int i = 0; i < 80; ++i) { // more deaths than there are writer slots
        ChildProcess holder({test_app_path(), "holder", engine.socket(), "reuse", "w"});
        ASSERT_EQ(holder.read_line(), "open") << "round " << i << "\n" << engine.log();
        holder.kill(SIGKILL);
        holder.wait();
    }
    ASSERT_TRUE(eventually([&] { return open_handles("reuse") == 1; }));
}

// SA_TIME_END is the spec's "forever": the engine's deadline sum overflowed into the past and the
// checkpoint went at the next timer pass after its last close.
TEST_F(Lifecycle, RetentionTimeEndKeepsTheCheckpointUntilUnlinked) {
    {
        auto forever = session->create("forever", attrs(kTimeEnd));
        ASSERT_TRUE(forever.ok()) << forever.message();
        auto brief = session->create("brief", attrs(200'000'000)); // 200 ms
        ASSERT_TRUE(brief.ok());
    }
    // The short retention running out proves the retention timers ran after both closes.
    ASSERT_TRUE(eventually([&] { return !exists("brief"); })) << engine.log();
    EXPECT_TRUE(exists("forever")) << engine.log();
    EXPECT_EQ(engine.log().find("'forever': retention expired"), std::string::npos) << engine.log();
    auto again = session->open("forever", kOpenRead);
    ASSERT_TRUE(again.ok()) << again.message();
}

} // namespace
