// The replication frame codec: round trips, and every malformed, truncated or corrupted frame is
// refused with its reason, without reading outside the buffer (each case is its own exact-size
// heap buffer, so ASan sees any over-read).
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/wire_format.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace ckpt::net;

namespace {
constexpr std::int64_t kTimeEndForTest = 0x7FFFFFFFFFFFFFFF;

Endpoint ep(std::uint8_t last, std::uint32_t ip) {
    Endpoint e;
    e.mac = {0x02, 0, 0, 0, 0, last};
    e.ip = ip;
    return e;
}

std::vector<std::byte> payload_of(std::size_t n, unsigned seed) {
    std::vector<std::byte> p(n);
    std::mt19937 rng(seed);
    for (auto& b : p) b = static_cast<std::byte>(rng());
    return p;
}

std::vector<std::byte> data_frame(const std::vector<std::byte>& payload, DataBody& d) {
    d.checkpoint_id = 7;
    d.slot = 42;
    d.generation = 3;
    d.commit_seq = 1234;
    d.offset = 4096;
    d.length = static_cast<std::uint32_t>(payload.size());
    d.fragment = 1;
    d.section_size = 3000;
    std::vector<std::byte> body(kDataBodyFixed + payload.size());
    EXPECT_EQ(encode_data_body(body, d, payload), body.size());
    FrameHeader h{FrameType::kData, kFlagLastFragment, 1, 2, 9, 555};
    std::vector<std::byte> frame(kMaxFrame);
    std::size_t n = encode_frame(frame, ep(1, 0x0A000001), ep(2, 0x0A000002), h, body);
    EXPECT_EQ(n, kFrameOverhead + body.size());
    frame.resize(n);
    return frame;
}

Reject decode_exact(const std::vector<std::byte>& bytes, DecodedFrame& out) {
    // A fresh exact-size allocation (an over-read is an ASan error) that outlives the call:
    // DecodedFrame::body points into it until the next decode.
    static std::vector<std::byte> exact;
    exact = std::vector<std::byte>(bytes);
    return decode_frame(exact, kDefaultUdpPort, out);
}

TEST(WireFormat, DataRoundTrip) {
    auto payload = payload_of(1000, 1);
    DataBody d;
    auto frame = data_frame(payload, d);
    DecodedFrame f;
    ASSERT_EQ(decode_exact(frame, f), Reject::kNone);
    EXPECT_EQ(f.header.type, FrameType::kData);
    EXPECT_EQ(f.header.flags, kFlagLastFragment);
    EXPECT_EQ(f.header.src_node, 1);
    EXPECT_EQ(f.header.dst_node, 2);
    EXPECT_EQ(f.header.epoch, 9u);
    EXPECT_EQ(f.header.link_seq, 555u);
    EXPECT_EQ(f.src.ip, 0x0A000001u);
    EXPECT_EQ(f.dst.ip, 0x0A000002u);
    EXPECT_EQ(f.dst.port, kDefaultUdpPort);
    EXPECT_EQ(f.src.mac[5], 1);
    DataBody back;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_body(f.body, back, pl), Reject::kNone);
    EXPECT_EQ(back.checkpoint_id, 7u);
    EXPECT_EQ(back.slot, 42u);
    EXPECT_EQ(back.generation, 3u);
    EXPECT_EQ(back.commit_seq, 1234u);
    EXPECT_EQ(back.offset, 4096u);
    EXPECT_EQ(back.fragment, 1);
    EXPECT_EQ(back.section_size, 3000u);
    EXPECT_TRUE(std::equal(pl.begin(), pl.end(), payload.begin(), payload.end()));
}

TEST(WireFormat, AckRoundTripAndExactLength) {
    AckBody a{100, 0b1011, 77, 0};
    std::vector<std::byte> body(kAckBody);
    ASSERT_EQ(encode_ack_body(body, a), kAckBody);
    std::vector<std::byte> frame(256);
    std::size_t n = encode_frame(frame, ep(1, 1), ep(2, 2), FrameHeader{FrameType::kAck, 0, 2, 1, 9, 8}, body);
    frame.resize(n);
    DecodedFrame f;
    ASSERT_EQ(decode_exact(frame, f), Reject::kNone);
    AckBody b;
    ASSERT_EQ(decode_ack_body(f.body, b), Reject::kNone);
    EXPECT_EQ(b.cumulative, 100u);
    EXPECT_EQ(b.selective, 0b1011u);
    EXPECT_EQ(b.sent_through, 77u);
    EXPECT_EQ(decode_ack_body(f.body.first(kAckBody - 1), b), Reject::kBadBody);
}

TEST(WireFormat, Ipv4ChecksumMatchesRfc1071Example) {
    // A well-known header (192.168.0.1 -> 192.168.0.199, UDP) whose checksum is 0xb861.
    const unsigned char h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_EQ(ipv4_checksum(std::as_bytes(std::span(h))), 0xb861);
}

TEST(WireFormat, EveryTruncationIsRefused) {
    auto payload = payload_of(300, 2);
    DataBody d;
    auto frame = data_frame(payload, d);
    for (std::size_t len = 0; len < frame.size(); ++len) {
        std::vector<std::byte> cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(len));
        DecodedFrame f;
        EXPECT_NE(decode_exact(cut, f), Reject::kNone) << "accepted a frame cut to " << len << " bytes";
    }
}

TEST(WireFormat, EthernetPaddingIsAccepted) {
    std::vector<std::byte> frame(128);
    std::size_t n = encode_frame(frame, ep(1, 1), ep(2, 2), FrameHeader{FrameType::kHeartbeat, 0, 1, 2, 1, 1}, {});
    frame.resize(std::max<std::size_t>(n, 60) + 4); // NICs pad to the 60-byte minimum (and more)
    DecodedFrame f;
    ASSERT_EQ(decode_exact(frame, f), Reject::kNone);
    EXPECT_TRUE(f.body.empty());
}

