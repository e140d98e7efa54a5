// The client API against a real ckptd: open/create semantics, sections, reads and writes, and
// every error code the control path can return.
#include "ckpt/client/session.hpp"
#include "engine_test.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

namespace {

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}
std::string S(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

CheckpointAttributes attrs(std::uint32_t sections = 16, std::uint64_t size = 64 * 1024,
                           std::uint64_t section_size = 4096) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = size;
    a.max_sections = sections;
    a.max_section_size = section_size;
    a.max_section_id_size = 32;
    a.block_size = 256;
    a.retention_ns = 0;
    return a;
}

class Api : public ckpt::testing::EngineTest {
protected:
    std::string read_all(const Section& sec) {
        std::string out(sec.capacity(), '\0');
        auto n = sec.read(0, std::as_writable_bytes(std::span(out.data(), out.size())));
        EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.message());
        out.resize(n.ok() ? *n : 0);
        return out;
    }
};

TEST_F(Api, CreateWriteReadCommit) {
    auto ck = session->create("calls", attrs());
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto sec = ck->create_section({.id = "s1", .initial = B("hello")});
    ASSERT_TRUE(sec.ok()) << sec.message();
    EXPECT_EQ(read_all(*sec), "hello");
    auto seq = sec->write(0, B("HELLO world"), Ack::kSync);
    ASSERT_TRUE(seq.ok()) << seq.message();
    EXPECT_EQ(read_all(*sec), "HELLO world");
    EXPECT_GE(sec->acked_sequence(), *seq);
    EXPECT_EQ(sec->size(), 11u);

    // Zero-copy transaction: write through the span, commit.
    auto tx = sec->write();
    ASSERT_TRUE(tx.ok()) << tx.message();
    auto s = tx->span(6, 5);
    std::memcpy(s.data(), "WORLD", 5);
    auto seq2 = tx->commit(Ack::kSync);
    ASSERT_TRUE(seq2.ok());
    EXPECT_GT(*seq2, *seq);
    EXPECT_EQ(read_all(*sec), "HELLO WORLD");

    // read_view sees the bytes in place.
    auto v = sec->read_view([](std::span<const std::byte> b) { return S(b); });
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, "HELLO WORLD");

    // overwrite shrinks.
    ASSERT_TRUE(sec->overwrite(B("x"), Ack::kSync).ok());
    EXPECT_EQ(read_all(*sec), "x");
}

TEST_F(Api, AbortRestoresSection) {
    auto ck = session->create("abort", attrs());
    ASSERT_TRUE(ck.ok());
    auto sec = ck->create_section({.id = "a", .initial = B("committed")});
    ASSERT_TRUE(sec.ok());
    {
        auto tx = sec->write();
        ASSERT_TRUE(tx.ok());
        tx->write(0, B("SCRIBBLE!"));
        ASSERT_TRUE(tx->abort().ok());
    }
    EXPECT_EQ(read_all(*sec), "committed");
    { // destroying an open transaction aborts it too
        auto tx = sec->write();
        ASSERT_TRUE(tx.ok());
        tx->write(0, B("garbage"));
    }
    EXPECT_EQ(read_all(*sec), "committed");
    EXPECT_TRUE(sec->write(0, B("next"), Ack::kSync).ok());
    EXPECT_EQ(read_all(*sec), "nextitted");
}

TEST_F(Api, OpenSemantics) {
    auto a = attrs();
    auto ck = session->create("open-sem", a);
    ASSERT_TRUE(ck.ok());
    // Same attributes: opens the existing checkpoint.
    auto again = session->create("open-sem", a);
    EXPECT_TRUE(again.ok());
    // Different attributes: EXIST.
    auto b = a;
    b.max_sections = 17;
    auto diff = session->create("open-sem", b);
    ASSERT_FALSE(diff.ok());
    EXPECT_EQ(diff.error(), Error::kExist);
    // Missing without CREATE: NOT_EXIST.
    auto missing = session->open("nope", kOpenRead);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error(), Error::kNotExist);
    // Attributes without CREATE: INVALID_PARAM; CREATE without attributes too.
    EXPECT_EQ(session->open("open-sem", kOpenRead, &a).error(), Error::kInvalidParam);
    EXPECT_EQ(session->open("open-sem", kOpenRead | kOpenCreate).error(), Error::kInvalidParam);
    // Flags.
    EXPECT_EQ(session->open("open-sem", 0).error(), Error::kBadFlags);
    EXPECT_EQ(session->open("open-sem", kOpenCreate, &a).error(), Error::kBadFlags);
    EXPECT_EQ(session->open("open-sem", 0x40).error(), Error::kBadFlags);
}

