// Invariant 2, never torn: writers SIGKILLed at random points never leave a state that no commit
// produced, neither for a concurrent reader process nor for whoever reads after the kill.
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "engine_test.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <random>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::EngineProcess;
using ckpt::testing::test_app_path;

namespace {

constexpr std::size_t kSectionSize = 64 * 1024;

CheckpointAttributes attrs(UpdateMode mode) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(mode);
    a.checkpoint_size = 2 * kSectionSize;
    a.max_sections = 2;
    a.max_section_size = kSectionSize;
    a.max_section_id_size = 16;
    a.block_size = 256;
    return a;
}

/// Reads the section and checks every u64 word holds the same value; returns it.
std::uint64_t read_uniform(const Section& sec) {
    std::vector<std::uint64_t> words(kSectionSize / 8);
    auto n = sec.read(0, std::as_writable_bytes(std::span(words)));
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.message());
    if (!n.ok()) return ~0ull;
    EXPECT_EQ(*n, kSectionSize);
    for (std::size_t k = 1; k < words.size(); ++k)
        if (words[k] != words[0]) {
            ADD_FAILURE() << "torn: word 0 = " << words[0] << ", word " << k << " = " << words[k];
            break;
        }
    return words[0];
}

class NeverTorn : public ckpt::testing::EngineTest {
protected:
};

TEST_F(NeverTorn, WriterKilledTwoHundredTimes) {
    auto ck = session->create("torn", attrs(UpdateMode::kAsync));
    ASSERT_TRUE(ck.ok()) << ck.message();
    std::vector<std::byte> zeros(kSectionSize);
    auto sec = ck->create_section({.id = "s", .capacity = kSectionSize, .initial = zeros});
    ASSERT_TRUE(sec.ok()) << sec.message();

    ChildProcess reader({test_app_path(), "reader", engine.socket(), "torn", "s"});
    ASSERT_EQ(reader.read_line(), "ready");

    std::mt19937 rng(20261122);
    std::uniform_int_distribution<int> delay_us(0, 15000);
    std::uint64_t expected = 0;
    for (int round = 0; round < 200; ++round) {
        // Every other writer dwells mid-fill, so many kills land inside a transaction.
        ChildProcess writer(
            {test_app_path(), "writer", engine.socket(), "torn", "s", "async", round % 2 ? "200" : "0"});
        ASSERT_TRUE(writer.started());
        std::uint64_t reported = expected;
        if (round % 2) { // dwelling writers are killed once in their loop: mostly mid-transaction
            auto first = writer.read_line(std::chrono::seconds(10));
            ASSERT_TRUE(first.has_value()) << "round " << round << ": writer never committed\n" << engine.log();
            reported = std::stoull(*first);
        }
        ::usleep(static_cast<useconds_t>(delay_us(rng)));
        writer.kill(SIGKILL);
        EXPECT_EQ(writer.wait(), 128 + SIGKILL) << "round " << round;
        for (auto& l : writer.drain_lines()) reported = std::stoull(l);
        // The commit after the last report may have been published before the kill.
        std::uint64_t now = read_uniform(*sec);
        ASSERT_TRUE(now == reported || now == reported + 1)
            << "round " << round << ": section holds " << now << ", last reported commit " << reported;
        ASSERT_GE(now, expected) << "a committed state was lost";
        expected = now;
    }
    reader.kill(SIGTERM);
    auto summary = reader.read_line();
    EXPECT_EQ(reader.wait(), 0) << (summary ? *summary : "reader printed nothing");
    ASSERT_TRUE(summary.has_value());
    EXPECT_EQ(summary->rfind("reads=", 0), 0u) << *summary;
    auto st = ck->status();
    ASSERT_TRUE(st.ok());
    EXPECT_GT(st->rollbacks, 0u) << "no kill landed inside a transaction: the test did not test rollback";
    EXPECT_GT(expected, 200u) << "writers made too little progress to mean anything";
    EXPECT_TRUE(st->damage.empty()) << st->damage;
    std::printf("200 kills: %llu commits survived, %llu rollbacks, reader: %s\n",
                static_cast<unsigned long long>(expected), static_cast<unsigned long long>(st->rollbacks),
                summary->c_str());
}

TEST_F(NeverTorn, KilledInsideTransactionRollsBack) {
    auto ck = session->create("rollback", attrs(UpdateMode::kAsync));
    ASSERT_TRUE(ck.ok());
    std::vector<std::uint64_t> sevens(kSectionSize / 8, 7);
    auto sec = ck->create_section({.id = "s", .capacity = kSectionSize, .initial = std::as_bytes(std::span(sevens))});
    ASSERT_TRUE(sec.ok()) << sec.message();
    ChildProcess w({test_app_path(), "midtx", engine.socket(), "rollback", "s"});
    ASSERT_EQ(w.read_line(), "inside");
    w.kill(SIGKILL);
    w.wait();
    EXPECT_EQ(read_uniform(*sec), 7u);
    // And the section is writable again.
    std::uint64_t v = 8;
    ASSERT_TRUE(sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
}

TEST_F(NeverTorn, WeakModeMarksCorruptedUntilOverwrite) {
    auto ck = session->create("weak", attrs(UpdateMode::kAsyncWeak));
    ASSERT_TRUE(ck.ok());
    auto sec = ck->create_section({.id = "s", .capacity = kSectionSize});
    ASSERT_TRUE(sec.ok());
    ChildProcess w({test_app_path(), "midtx", engine.socket(), "weak", "s"});
    ASSERT_EQ(w.read_line(), "inside");
    w.kill(SIGKILL);
    w.wait();
    char buf[8];
    auto r = sec->read(0, std::as_writable_bytes(std::span(buf)));
    for (int i = 0; i < 500 && r.ok(); ++i) { // the engine notices the death asynchronously
        ::usleep(10'000);
        r = sec->read(0, std::as_writable_bytes(std::span(buf)));
    }
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::kFailedOperation);
    auto corrupted = ck->sections(SectionsChosen::kCorrupted);
    ASSERT_EQ(corrupted.size(), 1u);
    EXPECT_EQ(corrupted[0].id, "s");
    std::uint64_t v = 1;
    EXPECT_EQ(sec->write(0, std::as_bytes(std::span(&v, 1))).error(), Error::kFailedOperation);
    ASSERT_TRUE(sec->overwrite(std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    std::uint64_t back = 0;
    auto n = sec->read(0, std::as_writable_bytes(std::span(&back, 1)));
    ASSERT_TRUE(n.ok()) << n.message();
    EXPECT_EQ(back, 1u);
    EXPECT_TRUE(ck->sections(SectionsChosen::kCorrupted).empty());
}

} // namespace