TEST(WireFormat, EverySingleBitFlipIsCaughtWhereItMatters) {
    auto payload = payload_of(64, 3);
    DataBody d;
    auto frame = data_frame(payload, d);
    DecodedFrame good;
    ASSERT_EQ(decode_exact(frame, good), Reject::kNone);
    const std::vector<std::byte> good_hs(frame.begin() + 42, frame.end());
    std::size_t accepted = 0;
    for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
        auto bad = frame;
        bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
        DecodedFrame f;
        Reject r = decode_exact(bad, f);
        const std::size_t byte = bit / 8;
        // Unprotected by design: MAC addresses (the link's FCS covers them), the UDP source port
        // and the UDP checksum field (zero: frame_hash covers the payload instead).
        const bool unprotected = byte < 12 || byte == 34 || byte == 35 || byte == 40 || byte == 41;
        if (!unprotected) {
            EXPECT_NE(r, Reject::kNone) << "flip of bit " << bit << " (byte " << byte << ") went unnoticed";
        } else if (r == Reject::kNone) {
            ++accepted; // the Hotspare header and body arrived intact nonetheless
            EXPECT_TRUE(std::equal(bad.begin() + 42, bad.end(), good_hs.begin(), good_hs.end()));
            EXPECT_EQ(f.header.link_seq, good.header.link_seq);
        }
    }
    EXPECT_GT(accepted, 0u); // the unprotected fields really are ignored, not luckily rejected
}

TEST(WireFormat, RejectsWithTheRightReason) {
    auto payload = payload_of(16, 4);
    DataBody d;
    auto frame = data_frame(payload, d);
    DecodedFrame f;
    auto with = [&](std::size_t at, std::uint8_t v) {
        auto b = frame;
        b[at] = std::byte{v};
        return b;
    };
    auto arp = with(12, 0x08);
    arp[13] = std::byte{0x06};
    EXPECT_EQ(decode_exact(arp, f), Reject::kNotIpv4);
    EXPECT_EQ(decode_exact(with(14, 0x46), f), Reject::kNotIpv4); // IP options
    EXPECT_EQ(decode_frame(frame, kDefaultUdpPort + 1, f), Reject::kWrongPort);
    // Fields behind a valid IP checksum need the checksum recomputed to reach their own check.
    auto fix_ip = [](std::vector<std::byte> b) {
        b[24] = b[25] = std::byte{0};
        std::uint16_t c = ipv4_checksum({b.data() + 14, 20});
        b[24] = static_cast<std::byte>(c >> 8);
        b[25] = static_cast<std::byte>(c);
        return b;
    };
    EXPECT_EQ(decode_exact(fix_ip(with(23, 6)), f), Reject::kNotUdp); // TCP
    EXPECT_EQ(decode_exact(with(42, 0x00), f), Reject::kBadMagic);
    EXPECT_EQ(decode_exact(with(46, kWireVersion + 1), f), Reject::kBadVersion);
    EXPECT_EQ(decode_exact(with(46, kWireVersion - 1), f), Reject::kBadVersion);
    EXPECT_EQ(decode_exact(with(47, 99), f), Reject::kBadHash); // the type is covered by the tag
    EXPECT_EQ(decode_exact(with(100, 0x5a), f), Reject::kBadHash);
    EXPECT_EQ(std::string(reject_name(Reject::kBadHash)), "bad frame MAC or checksum");
}

/// `frame` re-stamped as wire version `v` (> 3), with a tag that holds for it (what a node of a
/// later version sends: the envelope every version from 3 on keeps).
std::vector<std::byte> as_version(std::vector<std::byte> frame, std::uint8_t v) {
    frame[42 + 4] = std::byte{v};
    FrameAuth unkeyed;
    EXPECT_TRUE(seal_frame(frame, unkeyed, 0, 0, 0));
    return frame;
}

/// A version-2 frame as a node of that version sends it: 40-byte header, XXH3-64 at byte 32.
std::vector<std::byte> version2_frame(std::uint16_t src, std::uint16_t dst, std::size_t body_len) {
    std::vector<std::byte> f(42 + 40 + body_len);
    const std::size_t ip_len = 20 + 8 + 40 + body_len;
    auto put16 = [&](std::size_t at, unsigned v) {
        f[at] = static_cast<std::byte>(v >> 8);
        f[at + 1] = static_cast<std::byte>(v);
    };
    put16(12, 0x0800);
    f[14] = std::byte{0x45};
    put16(16, static_cast<unsigned>(ip_len));
    put16(20, 0x4000);
    f[22] = std::byte{64};
    f[23] = std::byte{17};
    const std::uint16_t c = ipv4_checksum({f.data() + 14, 20});
    put16(24, c);
    put16(36, kDefaultUdpPort);
    put16(38, static_cast<unsigned>(ip_len - 20));
    std::byte* hs = f.data() + 42;
    hs[0] = std::byte{'H'};
    hs[1] = std::byte{'S'};
    hs[2] = std::byte{'P'};
    hs[3] = std::byte{'R'};
    hs[4] = std::byte{2};
    hs[5] = std::byte{4}; // HEARTBEAT
    put16(42 + 8, src);
    put16(42 + 10, dst);
    put16(42 + 12, static_cast<unsigned>(body_len));
    const std::uint64_t h = XXH3_64bits(hs, 40 + body_len); // frame_hash zero while hashing
    for (int i = 0; i < 8; ++i) hs[32 + i] = static_cast<std::byte>(h >> (56 - 8 * i));
    return f;
}

TEST(WireFormat, AVersion2PeerIsIdentifiedByItsOwnEnvelope) {
    const auto v2 = version2_frame(1, 2, 16);
    DecodedFrame f;
    EXPECT_EQ(decode_exact(v2, f), Reject::kBadVersion);
    ForeignVersion who;
    ASSERT_TRUE(identify_foreign_version(v2, kDefaultUdpPort, who));
    EXPECT_EQ(who.version, 2);
    EXPECT_EQ(who.src_node, 1);
    EXPECT_EQ(who.dst_node, 2);
    auto bad = v2;
    bad[42 + 40 + 3] ^= std::byte{0x10}; // the body: its frame hash no longer holds
    EXPECT_FALSE(identify_foreign_version(bad, kDefaultUdpPort, who));
}

