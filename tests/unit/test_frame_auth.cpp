// The frame MAC's pieces (net-dpdk/src/frame_auth.cpp, engine/src/link/replay_window.hpp): tags
// bind key, sender, session and counter; two keys during a rotation; key files are refused unless
// private, owned and well-formed, each with a message that says what to do; the replay window.
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/wire_format.hpp"
#include "link/replay_window.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

using namespace ckpt::net;

namespace {

ClusterKey key(std::uint8_t id, unsigned char fill) {
    ClusterKey k;
    k.id = id;
    k.bytes.fill(fill);
    return k;
}

std::vector<std::byte> frame() {
    std::vector<std::byte> f(kMaxFrame);
    Endpoint s, d;
    FrameHeader h;
    h.type = FrameType::kHeartbeat;
    h.src_node = 1;
    h.dst_node = 2;
    std::byte body[kHeartbeatBody] = {};
    f.resize(encode_frame_unsealed(f, s, d, h, body));
    return f;
}

Reject decode(const std::vector<std::byte>& f, FrameAuth& a) {
    DecodedFrame out;
    return decode_frame(f, kDefaultUdpPort, out, &a);
}

std::string temp_path(const char* name) {
    return "/tmp/hs-frame-auth-" + std::to_string(::getpid()) + "-" + name;
}

std::string write_file(const std::string& path, const std::string& text, mode_t mode) {
    ::unlink(path.c_str());
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
}

} // namespace

TEST(FrameAuth, TheTagBindsKeySenderSessionAndCounter) {
    FrameAuth a, b;
    ASSERT_EQ(a.add_key(key(1, 7)), "");
    ASSERT_EQ(b.add_key(key(1, 7)), "");
    auto f = frame();
    ASSERT_TRUE(seal_frame(f, a, 1, 0xABC, 5));
    EXPECT_EQ(decode(f, b), Reject::kNone);
    DecodedFrame d;
    ASSERT_EQ(decode_frame(f, kDefaultUdpPort, d, &b), Reject::kNone);
    EXPECT_EQ(d.header.key_id, 1);
    EXPECT_EQ(d.header.session, 0xABCu);
    EXPECT_EQ(d.header.counter, 5u);
    // Each field the tag binds, changed after sealing: refused.
    for (std::size_t at : {42 + 8 /*src*/, 42 + 33 /*session*/, 42 + 47 /*counter*/, 42 + 5 /*type*/}) {
        auto g = f;
        g[at] ^= std::byte{1};
        EXPECT_NE(decode(g, b), Reject::kNone) << "byte " << at;
    }
    FrameAuth other;
    ASSERT_EQ(other.add_key(key(1, 8)), "");
    EXPECT_EQ(decode(f, other), Reject::kBadHash) << "another key under the same id";
    FrameAuth none;
    EXPECT_EQ(decode(f, none), Reject::kUnknownKey) << "a keyed frame on a node without a key";
    auto plain = frame();
    ASSERT_TRUE(seal_frame(plain, none, 0, 1, 1));
    EXPECT_EQ(decode(plain, none), Reject::kNone);
    EXPECT_EQ(decode(plain, b), Reject::kUnknownKey) << "an unkeyed frame on a keyed node";
    FrameAuth two;
    ASSERT_EQ(two.add_key(key(2, 7)), "");
    EXPECT_EQ(decode(f, two), Reject::kUnknownKey) << "a key id this node does not hold";
    EXPECT_FALSE(seal_frame(f, two, 1, 1, 1)) << "sealing with a key not held";
}

TEST(FrameAuth, TwoKeysAreAcceptedDuringARotation) {
    FrameAuth a;
    EXPECT_NE(a.add_key(key(0, 1)).find("key id 0 is reserved"), std::string::npos);
    ASSERT_EQ(a.add_key(key(1, 1)), "");
    EXPECT_EQ(a.add_key(key(1, 1)), "") << "the same key again changes nothing";
    EXPECT_EQ(a.newest_key(), 1);
    EXPECT_EQ(a.previous_key(), 0);
    EXPECT_NE(a.add_key(key(1, 2)).find("already in use with other key bytes"), std::string::npos);
    ASSERT_EQ(a.add_key(key(2, 2)), "");
    EXPECT_EQ(a.newest_key(), 2);
    EXPECT_EQ(a.previous_key(), 1);
    FrameAuth old;
    ASSERT_EQ(old.add_key(key(1, 1)), "");
    auto f = frame();
    ASSERT_TRUE(seal_frame(f, old, 1, 9, 1));
    EXPECT_EQ(decode(f, a), Reject::kNone) << "the previous key is still accepted";
    ASSERT_EQ(a.add_key(key(3, 3)), "");
    EXPECT_EQ(decode(f, a), Reject::kUnknownKey) << "two rotations later it is forgotten";
}

