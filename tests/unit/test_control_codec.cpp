// The control protocol's Encoder/Decoder (ckpt/common/control_protocol.hpp): the wire encoding of
// every field type, round trips, and that no truncated or lying input makes the Decoder read past its
// end (each prefix is decoded from the end of a page followed by an inaccessible guard page, so an
// over-read crashes the test instead of passing silently). Also the attribute, name and open-flag
// validation rules (ckpt/common/attributes.hpp) with their error codes and messages.
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/control_protocol.hpp"
#include "guarded_buffer.hpp"
#include "odd_attrs.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::proto;
using ckpt::testing::GuardedBuffer;

namespace {

std::vector<std::uint8_t> bytes_of(const Encoder& e) {
    std::vector<std::uint8_t> out;
    for (std::byte b : e.buffer()) out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

CheckpointAttributes odd_attrs() {
    return ckpt::testing::odd_attrs(static_cast<std::uint32_t>(UpdateMode::kAsyncWeak) | kFlagPersistent |
                                    kFlagCollocated);
}

const std::string kPayload(300, 'p');

/// One of every field type, in a fixed order.
Encoder every_field() {
    Encoder e;
    const std::byte raw[] = {std::byte{1}, std::byte{0}, std::byte{0xFF}};
    e.u8(0xAB)
        .u16(0xBEEF)
        .u32(0xDEAD'BEEFu)
        .i32(-7)
        .u64(0x0123'4567'89AB'CDEFULL)
        .i64(std::numeric_limits<std::int64_t>::min());
    e.bytes(raw).str("hello").str("").bytes(B(kPayload)).attrs(odd_attrs()).u8(0x5A);
    return e;
}

/// Decodes every_field()'s layout; true when every value read equals what was written.
bool decode_every_field(Decoder& d) {
    bool same = true;
    same &= d.u8() == 0xAB;
    same &= d.u16() == 0xBEEF;
    same &= d.u32() == 0xDEAD'BEEFu;
    same &= d.i32() == -7;
    same &= d.u64() == 0x0123'4567'89AB'CDEFULL;
    same &= d.i64() == std::numeric_limits<std::int64_t>::min();
    auto raw = d.bytes();
    same &= raw.size() == 3 && raw[0] == std::byte{1} && raw[1] == std::byte{0} && raw[2] == std::byte{0xFF};
    same &= d.str() == "hello";
    same &= d.str().empty();
    same &= d.str() == kPayload;
    same &= d.attrs() == odd_attrs();
    same &= d.u8() == 0x5A;
    return same;
}

// ---------------------------------------------------------------------------------------------
// Wire encoding
// ---------------------------------------------------------------------------------------------

TEST(ControlCodec, IntegersAreLittleEndian) {
    EXPECT_EQ(bytes_of(Encoder().u8(0x01)), (std::vector<std::uint8_t>{0x01}));
    EXPECT_EQ(bytes_of(Encoder().u16(0x0102)), (std::vector<std::uint8_t>{0x02, 0x01}));
    EXPECT_EQ(bytes_of(Encoder().u32(0x01020304)), (std::vector<std::uint8_t>{0x04, 0x03, 0x02, 0x01}));
    EXPECT_EQ(bytes_of(Encoder().i32(-2)), (std::vector<std::uint8_t>{0xFE, 0xFF, 0xFF, 0xFF}));
    EXPECT_EQ(bytes_of(Encoder().u64(0x0102030405060708ULL)),
              (std::vector<std::uint8_t>{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}));
    EXPECT_EQ(bytes_of(Encoder().i64(-1)), (std::vector<std::uint8_t>(8, 0xFF)));
}

TEST(ControlCodec, BytesAndStringsCarryAU32Length) {
    EXPECT_EQ(bytes_of(Encoder().str("ab")), (std::vector<std::uint8_t>{2, 0, 0, 0, 'a', 'b'}));
    EXPECT_EQ(bytes_of(Encoder().str("")), (std::vector<std::uint8_t>{0, 0, 0, 0}));
    const std::byte raw[] = {std::byte{0}, std::byte{9}};
    EXPECT_EQ(bytes_of(Encoder().bytes(raw)), (std::vector<std::uint8_t>{2, 0, 0, 0, 0, 9}));
}

TEST(ControlCodec, AttributesEncodeInFieldOrder) {
    CheckpointAttributes a = odd_attrs();
    Encoder e;
    e.attrs(a);
    ASSERT_EQ(e.size(), 40u); // u32 u64 i64 u32 u64 u32 u32
    Encoder expected;
    expected.u32(a.creation_flags)
        .u64(a.checkpoint_size)
        .i64(a.retention_ns)
        .u32(a.max_sections)
        .u64(a.max_section_size)
        .u32(a.max_section_id_size)
        .u32(a.block_size);
    EXPECT_EQ(e.buffer(), expected.buffer());
}

TEST(ControlCodec, RequestAndReplyHeaders) {
    EXPECT_EQ(bytes_of(request(Op::kOpen, 0x11223344)),
              (std::vector<std::uint8_t>{0x02, 0x00, 0x01, 0x00, 0x44, 0x33, 0x22, 0x11}));
    EXPECT_EQ(bytes_of(reply_ok(Op::kRollback, 7)), (std::vector<std::uint8_t>{12, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0}));
    auto err = reply_error(Op::kClose, 9, fail(Error::kBadHandle, "no"));
    EXPECT_EQ(bytes_of(err), (std::vector<std::uint8_t>{3, 0, 1, 0, 9, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 'n', 'o'}));
    // Long messages are cut so that a reply always fits one datagram.
    auto big = reply_error(Op::kOpen, 1, fail(Error::kInvalidParam, std::string(100'000, 'x')));
    EXPECT_LE(big.size(), kMaxMessage);
    Decoder d(big.buffer());
    d.u16();
    d.u16();
    d.u32();
    EXPECT_EQ(d.i32(), static_cast<std::int32_t>(Error::kInvalidParam));
    EXPECT_EQ(d.str(), std::string(4000, 'x'));
    EXPECT_TRUE(d.at_end());
}

TEST(ControlCodec, OpNumbersArePinned) {
    EXPECT_EQ(kProtocolVersion, 1);
    EXPECT_EQ(static_cast<int>(Op::kHello), 1);
    EXPECT_EQ(static_cast<int>(Op::kOpen), 2);
    EXPECT_EQ(static_cast<int>(Op::kClose), 3);
    EXPECT_EQ(static_cast<int>(Op::kUnlink), 4);
    EXPECT_EQ(static_cast<int>(Op::kStatus), 5);
    EXPECT_EQ(static_cast<int>(Op::kSectionCreate), 6);
    EXPECT_EQ(static_cast<int>(Op::kSectionDelete), 7);
    EXPECT_EQ(static_cast<int>(Op::kSectionExpiration), 8);
    EXPECT_EQ(static_cast<int>(Op::kSubscribe), 9);
    EXPECT_EQ(static_cast<int>(Op::kList), 10);
    EXPECT_EQ(static_cast<int>(Op::kInspect), 11);
    EXPECT_EQ(static_cast<int>(Op::kRollback), 12);
    EXPECT_EQ(kMaxMessage, 65536u);
    EXPECT_EQ(kNoWriterSlot, 0xFFFF'FFFFu);
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

TEST(ControlCodec, RoundTripOfEveryFieldType) {
    Encoder e = every_field();
    GuardedBuffer g(e.size());
    ASSERT_TRUE(g.valid());
    Decoder d(g.place(e.buffer()));
    EXPECT_TRUE(decode_every_field(d));
    EXPECT_TRUE(d.ok());
    EXPECT_TRUE(d.at_end());
}

TEST(ControlCodec, RoundTripOfExtremeValues) {
    Encoder e;
    e.u8(0)
        .u8(0xFF)
        .u16(0)
        .u16(0xFFFF)
        .u32(0)
        .u32(0xFFFF'FFFFu)
        .i32(std::numeric_limits<std::int32_t>::min())
        .i32(std::numeric_limits<std::int32_t>::max())
        .u64(0)
        .u64(~0ull)
        .i64(std::numeric_limits<std::int64_t>::max());
    Decoder d(e.buffer());
    EXPECT_EQ(d.u8(), 0);
    EXPECT_EQ(d.u8(), 0xFF);
    EXPECT_EQ(d.u16(), 0);
    EXPECT_EQ(d.u16(), 0xFFFF);
    EXPECT_EQ(d.u32(), 0u);
    EXPECT_EQ(d.u32(), 0xFFFF'FFFFu);
    EXPECT_EQ(d.i32(), std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ(d.i32(), std::numeric_limits<std::int32_t>::max());
    EXPECT_EQ(d.u64(), 0u);
    EXPECT_EQ(d.u64(), ~0ull);
    EXPECT_EQ(d.i64(), std::numeric_limits<std::int64_t>::max());
    EXPECT_TRUE(d.at_end());

    CheckpointAttributes defaults;
    Encoder a;
    a.attrs(defaults);
    Decoder da(a.buffer());
    EXPECT_EQ(da.attrs(), defaults);
    EXPECT_TRUE(da.at_end());
}

TEST(ControlCodec, EveryTruncationFails) {
    Encoder e = every_field();
    GuardedBuffer g(e.size());
    ASSERT_TRUE(g.valid());
    for (std::size_t n = 0; n < e.size(); ++n) {
        Decoder d(g.place(std::span(e.buffer()).first(n)));
        (void)decode_every_field(d);
        EXPECT_FALSE(d.ok()) << "prefix of " << n << " of " << e.size() << " bytes";
        EXPECT_FALSE(d.at_end()) << "prefix of " << n;
    }
}

TEST(ControlCodec, FailureIsSticky) {
    // A u32 that needs 4 bytes where 3 remain fails; the u16 after it fails too though 3 bytes are there.
    const std::uint8_t raw[] = {1, 2, 3};
    Decoder d(std::as_bytes(std::span(raw)));
    EXPECT_EQ(d.u32(), 0u);
    EXPECT_FALSE(d.ok());
    EXPECT_EQ(d.u16(), 0u);
    EXPECT_EQ(d.u8(), 0u);
    EXPECT_TRUE(d.bytes().empty());
    const CheckpointAttributes zeros{.creation_flags = 0,
                                     .checkpoint_size = 0,
                                     .retention_ns = 0,
                                     .max_sections = 0,
                                     .max_section_size = 0,
                                     .max_section_id_size = 0,
                                     .block_size = 0};
    EXPECT_EQ(d.attrs(), zeros);
    EXPECT_FALSE(d.ok());
    EXPECT_FALSE(d.at_end());
}

TEST(ControlCodec, BytesLengthLargerThanTheRestFails) {
    GuardedBuffer g(64);
    ASSERT_TRUE(g.valid());
    for (std::uint32_t claimed : {10u, 11u, 100u, 0x7FFF'FFFFu, 0xFFFF'FFFFu}) {
        Encoder e;
        e.u32(claimed);
        for (int i = 0; i < 9; ++i) e.u8(0xEE); // 9 bytes follow
        e.u64(0x1111'2222'3333'4444ULL);        // and 8 more that a failed decoder must not hand out
        auto in = g.place(std::span(e.buffer()).first(4 + 9));
        Decoder d(in);
        auto b = d.bytes();
        EXPECT_TRUE(b.empty()) << claimed;
        EXPECT_FALSE(d.ok()) << claimed;
        EXPECT_EQ(d.u8(), 0u) << claimed; // the next read does not resume after the length
        EXPECT_FALSE(d.at_end());
    }
    // Exactly the rest: fine.
    Encoder e;
    e.u32(9);
    for (int i = 0; i < 9; ++i) e.u8(0xEE);
    Decoder d(g.place(e.buffer()));
    EXPECT_EQ(d.bytes().size(), 9u);
    EXPECT_TRUE(d.ok());
    EXPECT_TRUE(d.at_end());
}

TEST(ControlCodec, StringWithLyingLengthFails) {
    Encoder e;
    e.u32(5).u8('a').u8('b');
    Decoder d(e.buffer());
    EXPECT_EQ(d.str(), "");
    EXPECT_FALSE(d.ok());
}

TEST(ControlCodec, AtEndSemantics) {
    Decoder empty(std::span<const std::byte>{});
    EXPECT_TRUE(empty.ok());
    EXPECT_TRUE(empty.at_end());
    EXPECT_EQ(empty.u8(), 0u);
    EXPECT_FALSE(empty.ok());
    EXPECT_FALSE(empty.at_end()); // a failed decoder is never "at end", so handlers reject it

    Encoder e;
    e.u32(1).u8(2);
    Decoder d(e.buffer());
    EXPECT_FALSE(d.at_end());
    d.u32();
    EXPECT_FALSE(d.at_end()); // one byte of trailing data left
    d.u8();
    EXPECT_TRUE(d.at_end());
    EXPECT_TRUE(d.ok());

    Encoder zero;
    zero.str("");
    Decoder dz(zero.buffer());
    EXPECT_TRUE(dz.bytes().empty());
    EXPECT_TRUE(dz.at_end()); // a zero-length field consumed exactly its length word
}

TEST(ControlCodec, TrailingBytesAreNotAtEnd) {
    Encoder e = every_field();
    e.u8(0);
    Decoder d(e.buffer());
    EXPECT_TRUE(decode_every_field(d));
    EXPECT_TRUE(d.ok());
    EXPECT_FALSE(d.at_end());
}

// ---------------------------------------------------------------------------------------------
// validate_attributes / validate_name / validate_open_flags
// ---------------------------------------------------------------------------------------------

CheckpointAttributes good() {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kAsync);
    a.checkpoint_size = 1 << 20;
    a.max_sections = 16;
    a.max_section_size = 4096;
    a.max_section_id_size = 32;
    a.block_size = 256;
    a.retention_ns = 0;
    return a;
}

struct Rule {
    const char* what;
    CheckpointAttributes attrs;
    Error code;
    std::vector<std::string> words; ///< each must appear in the message
};

template <typename F>
CheckpointAttributes with(F f) {
    CheckpointAttributes a = good();
    f(a);
    return a;
}

TEST(Validation, GoodAttributesPass) {
    EXPECT_TRUE(validate_attributes(good()).ok());
    EXPECT_TRUE(validate_attributes(CheckpointAttributes{}).ok()); // the defaults are valid
    for (auto mode : {UpdateMode::kSync, UpdateMode::kAsync, UpdateMode::kAsyncWeak}) {
        auto a = good();
        a.creation_flags = static_cast<std::uint32_t>(mode) | kFlagCollocated | kFlagPersistent;
        EXPECT_TRUE(validate_attributes(a).ok()) << a.creation_flags;
    }
    // The limits themselves are allowed.
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.max_sections = kMaxSectionsLimit; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) {
                    a.max_sections = 1;
                    a.max_section_id_size = 0;
                })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.max_section_id_size = kMaxSectionIdSize; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.max_section_id_size = 1; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.block_size = kMinBlockSize; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.block_size = kMaxBlockSize; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.checkpoint_size = 1ull << 40; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.max_section_size = a.checkpoint_size; })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) {
                    a.checkpoint_size = 1;
                    a.max_section_size = 1;
                })).ok());
    EXPECT_TRUE(validate_attributes(with([](auto& a) { a.retention_ns = kTimeEnd; })).ok());
}

TEST(Validation, EachAttributeRuleHasItsCodeAndNamesTheField) {
    const std::vector<Rule> rules = {
        {"two update modes", with([](auto& a) { a.creation_flags = 0x3; }), Error::kBadFlags, {"creation flags"}},
        {"no update mode",
         with([](auto& a) { a.creation_flags = kFlagPersistent; }),
         Error::kBadFlags,
         {"creation flags"}},
        {"all update modes", with([](auto& a) { a.creation_flags = 0x7; }), Error::kBadFlags, {"creation flags"}},
        {"unknown flag", with([](auto& a) { a.creation_flags |= 0x10; }), Error::kBadFlags, {"creation flags"}},
        {"max_sections 0", with([](auto& a) { a.max_sections = 0; }), Error::kInvalidParam, {"max_sections", "got 0"}},
        {"max_sections too many",
         with([](auto& a) { a.max_sections = kMaxSectionsLimit + 1; }),
         Error::kInvalidParam,
         {"max_sections", std::to_string(kMaxSectionsLimit + 1)}},
        {"max_section_size 0",
         with([](auto& a) { a.max_section_size = 0; }),
         Error::kInvalidParam,
         {"max_section_size"}},
        {"checkpoint_size 0", with([](auto& a) { a.checkpoint_size = 0; }), Error::kInvalidParam, {"checkpoint_size"}},
        {"checkpoint_size > 1 TiB",
         with([](auto& a) { a.checkpoint_size = (1ull << 40) + 1; }),
         Error::kInvalidParam,
         {"checkpoint_size"}},
        {"max_section_size > checkpoint_size",
         with([](auto& a) {
             a.checkpoint_size = 1000;
             a.max_section_size = 1001;
         }),
         Error::kInvalidParam,
         {"max_section_size", "1001", "checkpoint_size", "1000"}},
        {"id size 0 with several sections",
         with([](auto& a) { a.max_section_id_size = 0; }),
         Error::kInvalidParam,
         {"max_section_id_size"}},
        {"id size too big",
         with([](auto& a) { a.max_section_id_size = kMaxSectionIdSize + 1; }),
         Error::kInvalidParam,
         {"max_section_id_size", std::to_string(kMaxSectionIdSize)}},
        {"id size too big, single section",
         with([](auto& a) {
             a.max_sections = 1;
             a.max_section_id_size = kMaxSectionIdSize + 1;
         }),
         Error::kInvalidParam,
         {"max_section_id_size"}},
        {"block_size not a power of two",
         with([](auto& a) { a.block_size = 100; }),
         Error::kInvalidParam,
         {"block_size", "100"}},
        {"block_size 0", with([](auto& a) { a.block_size = 0; }), Error::kInvalidParam, {"block_size", "got 0"}},
        {"block_size too small", with([](auto& a) { a.block_size = 32; }), Error::kInvalidParam, {"block_size", "32"}},
        {"block_size too big",
         with([](auto& a) { a.block_size = 2u << 20; }),
         Error::kInvalidParam,
         {"block_size", std::to_string(2u << 20)}},
        {"negative retention", with([](auto& a) { a.retention_ns = -1; }), Error::kInvalidParam, {"retention"}},
    };
    for (const Rule& r : rules) {
        Status s = validate_attributes(r.attrs);
        ASSERT_FALSE(s.ok()) << r.what;
        EXPECT_EQ(s.error(), r.code) << r.what << ": " << error_name(s.error()) << " " << s.message();
        for (const auto& w : r.words)
            EXPECT_NE(s.message().find(w), std::string::npos)
                << r.what << ": '" << s.message() << "' lacks '" << w << "'";
    }
}

// Flags are bit sets: an error quoting one with a "0x" prefix must print it in hex.
TEST(Validation, FlagMessagesQuoteTheValueInHex) {
    Status s = validate_attributes(with([](auto& a) { a.creation_flags |= 0x10; }));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::kBadFlags);
    EXPECT_NE(s.message().find("0x10"), std::string::npos) << s.message();

    s = validate_attributes(with([](auto& a) { a.creation_flags |= 0x400; }));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("0x400"), std::string::npos) << s.message();

    s = validate_open_flags(0x12);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::kBadFlags);
    EXPECT_NE(s.message().find("0x12"), std::string::npos) << s.message();
}

TEST(Validation, Names) {
    // A checkpoint name is a SaNameT: 1..256 bytes of any value.
    EXPECT_TRUE(validate_name("a").ok());
    EXPECT_TRUE(validate_name("Calls.state_v2-A9").ok());
    EXPECT_TRUE(validate_name("safCkpt=csa103Ckpt,safApp=safCkptService").ok());
    const std::string any[] = {".",           "..",        ".hidden", "a/b",
                               "x/../etc",    "a b",       "tab\t",   std::string("nul\0x", 5),
                               "caf\xC3\xA9", "new\nline", "q\"uote", "\xff"};
    for (const std::string& n : any) EXPECT_TRUE(validate_name(n).ok()) << printable_name(n);
    EXPECT_TRUE(validate_name(std::string(kMaxNameLength, 'n')).ok());
    EXPECT_EQ(kMaxNameLength, 256u);

    Status s = validate_name("");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::kInvalidParam);
    EXPECT_NE(s.message().find("empty"), std::string::npos) << s.message();

