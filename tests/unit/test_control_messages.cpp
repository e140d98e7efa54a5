// The control protocol's typed messages (ckpt/common/control_messages.hpp): every request and
// reply round-trips (encode, decode, equal; a reply's descriptors through a real SCM_RIGHTS
// socket pair, arriving as the same files), encodes to exactly the bytes the protocol table of
// docs/ARCHITECTURE.md §7 gives (built here field by field with the Encoder), and fails with
// MESSAGE_ERROR when cut at any length (each prefix ends at an inaccessible page, so an over-read
// crashes the test) or followed by a trailing byte, or when its descriptors do not number as it says.
#include "ckpt/common/control_messages.hpp"
#include "ckpt/common/unix_socket.hpp"
#include "guarded_buffer.hpp"
#include "odd_attrs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace ckpt;
using namespace ckpt::proto;
using ckpt::testing::GuardedBuffer;

namespace {

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

CheckpointAttributes odd_attrs() {
    return ckpt::testing::odd_attrs(static_cast<std::uint32_t>(UpdateMode::kSync) | kFlagNetSize);
}

CheckpointCounters odd_counters(std::uint64_t base) {
    return {.captures = base + 1,
            .captured_bytes = base + 2,
            .spurious_doorbells = base + 3,
            .rollbacks = base + 4,
            .corruptions = base + 5,
            .invalid_words = base + 6,
            .damage = "lock word of slot " + std::to_string(base) + " moved backwards"};
}

/// A descriptor of its own file (a memfd has its own inode), owned by the message.
MessageFd own_file(const char* name) {
    return MessageFd(Fd(::memfd_create(name, MFD_CLOEXEC)));
}

const std::string kInitial(3000, 'i');
const std::string kIdWithNul("s\0\xff", 3);

/// One of every message, every field away from its default (ids and names with NUL and high
/// bytes), and each empty reply.
auto samples() {
    ListReply list;
    list.next_cursor = 7;
    for (int i = 0; i < 3; ++i)
        list.entries.push_back({.name = "ckpt-" + std::to_string(i) + std::string("\0x", 2),
                                .attrs = odd_attrs(),
                                .sections = 10u + i,
                                .bytes_used = 1000u + i,
                                .commit_seq = 99u + i,
                                .open_count = 3u + i,
                                .epoch = 5u + i,
                                .counters = odd_counters(10 * i)});
    HelloReply hello{.node_id = 3, .engine_pid = 4242, .node_size = 1 << 20};
    hello.node = own_file("node");
    hello.kick = own_file("kick");
    OpenReply open{.handle = 17, .writer_slot = 5, .meta_size = 73728, .data_size = 1 << 22, .created = true};
    open.meta = own_file("meta");
    open.data = own_file("data");
    SubscribeReply subscribe;
    subscribe.event = own_file("event");
    InspectReply inspect{.meta_size = 4096, .data_size = 8192, .open_count = 2, .counters = odd_counters(70)};
    inspect.meta = own_file("meta");
    inspect.data = own_file("data");
    return std::make_tuple(
        HelloRequest{.pid = 0xDEAD'BEEFu}, std::move(hello),
        OpenRequest{.name = std::string("calls\0A", 7),
                    .flags = kOpenRead | kOpenWrite | kOpenCreate,
                    .attrs = odd_attrs(),
                    .reattach_slot = kNoWriterSlot},
        OpenRequest{.name = "reopen", .flags = kOpenRead, .attrs = std::nullopt, .reattach_slot = 12}, std::move(open),
        CloseRequest{.handle = ~0ull}, CloseReply{}, UnlinkRequest{.name = "gone"}, UnlinkReply{},
        StatusRequest{.handle = 1},
        StatusReply{.attrs = odd_attrs(),
                    .sections = 8,
                    .bytes_used = 4096,
                    .commit_seq = 123456789,
                    .counters = odd_counters(0)},
        SectionCreateRequest{.handle = 2,
                             .id = kIdWithNul,
                             .generate = false,
                             .expiration_ns = -5,
                             .capacity = 65536,
                             .data = B(kInitial)},
        SectionCreateRequest{.handle = 2, .id = "", .generate = true, .expiration_ns = kTimeEnd, .capacity = 0},
        SectionCreateReply{.id = kIdWithNul, .slot = 9, .generation = 0x1'0000'0001ull},
        SectionDeleteRequest{.handle = 3, .id = kIdWithNul}, SectionDeleteReply{},
        SectionExpirationRequest{.handle = 4, .id = "sec", .expiration_ns = 1'000'000'000}, SectionExpirationReply{},
        SubscribeRequest{.handle = 5}, std::move(subscribe), ListRequest{.cursor = 40}, std::move(list),
        ListReply{.entries = {}, .next_cursor = 0}, InspectRequest{.name = "tool-view"}, std::move(inspect),
        RollbackRequest{.handle = 6, .slot = 0xFFFE}, RollbackReply{}, PromoteRequest{.name = "take-over"},
        PromoteReply{.epoch = 0x7FFF'FFFF'FFFFull}, DemoteRequest{.name = "step-down"}, DemoteReply{},
        RetentionRequest{.handle = 7, .retention_ns = kTimeEnd}, RetentionReply{},
        ReserveRequest{.handle = 8, .slot = 3, .size = 1ull << 33}, ReserveReply{}, DirectoryRequest{.handle = 9},
        DirectoryReply{.oldest_unapplied = 77}, StatsRequest{}, StatsReply{}, ActivateRequest{.name = "claimed"},
        ActivateReply{.epoch = (4ull << 16) | 2});
}

template <typename M>
constexpr bool kIsRequest = requires {
    typename M::Reply;
};

template <typename M>
std::string what(const M&) {
    return std::string(op_name(M::kOp)) + (kIsRequest<M> ? " request" : " reply");
}

template <typename M>
std::vector<std::byte> body_of(const M& m) {
    Encoder e;
    m.encode(e);
    return e.buffer();
}

/// Decodes `body` as an M, handing a reply that carries descriptors the ones in `fds`.
template <typename M>
Result<M> decode_as(std::span<const std::byte> body, std::vector<Fd>& fds) {
    Decoder d(body);
    if constexpr (kIsRequest<M>)
        return M::decode(d);
    else
        return decode_reply<M>(d, fds);
}

/// `n` descriptors that stand for what arrived with a message.
std::vector<Fd> some_fds(std::size_t n) {
    std::vector<Fd> fds;
    for (std::size_t i = 0; i < n; ++i) fds.emplace_back(::memfd_create("arrived", MFD_CLOEXEC));
    return fds;
}

template <typename M>
constexpr std::size_t fd_count() {
    if constexpr (CarriesFds<M>)
        return std::tuple_size_v<decltype(std::declval<const M&>().fds())>;
    else
        return 0;
}

std::pair<dev_t, ino_t> file_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return {0, 0};
    return {st.st_dev, st.st_ino};
}

template <typename Tuple, typename F>
void for_each_sample(Tuple& t, F f) {
    std::apply([&](auto&... m) { (f(m), ...); }, t);
}

// ---------------------------------------------------------------------------------------------

TEST(ControlMessages, EveryMessageRoundTrips) {
    auto all = samples();
    for_each_sample(all, [](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        const auto body = body_of(m);
        std::vector<Fd> none;
        if constexpr (fd_count<M>() == 0) {
            auto back = decode_as<M>(body, none);
            ASSERT_TRUE(back.ok()) << what(m) << ": " << back.message();
            EXPECT_TRUE(*back == m) << what(m);
        } else {
            // Through a socket, as ckptd sends them: the same files arrive under other numbers.
            int sv[2];
            ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
            Fd a(sv[0]), b(sv[1]);
            const auto sent = m.fds();
            for (int fd : sent) ASSERT_GE(fd, 0) << what(m);
            ASSERT_TRUE(send_message(a.get(), body, sent).ok()) << what(m);
            auto got = receive_message(b.get(), kMaxMessage);
            ASSERT_TRUE(got.ok()) << what(m) << ": " << got.message();
            ASSERT_EQ(got->fds.size(), sent.size()) << what(m);
            auto back = decode_as<M>(got->payload, got->fds);
            ASSERT_TRUE(back.ok()) << what(m) << ": " << back.message();
            EXPECT_TRUE(*back == m) << what(m);
            const auto arrived = back->fds();
            for (std::size_t i = 0; i < sent.size(); ++i) {
                EXPECT_NE(arrived[i], sent[i]) << what(m) << " fd " << i;
                EXPECT_EQ(file_of(arrived[i]), file_of(sent[i])) << what(m) << " fd " << i << " is another file";
            }
        }
    });
}

TEST(ControlMessages, TheSamplesHoldEveryOpsRequestAndReply) {
    // PEERS aside (retired: ckptd answers NOT_SUPPORTED), every op from HELLO to ACTIVATE.
    std::set<std::pair<int, bool>> seen;
    auto all = samples();
    for_each_sample(all, [&](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        seen.emplace(static_cast<int>(M::kOp), kIsRequest<M>);
    });
    for (int op = static_cast<int>(Op::kHello); op <= static_cast<int>(Op::kActivate); ++op) {
        if (op == static_cast<int>(Op::kPeers)) continue;
        EXPECT_TRUE(seen.count({op, true})) << op_name(static_cast<Op>(op)) << " request";
        EXPECT_TRUE(seen.count({op, false})) << op_name(static_cast<Op>(op)) << " reply";
    }
    EXPECT_EQ(seen.size(), 2u * 19u);
}

TEST(ControlMessages, EveryTruncationIsMessageError) {
    auto all = samples();
    for_each_sample(all, [](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        const auto body = body_of(m);
        GuardedBuffer g(body.size());
        ASSERT_TRUE(g.valid());
        for (std::size_t n = 0; n < body.size(); ++n) {
            auto fds = some_fds(fd_count<M>());
            auto r = decode_as<M>(g.place(std::span(body).first(n)), fds);
            ASSERT_FALSE(r.ok()) << what(m) << " cut to " << n << " of " << body.size() << " bytes";
            EXPECT_EQ(r.error(), Error::kMessageError) << what(m) << " cut to " << n;
            EXPECT_NE(r.message().find(op_name(M::kOp)), std::string::npos) << r.message();
        }
        // The whole body from the same place decodes: the failures above are the cuts'.
        auto fds = some_fds(fd_count<M>());
        EXPECT_TRUE(decode_as<M>(g.place(body), fds).ok()) << what(m);
    });
}

TEST(ControlMessages, TrailingBytesAreMessageError) {
    auto all = samples();
    for_each_sample(all, [](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        for (std::size_t extra : {1, 8}) {
            auto body = body_of(m);
            body.resize(body.size() + extra, std::byte{0});
            auto fds = some_fds(fd_count<M>());
            auto r = decode_as<M>(body, fds);
            ASSERT_FALSE(r.ok()) << what(m) << " with " << extra << " trailing bytes";
            EXPECT_EQ(r.error(), Error::kMessageError) << what(m);
        }
    });
}

TEST(ControlMessages, RepliesWithTheWrongNumberOfDescriptorsAreMessageError) {
    auto all = samples();
    for_each_sample(all, [](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        if constexpr (fd_count<M>() > 0) {
            const auto body = body_of(m);
            for (std::size_t n : {fd_count<M>() - 1, fd_count<M>() + 1}) {
                auto fds = some_fds(n);
                auto r = decode_as<M>(body, fds);
                ASSERT_FALSE(r.ok()) << what(m) << " with " << n << " fds";
                EXPECT_EQ(r.error(), Error::kMessageError) << what(m);
            }
        }
    });
}

TEST(ControlMessages, ListReplyWithALyingCountIsMessageError) {
    ListReply l;
    l.entries.push_back({.name = "only"});
    auto body = body_of(l);
    for (std::uint32_t count : {0u, 2u, 0xFFFF'FFFFu}) {
        std::memcpy(body.data(), &count, 4);
        std::vector<Fd> none;
        auto r = decode_as<ListReply>(body, none);
        ASSERT_FALSE(r.ok()) << count;
        EXPECT_EQ(r.error(), Error::kMessageError) << count;
    }
}

TEST(ControlMessages, OpenWithoutAttributesSendsTheDefaultsAndIgnoresWhatComes) {
    // The wire always has attributes after the u8; without it they are not the request's.
    Encoder e;
    e.str("x").u32(kOpenRead).u8(0).attrs(odd_attrs()).u32(kNoWriterSlot);
    Decoder d(e.buffer());
    auto r = OpenRequest::decode(d);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_FALSE(r->attrs.has_value());
    Encoder back;
    r->encode(back);
    Encoder expected;
    expected.str("x").u32(kOpenRead).u8(0).attrs(CheckpointAttributes{}).u32(kNoWriterSlot);
    EXPECT_EQ(back.buffer(), expected.buffer());
}

/// The bytes each message had before it was a type, field by field (ARCHITECTURE.md §7).
TEST(ControlMessages, BodiesAreTheProtocolTablesBytes) {
    auto expect_body = [](const auto& m, const Encoder& expected) {
        EXPECT_EQ(body_of(m), expected.buffer()) << what(m);
    };
    const auto a = odd_attrs();
    const auto c = odd_counters(0);
    auto counters = [&](Encoder& e) {
        e.u64(c.captures).u64(c.captured_bytes).u64(c.spurious_doorbells).u64(c.rollbacks).u64(c.corruptions);
        e.u64(c.invalid_words).str(c.damage);
    };
    expect_body(HelloRequest{.pid = 77}, Encoder().u32(77));
    expect_body(HelloReply{.node_id = 1, .engine_pid = 2, .node_size = 3}, Encoder().u32(1).u32(2).u64(3));
    expect_body(OpenRequest{.name = "n", .flags = 7, .attrs = a, .reattach_slot = 4},
                Encoder().str("n").u32(7).u8(1).attrs(a).u32(4));
    expect_body(OpenReply{.handle = 1, .writer_slot = 2, .meta_size = 3, .data_size = 4, .created = true},
                Encoder().u64(1).u32(2).u64(3).u64(4).u8(1));
    expect_body(CloseRequest{.handle = 5}, Encoder().u64(5));
    expect_body(CloseReply{}, Encoder());
    expect_body(UnlinkRequest{.name = "u"}, Encoder().str("u"));
    expect_body(StatusRequest{.handle = 6}, Encoder().u64(6));
    {
        Encoder e;
        e.attrs(a).u32(1).u64(2).u64(3);
        counters(e);
        expect_body(StatusReply{.attrs = a, .sections = 1, .bytes_used = 2, .commit_seq = 3, .counters = c}, e);
    }
    expect_body(
        SectionCreateRequest{
            .handle = 1, .id = "id", .generate = false, .expiration_ns = -1, .capacity = 256, .data = B("data")},
        Encoder().u64(1).str("id").u8(0).i64(-1).u64(256).str("data"));
    expect_body(SectionCreateReply{.id = "id", .slot = 2, .generation = 3}, Encoder().str("id").u32(2).u64(3));
    expect_body(SectionDeleteRequest{.handle = 1, .id = "id"}, Encoder().u64(1).str("id"));
    expect_body(SectionExpirationRequest{.handle = 1, .id = "id", .expiration_ns = 9},
                Encoder().u64(1).str("id").i64(9));
    expect_body(SubscribeRequest{.handle = 2}, Encoder().u64(2));
    expect_body(SubscribeReply{}, Encoder());
    expect_body(ListRequest{.cursor = 3}, Encoder().u32(3));
    {
        ListReply l{.entries = {{.name = "a",
                                 .attrs = a,
                                 .sections = 1,
                                 .bytes_used = 2,
                                 .commit_seq = 3,
                                 .open_count = 4,
                                 .epoch = 5,
                                 .counters = c}},
                    .next_cursor = 9};
        Encoder e;
        e.u32(1).u32(9).str("a").attrs(a).u32(1).u64(2).u64(3).u32(4).u64(5);
        counters(e);
        expect_body(l, e);
    }
    expect_body(InspectRequest{.name = "i"}, Encoder().str("i"));
    {
        Encoder e;
        e.u64(1).u64(2).u32(3);
        counters(e);
        expect_body(InspectReply{.meta_size = 1, .data_size = 2, .open_count = 3, .counters = c}, e);
    }
    expect_body(RollbackRequest{.handle = 1, .slot = 2}, Encoder().u64(1).u32(2));
    expect_body(PromoteRequest{.name = "p"}, Encoder().str("p"));
    expect_body(PromoteReply{.epoch = 8}, Encoder().u64(8));
    expect_body(DemoteRequest{.name = "d"}, Encoder().str("d"));
    expect_body(RetentionRequest{.handle = 1, .retention_ns = -2}, Encoder().u64(1).i64(-2));
    expect_body(ReserveRequest{.handle = 1, .slot = 2, .size = 3}, Encoder().u64(1).u32(2).u64(3));
    expect_body(DirectoryRequest{.handle = 1}, Encoder().u64(1));
    expect_body(DirectoryReply{.oldest_unapplied = 4}, Encoder().u64(4));
    expect_body(StatsRequest{}, Encoder());
    expect_body(StatsReply{}, Encoder());
    expect_body(ActivateRequest{.name = "ck"}, Encoder().str("ck"));
    expect_body(ActivateReply{.epoch = 9}, Encoder().u64(9));
}

TEST(ControlMessages, MalformedNamesTheOp) {
    EXPECT_EQ(op_name(Op::kSectionCreate), "SECTION_CREATE");
    EXPECT_EQ(op_name(static_cast<Op>(999)), "UNKNOWN");
    const Failure req = malformed_request(Op::kOpen);
    EXPECT_EQ(req.code, Error::kMessageError);
    EXPECT_EQ(req.message, "malformed OPEN request (type 2)");
    const Failure rep = malformed_reply(Op::kList);
    EXPECT_EQ(rep.code, Error::kMessageError);
    EXPECT_EQ(rep.message, "malformed LIST reply from ckptd");
}

TEST(ControlMessages, MessageFdOwnsOrLends) {
    const int raw = ::memfd_create("lent", MFD_CLOEXEC);
    ASSERT_GE(raw, 0);
    {
        MessageFd lent = MessageFd::lent(raw);
        EXPECT_EQ(lent.get(), raw);
        EXPECT_FALSE(lent.take().valid()); // a lent descriptor is never the receiver's
    }
    EXPECT_EQ(::fcntl(raw, F_GETFD), FD_CLOEXEC) << "a lent descriptor was closed";
    int owned_number = -1;
    {
        MessageFd owned{Fd(::dup(raw))};
        owned_number = owned.get();
        ASSERT_GE(owned_number, 0);
        MessageFd moved = std::move(owned);
        EXPECT_FALSE(owned.valid());
        EXPECT_EQ(moved.get(), owned_number);
    }
    EXPECT_EQ(::fcntl(owned_number, F_GETFD), -1) << "an owned descriptor outlived its message";
    ::close(raw);
}

} // namespace
