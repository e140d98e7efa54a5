// ckptd's control socket against malformed input (DESIGN invariants 5 and 8): raw SOCK_SEQPACKET
// datagrams that are short, of another version, of unknown type, truncated, padded, oversized,
// carrying stray descriptors, or random. Each gets an error reply with the right code, and afterwards
// the engine is alive and still serves a normal client.
#include "ckpt/client/session.hpp"
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/unix_socket.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace ckpt;
using ckpt::testing::EngineProcess;
using proto::Op;

namespace {

constexpr std::size_t kReceiveMax = 128 * 1024;

struct Reply {
    std::uint16_t op = 0;
    std::uint16_t version = 0;
    std::uint32_t request_id = 0;
    std::int32_t status = 0;
    std::string message;      ///< on error
    std::uint64_t handle = 0; ///< OPEN replies
    std::size_t fds = 0;
};

std::vector<std::byte> to_bytes(const proto::Encoder& e) {
    return e.buffer();
}

std::vector<std::byte> header(std::uint16_t op, std::uint16_t version, std::uint32_t id) {
    proto::Encoder e;
    e.u16(op).u16(version).u32(id);
    return e.buffer();
}

std::vector<std::byte> concat(std::vector<std::byte> a, std::span<const std::byte> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

constexpr std::uint64_t kNoHandle = 77;
constexpr const char* kName = "robust-ckpt";

/// Small attributes, so that requests built from them never ask the engine for much memory.
CheckpointAttributes small_attrs() {
    CheckpointAttributes a;
    a.checkpoint_size = 16 * 1024;
    a.max_sections = 8;
    a.max_section_size = 4096;
    a.max_section_id_size = 16;
    return a;
}

/// A valid body for each request type (as the client library would send it).
std::vector<std::byte> valid_body(Op op, std::uint64_t handle = kNoHandle, std::string_view name = kName) {
    proto::Encoder e;
    const std::byte id[] = {std::byte{'s'}, std::byte{'1'}};
    switch (op) {
    case Op::kHello:
        e.u32(static_cast<std::uint32_t>(::getpid()));
        break;
    case Op::kOpen:
        e.str(name).u32(kOpenRead | kOpenWrite | kOpenCreate).u8(1).attrs(small_attrs()).u32(proto::kNoWriterSlot);
        break;
    case Op::kClose:
        e.u64(handle);
        break;
    case Op::kUnlink:
        e.str(name);
        break;
    case Op::kStatus:
        e.u64(handle);
        break;
    case Op::kSectionCreate:
        e.u64(handle).bytes(id).u8(0).i64(kTimeEnd).u64(256).bytes(id);
        break;
    case Op::kSectionDelete:
        e.u64(handle).bytes(id);
        break;
    case Op::kSectionExpiration:
        e.u64(handle).bytes(id).i64(kTimeEnd);
        break;
    case Op::kSubscribe:
        e.u64(handle);
        break;
    case Op::kList:
        e.u32(0);
        break;
    case Op::kInspect:
        e.str(name);
        break;
    case Op::kRollback:
        e.u64(handle).u32(0);
        break;
    case Op::kPeers: // no body (retired: NOT_SUPPORTED when well formed)
    case Op::kStats:
        break;
    case Op::kPromote:
    case Op::kActivate:
    case Op::kDemote:
        e.str(name);
        break;
    case Op::kRetention:
        e.u64(handle).i64(0);
        break;
    case Op::kReserve:
        e.u64(handle).u32(0).u64(1);
        break;
    case Op::kDirectory:
        e.u64(handle);
        break;
    }
    return e.buffer();
}

constexpr Op kAllOps[] = {Op::kHello,     Op::kOpen,          Op::kClose,         Op::kUnlink,
                          Op::kStatus,    Op::kSectionCreate, Op::kSectionDelete, Op::kSectionExpiration,
                          Op::kSubscribe, Op::kList,          Op::kInspect,       Op::kRollback,
                          Op::kPeers,     Op::kPromote,       Op::kDemote,        Op::kRetention,
                          Op::kReserve,   Op::kDirectory,     Op::kStats,         Op::kActivate};

/// True while `pid` has not exited (a crashed child is a zombie, which kill(pid, 0) still reports
/// as existing; WNOWAIT leaves it for EngineProcess to reap).
bool process_alive(pid_t pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    return info.si_pid == 0;
}

std::size_t open_fd_count(pid_t pid) {
    std::size_t n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

std::span<const std::byte> B(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

class ControlRobustness : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(engine.start()) << engine.log();
        sock = connect();
        ASSERT_TRUE(sock.valid());
    }

    Fd connect() {
        auto fd = connect_seqpacket(engine.socket());
        if (!fd) {
            ADD_FAILURE() << fd.message();
            return Fd{};
        }
        // A reply that never comes fails the test instead of hanging it.
        timeval tv{10, 0};
        ::setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return std::move(*fd);
    }

    /// One request, one reply; nullopt (with a failure recorded) when no well-formed reply arrives.
    std::optional<Reply> round_trip(std::span<const std::byte> msg) { return round_trip(sock.get(), msg); }
    std::optional<Reply> round_trip(int fd, std::span<const std::byte> msg, std::span<const int> fds = {}) {
        if (Status s = send_message(fd, msg, fds); !s) {
            ADD_FAILURE() << "send: " << s.message();
            return std::nullopt;
        }
        return receive_reply(fd);
    }
    std::optional<Reply> receive_reply(int fd) {
        auto r = receive_message(fd, kReceiveMax);
        if (!r) {
            ADD_FAILURE() << "no reply: " << r.message();
            return std::nullopt;
        }
        if (r->eof) {
            ADD_FAILURE() << "the engine closed the connection instead of replying";
            return std::nullopt;
        }
        proto::Decoder d(r->payload);
        Reply rep;
        rep.op = d.u16();
        rep.version = d.u16();
        rep.request_id = d.u32();
        rep.status = d.i32();
        rep.fds = r->fds.size();
        if (!d.ok()) {
            ADD_FAILURE() << "reply of " << r->payload.size() << " bytes is shorter than a reply header";
            return std::nullopt;
        }
        if (rep.status == 0 && rep.op == static_cast<std::uint16_t>(Op::kOpen)) rep.handle = d.u64();
        if (rep.status != 0) {
            rep.message = d.str();
            if (!d.at_end()) {
                ADD_FAILURE() << "error reply body is not exactly one string";
                return std::nullopt;
            }
        }
        return rep;
    }

    void expect_error(std::span<const std::byte> msg, Error code, const std::string& what,
                      std::optional<std::uint32_t> id = std::nullopt) {
        auto r = round_trip(msg);
        ASSERT_TRUE(r.has_value()) << what;
        EXPECT_EQ(r->status, static_cast<std::int32_t>(code))
            << what << ": got " << r->status << " (" << r->message << ")";
        EXPECT_EQ(r->version, proto::kProtocolVersion) << what;
        EXPECT_FALSE(r->message.empty()) << what << ": error reply without a message";
        if (id) {
            EXPECT_EQ(r->request_id, *id) << what;
        }
    }

    /// The engine process is alive and a normal client can create, write and read a checkpoint.
    void expect_engine_serves_clients() {
        ASSERT_TRUE(process_alive(engine.pid())) << engine.log();
        auto s = client::Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok()) << s.message() << "\n" << engine.log();
        CheckpointAttributes a;
        a.checkpoint_size = 64 * 1024;
        a.max_sections = 4;
        a.max_section_size = 4096;
        a.max_section_id_size = 16;
        auto ck = s->create(ckpt::testing::unique_name("after-abuse"), a);
        ASSERT_TRUE(ck.ok()) << ck.message();
        auto sec = ck->create_section({.id = "s", .initial = B("before")});
        ASSERT_TRUE(sec.ok()) << sec.message();
        auto seq = sec->write(0, B("still serving"), client::Ack::kSync);
        ASSERT_TRUE(seq.ok()) << seq.message();
        std::string out(64, '\0');
        auto n = sec->read(0, std::as_writable_bytes(std::span(out.data(), out.size())));
        ASSERT_TRUE(n.ok()) << n.message();
        out.resize(*n);
        EXPECT_EQ(out, "still serving");
        EXPECT_TRUE(process_alive(engine.pid())) << engine.log();
    }

    // The individual abuses, also run back to back by AllOfItThenANormalClient.
    void short_messages();
    void wrong_version();
    void unknown_ops();
    void truncated_bodies();
    void trailing_garbage();
    void handles_never_opened();
    void oversized_message();
    /// Replies seen, by status.
    std::map<std::int32_t, int> random_messages(int count, std::uint32_t seed);

    EngineProcess engine{"robust"};
    Fd sock;
};

void ControlRobustness::short_messages() {
    const std::byte three[] = {std::byte{1}, std::byte{0}, std::byte{1}};
    expect_error(three, Error::kMessageError, "3-byte message");
    for (std::size_t n = 1; n < 8; ++n) {
        auto h = header(static_cast<std::uint16_t>(Op::kList), proto::kProtocolVersion, 5);
        expect_error(std::span(h).first(n), Error::kMessageError, std::to_string(n) + "-byte message");
    }
}

void ControlRobustness::wrong_version() {
    for (std::uint16_t v : {0, 2, 0xFFFF}) {
        auto msg = concat(header(static_cast<std::uint16_t>(Op::kList), v, 4242), valid_body(Op::kList));
        expect_error(msg, Error::kVersion, "protocol version " + std::to_string(v), 4242);
        // Even a bare header of another version.
        expect_error(header(static_cast<std::uint16_t>(Op::kHello), v, 4243), Error::kVersion,
                     "bare header, version " + std::to_string(v), 4243);
    }
}

void ControlRobustness::unknown_ops() {
    for (std::uint16_t op : {0, 14, 999, 0xFFFF}) { // 14: the first unused type
        expect_error(header(op, proto::kProtocolVersion, 31337), Error::kMessageError, "op " + std::to_string(op),
                     31337);
        auto with_body = concat(header(op, proto::kProtocolVersion, 31338), valid_body(Op::kOpen));
        expect_error(with_body, Error::kMessageError, "op " + std::to_string(op) + " with a body", 31338);
    }
}

void ControlRobustness::truncated_bodies() {
    for (Op op : kAllOps) {
        const auto body = valid_body(op);
        for (std::size_t n = 0; n < body.size(); ++n) {
            auto msg = concat(header(static_cast<std::uint16_t>(op), proto::kProtocolVersion, 1000 + n),
                              std::span(body).first(n));
            expect_error(msg, Error::kMessageError,
                         "op " + std::to_string(static_cast<int>(op)) + " body cut to " + std::to_string(n) + " of " +
                             std::to_string(body.size()) + " bytes",
                         static_cast<std::uint32_t>(1000 + n));
        }
    }
}

void ControlRobustness::trailing_garbage() {
    const std::byte junk[] = {std::byte{0xDE}, std::byte{0xAD}, std::byte{0xBE}, std::byte{0xEF}};
    for (Op op : kAllOps) {
        for (std::size_t extra : {1, 4}) {
            auto msg =
                concat(concat(header(static_cast<std::uint16_t>(op), proto::kProtocolVersion, 77), valid_body(op)),
                       std::span(junk).first(extra));
            expect_error(msg, Error::kMessageError,
                         "op " + std::to_string(static_cast<int>(op)) + " with " + std::to_string(extra) +
                             " trailing bytes",
                         77u);
        }
    }
}

void ControlRobustness::handles_never_opened() {
    const std::byte id[] = {std::byte{'s'}};
    for (std::uint64_t handle : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{77}, ~std::uint64_t{0}}) {
        const std::string h = " of handle " + std::to_string(handle);
        expect_error(to_bytes(proto::request(Op::kClose, 1).u64(handle)), Error::kBadHandle, "CLOSE" + h, 1);
        expect_error(to_bytes(proto::request(Op::kStatus, 2).u64(handle)), Error::kBadHandle, "STATUS" + h, 2);
        expect_error(to_bytes(proto::request(Op::kSubscribe, 3).u64(handle)), Error::kBadHandle, "SUBSCRIBE" + h, 3);
        expect_error(
            to_bytes(proto::request(Op::kSectionCreate, 4).u64(handle).bytes(id).u8(0).i64(kTimeEnd).u64(0).bytes({})),
            Error::kBadHandle, "SECTION_CREATE" + h, 4);
        expect_error(to_bytes(proto::request(Op::kSectionDelete, 5).u64(handle).bytes(id)), Error::kBadHandle,
                     "SECTION_DELETE" + h, 5);
        expect_error(to_bytes(proto::request(Op::kSectionExpiration, 6).u64(handle).bytes(id).i64(0)),
                     Error::kBadHandle, "SECTION_EXPIRATION" + h, 6);
        expect_error(to_bytes(proto::request(Op::kRollback, 7).u64(handle).u32(0)), Error::kBadHandle, "ROLLBACK" + h,
                     7);
    }
}