TEST(FrameAuth, KeyFilesAreRefusedUnlessPrivateOwnedAndWellFormed) {
    const std::string p = temp_path("key");
    ::unlink(p.c_str());
    ClusterKey k;
    EXPECT_NE(load_key_file(p, k).find("ckptctl keygen " + p), std::string::npos) << "missing: says how to make one";
    const ClusterKey g = generate_key(4);
    ASSERT_EQ(write_key_file(p, g, false), "");
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(load_key_file(p, k), "");
    EXPECT_EQ(k.id, 4);
    EXPECT_EQ(k.bytes, g.bytes);
    EXPECT_NE(write_key_file(p, g, false).find("never overwritten"), std::string::npos);
    ASSERT_EQ(write_key_file(p, generate_key(5), true), "");
    ASSERT_EQ(load_key_file(p, k), "");
    EXPECT_EQ(k.id, 5);

    ::chmod(p.c_str(), 0644);
    const std::string e = load_key_file(p, k);
    EXPECT_NE(e.find("mode 0644 lets other users read the cluster key: chmod 600 " + p), std::string::npos) << e;
    ::chmod(p.c_str(), 0600);
    if (::geteuid() == 0) {
        ASSERT_EQ(::chown(p.c_str(), 4242, 4242), 0);
        const std::string o = load_key_file(p, k);
        EXPECT_NE(o.find("owned by uid 4242, neither root nor ckptd's uid"), std::string::npos) << o;
    }
    ::unlink(p.c_str());

    const std::string hex(64, 'a');
    struct Case {
        std::string text, error;
    };
    for (const Case& c : std::vector<Case>{
             {"id = 1\n", "needs both"},
             {"key = " + hex + "\n", "needs both"},
             {"id = 0\nkey = " + hex + "\n", "line 1: id must be 1..255"},
             {"id = 256\nkey = " + hex + "\n", "id must be 1..255"},
             {"id = 1\nkey = " + hex.substr(2) + "\n", "line 2: key must be 64 hex digits"},
             {"id = 1\nkey = " + hex.substr(1) + "g\n", "key must be 64 hex digits"},
             {"id = 1\nsecret = x\n", "unknown setting `secret`"},
             {"just words\n", "expected `id = N`"},
         }) {
        write_file(p, c.text, 0600);
        const std::string got = load_key_file(p, k);
        EXPECT_NE(got.find(c.error), std::string::npos) << c.text << " -> " << got;
    }
    write_file(p, "# a comment\n\n  id = 9  # the id\nkey = " + hex + "\n", 0600);
    EXPECT_EQ(load_key_file(p, k), "");
    EXPECT_EQ(k.id, 9);
    ::unlink(p.c_str());
    ::mkdir(p.c_str(), 0700);
    EXPECT_NE(load_key_file(p, k).find("not a regular file"), std::string::npos);
    ::rmdir(p.c_str());
}

TEST(ReplayWindow, EachCounterOnceWithinTheWindowNothingOlder) {
    ckpt::engine::ReplayWindow w;
    EXPECT_FALSE(w.accept(0)) << "senders count from 1";
    EXPECT_TRUE(w.accept(1));
    EXPECT_FALSE(w.accept(1));
    EXPECT_TRUE(w.accept(5));
    EXPECT_TRUE(w.accept(3)) << "late but new";
    EXPECT_FALSE(w.accept(3));
    EXPECT_TRUE(w.accept(4));
    EXPECT_TRUE(w.accept(300));
    EXPECT_TRUE(w.accept(45)) << "within 256 of the highest";
    EXPECT_FALSE(w.accept(44)) << "older than the window: refused";
    EXPECT_FALSE(w.accept(5)) << "older than the window";
    EXPECT_TRUE(w.accept(10'000));
    EXPECT_FALSE(w.accept(300));
    EXPECT_TRUE(w.accept(9'999));
    EXPECT_FALSE(w.accept(9'999));
    w.reset();
    EXPECT_TRUE(w.accept(300)) << "a new session starts a new window";
}