TEST_F(Api, NameAndAttributeErrors) {
    EXPECT_EQ(session->create("", attrs()).error(), Error::kInvalidParam);
    EXPECT_EQ(session->create(std::string(257, 'n'), attrs()).error(), Error::kNameTooLong);
    auto a = attrs();
    a.creation_flags = 0x3; // two update modes
    EXPECT_EQ(session->create("x", a).error(), Error::kBadFlags);
    a = attrs();
    a.creation_flags |= 0x1000;
    EXPECT_EQ(session->create("x", a).error(), Error::kBadFlags);
    a = attrs();
    a.block_size = 100;
    EXPECT_EQ(session->create("x", a).error(), Error::kInvalidParam);
    a = attrs();
    a.max_sections = 0;
    EXPECT_EQ(session->create("x", a).error(), Error::kInvalidParam);
    a = attrs();
    a.max_section_size = a.checkpoint_size + 1;
    EXPECT_EQ(session->create("x", a).error(), Error::kInvalidParam);
    a = attrs();
    a.retention_ns = -1;
    EXPECT_EQ(session->create("x", a).error(), Error::kInvalidParam);
    // The engine refuses too when the library's checks are bypassed: nothing was created.
    auto l = session->list();
    ASSERT_TRUE(l.ok());
    EXPECT_TRUE(l->empty());
}

TEST_F(Api, SectionErrors) {
    auto ck = session->create("sec-err", attrs(3, 4096, 1024));
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "a", .capacity = 1024}).ok());
    // Duplicate id.
    EXPECT_EQ(ck->create_section({.id = "a", .capacity = 256}).error(), Error::kExist);
    // Id too long.
    EXPECT_EQ(ck->create_section({.id = std::string(33, 'i'), .capacity = 256}).error(), Error::kInvalidParam);
    // Bigger than max_section_size.
    EXPECT_EQ(ck->create_section({.id = "big", .capacity = 2048}).error(), Error::kInvalidParam);
    // Initial data larger than the capacity.
    std::string data(600, 'd');
    EXPECT_EQ(ck->create_section({.id = "d", .capacity = 512, .initial = B(data)}).error(), Error::kInvalidParam);
    // Out of bytes: 4096 total, 1024 used, three more of 1024 fit (3 sections max though).
    ASSERT_TRUE(ck->create_section({.id = "b", .capacity = 1024}).ok());
    ASSERT_TRUE(ck->create_section({.id = "c", .capacity = 1024}).ok());
    // Out of sections.
    auto full = ck->create_section({.id = "d", .capacity = 256});
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.error(), Error::kNoSpace);
    // Unknown section.
    EXPECT_EQ(ck->section("zz").error(), Error::kNotExist);
    EXPECT_EQ(ck->delete_section("zz").error(), Error::kNotExist);
    EXPECT_EQ(ck->set_expiration("zz", 0).error(), Error::kNotExist);
    // Write beyond capacity.
    auto a = ck->section("a");
    ASSERT_TRUE(a.ok());
    std::string big(1025, 'x');
    EXPECT_EQ(a->write(0, B(big)).error(), Error::kInvalidParam);
    EXPECT_EQ(a->write(1020, B("12345")).error(), Error::kInvalidParam);
    // Reading past the size.
    char buf[8];
    EXPECT_EQ(a->read(2000, std::as_writable_bytes(std::span(buf))).error(), Error::kInvalidParam);
    // Nested transaction in the same process.
    auto tx = a->write();
    ASSERT_TRUE(tx.ok());
    EXPECT_EQ(a->write(std::chrono::milliseconds(10)).error(), Error::kBusy);
    ASSERT_TRUE(tx->commit().ok());
    EXPECT_EQ(tx->commit().error(), Error::kBadOperation);
}