void ControlRobustness::oversized_message() {
    std::vector<std::byte> big = header(static_cast<std::uint16_t>(Op::kList), proto::kProtocolVersion, 9001);
    big.resize(100 * 1024, std::byte{0x41});
    ssize_t n = ::send(sock.get(), big.data(), big.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EMSGSIZE) {
        std::printf("note: this socket does not take a 100 KiB datagram (EMSGSIZE); oversize part skipped\n");
        return;
    }
    ASSERT_EQ(n, static_cast<ssize_t>(big.size())) << std::strerror(errno);
    auto r = receive_reply(sock.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, static_cast<std::int32_t>(Error::kMessageError)) << r->message;
    EXPECT_EQ(r->request_id, 9001u);
    // Just over the limit, and exactly at it (a valid op with trailing bytes: still MESSAGE_ERROR).
    big.resize(proto::kMaxMessage + 1);
    ASSERT_EQ(::send(sock.get(), big.data(), big.size(), MSG_NOSIGNAL), static_cast<ssize_t>(big.size()));
    r = receive_reply(sock.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, static_cast<std::int32_t>(Error::kMessageError)) << r->message;
    big.resize(proto::kMaxMessage);
    expect_error(big, Error::kMessageError, "64 KiB LIST with trailing bytes", 9001);
}