TEST(WireFormat, AnotherVersionIsIdentifiedOnlyWhenItsEnvelopeIsIntact) {
    auto payload = payload_of(40, 5);
    DataBody d;
    const auto v1 = data_frame(payload, d); // src node 1, dst node 2
    ForeignVersion who;
    EXPECT_FALSE(identify_foreign_version(v1, kDefaultUdpPort, who)) << "our own version is not foreign";
    constexpr std::uint8_t kOther = kWireVersion + 1;
    const auto v2 = as_version(v1, kOther);
    DecodedFrame f;
    EXPECT_EQ(decode_exact(v2, f), Reject::kBadVersion);
    ASSERT_TRUE(identify_foreign_version(v2, kDefaultUdpPort, who));
    EXPECT_EQ(who.version, kOther);
    EXPECT_EQ(who.src_node, 1);
    EXPECT_EQ(who.dst_node, 2);
    EXPECT_FALSE(identify_foreign_version(v2, kDefaultUdpPort + 1, who)) << "not our port";
    // A frame of ours with its version byte flipped in flight is damage, not another version.
    EXPECT_FALSE(identify_foreign_version(
        [&] {
            auto b = v1;
            b[46] = std::byte{kOther};
            return b;
        }(),
        kDefaultUdpPort, who));
    // Every single-bit flip of the foreign frame: refused, or the same sender and version (the
    // fields no check covers: MACs, UDP source port and checksum).
    for (std::size_t bit = 0; bit < v2.size() * 8; ++bit) {
        auto bad = v2;
        bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
        static std::vector<std::byte> exact; // exact size: ASan sees any over-read
        exact = bad;
        ForeignVersion w;
        if (identify_foreign_version(exact, kDefaultUdpPort, w)) {
            EXPECT_TRUE(w.version == kOther && w.src_node == 1 && w.dst_node == 2) << "bit " << bit;
            const std::size_t byte = bit / 8;
            EXPECT_TRUE(byte < 12 || byte == 34 || byte == 35 || byte == 40 || byte == 41) << "bit " << bit;
        }
    }
    for (std::size_t n = 0; n < v2.size(); ++n) { // truncations
        std::vector<std::byte> cut(v2.begin(), v2.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_FALSE(identify_foreign_version(cut, kDefaultUdpPort, who)) << n << " bytes";
    }
}

TEST(WireFormat, DataBodyConsistencyIsChecked) {
    auto payload = payload_of(32, 5);
    DataBody d;
    d.length = 32;
    d.section_size = 0x0102030405060708ull;
    std::vector<std::byte> body(kDataBodyFixed + 32);
    ASSERT_EQ(encode_data_body(body, d, payload), body.size());
    DataBody out;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_body(body, out, pl), Reject::kNone);
    EXPECT_EQ(decode_data_body(std::span(body).first(kDataBodyFixed + 31), out, pl), Reject::kBadBody);
    EXPECT_EQ(decode_data_body(std::span(body).first(kDataBodyFixed - 1), out, pl), Reject::kBadBody);
    EXPECT_EQ(encode_data_body(std::span(body).first(10), d, payload), 0u);
}

// Version 4 (as released) has no payload hash: the 48-byte fixed part ends with the section size
// and the payload follows at once. A flipped payload byte is the frame tag's to refuse, not the
// body's: the body codec hands it through, decode_frame refuses the frame.
TEST(WireFormat, DataBodyHasNoPayloadHashAndTheTagCoversThePayload) {
    static_assert(kDataBodyFixed == 48);
    auto payload = payload_of(64, 11);
    DataBody d;
    d.length = 64;
    d.section_size = 0x0102030405060708ull;
    std::vector<std::byte> body(kDataBodyFixed + 64);
    ASSERT_EQ(encode_data_body(body, d, payload), body.size());
    for (int i = 0; i < 8; ++i) EXPECT_EQ(body[40 + i], static_cast<std::byte>(i + 1)) << i; // section size, last field
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), body.begin() + kDataBodyFixed));
    auto flipped = body;
    flipped[kDataBodyFixed + 3] ^= std::byte{1};
    DataBody out;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_body(flipped, out, pl), Reject::kNone); // no second pass over the payload
    EXPECT_EQ(pl[3], payload[3] ^ std::byte{1});

    DataBody fd;
    auto frame = data_frame(payload, fd);
    DecodedFrame f;
    ASSERT_EQ(decode_exact(frame, f), Reject::kNone);
    const std::size_t first_payload_byte = kEthHeader + kIpv4Header + kUdpHeader + kHotspareHeader + kDataBodyFixed;
    for (std::size_t at : {first_payload_byte, frame.size() - kFrameTrailer - 1}) {
        auto bad = frame;
        bad[at] ^= std::byte{0x10};
        EXPECT_EQ(decode_exact(bad, f), Reject::kBadHash) << at;
    }
}

// A DATA body built in place, at kFrameBodyOffset of the frame buffer (as ActiveSide::send_commit
// builds it, copying the payload once), makes the very frame that a body built elsewhere and
// copied in makes, and it decodes back to the same payload.
TEST(WireFormat, ABodyBuiltInPlaceMakesTheSameFrame) {
    const auto payload = payload_of(700, 3);
    DataBody d;
    d.slot = 9;
    d.commit_seq = 18;
    d.length = 700;
    d.section_size = 4096;
    const FrameHeader h{FrameType::kData, kFlagLastFragment, 1, 2, 9, 77};
    std::vector<std::byte> body(kDataBodyFixed + payload.size());
    ASSERT_EQ(encode_data_body(body, d, payload), body.size());
    std::vector<std::byte> copied(kFrameOverhead + body.size());
    ASSERT_EQ(encode_frame_unsealed(copied, ep(1, 1), ep(2, 2), h, body), copied.size());

    std::vector<std::byte> in_place(kFrameOverhead + body.size(), std::byte{0xEE}); // no zeroes to rely on
    const std::span<std::byte> at = std::span(in_place).subspan(kFrameBodyOffset, body.size());
    ASSERT_EQ(encode_data_body(at, d, payload), body.size());
    ASSERT_EQ(encode_frame_unsealed(in_place, ep(1, 1), ep(2, 2), h, at), in_place.size());
    EXPECT_EQ(in_place, copied);

    FrameAuth none;
    ASSERT_TRUE(seal_frame(in_place, none, 0, 5, 6));
    DecodedFrame f;
    ASSERT_EQ(decode_exact(in_place, f), Reject::kNone);
    DataBody out;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_body(f.body, out, pl), Reject::kNone);
    EXPECT_TRUE(std::equal(pl.begin(), pl.end(), payload.begin(), payload.end()));
    EXPECT_EQ(out.commit_seq, 18u);
}