TEST_F(Api, NoSpaceInBytes) {
    auto ck = session->create("bytes", attrs(64, 2048, 1024));
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "a", .capacity = 1024}).ok());
    ASSERT_TRUE(ck->create_section({.id = "b", .capacity = 1024}).ok());
    auto r = ck->create_section({.id = "c", .capacity = 256});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::kNoSpace);
    EXPECT_NE(r.message().find("free run"), std::string::npos) << r.message();
    // Deleting frees the bytes for reuse.
    ASSERT_TRUE(ck->delete_section("a").ok());
    EXPECT_TRUE(ck->create_section({.id = "c", .capacity = 1024}).ok());
}

TEST_F(Api, ReadOnlyHandleIsEnforced) {
    auto w = session->create("ro", attrs());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->create_section({.id = "s", .initial = B("data")}).ok());
    auto r = session->open("ro", kOpenRead);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_FALSE(r->writable());
    EXPECT_EQ(r->create_section({.id = "t"}).error(), Error::kAccess);
    EXPECT_EQ(r->delete_section("s").error(), Error::kAccess);
    EXPECT_EQ(r->set_expiration("s", 0).error(), Error::kAccess);
    auto sec = r->section("s");
    ASSERT_TRUE(sec.ok());
    EXPECT_EQ(sec->write(0, B("x")).error(), Error::kAccess);
    EXPECT_EQ(read_all(*sec), "data");
}

TEST_F(Api, WriteOnlyHandleCannotRead) {
    auto w = session->create("wo", attrs());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->create_section({.id = "s", .initial = B("secret")}).ok());
    auto wo = session->open("wo", kOpenWrite);
    ASSERT_TRUE(wo.ok()) << wo.message();
    auto sec = wo->section("s");
    ASSERT_TRUE(sec.ok());
    // Writing is what it was opened for...
    EXPECT_TRUE(sec->write(0, B("SECRET")).ok());
    // ...reading is not (SA Forum saCkptCheckpointRead: SA_AIS_ERR_ACCESS), by any of the read paths.
    char buf[16] = {};
    auto n = sec->read(0, std::as_writable_bytes(std::span(buf)));
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error(), Error::kAccess);
    EXPECT_NE(n.message().find("write-only"), std::string::npos) << n.message();
    EXPECT_EQ(sec->begin_read().error(), Error::kAccess);
    auto v = sec->read_view([](std::span<const std::byte> b) { return b.size(); });
    EXPECT_EQ(v.error(), Error::kAccess);
    std::vector<std::byte> out(16);
    ReadRequest req{.id = "s", .offset = 0, .buffer = out};
    std::size_t bad = 99;
    EXPECT_EQ(wo->read(std::span(&req, 1), &bad).error(), Error::kAccess);
    // A handle with READ still reads what the write-only one wrote.
    auto r = w->section("s");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(read_all(*r), "SECRET");
}

TEST_F(Api, DefaultSection) {
    auto a = attrs(1, 4096, 4096);
    auto ck = session->create("single", a);
    ASSERT_TRUE(ck.ok());
    auto sec = ck->default_section();
    ASSERT_TRUE(sec.ok()) << sec.message();
    EXPECT_TRUE(sec->id().empty());
    ASSERT_TRUE(sec->write(0, B("state"), Ack::kSync).ok());
    EXPECT_EQ(read_all(*sec), "state");
    EXPECT_EQ(ck->create_section({.id = "x"}).error(), Error::kNoSpace);
    EXPECT_EQ(ck->create_section({.generate_id = true}).error(), Error::kInvalidParam);
    EXPECT_EQ(ck->delete_section("").error(), Error::kInvalidParam);
}

