// Transparent dirty tracking (client/include/ckpt/client/write_tracking.hpp) on two nodes over
// DPDK memif: random bytes stored through raw pointers across many pages, for many commits, with
// nothing marked; the standby is byte-identical after every sync commit, only written pages travel,
// and after the writer is SIGKILLed (mid-transaction or not) the standby and the active hold the
// same state, which is one the writer committed. States and bytes are asserted, never times.
#include "ckpt/client/session.hpp"
#include "ckpt/client/write_tracking.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <cstring>
#include <random>

using namespace ckpt;
using namespace ckpt::client;
using namespace ckpt::testing;

namespace {

constexpr std::size_t kSize = 1 << 20; // 256 pages

CheckpointAttributes tracked_attrs() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync);
    a.checkpoint_size = kSize;
    a.max_sections = 1;
    a.max_section_size = kSize;
    a.max_section_id_size = 0;
    a.block_size = 256;
    return a;
}

/// Commit `i`'s stores: runs of random bytes at random offsets (some across page boundaries),
/// applied to `dst` (the section through its raw pointer, or the test's model of it).
void apply_commit(std::uint64_t seed, std::uint64_t i, std::byte* dst) {
    std::mt19937_64 rng(seed * 1'000'003 + i);
    const int runs = 1 + static_cast<int>(rng() % 40);
    for (int r = 0; r < runs; ++r) {
        const std::size_t len = 1 + rng() % 600;
        const std::size_t off = rng() % (kSize - len);
        for (std::size_t k = 0; k < len; ++k) dst[off + k] = static_cast<std::byte>(rng());
    }
}

std::vector<std::byte> content(const Section& s) {
    std::vector<std::byte> buf(kSize);
    auto n = s.read(0, buf);
    if (!n) return {};
    buf.resize(*n);
    return buf;
}

TEST(WriteTracking, SupportedOnThisKernelOrAClearError) {
    utsname u{};
    ASSERT_EQ(::uname(&u), 0);
    int major = 0, minor = 0;
    std::sscanf(u.release, "%d.%d", &major, &minor);
    auto st = write_tracking_supported();
    if (major > 6 || (major == 6 && minor >= 7)) {
        EXPECT_TRUE(st.ok()) << st.message();
    } else {
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error(), Error::kNotSupported);
        EXPECT_NE(st.message().find("Linux 6.7"), std::string::npos) << st.message();
    }
}