// Version 4: a DATA frame of several runs (kFlagRuns): the run table round-trips, the payload is
// the runs' bytes back to back, and every inconsistency is refused (count, order, overlap, an
// empty run, the total, every truncation).
TEST(WireFormat, DataRunsRoundTripAndEveryInconsistencyIsRefused) {
    const auto section = payload_of(8192, 9);
    const std::vector<DataRun> runs = {{256, 256}, {1024, 512}, {4096, 256}, {8000, 192}};
    DataBody d;
    d.checkpoint_id = 7;
    d.slot = 3;
    d.generation = 5;
    d.commit_seq = 42;
    d.fragment = 2;
    d.section_size = 8192;
    std::vector<std::byte> body(kMaxFrame);
    const std::size_t n = encode_data_runs_body(body, d, runs, section);
    ASSERT_EQ(n, kDataBodyFixed + kDataRunCount + kDataRunEntry * runs.size() + 256 + 512 + 256 + 192);
    body.resize(n);
    EXPECT_EQ(d.length, 1216u);
    EXPECT_EQ(d.offset, 256u);
    std::vector<DataRun> back(kMaxDataRuns);
    std::size_t count = 0;
    DataBody out;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_runs_body(body, out, back, count, pl), Reject::kNone);
    ASSERT_EQ(count, runs.size());
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(back[i].offset, runs[i].offset);
        EXPECT_EQ(back[i].length, runs[i].length);
        EXPECT_TRUE(std::equal(pl.begin() + static_cast<std::ptrdiff_t>(at),
                               pl.begin() + static_cast<std::ptrdiff_t>(at + back[i].length),
                               section.begin() + static_cast<std::ptrdiff_t>(runs[i].offset)));
        at += back[i].length;
    }
    EXPECT_EQ(out.slot, 3u);
    EXPECT_EQ(out.commit_seq, 42u);
    EXPECT_EQ(out.fragment, 2u);
    for (std::size_t cut = 0; cut < n; ++cut)
        EXPECT_EQ(decode_data_runs_body(std::span(body).first(cut), out, back, count, pl), Reject::kBadBody) << cut;
    auto patched = [&](std::size_t at_byte, std::byte v) {
        auto b = body;
        b[at_byte] = v;
        return decode_data_runs_body(b, out, back, count, pl);
    };
    const std::size_t table = kDataBodyFixed;
    EXPECT_EQ(patched(table + 3, std::byte{0}), Reject::kBadBody);    // count 0
    EXPECT_EQ(patched(table + 3, std::byte{3}), Reject::kBadBody);    // count 3: the total disagrees
    EXPECT_EQ(patched(table + 1, std::byte{0xFF}), Reject::kBadBody); // count beyond kMaxDataRuns
    // Second run moved before the first (order), onto it (overlap), emptied.
    EXPECT_EQ(patched(table + kDataRunCount + kDataRunEntry + 6, std::byte{0}), Reject::kBadBody);
    {
        auto b = body;
        for (int i = 0; i < 4; ++i) b[table + kDataRunCount + kDataRunEntry + 8 + i] = std::byte{0};
        EXPECT_EQ(decode_data_runs_body(b, out, back, count, pl), Reject::kBadBody);
    }
    // A flipped payload byte is no body inconsistency (the frame tag covers it).
    EXPECT_EQ(patched(n - 1, body[n - 1] ^ std::byte{1}), Reject::kNone);
    // A table that does not fit the caller's array is refused, never written past.
    EXPECT_EQ(decode_data_runs_body(body, out, std::span(back).first(2), count, pl), Reject::kBadBody);
    // The encoder refuses what it cannot describe.
    DataBody e = d;
    EXPECT_EQ(encode_data_runs_body(body, e, {}, section), 0u);
    const std::vector<DataRun> outside = {{8100, 200}};
    std::vector<std::byte> big(kMaxFrame);
    EXPECT_EQ(encode_data_runs_body(big, e, outside, section), 0u);
    EXPECT_EQ(encode_data_runs_body(std::span(big).first(100), e, runs, section), 0u);
}

// Issue 14, coalescing: a batch DATA body (kFlagBatch, docs/PROTOCOL.md "Batches") of three
// whole commits, one of them with a run table.
std::vector<std::byte> batch_body(std::vector<std::size_t>* entry_ends = nullptr) {
    const auto section = payload_of(4096, 11);
    std::vector<std::byte> body(kMaxFrame);
    std::size_t at = kBatchHeader;
    auto add = [&](std::uint16_t flags, std::uint64_t seq, std::vector<DataRun> runs) {
        DataBody d;
        d.checkpoint_id = 7;
        d.slot = static_cast<std::uint32_t>(seq);
        d.generation = 3;
        d.commit_seq = seq;
        d.section_size = 4096;
        std::span<std::byte> out = std::span(body).subspan(at + kBatchEntryHeader);
        std::size_t n;
        if (runs.size() > 1) {
            n = encode_data_runs_body(out, d, runs, section);
        } else {
            d.offset = runs[0].offset;
            d.length = runs[0].length;
            n = encode_data_body(out, d, std::span(section).subspan(runs[0].offset, runs[0].length));
        }
        EXPECT_GT(n, 0u);
        put_batch_entry_header(body.data() + at, flags, static_cast<std::uint32_t>(n));
        at += kBatchEntryHeader + n;
        if (entry_ends) entry_ends->push_back(at);
    };
    add(kFlagLastFragment, 2, {{0, 64}});
    add(kFlagLastFragment | kFlagRuns, 4, {{128, 64}, {512, 32}});
    add(kFlagLastFragment | kFlagOverwrite, 6, {{1024, 100}});
    put_batch_header(body.data(), 7, 3);
    body.resize(at);
    return body;
}