TEST_F(Api, GeneratedIdsAndIteration) {
    auto ck = session->create("iter", attrs(16, 64 * 1024, 1024));
    ASSERT_TRUE(ck.ok());
    auto g1 = ck->create_section({.generate_id = true, .capacity = 256});
    auto g2 = ck->create_section({.generate_id = true, .capacity = 256});
    ASSERT_TRUE(g1.ok() && g2.ok());
    EXPECT_NE(g1->id(), g2->id());
    const std::int64_t t = 4'000'000'000'000'000'000;
    ASSERT_TRUE(ck->create_section({.id = "late", .expiration_ns = t + 10, .capacity = 256}).ok());
    ASSERT_TRUE(ck->create_section({.id = "early", .expiration_ns = t - 10, .capacity = 256}).ok());
    EXPECT_EQ(ck->sections(SectionsChosen::kAny).size(), 4u);
    EXPECT_EQ(ck->sections(SectionsChosen::kForever).size(), 2u);
    auto leq = ck->sections(SectionsChosen::kLeqExpirationTime, t);
    ASSERT_EQ(leq.size(), 1u);
    EXPECT_EQ(leq[0].id, "early");
    auto geq = ck->sections(SectionsChosen::kGeqExpirationTime, t);
    EXPECT_EQ(geq.size(), 3u); // late + two forever
    EXPECT_TRUE(ck->sections(SectionsChosen::kCorrupted).empty());
}

TEST_F(Api, ExpirationDeletesSection) {
    auto ck = session->create("expire", attrs());
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "soon", .capacity = 256}).ok());
    ASSERT_TRUE(ck->create_section({.id = "never", .capacity = 256}).ok());
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    std::int64_t in_200ms = now.tv_sec * 1'000'000'000LL + now.tv_nsec + 200'000'000;
    ASSERT_TRUE(ck->set_expiration("soon", in_200ms).ok());
    for (int i = 0; i < 300 && ck->section("soon").ok(); ++i) ::usleep(10'000);
    EXPECT_EQ(ck->section("soon").error(), Error::kNotExist);
    EXPECT_TRUE(ck->section("never").ok());
}

TEST_F(Api, DeletedSectionHandleReportsNotExist) {
    auto ck = session->create("del", attrs());
    ASSERT_TRUE(ck.ok());
    auto sec = ck->create_section({.id = "x", .initial = B("1")});
    ASSERT_TRUE(sec.ok());
    ASSERT_TRUE(ck->delete_section("x").ok());
    char b[4];
    EXPECT_EQ(sec->read(0, std::as_writable_bytes(std::span(b))).error(), Error::kNotExist);
    EXPECT_EQ(sec->write(0, B("2")).error(), Error::kNotExist);
    // A new section in the same slot is not reachable through the stale handle.
    auto again = ck->create_section({.id = "y", .initial = B("new")});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(sec->read(0, std::as_writable_bytes(std::span(b))).error(), Error::kNotExist);
    EXPECT_EQ(read_all(*again), "new");
}

TEST_F(Api, MultiSectionRead) {
    auto ck = session->create("multi", attrs());
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "a", .initial = B("alpha")}).ok());
    ASSERT_TRUE(ck->create_section({.id = "b", .initial = B("beta")}).ok());
    char ba[16], bb[16], bc[16];
    ReadRequest reqs[3] = {{"a", 0, std::as_writable_bytes(std::span(ba))},
                           {"b", 1, std::as_writable_bytes(std::span(bb))},
                           {"c", 0, std::as_writable_bytes(std::span(bc))}};
    std::size_t bad = 99;
    auto st = ck->read(std::span(reqs, 2), &bad);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(std::string(ba, reqs[0].read_size), "alpha");
    EXPECT_EQ(std::string(bb, reqs[1].read_size), "eta");
    auto st2 = ck->read(reqs, &bad);
    ASSERT_FALSE(st2.ok());
    EXPECT_EQ(st2.error(), Error::kNotExist);
    EXPECT_EQ(bad, 2u);
}