TEST(WriteTracking, RandomStoresThroughRawPointersReachTheStandbyByteIdenticalAlsoAfterAWriterSigkill) {
    if (!write_tracking_supported().ok()) GTEST_SKIP() << write_tracking_supported().message();
    // A loaded 2-core machine can starve an engine for a few hundred milliseconds: a longer peer
    // timeout than the tests' default keeps a sync commit from failing on a flap (nothing dies here).
    TwoNodes n("wtrack", {"peer_timeout_ms = 2000"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    auto sa = Session::connect({n.a->socket()});
    auto sb = Session::connect({n.b->socket()});
    ASSERT_TRUE(sa.ok() && sb.ok());
    auto ca = sa->create("tracked", tracked_attrs());
    ASSERT_TRUE(ca.ok()) << ca.message();
    auto cb = open_replica(*sb, "tracked");
    ASSERT_TRUE(cb.ok()) << cb.message();
    // A read-only handle has nothing to track.
    auto ro = sa->open("tracked", kOpenRead);
    ASSERT_TRUE(ro.ok());
    EXPECT_EQ(enable_write_tracking(*ro).error(), Error::kAccess);

    ASSERT_TRUE(enable_write_tracking(*ca).ok());
    auto s = ca->default_section();
    auto sbk = cb->default_section();
    ASSERT_TRUE(s.ok() && sbk.ok());
    std::vector<std::byte> model(kSize);
    {
        auto tx = s->write(); // the section's size covers it all from the start
        ASSERT_TRUE(tx.ok());
        tx->resize(kSize);
        std::memset(tx->data().data(), 0, kSize);
        ASSERT_TRUE(tx->commit(Ack::kSync).ok());
    }
    const std::uint64_t seed = 42;
    const int commits = 300;
    auto before = sa->peers();
    ASSERT_TRUE(before.ok());
    for (int i = 0; i < commits; ++i) {
        auto tx = s->write();
        ASSERT_TRUE(tx.ok()) << tx.message();
        apply_commit(seed, static_cast<std::uint64_t>(i), tx->data().data()); // plain stores, nothing marked
        apply_commit(seed, static_cast<std::uint64_t>(i), model.data());
        auto r = tx->commit(Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message() << n.a->log();
        if (i % 10 == 9 || i < 5) {
            ASSERT_EQ(content(*sbk), model) << "standby differs after commit " << i;
            ASSERT_EQ(content(*s), model) << "active differs after commit " << i;
        }
    }
    ASSERT_EQ(content(*sbk), model);
    // A commit that stores nothing sends nothing, and the state stays.
    {
        auto tx = s->write();
        ASSERT_TRUE(tx.ok());
        ASSERT_TRUE(tx->commit(Ack::kSync).ok());
        EXPECT_EQ(content(*sbk), model);
    }
    // Only written pages were marked: far less than a whole section per commit.
    auto after = sa->peers();
    ASSERT_TRUE(after.ok());
    EXPECT_LT(after->data_bytes - before->data_bytes, static_cast<std::uint64_t>(commits) * kSize / 4);
    EXPECT_GT(after->data_bytes - before->data_bytes, 0u);

    // A writer process with tracking on is SIGKILLed while it commits (possibly inside a
    // transaction): it reports each acknowledged commit; the engine rolls an open one back.
    for (int round = 0; round < 3; ++round) {
        const std::uint64_t base = 1000 + static_cast<std::uint64_t>(round) * 1000;
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            auto ss = Session::connect({n.a->socket()});
            if (!ss) ::_exit(3);
            auto c = ss->open("tracked", kOpenRead | kOpenWrite);
            if (!c || !enable_write_tracking(*c).ok()) ::_exit(4);
            auto sec = c->default_section();
            if (!sec) ::_exit(5);
            for (std::uint64_t i = 0;; ++i) {
                auto tx = sec->write();
                if (!tx) ::_exit(6);
                apply_commit(seed, base + i, tx->data().data());
                if (!tx->commit(Ack::kSync)) ::_exit(7);
                std::uint32_t done = static_cast<std::uint32_t>(i + 1);
                if (::write(fds[1], &done, sizeof done) != sizeof done) ::_exit(8);
            }
        }
        ::close(fds[1]);
        std::uint32_t acked = 0, v;
        const std::uint32_t kill_after = 20 + static_cast<std::uint32_t>(round) * 17;
        while (acked < kill_after && ::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (::read(fds[0], &v, sizeof v) == sizeof v) acked = v; // reports written before the kill
        ::close(fds[0]);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself with " << WEXITSTATUS(status);
        // The commits the writer was told were acknowledged, and maybe the one after.
        std::vector<std::byte> next = model;
        for (std::uint32_t i = 0; i < acked; ++i) apply_commit(seed, base + i, model.data());
        next = model;
        apply_commit(seed, base + acked, next.data());
        std::vector<std::byte> on_a, on_b;
        ASSERT_TRUE(eventually([&] {
            on_a = content(*s); // waits for the engine's rollback of a dead writer's transaction
            on_b = content(*sbk);
            return !on_a.empty() && on_a == on_b;
        })) << "round "
            << round << ": standby and active differ after the writer's SIGKILL\n"
            << n.a->log();
        ASSERT_TRUE(on_b == model || on_b == next)
            << "round " << round << ": the standby holds a state the writer never committed (" << acked
            << " commits acknowledged)";
        if (on_b == next) model = next;
        // The survivor's handle keeps tracking: go on writing from the state that holds.
        auto tx = s->write();
        ASSERT_TRUE(tx.ok()) << tx.message();
        apply_commit(seed, base + 999, tx->data().data());
        apply_commit(seed, base + 999, model.data());
        ASSERT_TRUE(tx->commit(Ack::kSync).ok());
        ASSERT_EQ(content(*sbk), model) << "round " << round;
    }
}

} // namespace