TEST(WireFormat, ABatchRoundTripsEntryByEntry) {
    const auto body = batch_body();
    std::vector<DataBatchEntry> e(kMaxBatchEntries);
    std::size_t n = 0;
    ASSERT_EQ(decode_data_batch(body, e, n), Reject::kNone);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(body_checkpoint_id(body), 7u) << "a batch begins with its checkpoint id, as every body";
    DataBody d;
    std::span<const std::byte> pl;
    ASSERT_EQ(decode_data_body(e[0].body, d, pl), Reject::kNone);
    EXPECT_EQ(e[0].flags, kFlagLastFragment);
    EXPECT_EQ(d.commit_seq, 2u);
    EXPECT_EQ(pl.size(), 64u);
    std::vector<DataRun> runs(kMaxDataRuns);
    std::size_t k = 0;
    EXPECT_EQ(e[1].flags, kFlagLastFragment | kFlagRuns);
    ASSERT_EQ(decode_data_runs_body(e[1].body, d, runs, k, pl), Reject::kNone);
    EXPECT_EQ(k, 2u);
    EXPECT_EQ(d.commit_seq, 4u);
    ASSERT_EQ(decode_data_body(e[2].body, d, pl), Reject::kNone);
    EXPECT_EQ(e[2].flags, kFlagLastFragment | kFlagOverwrite);
    EXPECT_EQ(d.commit_seq, 6u);
    EXPECT_EQ(d.length, 100u);
    // In a frame: the tag covers the whole batch.
    FrameHeader h{FrameType::kData, kFlagBatch | kFlagLastFragment, 1, 2, 9, 555};
    std::vector<std::byte> frame(kMaxFrame);
    frame.resize(encode_frame(frame, ep(1, 0x0A000001), ep(2, 0x0A000002), h, body));
    DecodedFrame f;
    ASSERT_EQ(decode_exact(frame, f), Reject::kNone);
    EXPECT_EQ(f.header.flags, kFlagBatch | kFlagLastFragment);
    ASSERT_EQ(decode_data_batch(f.body, e, n), Reject::kNone);
    EXPECT_EQ(n, 3u);
}

// Every cut of a batch body is refused: the entry count says how many entries there must be, so
// a body cut at an entry boundary is refused too (and in a frame the tag refuses any cut first).
TEST(WireFormat, EveryTruncationOfABatchIsRefused) {
    std::vector<std::size_t> ends;
    const auto body = batch_body(&ends);
    std::vector<DataBatchEntry> e(kMaxBatchEntries);
    std::size_t n = 0;
    for (std::size_t cut = 0; cut < body.size(); ++cut) {
        const std::vector<std::byte> exact(body.begin(),
                                           body.begin() + static_cast<std::ptrdiff_t>(cut)); // ASan: no over-read
        EXPECT_EQ(decode_data_batch(exact, e, n), Reject::kBadBody) << "cut to " << cut;
    }
    auto longer = body;
    longer.push_back(std::byte{0});
    EXPECT_EQ(decode_data_batch(longer, e, n), Reject::kBadBody) << "a byte after the last entry";
}

// Lengths that overrun or fall short, counts that disagree, flags and reserved fields out of place,
// entries of another checkpoint or not whole commits: all refused, nothing read past the body.
TEST(WireFormat, AMalformedBatchIsRefused) {
    std::vector<std::size_t> ends;
    const auto body = batch_body(&ends);
    std::vector<DataBatchEntry> e(kMaxBatchEntries);
    std::size_t n = 0;
    auto with = [&](std::size_t at, std::uint8_t v) {
        auto b = body;
        b[at] = std::byte{v};
        return decode_data_batch(b, e, n);
    };
    const std::size_t first = kBatchHeader;          // the first entry's header
    const std::size_t second = ends[0];              // the second's
    EXPECT_EQ(with(5, 0), Reject::kBadBody);         // count 0
    EXPECT_EQ(with(5, 1), Reject::kBadBody);         // count 1: not a batch
    EXPECT_EQ(with(5, 2), Reject::kBadBody);         // count 2: a third entry left over
    EXPECT_EQ(with(5, 4), Reject::kBadBody);         // count 4: one missing
    EXPECT_EQ(with(4, 0xFF), Reject::kBadBody);      // count beyond kMaxBatchEntries
    EXPECT_EQ(with(7, 1), Reject::kBadBody);         // reserved
    EXPECT_EQ(with(3, 8), Reject::kBadBody);         // another checkpoint than the entries'
    EXPECT_EQ(with(first + 1, 0), Reject::kBadBody); // not a whole commit (no last fragment)
    EXPECT_EQ(with(first + 1, kFlagLastFragment | kFlagGroupMore), Reject::kBadBody); // a group member
    EXPECT_EQ(with(first + 1, kFlagLastFragment | kFlagBatch), Reject::kBadBody);     // a batch in a batch
    EXPECT_EQ(with(first + 1, kFlagLastFragment | kFlagRuns), Reject::kBadBody);      // a table it has not
    EXPECT_EQ(with(second + 1, kFlagLastFragment), Reject::kBadBody);                 // a table it has, unread
    EXPECT_EQ(with(first + 3, 1), Reject::kBadBody);                                  // reserved
    EXPECT_EQ(with(first + 7, 0xFF), Reject::kBadBody);                               // length overruns the body
    EXPECT_EQ(with(first + 4, 0x80), Reject::kBadBody);                               // length far beyond it
    EXPECT_EQ(with(first + 7, static_cast<std::uint8_t>(std::to_integer<unsigned>(body[first + 7]) - 1)),
              Reject::kBadBody); // one byte short: the entry's DATA body disagrees with its length
    EXPECT_EQ(with(first + kBatchEntryHeader + 3, 8), Reject::kBadBody);  // an entry of another checkpoint
    EXPECT_EQ(with(first + kBatchEntryHeader + 39, 1), Reject::kBadBody); // fragment 1: not a whole commit
    // Every single-bit flip of the batch and entry headers is refused, except the overwrite flag,
    // which is a valid entry flag (in a frame the tag refuses every flip of the body).
    std::vector<std::size_t> headers = {0};
    headers.push_back(first);
    for (std::size_t i = 0; i + 1 < ends.size(); ++i) headers.push_back(ends[i]);
    for (std::size_t h : headers)
        for (std::size_t bit = 0; bit < 64; ++bit) {
            if (h != 0 && bit == 9) continue; // byte 1 (the flags' low byte), bit 1: kFlagOverwrite
            auto b = body;
            b[h + bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
            EXPECT_EQ(decode_data_batch(b, e, n), Reject::kBadBody) << "header at " << h << ", bit " << bit;
        }
    // Fewer slots than entries: refused, never written past.
    EXPECT_EQ(decode_data_batch(body, std::span(e).first(2), n), Reject::kBadBody);
}

TEST(WireFormat, RandomBatchBodiesNeverDecodeOrOverread) {
    std::mt19937_64 rng(14);
    const auto good = batch_body();
    std::vector<DataBatchEntry> e(kMaxBatchEntries);
    std::size_t n = 0, accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::byte> junk(static_cast<std::size_t>(rng() % 600));
        for (auto& b : junk) b = static_cast<std::byte>(rng());
        if (i % 2 && junk.size() >= 8) std::copy(good.begin(), good.begin() + 8, junk.begin()); // a plausible header
        if (decode_data_batch(junk, e, n) == Reject::kNone) ++accepted;
    }
    EXPECT_EQ(accepted, 0u);
}