// A write of several sections that takes every lock before it publishes any (as
// saCkptCheckpointWrite does): a Checkpoint::read of those sections in another thread sees all of
// each write or none of it, never one section before and another after.
TEST_F(Api, MultiSectionReadNeverMixesAWriteOfSeveralSections) {
    auto ck = session->create("group", attrs());
    ASSERT_TRUE(ck.ok());
    auto a = ck->create_section({.id = "a", .initial = B("00000000")});
    auto b = ck->create_section({.id = "b", .initial = B("00000000")});
    ASSERT_TRUE(a.ok() && b.ok());
    constexpr int kWrites = 1500;
    std::atomic<bool> done{false};
    std::atomic<int> mixed{0}, reads{0};
    std::string first_mix;
    std::thread reader([&] {
        char ba[8], bb[8];
        while (!done.load()) {
            ReadRequest reqs[2] = {{"a", 0, std::as_writable_bytes(std::span(ba))},
                                   {"b", 0, std::as_writable_bytes(std::span(bb))}};
            if (!ck->read(reqs).ok()) continue;
            ++reads;
            if (std::memcmp(ba, bb, 8) != 0 && mixed++ == 0)
                first_mix = std::string(ba, 8) + " / " + std::string(bb, 8);
        }
    });
    for (int i = 1; i <= kWrites; ++i) {
        char v[9];
        std::snprintf(v, sizeof v, "%08d", i);
        // "b" is locked first and "a" a little later: a read that copies "a" in between and then
        // waits for "b" would pair the old "a" with the new "b" if the lock words were not
        // checked again after copying.
        auto tb = b->write();
        ASSERT_TRUE(tb.ok()) << tb.message();
        for (auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
             std::chrono::steady_clock::now() < until;)
            std::this_thread::yield();
        auto ta = a->write();
        ASSERT_TRUE(ta.ok()) << ta.message();
        ta->write(0, std::as_bytes(std::span(v, 8)));
        tb->write(0, std::as_bytes(std::span(v, 8)));
        ASSERT_TRUE(ta->commit().ok());
        ASSERT_TRUE(tb->commit().ok());
    }
    done = true;
    reader.join();
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(mixed.load(), 0) << "a read saw " << first_mix;
}

TEST_F(Api, ChangeNotificationIsPollable) {
    auto w = session->create("notify", attrs());
    ASSERT_TRUE(w.ok());
    auto a = w->create_section({.id = "a", .capacity = 256});
    auto b = w->create_section({.id = "b", .capacity = 256});
    ASSERT_TRUE(a.ok() && b.ok());
    auto r = session->open("notify", kOpenRead);
    ASSERT_TRUE(r.ok());
    auto fd = r->notify_fd();
    ASSERT_TRUE(fd.ok()) << fd.message();
    std::uint64_t since = r->commit_seq();
    ASSERT_TRUE(b->write(0, B("bee"), Ack::kSync).ok());
    pollfd p{*fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    std::vector<std::string> ids;
    std::uint64_t upto = r->changes_since(since, ids);
    EXPECT_GT(upto, since);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0], "b");
    // changes_since() re-armed the fd: with nothing new it does not poll readable.
    EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST_F(Api, UnlinkWhileOpenKeepsDataUntilLastClose) {
    auto ck = session->create("unlinked", attrs());
    ASSERT_TRUE(ck.ok());
    auto sec = ck->create_section({.id = "s", .initial = B("still here")});
    ASSERT_TRUE(sec.ok());
    ASSERT_TRUE(session->unlink("unlinked").ok());
    EXPECT_EQ(session->unlink("unlinked").error(), Error::kNotExist);
    EXPECT_EQ(session->open("unlinked", kOpenRead).error(), Error::kNotExist);
    EXPECT_EQ(read_all(*sec), "still here"); // the data lives on for the open handle
    ASSERT_TRUE(sec->write(0, B("STILL"), Ack::kSync).ok());
    EXPECT_TRUE(engine.shm_objects().size() == 1u) << "only the NODE segment should keep a name";
    // A new checkpoint can take the name at once.
    auto fresh = session->create("unlinked", attrs());
    ASSERT_TRUE(fresh.ok());
    EXPECT_TRUE(fresh->sections().empty());
    EXPECT_EQ(read_all(*sec), "STILL here");
    ASSERT_TRUE(ck->close().ok());
    EXPECT_EQ(ck->close().error(), Error::kBadHandle);
}