std::map<std::int32_t, int> ControlRobustness::random_messages(int count, std::uint32_t seed) {
    std::map<std::int32_t, int> statuses;
    // A checkpoint open on this connection, so that mutated requests reach past the handle lookup.
    const std::string name = ckpt::testing::unique_name("fuzz");
    auto open = round_trip(concat(header(static_cast<std::uint16_t>(Op::kOpen), proto::kProtocolVersion, 1),
                                  valid_body(Op::kOpen, 0, name)));
    if (!open.has_value() || open->status != 0) {
        ADD_FAILURE() << "OPEN failed: " << (open ? open->message : "no reply");
        return statuses;
    }
    const std::uint64_t handle = open->handle;
    std::mt19937 rng(seed);
    auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
        return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
    };
    for (int i = 0; i < count; ++i) {
        std::vector<std::byte> msg;
        const std::uint32_t shape = pick(0, 4);
        if (shape == 4) {
            // A valid request with a few bytes changed, cut or extended. OPEN is left out: a mutated
            // size could legitimately ask for a checkpoint of up to 1 TiB.
            Op op = kAllOps[pick(0, std::size(kAllOps) - 1)];
            if (op == Op::kOpen) op = Op::kRollback;
            msg = concat(header(static_cast<std::uint16_t>(op), proto::kProtocolVersion, i),
                         valid_body(op, handle, name));
            for (std::uint32_t flips = pick(1, 3); flips > 0 && msg.size() > 8; --flips) // PEERS has no body
                msg[pick(8, static_cast<std::uint32_t>(msg.size() - 1))] = static_cast<std::byte>(pick(0, 255));
            if (pick(0, 3) == 0) msg.resize(pick(8, static_cast<std::uint32_t>(msg.size() + 8)));
        } else {
            std::size_t len = pick(0, 9) == 0 ? pick(1, 4096) : pick(1, 96);
            if (shape != 0) {
                // A plausible header (so the bytes reach the request handlers), random body.
                std::uint16_t op = static_cast<std::uint16_t>(shape == 3 ? pick(0, 14) : pick(1, 12));
                msg = header(op, shape == 1 ? static_cast<std::uint16_t>(pick(0, 2)) : proto::kProtocolVersion, i);
            }
            while (msg.size() < len) msg.push_back(static_cast<std::byte>(pick(0, 255)));
        }
        auto r = round_trip(msg);
        if (!r.has_value()) {
            ADD_FAILURE() << "random message " << i << " (seed " << seed << ", " << msg.size() << " bytes)";
            return statuses;
        }
        EXPECT_EQ(r->version, proto::kProtocolVersion) << "random message " << i;
        ++statuses[r->status];
    }
    return statuses;
}

