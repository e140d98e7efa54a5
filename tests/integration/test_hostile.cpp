// Invariant 5: a hostile client that scribbles random bytes over every application-writable word of
// its checkpoint ruins only that checkpoint. ckptd keeps serving the others and reports the damage.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

namespace {

CheckpointAttributes attrs() {
    CheckpointAttributes a;
    a.checkpoint_size = 64 * 1024;
    a.max_sections = 128;
    a.max_section_size = 4096;
    a.max_section_id_size = 16;
    a.block_size = 64;
    return a;
}

/// Maps a DATA object read-write, as a client with a write handle has it.
struct Scribbler {
    explicit Scribbler(const std::string& path) {
        fd = ::open(path.c_str(), O_RDWR);
        struct stat st {};
        ::fstat(fd, &st);
        size = static_cast<std::size_t>(st.st_size);
        base = static_cast<std::uint8_t*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    }
    ~Scribbler() {
        ::munmap(base, size);
        ::close(fd);
    }
    void scribble(std::mt19937_64& rng) {
        for (std::size_t i = 0; i + 8 <= size; i += 8) {
            std::uint64_t v = rng();
            std::memcpy(base + i, &v, 8);
        }
    }
    int fd = -1;
    std::size_t size = 0;
    std::uint8_t* base = nullptr;
};

TEST(Hostile, ScribbledCheckpointDoesNotHurtOthers) {
    EngineProcess engine("hostile");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto victim = s->create("victim", attrs());
    auto healthy = s->create("healthy", attrs());
    ASSERT_TRUE(victim.ok() && healthy.ok());
    for (int k = 0; k < 64; ++k) {
        ASSERT_TRUE(victim->create_section({.id = "v" + std::to_string(k), .capacity = 256}).ok());
        ASSERT_TRUE(healthy->create_section({.id = "h" + std::to_string(k), .capacity = 256}).ok());
    }
    Scribbler hostile("/dev/shm/" + engine.prefix() + "victim.data");
    ASSERT_NE(hostile.base, MAP_FAILED);
    std::mt19937_64 rng(1234);
    for (int round = 0; round < 50; ++round) {
        hostile.scribble(rng);
        // Meanwhile the healthy checkpoint is written and read back through sync commits.
        for (int k = 0; k < 64; k += 7) {
            auto sec = healthy->section("h" + std::to_string(k));
            ASSERT_TRUE(sec.ok());
            std::uint64_t v = static_cast<std::uint64_t>(round) * 1000 + static_cast<std::uint64_t>(k);
            auto r = sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
            ASSERT_TRUE(r.ok()) << "round " << round << ": " << r.message() << "\n" << engine.log();
            std::uint64_t back = 0;
            ASSERT_TRUE(sec->read(0, std::as_writable_bytes(std::span(&back, 1))).ok());
            ASSERT_EQ(back, v);
        }
        ASSERT_EQ(::kill(engine.pid(), 0), 0) << "ckptd died";
    }
    // Control operations on the healthy checkpoint still work, and it reports no damage.
    ASSERT_TRUE(healthy->create_section({.id = "late", .capacity = 256}).ok());
    auto hst = healthy->status();
    ASSERT_TRUE(hst.ok());
    EXPECT_TRUE(hst->damage.empty()) << hst->damage;
    // The victim is reported, with words.
    auto vst = victim->status();
    ASSERT_TRUE(vst.ok()) << vst.message();
    EXPECT_FALSE(vst->damage.empty());
    EXPECT_GT(vst->invalid_words, 0u);
    auto list = s->list();
    ASSERT_TRUE(list.ok());
    bool reported = false;
    for (auto& c : *list)
        if (c.name == "victim") reported = !c.damage.empty();
    EXPECT_TRUE(reported);
    // Its directory (engine-owned, read-only to clients) is intact: every section is still there.
    EXPECT_EQ(victim->sections().size(), 64u);
    // A scribbled DATA header is derivable: the engine rewrites it, so new openers can attach.
    auto reopened = s->open("victim", kOpenRead);
    ASSERT_TRUE(reopened.ok()) << reopened.message();
    EXPECT_EQ(reopened->sections().size(), 64u);
    // An overwrite of a victim section still round-trips: the engine restores order section by section.
    auto v0 = victim->section("v0");
    ASSERT_TRUE(v0.ok());
}

TEST(Hostile, ClientsCannotWriteTheDirectory) {
    EngineProcess engine("hostile-meta");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->create("ro-meta", attrs());
    ASSERT_TRUE(ck.ok());
    // The engine hands out META through an O_RDONLY descriptor: find it among our fds and try to
    // map it writable; the kernel must refuse.
    bool found_meta = false;
    for (int fd = 3; fd < 1024; ++fd) {
        char link[256] = {};
        std::string p = "/proc/self/fd/" + std::to_string(fd);
        ssize_t n = ::readlink(p.c_str(), link, sizeof link - 1);
        if (n <= 0) continue;
        std::string target(link, static_cast<std::size_t>(n));
        if (target.find(engine.prefix() + "ro-meta.meta") == std::string::npos) continue;
        found_meta = true;
        int flags = ::fcntl(fd, F_GETFL);
        EXPECT_EQ(flags & O_ACCMODE, O_RDONLY);
        void* m = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        EXPECT_EQ(m, MAP_FAILED);
    }
    // The library closes the fds after mapping; then the check happens on the mappings instead.
    if (!found_meta) {
        std::ifstream maps("/proc/self/maps");
        std::string line;
        bool mapped = false;
        while (std::getline(maps, line)) {
            if (line.find(engine.prefix() + "ro-meta.meta") == std::string::npos) continue;
            mapped = true;
            EXPECT_EQ(line.substr(line.find(' ') + 1, 4), "r--s") << line;
        }
        EXPECT_TRUE(mapped);
    }
}

// ---------------------------------------------------------------------------------------------
// Resizing DATA. A writer's DATA descriptor is O_RDWR, so it can ftruncate the object. Before the
// segment guard, ckptd died of SIGBUS (exit status 135) at its next touch of the cut pages and
// could not adopt the checkpoint on restart ("segment is N bytes, expected at least M").
// ---------------------------------------------------------------------------------------------

template <typename P>
bool eventually_true(P pred) {
    for (int i = 0; i < 1000; ++i) {
        if (pred()) return true;
        ::usleep(5'000);
    }
    return pred();
}

std::uint64_t committed_value(int k) {
    return 0x5EC7'0000'0000ULL + static_cast<std::uint64_t>(k) * 977;
}

/// Eight sections spread over the victim's area, each with a known committed value.
void fill_victim(Checkpoint& victim) {
    for (int k = 0; k < 8; ++k) {
        auto sec = victim.create_section({.id = "v" + std::to_string(k), .capacity = 4096});
        ASSERT_TRUE(sec.ok()) << sec.message();
        std::uint64_t v = committed_value(k);
        auto r = sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
        ASSERT_TRUE(r.ok()) << r.message();
    }
}

void expect_victim_committed(Session& s, const std::string& name) {
    auto ck = s.open(name, kOpenRead);
    ASSERT_TRUE(ck.ok()) << ck.message();
    for (int k = 0; k < 8; ++k) {
        auto sec = ck->section("v" + std::to_string(k));
        ASSERT_TRUE(sec.ok()) << sec.message();
        std::uint64_t back = 0;
        ASSERT_TRUE(sec->read(0, std::as_writable_bytes(std::span(&back, 1))).ok());
        EXPECT_EQ(back, committed_value(k)) << "section v" << k;
    }
}

/// Waits until the engine reports the resize in the checkpoint's status (it repairs at its next
/// loop turn after a fault, or at its next scan).
std::string wait_for_resize_report(Session& s, const std::string& name) {
    for (int i = 0; i < 500; ++i) {
        auto ck = s.open(name, kOpenRead);
        if (ck.ok()) {
            auto st = ck->status();
            if (st.ok() && st->damage.find("resized") != std::string::npos) return st->damage;
        }
        ::usleep(10'000);
    }
    return {};
}

CheckpointAttributes big_attrs(bool persistent) {
    CheckpointAttributes a = attrs();
    a.checkpoint_size = 64 * 1024;
    a.max_section_size = 4096;
    a.retention_ns = 3600LL * 1'000'000'000; // outlives every close in these tests
    if (persistent) a.creation_flags |= kFlagPersistent;
    return a;
}

void truncate_attack(bool persistent) {
    // A scan interval far beyond the test: the repair must come from the guard's absorbed SIGBUS,
    // not from the periodic size check.
    EngineProcess engine(persistent ? "hostile-trunc-p" : "hostile-trunc", {"scan_interval_ms = 60000"});
    ASSERT_TRUE(engine.start()) << engine.log();
    const std::string data_path =
        (persistent ? engine.state_dir() + "/" : std::string("/dev/shm/")) + engine.prefix() + "victim.data";
    {
        auto s = Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok());
        auto healthy = s->create("healthy", attrs());
        ASSERT_TRUE(healthy.ok());
        auto hsec = healthy->create_section({.id = "h", .capacity = 256});
        ASSERT_TRUE(hsec.ok());
        {
            auto victim = s->create("victim", big_attrs(persistent));
            ASSERT_TRUE(victim.ok()) << victim.message();
            fill_victim(*victim);
            // The writer goes away with its handle (its own mapping would fault too).
        }
        // The attack from issue 13: a descriptor with write access, ftruncate to nothing.
        const pid_t attacker = ::fork();
        if (attacker == 0) {
            auto as = Session::connect({engine.socket()});
            if (!as.ok()) ::_exit(2);
            auto v = as->open("victim", kOpenRead | kOpenWrite);
            if (!v.ok()) ::_exit(3);
            int fd = ::open(data_path.c_str(), O_RDWR);
            if (fd < 0 || ::ftruncate(fd, 0) != 0) ::_exit(4);
            ::_exit(0); // dies without closing: its writer slot is released by the engine
        }
        int status = 0;
        ASSERT_EQ(::waitpid(attacker, &status, 0), attacker);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
        // The engine touches the cut DATA at once (doorbells, the dead writer's rollback).
        std::string report = wait_for_resize_report(*s, "victim");
        ASSERT_FALSE(report.empty()) << engine.log();
        EXPECT_NE(report.find("resized to 0 bytes"), std::string::npos) << report;
        ASSERT_EQ(::kill(engine.pid(), 0), 0) << "ckptd died\n" << engine.log();
        EXPECT_NE(engine.log().find("absorbed"), std::string::npos) << engine.log();
        EXPECT_NE(engine.log().find("checkpoint 'victim': DATA was resized"), std::string::npos) << engine.log();
        struct stat st {};
        ASSERT_EQ(::stat(data_path.c_str(), &st), 0);
        EXPECT_GT(st.st_size, 0) << "size restored";
        // The others never noticed; the victim kept its committed state.
        for (std::uint64_t v = 1; v <= 20; ++v) {
            auto r = hsec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
            ASSERT_TRUE(r.ok()) << r.message();
        }
        auto hst = healthy->status();
        ASSERT_TRUE(hst.ok());
        EXPECT_TRUE(hst->damage.empty()) << hst->damage;
        expect_victim_committed(*s, "victim");
        // And it is writable again.
        auto w = s->open("victim", kOpenRead | kOpenWrite);
        ASSERT_TRUE(w.ok()) << w.message();
        auto sec = w->section("v3");
        ASSERT_TRUE(sec.ok());
        std::uint64_t v = committed_value(3);
        ASSERT_TRUE(sec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync).ok());
    }
    // After an engine restart the checkpoint still adopts, with its committed state.
    engine.kill_hard();
    ASSERT_TRUE(engine.start()) << engine.log();
    EXPECT_EQ(engine.log().find("cannot adopt"), std::string::npos) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    expect_victim_committed(*s, "victim");
}

TEST(Hostile, TruncatedDataDoesNotKillTheEngineAndStillAdopts) {
    truncate_attack(false);
}

TEST(Hostile, TruncatedPersistentDataDoesNotKillTheEngineAndStillAdopts) {
    truncate_attack(true);
}

TEST(Hostile, DataTruncatedWhileTheEngineIsDownIsRestoredAtAdoption) {
    EngineProcess engine("hostile-trunc-down");
    ASSERT_TRUE(engine.start()) << engine.log();
    {
        auto s = Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok());
        auto victim = s->create("victim", big_attrs(false));
        ASSERT_TRUE(victim.ok());
        fill_victim(*victim);
    }
    engine.stop();
    const std::string data_path = "/dev/shm/" + engine.prefix() + "victim.data";
    struct stat before {};
    ASSERT_EQ(::stat(data_path.c_str(), &before), 0);
    // Cut inside the section area: the header and the first sections survive, the rest reads zero.
    ASSERT_EQ(::truncate(data_path.c_str(), 8192 + 4096), 0);
    ASSERT_TRUE(engine.start()) << engine.log();
    EXPECT_EQ(engine.log().find("cannot adopt"), std::string::npos) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    expect_victim_committed(*s, "victim");
    auto ck = s->open("victim", kOpenRead);
    ASSERT_TRUE(ck.ok());
    auto st = ck->status();
    ASSERT_TRUE(st.ok());
    EXPECT_NE(st->damage.find("resized to 12288 bytes"), std::string::npos) << st->damage;
    struct stat sb {};
    ASSERT_EQ(::stat(data_path.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_size, before.st_size);
}

TEST(Hostile, GrownDataIsShrunkBackAndReported) {
    EngineProcess engine("hostile-grow", {"scan_interval_ms = 20"});
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto victim = s->create("victim", big_attrs(false));
    ASSERT_TRUE(victim.ok());
    fill_victim(*victim);
    const std::string data_path = "/dev/shm/" + engine.prefix() + "victim.data";
    struct stat before {};
    ASSERT_EQ(::stat(data_path.c_str(), &before), 0);
    // Growing DATA would let one client fill /dev/shm for everyone: the engine shrinks it back.
    ASSERT_EQ(::truncate(data_path.c_str(), before.st_size + (64 << 20)), 0);
    std::string report = wait_for_resize_report(*s, "victim");
    ASSERT_FALSE(report.empty()) << engine.log();
    EXPECT_NE(report.find("0 section(s) rolled back"), std::string::npos) << report;
    struct stat after {};
    ASSERT_EQ(::stat(data_path.c_str(), &after), 0);
    EXPECT_EQ(after.st_size, before.st_size);
    expect_victim_committed(*s, "victim");
}

// A hostile client's repertoire in random order, round after round: scribbling DATA, cutting it,
// growing it, dying inside a transaction, writing normally. Through all of it a healthy
// checkpoint's sync commits succeed and ckptd lives; at the end the victim still adopts after a
// restart. CKPT_HOSTILE_ROUNDS (default 200) sets the rounds; tests/soak/hostile_soak.sh runs 10^6.
TEST(Hostile, RandomAttacksHurtOnlyTheVictim) {
    const char* env = std::getenv("CKPT_HOSTILE_ROUNDS");
    const long rounds = env && *env ? std::atol(env) : 200;
    EngineProcess engine("hostile-mix", {"scan_interval_ms = 5"});
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto healthy = s->create("healthy", attrs());
    ASSERT_TRUE(healthy.ok());
    auto hsec = healthy->create_section({.id = "h", .capacity = 256});
    ASSERT_TRUE(hsec.ok());
    {
        auto victim = s->create("victim", big_attrs(false));
        ASSERT_TRUE(victim.ok());
        fill_victim(*victim);
    }
    const std::string data_path = "/dev/shm/" + engine.prefix() + "victim.data";
    struct stat st0 {};
    ASSERT_EQ(::stat(data_path.c_str(), &st0), 0);
    const off_t full = st0.st_size;
    auto size_is_whole = [&] {
        struct stat st {};
        return ::stat(data_path.c_str(), &st) == 0 && st.st_size == full;
    };
    std::mt19937_64 rng(0xBAD5EED);
    long counts[5] = {};
    for (long round = 0; round < rounds; ++round) {
        const int attack = static_cast<int>(rng() % 5);
        ++counts[attack];
        switch (attack) {
        case 0: { // scribble a random range (only over a whole object: our own map would fault)
            ASSERT_TRUE(eventually_true(size_is_whole)) << "round " << round << "\n" << engine.log();
            Scribbler sc(data_path);
            ASSERT_NE(sc.base, MAP_FAILED);
            const std::size_t from = (rng() % (sc.size / 8)) * 8, len = (rng() % 512) * 8;
            for (std::size_t i = from; i + 8 <= std::min(sc.size, from + len); i += 8) {
                std::uint64_t v = rng();
                std::memcpy(sc.base + i, &v, 8);
            }
            break;
        }
        case 1: // cut it anywhere
            ASSERT_EQ(::truncate(data_path.c_str(), static_cast<off_t>(rng() % static_cast<std::uint64_t>(full))), 0);
            break;
        case 2: // grow it
            ASSERT_EQ(::truncate(data_path.c_str(), full + static_cast<off_t>(rng() % (1 << 20))), 0);
            break;
        case 3: { // a writer dies inside a transaction (its socket closes early)
            ASSERT_TRUE(eventually_true(size_is_whole)) << "round " << round;
            const pid_t child = ::fork();
            if (child == 0) {
                auto cs = Session::connect({engine.socket()});
                if (!cs.ok()) ::_exit(2);
                auto v = cs->open("victim", kOpenRead | kOpenWrite);
                if (!v.ok()) ::_exit(3);
                auto sec = v->section("v1");
                if (!sec.ok()) ::_exit(4);
                auto tx = sec->write();
                if (!tx.ok()) ::_exit(5);
                std::memset(tx->span(0, 64).data(), 0xEE, 64);
                ::_exit(0); // no commit, no close
            }
            int status = 0;
            ASSERT_EQ(::waitpid(child, &status, 0), child);
            break;
        }
        case 4: { // an ordinary writer, in a child (our own victim map could meet a cut)
            ASSERT_TRUE(eventually_true(size_is_whole)) << "round " << round;
            const pid_t child = ::fork();
            if (child == 0) {
                auto cs = Session::connect({engine.socket()});
                if (!cs.ok()) ::_exit(2);
                auto v = cs->open("victim", kOpenRead | kOpenWrite);
                if (!v.ok()) ::_exit(3);
                auto sec = v->section("v2");
                if (!sec.ok()) ::_exit(4);
                std::uint64_t x = 42;
                (void)sec->write(0, std::as_bytes(std::span(&x, 1)), Ack::kAsync);
                ::_exit(0);
            }
            int status = 0;
            ASSERT_EQ(::waitpid(child, &status, 0), child);
            break;
        }
        }
        std::uint64_t v = static_cast<std::uint64_t>(round);
        auto r = hsec->write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
        ASSERT_TRUE(r.ok()) << "round " << round << " attack " << attack << ": " << r.message() << "\n" << engine.log();
        ASSERT_EQ(::kill(engine.pid(), 0), 0) << "ckptd died in round " << round << "\n" << engine.log();
    }
    ASSERT_TRUE(eventually_true(size_is_whole)) << engine.log();
    auto hst = healthy->status();
    ASSERT_TRUE(hst.ok());
    EXPECT_TRUE(hst->damage.empty()) << hst->damage;
    std::printf("hostile rounds: %ld (scribble %ld, cut %ld, grow %ld, die mid-write %ld, write %ld)\n", rounds,
                counts[0], counts[1], counts[2], counts[3], counts[4]);
    // The victim is still a checkpoint: it reopens, and it adopts after a restart.
    EXPECT_TRUE(s->open("victim", kOpenRead).ok());
    engine.kill_hard();
    ASSERT_TRUE(engine.start()) << engine.log();
    EXPECT_EQ(engine.log().find("cannot adopt"), std::string::npos) << engine.log();
    auto s2 = Session::connect({engine.socket()});
    ASSERT_TRUE(s2.ok());
    auto again = s2->open("victim", kOpenRead);
    ASSERT_TRUE(again.ok()) << again.message();
    EXPECT_EQ(again->sections().size(), 8u);
}

} // namespace