TEST_F(Api, FullShmIsAnErrorAtCreateNotASigbusLater) {
    // Memory is reserved at creation (posix_fallocate), so a checkpoint larger than /dev/shm fails
    // here, cleanly, and leaves nothing behind.
    auto a = attrs();
    a.checkpoint_size = std::uint64_t{1} << 40; // 1 TiB: more than this machine's /dev/shm
    a.max_section_size = 4096;
    a.block_size = 1 << 16;
    auto ck = session->create("huge", a);
    ASSERT_FALSE(ck.ok());
    EXPECT_EQ(ck.error(), Error::kNoResources);
    EXPECT_NE(ck.message().find("reserve"), std::string::npos) << ck.message();
    EXPECT_EQ(engine.shm_objects().size(), 1u) << "a failed create must remove what it made";
    EXPECT_EQ(session->open("huge", kOpenRead).error(), Error::kNotExist);
    EXPECT_TRUE(session->create("small", attrs()).ok()) << "the engine keeps serving";
}

TEST_F(Api, CommitCopiesOnlyTheDirtyBlocks) {
    // 64 changed bytes in a 16 MiB section: the engine copies one 256-byte block into its
    // committed copy, not the section (the commit path does not grow with the section).
    auto a = attrs(4, 32 << 20, 16 << 20);
    auto ck = session->create("dirty-only", a);
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto sec = ck->create_section({.id = "big", .capacity = 16 << 20});
    ASSERT_TRUE(sec.ok()) << sec.message();
    auto before = ck->status();
    ASSERT_TRUE(before.ok());
    for (std::size_t k = 0; k < 10; ++k) {
        auto tx = sec->write();
        ASSERT_TRUE(tx.ok());
        auto s = tx->span((8u << 20) + k * 4096, 64); // inside one block each time
        std::memset(s.data(), static_cast<int>(k + 1), s.size());
        ASSERT_TRUE(tx->commit(Ack::kSync).ok());
    }
    auto after = ck->status();
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->captures - before->captures, 10u);
    EXPECT_EQ(after->captured_bytes - before->captured_bytes, 10u * 256u);
    std::byte probe[64];
    ASSERT_TRUE(sec->read((8u << 20) + 9 * 4096, probe).ok());
    EXPECT_EQ(probe[0], std::byte{10});
}

TEST_F(Api, StatusReportsUsage) {
    auto ck = session->create("status", attrs());
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE(ck->create_section({.id = "a", .capacity = 1000}).ok());
    auto st = ck->status();
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(st->sections, 1u);
    EXPECT_EQ(st->bytes_used, 1024u); // block-rounded
    EXPECT_TRUE(st->damage.empty());
}

} // namespace

TEST(NoEngine, ConnectFailsClearly) {
    auto s = Session::connect({"/tmp/hotspare-no-such-dir/ckptd.sock"});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::kUnavailable);
    EXPECT_NE(s.message().find("/tmp/hotspare-no-such-dir/ckptd.sock"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("is the engine running"), std::string::npos) << s.message();
}