TEST_F(ControlRobustness, ShortMessageIsMessageError) {
    short_messages();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, WrongProtocolVersionIsVersionError) {
    wrong_version();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, UnknownOpIsMessageError) {
    unknown_ops();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, EveryTruncatedBodyIsMessageError) {
    truncated_bodies();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, TrailingGarbageIsMessageError) {
    trailing_garbage();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, RetiredPeersOpIsNotSupported) {
    // An old client asking for the figures by position gets a clear error, and the engine serves on.
    expect_error(header(static_cast<std::uint16_t>(Op::kPeers), proto::kProtocolVersion, 4711), Error::kNotSupported,
                 "PEERS", 4711);
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, HandlesNeverOpenedAreBadHandle) {
    handles_never_opened();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, OversizedMessageIsRefused) {
    oversized_message();
    // The connection is still usable after the oversized datagram.
    auto r = round_trip(to_bytes(proto::request(Op::kList, 12).u32(0)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 0) << r->message;
    EXPECT_EQ(r->request_id, 12u);
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, EmptyDatagramDoesNotHurtTheEngine) {
    // A zero-length SEQPACKET datagram looks like a hang-up to recvmsg: the engine may close this
    // connection, but it must not die, and other connections carry on.
    ASSERT_EQ(::send(sock.get(), "", 0, MSG_NOSIGNAL), 0) << std::strerror(errno);
    Fd other = connect();
    ASSERT_TRUE(other.valid());
    auto r = round_trip(other.get(), to_bytes(proto::request(Op::kList, 3).u32(0)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 0) << r->message;
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, AClientThatReadsNoRepliesIsClosedNotIgnored) {
    // Requests go in, replies pile up unread until the engine cannot send one. Before, the failed
    // send was ignored: the client's requests kept being executed with their results dropped, and
    // a handle opened then never reached its owner. Now the engine says so and closes the session.
    const auto msg =
        concat(header(static_cast<std::uint16_t>(Op::kStatus), proto::kProtocolVersion, 1), valid_body(Op::kStatus));
    int sent = 0;
    bool closed = false;
    for (int i = 0; i < 50000 && !closed; ++i) {
        if (::send(sock.get(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) {
            ++sent;
        } else if (errno == EAGAIN) {
            ::usleep(200);
        } else {
            closed = true; // EPIPE / ECONNRESET: the engine closed its end
        }
    }
    ASSERT_TRUE(closed) << "the engine kept a session it could not reply to (" << sent << " requests)\n"
                        << engine.log();
    EXPECT_NE(engine.log().find("cannot send the reply to its op 5 request"), std::string::npos) << engine.log();
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, DescriptorsSentWithRequestsAreClosed) {
    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(devnull.valid());
    const int fds[4] = {devnull.get(), devnull.get(), devnull.get(), devnull.get()};
    // Warm up (the engine may open a few descriptors lazily), then count.
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(round_trip(sock.get(), to_bytes(proto::request(Op::kList, 1).u32(0)), fds));
    const std::size_t before = open_fd_count(engine.pid());
    ASSERT_GT(before, 0u);
    for (int i = 0; i < 200; ++i) {
        // Valid, malformed and unknown requests, each with 4 descriptors attached.
        std::vector<std::byte> msg;
        switch (i % 3) {
        case 0:
            msg = to_bytes(proto::request(Op::kList, i).u32(0));
            break;
        case 1:
            msg = to_bytes(proto::request(Op::kClose, i).u32(0));
            break;
        default:
            msg = header(999, proto::kProtocolVersion, i);
            break;
        }
        ASSERT_TRUE(round_trip(sock.get(), msg, fds).has_value()) << i;
    }
    EXPECT_LT(open_fd_count(engine.pid()), before + 8) << "the engine keeps descriptors clients send it";
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, TooManyDescriptorsAreRefused) {
    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(devnull.valid());
    auto msg = to_bytes(proto::request(Op::kList, 55).u32(0));
    iovec iov{msg.data(), msg.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)]{};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * 16);
    int fds[16];
    for (int& f : fds) f = devnull.get();
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
    ASSERT_EQ(::sendmsg(sock.get(), &mh, MSG_NOSIGNAL), static_cast<ssize_t>(msg.size())) << std::strerror(errno);
    auto r = receive_reply(sock.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, static_cast<std::int32_t>(Error::kMessageError)) << r->message;
    EXPECT_EQ(r->request_id, 55u);
    expect_engine_serves_clients();
}

TEST_F(ControlRobustness, RandomMessagesNeverCrashTheEngine) {
    auto statuses = random_messages(10'000, 0xC0FFEE);
    // The messages reached the request handlers, not only the header check.
    EXPECT_GT(statuses[static_cast<std::int32_t>(Error::kMessageError)], 0);
    EXPECT_GT(statuses[static_cast<std::int32_t>(Error::kVersion)], 0);
    EXPECT_GT(statuses[static_cast<std::int32_t>(Error::kBadHandle)], 0);
    EXPECT_GE(statuses.size(), 5u) << "too few distinct outcomes: the fuzzer is too shallow";
    for (auto [status, n] : statuses) std::printf("status %d: %d replies\n", status, n);
    expect_engine_serves_clients();
}

// The liveness check itself: a crashed engine (a zombie until reaped) is reported dead.
TEST_F(ControlRobustness, LivenessCheckSeesADeadEngine) {
    ASSERT_TRUE(process_alive(engine.pid()));
    ASSERT_EQ(::kill(engine.pid(), SIGKILL), 0);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(engine.pid()), &info, WEXITED | WNOWAIT), 0);
    EXPECT_FALSE(process_alive(engine.pid()));
}

TEST_F(ControlRobustness, AllOfItThenANormalClient) {
    short_messages();
    wrong_version();
    unknown_ops();
    truncated_bodies();
    trailing_garbage();
    handles_never_opened();
    oversized_message();
    random_messages(2'000, 7);
    // A second connection made while the first one was abused is served normally too.
    Fd other = connect();
    ASSERT_TRUE(other.valid());
    auto r =
        round_trip(other.get(), to_bytes(proto::request(Op::kHello, 8).u32(static_cast<std::uint32_t>(::getpid()))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 0) << r->message;
    EXPECT_EQ(r->fds, 2u); // NODE segment, kick eventfd
    expect_engine_serves_clients();
}

} // namespace