TEST(WireFormat, RandomBytesNeverDecode) {
    std::mt19937_64 rng(20261122);
    DataBody d;
    auto frame = data_frame(payload_of(200, 6), d);
    std::size_t accepted = 0;
    for (int i = 0; i < 100000; ++i) {
        std::vector<std::byte> junk(static_cast<std::size_t>(rng() % 400));
        for (auto& b : junk) b = static_cast<std::byte>(rng());
        if (i % 2 && junk.size() >= 42)
            std::copy(frame.begin(), frame.begin() + 42, junk.begin()); // valid outer headers
        DecodedFrame f;
        if (decode_exact(junk, f) == Reject::kNone) ++accepted;
    }
    EXPECT_EQ(accepted, 0u);
}

TEST(WireFormat, HelloAndHeartbeatRoundTrip) {
    std::vector<std::byte> body(kHelloBody);
    ASSERT_EQ(encode_hello_body(body, HelloBody{1, 3, 50, 0xABCDEF}), kHelloBody);
    HelloBody h;
    ASSERT_EQ(decode_hello_body(body, h), Reject::kNone);
    EXPECT_EQ(h.version_min, 1);
    EXPECT_EQ(h.version_max, 3);
    EXPECT_EQ(h.heartbeat_ms, 50u);
    EXPECT_EQ(h.boot_id, 0xABCDEFu);
    ASSERT_EQ(encode_hello_body(body, HelloBody{4, 2, 50, 1}), kHelloBody);
    EXPECT_EQ(decode_hello_body(body, h), Reject::kBadBody) << "min above max";
    EXPECT_EQ(decode_hello_body(std::span(body).first(15), h), Reject::kBadBody);
    std::vector<std::byte> hb(kHeartbeatBody);
    ASSERT_EQ(encode_heartbeat_body(hb, HeartbeatBody{77, 5, 0}), kHeartbeatBody);
    HeartbeatBody b;
    ASSERT_EQ(decode_heartbeat_body(hb, b), Reject::kNone);
    EXPECT_EQ(b.boot_id, 77u);
    EXPECT_EQ(b.checkpoints, 5u);
    EXPECT_EQ(decode_heartbeat_body(std::span(hb).first(8), b), Reject::kBadBody);
}

TEST(WireFormat, EncodeRefusesWhatDoesNotFit) {
    std::vector<std::byte> small(50);
    EXPECT_EQ(encode_frame(small, ep(1, 1), ep(2, 2), FrameHeader{FrameType::kHello, 0, 1, 2, 1, 1}, {}), 0u);
    std::vector<std::byte> big(kMaxFrame + 100), body(kMaxFrame);
    EXPECT_EQ(encode_frame(big, ep(1, 1), ep(2, 2), FrameHeader{FrameType::kData, 0, 1, 2, 1, 1}, body), 0u);
}

// The kernel-UDP carrier strips the Ethernet/IPv4/UDP headers on send and synthesises them on
// receive: unwrapping a frame and wrapping its payload again must give back the same bytes, and
// what it synthesises must pass decode_frame.
TEST(UdpWrap, UnwrapThenWrapGivesBackTheFrame) {
    auto payload = payload_of(700, 5);
    DataBody d;
    auto frame = data_frame(payload, d);
    UdpDatagram u;
    ASSERT_EQ(unwrap_udp_payload(frame, u), Reject::kNone);
    EXPECT_EQ(u.src.ip, 0x0A000001u);
    EXPECT_EQ(u.dst.ip, 0x0A000002u);
    EXPECT_EQ(u.dst.port, kDefaultUdpPort);
    EXPECT_EQ(u.src.mac, ep(1, 0).mac);
    EXPECT_EQ(u.dst.mac, ep(2, 0).mac);
    ASSERT_EQ(u.payload.size(), frame.size() - kUdpPayloadOffset);
    EXPECT_EQ(u.payload.data(), frame.data() + kUdpPayloadOffset);
    std::vector<std::byte> again(kMaxFrame);
    const std::uint16_t ip_id = 555; // encode_frame puts the low 16 bits of link_seq there
    const std::size_t n = wrap_udp_payload(again, u.src, u.dst, u.payload, ip_id);
    ASSERT_EQ(n, frame.size());
    again.resize(n);
    EXPECT_EQ(again, frame);
}

TEST(UdpWrap, WrappedDatagramDecodesWithTheSendersAddress) {
    std::vector<std::byte> body(kHelloBody);
    ASSERT_EQ(encode_hello_body(body, HelloBody{1, 1, 20, 99}), kHelloBody);
    std::vector<std::byte> frame(kMaxFrame);
    const std::size_t n =
        encode_frame(frame, ep(1, 0x7F000001), ep(2, 0x7F000001), FrameHeader{FrameType::kHello, 0, 1, 2, 0, 7}, body);
    ASSERT_GT(n, 0u);
    // What a UDP socket hands over: the Hotspare header and body only, copied to another buffer.
    std::vector<std::byte> datagram(frame.begin() + kUdpPayloadOffset, frame.begin() + static_cast<long>(n));
    Endpoint from;
    from.ip = 0x7F000001;
    from.port = 40001; // the sender's source port, which is not the replication port
    Endpoint self;
    self.ip = 0x7F000001;
    self.port = 7491;
    std::vector<std::byte> out(kMaxFrame);
    const std::size_t m = wrap_udp_payload(out, from, self, datagram);
    ASSERT_EQ(m, n);
    out.resize(m);
    DecodedFrame f;
    ASSERT_EQ(decode_frame(out, 7491, f), Reject::kNone);
    EXPECT_EQ(f.header.type, FrameType::kHello);
    EXPECT_EQ(f.src.ip, 0x7F000001u);
    EXPECT_EQ(f.src.port, 40001);
    EXPECT_EQ(f.dst.port, 7491);
    EXPECT_EQ(ipv4_checksum(std::span(out).subspan(kEthHeader, kIpv4Header)), 0) << "IPv4 checksum is valid";
}