// A checkpoint name is any SaNameT of 1..256 bytes: the engine keeps it whole (control protocol,
// META, list), and names the segments by segment_stem, never by the raw bytes, so a name with '/',
// NUL or any other byte works and a restarted engine adopts it again under the same name.
TEST_F(Api, NamesAreAnySaNameUpTo256BytesThroughTheWholeStack) {
    const std::string csa103 = "safCkpt=csa103Ckpt,safApp=safCkptService";
    std::string every(256, '\0');
    for (int i = 0; i < 256; ++i) every[i] = static_cast<char>(i); // NUL, '/', newline, 0xff...
    std::string every2 = every;
    every2[255] = 'x'; // differs in the last byte only: another checkpoint
    const std::string plain = "plain-name.v2";
    const std::string names[] = {csa103, every, every2, plain, "../etc/passwd", ".hidden"};
    CheckpointAttributes a = attrs();
    a.retention_ns = 3'600'000'000'000; // kept across the restart below
    std::vector<Checkpoint> held;
    std::uint8_t n = 0;
    for (const std::string& name : names) {
        auto ck = session->create(name, a);
        ASSERT_TRUE(ck.ok()) << printable_name(name) << ": " << ck.message();
        EXPECT_EQ(ck->name(), name);
        const char v[2] = {static_cast<char>('a' + n++), 0};
        auto sec = ck->create_section({.id = "s", .initial = B(v)});
        ASSERT_TRUE(sec.ok()) << sec.message();
        held.push_back(std::move(*ck));
    }
    // The engine lists the names themselves.
    auto list = session->list();
    ASSERT_TRUE(list.ok()) << list.message();
    for (const std::string& name : names) {
        bool found = false;
        for (const auto& c : *list) found = found || c.name == name;
        EXPECT_TRUE(found) << printable_name(name);
    }
    // Segments: a plain name keeps its readable file name, any other gets "~" and a digest; no
    // object in /dev/shm carries a byte outside [A-Za-z0-9._~-] after the prefix.
    const auto objects = engine.shm_objects();
    bool plain_file = false;
    std::size_t hashed = 0;
    for (const std::string& o : objects) {
        const std::string stem = o.substr(engine.prefix().size());
        for (unsigned char c : stem)
            EXPECT_TRUE(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '~') << printable_name(o);
        plain_file = plain_file || stem == plain + ".meta";
        if (stem.front() == '~' && stem.ends_with(".meta")) ++hashed;
    }
    EXPECT_TRUE(plain_file);
    EXPECT_EQ(hashed, 5u);

    // After a SIGKILL of ckptd the next engine adopts every one of them under its name.
    engine.kill_hard();
    held.clear();
    session.reset();
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s2 = Session::connect({engine.socket()});
    ASSERT_TRUE(s2.ok()) << s2.message();
    n = 0;
    for (const std::string& name : names) {
        auto ck = s2->open(name, kOpenRead);
        ASSERT_TRUE(ck.ok()) << printable_name(name) << ": " << ck.message();
        auto sec = ck->section("s");
        ASSERT_TRUE(sec.ok()) << sec.message();
        std::string got(1, '\0');
        auto r = sec->read(0, std::as_writable_bytes(std::span(got.data(), got.size())));
        ASSERT_TRUE(r.ok()) << r.message();
        EXPECT_EQ(got, std::string(1, static_cast<char>('a' + n++))) << printable_name(name);
    }
    EXPECT_EQ(engine.log().find("not adopted"), std::string::npos) << engine.log();
    // Unlink by the real name removes its segments.
    ASSERT_TRUE(s2->unlink(every).ok());
    EXPECT_EQ(s2->open(every, kOpenRead).error(), Error::kNotExist);
    EXPECT_TRUE(s2->open(every2, kOpenRead).ok());
}

TEST_F(Api, NameErrorsArePrecise) {
    auto e = session->create("", attrs());
    EXPECT_EQ(e.error(), Error::kInvalidParam);
    EXPECT_NE(e.message().find("empty"), std::string::npos) << e.message();
    auto l = session->create(std::string(257, 'n'), attrs());
    EXPECT_EQ(l.error(), Error::kNameTooLong);
    EXPECT_NE(l.message().find("257"), std::string::npos) << l.message();
    EXPECT_EQ(session->open(std::string(257, 'n'), kOpenRead).error(), Error::kNameTooLong);
    EXPECT_EQ(session->unlink("").error(), Error::kInvalidParam);
    EXPECT_TRUE(session->create(std::string(256, 'n'), attrs()).ok());
}