    s = validate_name(std::string(kMaxNameLength + 1, 'n'));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::kNameTooLong);
    EXPECT_NE(s.message().find("257"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("256"), std::string::npos) << s.message();
}

TEST(Validation, PrintableNamesRoundTrip) {
    EXPECT_EQ(printable_name("safCkpt=csa103Ckpt,safApp=safCkptService"), "safCkpt=csa103Ckpt,safApp=safCkptService");
    EXPECT_EQ(printable_name(std::string("a\0b\n\\", 5)), "a\\x00b\\x0a\\x5c");
    EXPECT_EQ(printable_name("caf\xC3\xA9"), "caf\\xc3\\xa9");
    std::string every(256, '\0');
    for (int i = 0; i < 256; ++i) every[i] = static_cast<char>(i);
    const std::string shown = printable_name(every);
    for (char c : shown) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
    EXPECT_EQ(unescape_name(shown), every);
    // Text without escapes passes through unchanged, a malformed escape too.
    EXPECT_EQ(unescape_name("plain-name"), "plain-name");
    EXPECT_EQ(unescape_name("a\\xZZ\\x4"), "a\\xZZ\\x4");
    EXPECT_EQ(unescape_name("\\x41\\x62"), "Ab");
}

TEST(Validation, OpenFlags) {
    for (std::uint32_t f : {kOpenRead, kOpenWrite, kOpenRead | kOpenWrite, kOpenRead | kOpenCreate,
                            kOpenWrite | kOpenCreate, kOpenRead | kOpenWrite | kOpenCreate})
        EXPECT_TRUE(validate_open_flags(f).ok()) << f;
    for (std::uint32_t f : {0u, kOpenCreate, 0x8u, kOpenRead | 0x8u, 0x100u, 0xFFFF'FFFFu}) {
        Status s = validate_open_flags(f);
        ASSERT_FALSE(s.ok()) << f;
        EXPECT_EQ(s.error(), Error::kBadFlags) << f;
        EXPECT_NE(s.message().find("open flags"), std::string::npos) << s.message();
    }
}

} // namespace