TEST(UdpWrap, WrapsInPlaceWithoutCopying) {
    std::vector<std::byte> body(kHeartbeatBody);
    ASSERT_EQ(encode_heartbeat_body(body, HeartbeatBody{5, 1, 0}), kHeartbeatBody);
    std::vector<std::byte> frame(kMaxFrame);
    const std::size_t n =
        encode_frame(frame, ep(1, 1), ep(2, 2), FrameHeader{FrameType::kHeartbeat, 0, 1, 2, 0, 3}, body);
    ASSERT_GT(n, 0u);
    std::vector<std::byte> buf(kMaxFrame);
    std::copy(frame.begin() + kUdpPayloadOffset, frame.begin() + static_cast<long>(n),
              buf.begin() + kUdpPayloadOffset); // as recvmmsg leaves it: headroom, then the datagram
    ASSERT_EQ(
        wrap_udp_payload(buf, ep(1, 1), ep(2, 2), std::span(buf).subspan(kUdpPayloadOffset, n - kUdpPayloadOffset), 3),
        n);
    DecodedFrame f;
    EXPECT_EQ(decode_frame(std::span(buf).first(n), kDefaultUdpPort, f), Reject::kNone);
    // A payload below the header area (overlapping it) is moved, not smeared.
    std::vector<std::byte> low(kMaxFrame);
    std::copy(frame.begin() + kUdpPayloadOffset, frame.begin() + static_cast<long>(n), low.begin() + 10);
    ASSERT_EQ(wrap_udp_payload(low, ep(1, 1), ep(2, 2), std::span(low).subspan(10, n - kUdpPayloadOffset), 3), n);
    EXPECT_EQ(decode_frame(std::span(low).first(n), kDefaultUdpPort, f), Reject::kNone);
}

TEST(UdpWrap, UnwrapRefusesWhatIsNotUdpOverIpv4) {
    auto payload = payload_of(100, 6);
    DataBody d;
    const auto frame = data_frame(payload, d);
    UdpDatagram u;
    for (std::size_t len = 0; len < kUdpPayloadOffset; ++len) {
        std::vector<std::byte> exact(frame.begin(), frame.begin() + static_cast<long>(len));
        EXPECT_NE(unwrap_udp_payload(exact, u), Reject::kNone) << "length " << len;
    }
    // Truncated below the IP length: refused (a frame may be longer, Ethernet pads, never shorter).
    std::vector<std::byte> cut(frame.begin(), frame.end() - 1);
    EXPECT_EQ(unwrap_udp_payload(cut, u), Reject::kBadLength);
    auto bad = frame;
    bad[12] = std::byte{0x86}; // IPv6 ethertype
    EXPECT_EQ(unwrap_udp_payload(bad, u), Reject::kNotIpv4);
    bad = frame;
    bad[kEthHeader + 9] = std::byte{6}; // TCP (the checksum would also fail; protocol is checked first)
    EXPECT_EQ(unwrap_udp_payload(bad, u), Reject::kNotUdp);
    bad = frame;
    bad[kEthHeader + 16] ^= std::byte{1}; // destination IP: a misrouted send would be worse than none
    EXPECT_EQ(unwrap_udp_payload(bad, u), Reject::kBadHash);
    bad = frame;
    bad[kEthHeader + kIpv4Header + 5] ^= std::byte{1}; // UDP length disagrees with IP length
    EXPECT_EQ(unwrap_udp_payload(bad, u), Reject::kBadLength);
}

TEST(UdpWrap, WrapRefusesWhatDoesNotFit) {
    std::vector<std::byte> payload(100), small(kUdpPayloadOffset + 99);
    EXPECT_EQ(wrap_udp_payload(small, ep(1, 1), ep(2, 2), payload), 0u);
    std::vector<std::byte> big(kMaxFrame + 100), huge(kMaxFrame - kUdpPayloadOffset + 1);
    EXPECT_EQ(wrap_udp_payload(big, ep(1, 1), ep(2, 2), huge), 0u);
    std::vector<std::byte> exact(kMaxFrame), most(kMaxFrame - kUdpPayloadOffset);
    EXPECT_EQ(wrap_udp_payload(exact, ep(1, 1), ep(2, 2), most), kMaxFrame);
}

} // namespace

// ---- replication control bodies ----