// kFlagNetSize: checkpoint_size is the SA Forum's net size, the bytes the sections hold, counted by
// ckptd. csa103's shape (4 bytes, 2 sections of at most 4) takes both sections; a section or a
// commit that would make the sections hold more is NO_SPACE and changes nothing.
TEST_F(Api, NetSizeCountsTheBytesSectionsHold) {
    CheckpointAttributes a = attrs(2, 4, 4);
    a.creation_flags |= kFlagNetSize;
    a.block_size = 64;
    auto ck = session->create("netsize", a);
    ASSERT_TRUE(ck.ok()) << ck.message();
    auto s1 = ck->create_section({.id = "seq", .initial = B("ab")});
    ASSERT_TRUE(s1.ok()) << s1.message();
    auto s2 = ck->create_section({.id = "pid"});
    ASSERT_TRUE(s2.ok()) << s2.message(); // without the flag: NO_SPACE (two 64-byte extents in 64 bytes)
    EXPECT_EQ(ck->create_section({.id = "third"}).error(), Error::kNoSpace); // max_sections

    // 2 + 3 > 4: refused, and the section is as it was (rolled back).
    auto w = s2->write(0, B("xyz"), Ack::kSync);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error(), Error::kNoSpace);
    EXPECT_NE(w.message().find("checkpoint_size 4"), std::string::npos) << w.message();
    EXPECT_EQ(read_all(*s2), "");
    ASSERT_TRUE(s2->write(0, B("xy"), Ack::kSync).ok()); // 2 + 2 = 4
    EXPECT_EQ(read_all(*s2), "xy");
    // A zero-copy transaction that grows past it: the commit is refused, nothing published.
    auto tx = s1->write();
    ASSERT_TRUE(tx.ok()) << tx.message();
    tx->write(0, B("ABC"));
    EXPECT_EQ(tx->reserve().error(), Error::kNoSpace);
    auto c = tx->commit(Ack::kSync);
    EXPECT_EQ(c.error(), Error::kNoSpace);
    EXPECT_EQ(read_all(*s1), "ab");
    // Shrinking one makes room for the other; an overwrite counts the same way.
    ASSERT_TRUE(s2->overwrite(B("x"), Ack::kSync).ok());
    ASSERT_TRUE(s1->overwrite(B("ABC"), Ack::kSync).ok()); // 3 + 1
    EXPECT_EQ(s1->overwrite(B("ABCD"), Ack::kSync).error(), Error::kNoSpace);
    EXPECT_EQ(read_all(*s1), "ABC");
    // A deleted section's bytes are free again.
    ASSERT_TRUE(ck->delete_section("pid").ok());
    ASSERT_TRUE(s1->overwrite(B("ABCD"), Ack::kSync).ok());
    EXPECT_EQ(read_all(*s1), "ABCD");

    // Without the flag, checkpoint_size is the area capacities come from: the old rule.
    CheckpointAttributes plain = attrs(2, 4, 4);
    plain.block_size = 64;
    auto old = session->create("areasize", plain);
    ASSERT_TRUE(old.ok()) << old.message();
    ASSERT_TRUE(old->create_section({.id = "one"}).ok());
    EXPECT_EQ(old->create_section({.id = "two"}).error(), Error::kNoSpace);

    // The flag's attribute rules: checkpoint_size up to max_sections * max_section_size.
    CheckpointAttributes over = a;
    over.checkpoint_size = 9;
    EXPECT_EQ(session->create("netsize-over", over).error(), Error::kInvalidParam);
    CheckpointAttributes wide = a;
    wide.max_section_size = 100; // above checkpoint_size: fine with the flag
    EXPECT_TRUE(session->create("netsize-wide", wide).ok());
    CheckpointAttributes huge = a;
    huge.max_sections = 1u << 20;
    huge.max_section_size = std::uint64_t{1} << 21; // 2 TiB of room
    EXPECT_EQ(session->create("netsize-huge", huge).error(), Error::kNoResources);
}
