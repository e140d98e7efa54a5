// 100,000 sections in one checkpoint: create, look up (O(1) hash index), iterate, delete/reuse.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::EngineProcess;

TEST(Scale, HundredThousandSections) {
    constexpr std::uint32_t kSections = 100'000;
    EngineProcess engine("scale");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    CheckpointAttributes a;
    a.checkpoint_size = std::uint64_t{kSections} * 64;
    a.max_sections = kSections;
    a.max_section_size = 64;
    a.max_section_id_size = 16;
    a.block_size = 64;
    auto ck = s->create("big", a);
    ASSERT_TRUE(ck.ok()) << ck.message();
    for (std::uint32_t i = 0; i < kSections; ++i) {
        auto sec = ck->create_section(
            {.id = "sec-" + std::to_string(i), .capacity = 64, .initial = std::as_bytes(std::span(&i, 1))});
        ASSERT_TRUE(sec.ok()) << i << ": " << sec.message();
    }
    EXPECT_EQ(ck->create_section({.id = "one-too-many", .capacity = 64}).error(), Error::kNoSpace);
    for (std::uint32_t i = 0; i < kSections; ++i) {
        auto sec = ck->section("sec-" + std::to_string(i));
        ASSERT_TRUE(sec.ok()) << i;
        std::uint32_t v = ~0u;
        ASSERT_TRUE(sec->read(0, std::as_writable_bytes(std::span(&v, 1))).ok());
        ASSERT_EQ(v, i);
    }
    auto all = ck->sections();
    ASSERT_EQ(all.size(), kSections);
    // Delete every other section, then fill the holes again (exercises index tombstones and reuse).
    for (std::uint32_t i = 0; i < kSections; i += 2) ASSERT_TRUE(ck->delete_section("sec-" + std::to_string(i)).ok());
    EXPECT_EQ(ck->section("sec-0").error(), Error::kNotExist);
    EXPECT_TRUE(ck->section("sec-1").ok());
    for (std::uint32_t i = 0; i < kSections; i += 2) {
        auto sec = ck->create_section({.id = "new-" + std::to_string(i), .capacity = 64});
        ASSERT_TRUE(sec.ok()) << i << ": " << sec.message();
    }
    EXPECT_EQ(ck->sections().size(), kSections);
    EXPECT_TRUE(ck->section("new-99998").ok());
    EXPECT_TRUE(ck->section("sec-99999").ok());
    auto st = ck->status();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->sections, kSections);
}