TEST(WireFormat, ReplicationBodiesRoundTripAndRefuseEveryTruncation) {
    std::vector<std::byte> buf(4096);
    // NACK
    ASSERT_EQ(encode_nack_body(buf, NackBody{5, 9}), kNackBody);
    NackBody n;
    ASSERT_EQ(decode_nack_body(std::span(buf).first(kNackBody), n), Reject::kNone);
    EXPECT_EQ(n.first, 5u);
    EXPECT_EQ(n.last, 9u);
    ASSERT_EQ(encode_nack_body(buf, NackBody{9, 5}), kNackBody);
    EXPECT_EQ(decode_nack_body(std::span(buf).first(kNackBody), n), Reject::kBadBody) << "first > last";
    // ANNOUNCE
    AnnounceBody a;
    a.checkpoint_id = 7;
    a.creation_flags = 1;
    a.incarnation = 0x1122334455667788;
    a.checkpoint_size = 1 << 20;
    a.max_section_size = 4096;
    a.retention_ns = -1;
    a.max_sections = 10;
    a.max_section_id_size = 32;
    a.block_size = 256;
    a.commit_seq = 99;
    a.join = 0xA1B2C3D4E5F60718;
    a.name = "calls";
    const std::size_t an = encode_announce_body(buf, a);
    ASSERT_EQ(an, kAnnounceBodyFixed + 5);
    AnnounceBody ab;
    ASSERT_EQ(decode_announce_body(std::span(buf).first(an), ab), Reject::kNone);
    EXPECT_EQ(ab.name, "calls");
    EXPECT_EQ(ab.incarnation, a.incarnation);
    EXPECT_EQ(ab.retention_ns, -1);
    EXPECT_EQ(ab.block_size, 256u);
    EXPECT_EQ(ab.join, a.join) << "the join id the HASHES report echoes";
    for (std::size_t k = 0; k < an; ++k) {
        std::vector<std::byte> t(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k)); // exact size for ASan
        EXPECT_NE(decode_announce_body(t, ab), Reject::kNone) << k;
    }
    // SECTION
    const std::byte id[3] = {std::byte{'a'}, std::byte{0}, std::byte{'z'}};
    SectionBody s;
    s.checkpoint_id = 7;
    s.op = SectionOp::kInstall;
    s.slot = 3;
    s.generation = 4;
    s.data_offset = 8192;
    s.capacity = 512;
    s.expiration_ns = kTimeEndForTest;
    s.seq = 10;
    s.size = 300;
    s.id = id;
    const std::size_t sn = encode_section_body(buf, s);
    ASSERT_EQ(sn, kSectionBodyFixed + 3);
    SectionBody sb;
    ASSERT_EQ(decode_section_body(std::span(buf).first(sn), sb), Reject::kNone);
    EXPECT_EQ(sb.op, SectionOp::kInstall);
    EXPECT_EQ(sb.data_offset, 8192u);
    EXPECT_EQ(sb.expiration_ns, kTimeEndForTest);
    ASSERT_EQ(sb.id.size(), 3u);
    EXPECT_EQ(sb.id[1], std::byte{0});
    for (std::size_t k = 0; k < sn; ++k) {
        std::vector<std::byte> t(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
        EXPECT_NE(decode_section_body(t, sb), Reject::kNone) << k;
    }
    buf[7] = std::byte{9}; // unknown op
    EXPECT_EQ(decode_section_body(std::span(buf).first(sn), sb), Reject::kBadBody);
    // HASHES
    const std::uint64_t hs[3] = {1, 0xFFFFFFFFFFFFFFFF, 42};
    HashesBody h;
    h.checkpoint_id = 7;
    h.slot = 2;
    h.first_block = 16;
    h.join = 0x0102030405060708;
    const std::size_t hn = encode_hashes_body(buf, h, hs);
    ASSERT_EQ(kHashesBodyFixed, 56u);
    ASSERT_EQ(hn, kHashesBodyFixed + 24);
    HashesBody hb;
    ASSERT_EQ(decode_hashes_body(std::span(buf).first(hn), hb), Reject::kNone);
    ASSERT_EQ(hb.count, 3u);
    EXPECT_EQ(hashes_at(hb, 1), 0xFFFFFFFFFFFFFFFFull);
    EXPECT_EQ(hashes_at(hb, 2), 42u);
    EXPECT_EQ(hb.first_block, 16u);
    EXPECT_EQ(hb.join, h.join);
    EXPECT_EQ(buf[48], std::byte{1}) << "the join id is big-endian at 48, before the hashes";
    for (std::size_t k = 0; k < hn; ++k) {
        std::vector<std::byte> t(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
        EXPECT_NE(decode_hashes_body(t, hb), Reject::kNone) << k;
    }
    // RESYNC_DONE
    ASSERT_EQ(encode_resync_done_body(buf, ResyncDoneBody{7, 2, 100}), kResyncDoneBody);
    ResyncDoneBody r;
    ASSERT_EQ(decode_resync_done_body(std::span(buf).first(kResyncDoneBody), r), Reject::kNone);
    EXPECT_EQ(r.blocks_sent, 100u);
    EXPECT_EQ(decode_resync_done_body(std::span(buf).first(kResyncDoneBody - 1), r), Reject::kBadBody);
    // REFUSED
    RefusedBody rf;
    rf.checkpoint_id = 9;
    rf.reason = RefuseReason::kStaleEpoch;
    rf.refused_type = FrameType::kData;
    rf.refused_link_seq = (std::uint64_t{3} << 48) | 17;
    rf.commit_seq = 1234;
    rf.replica_epoch = 5;
    ASSERT_EQ(encode_refused_body(buf, rf), kRefusedBody);
    RefusedBody back;
    ASSERT_EQ(decode_refused_body(std::span(buf).first(kRefusedBody), back), Reject::kNone);
    EXPECT_EQ(back.checkpoint_id, 9u);
    EXPECT_EQ(back.reason, RefuseReason::kStaleEpoch);
    EXPECT_EQ(back.refused_type, FrameType::kData);
    EXPECT_EQ(back.refused_link_seq, rf.refused_link_seq);
    EXPECT_EQ(back.commit_seq, 1234u);
    EXPECT_EQ(back.replica_epoch, 5u);
    EXPECT_STREQ(refuse_reason_name(back.reason), "stale epoch");
    for (std::size_t k = 0; k < kRefusedBody; ++k)
        EXPECT_EQ(decode_refused_body(std::span(buf).first(k), back), Reject::kBadBody) << k;
    std::vector<std::byte> bad(buf.begin(), buf.begin() + kRefusedBody);
    bad[4] = std::byte{0}; // no reason
    EXPECT_EQ(decode_refused_body(bad, back), Reject::kBadBody);
    bad[4] = std::byte{kMaxRefuseReason + 1};
    EXPECT_EQ(decode_refused_body(bad, back), Reject::kBadBody);
    bad[4] = std::byte{1};
    bad[5] = static_cast<std::byte>(FrameType::kAck); // not a sequenced type: nothing to refuse
    EXPECT_EQ(decode_refused_body(bad, back), Reject::kBadBody);
}

TEST(WireFormat, NewFrameTypesDecodeAndUnknownOnesAreRefused) {
    std::vector<std::byte> frame(256), body(16);
    Endpoint src, dst;
    FrameHeader hd;
    hd.type = FrameType::kResyncDone;
    const std::size_t n = encode_frame(frame, src, dst, hd, body);
    ASSERT_GT(n, 0u);
    DecodedFrame f;
    EXPECT_EQ(decode_frame(std::span(frame).first(n), kDefaultUdpPort, f), Reject::kNone);
    hd.type = static_cast<FrameType>(kMaxFrameType + 1);
    const std::size_t m = encode_frame(frame, src, dst, hd, body);
    EXPECT_EQ(decode_frame(std::span(frame).first(m), kDefaultUdpPort, f), Reject::kUnknownType);
}
