#include "ckpt/client/inspect.hpp"
#include "internal.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/doorbell.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ckpt::client {

using detail::Reply;
using detail::SessionCore;

namespace detail {

std::string printable_id(std::string_view id) {
    std::string s = "'";
    for (unsigned char c : id) {
        if (c >= 0x20 && c < 0x7f)
            s += static_cast<char>(c);
        else {
            char b[5];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            s += b;
        }
    }
    return s + "'";
}

Status SessionCore::establish() {
    CKPT_TRY_ASSIGN(fd, connect_seqpacket(socket_path));
    sock = std::move(fd);
    auto req = proto::request(proto::Op::kHello, next_request++);
    req.u32(static_cast<std::uint32_t>(::getpid()));
    CKPT_TRY_ASSIGN(rep, call_once(proto::Op::kHello, req.buffer()));
    proto::Decoder d(rep.body);
    node_id = d.u32();
    d.u32(); // engine pid
    std::uint64_t node_size = d.u64();
    if (!d.at_end() || rep.fds.size() != 2) return fail(Error::kMessageError, "malformed HELLO reply from ckptd");
    CKPT_TRY_ASSIGN(map, shm::Mapping::map(rep.fds[0].get(), node_size, false));
    CKPT_TRY_ASSIGN(hdr, shm::attach_node(map.data(), map.size()));
    node_map = std::move(map);
    node = hdr;
    kick = std::move(rep.fds[1]);
    return {};
}

Result<Reply> SessionCore::call_once(proto::Op op, const std::vector<std::byte>& request) {
    if (!sock.valid()) return fail(Error::kUnavailable, "not connected to ckptd at " + socket_path);
    CKPT_TRY(send_message(sock.get(), request));
    const std::uint32_t id = [&] {
        std::uint32_t v;
        std::memcpy(&v, request.data() + 4, 4);
        return v;
    }();
    const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return fail(Error::kTimeout, "ckptd did not answer within " + std::to_string(opts.timeout.count()) + " ms");
        pollfd p{sock.get(), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        CKPT_TRY_ASSIGN(msg, receive_message(sock.get(), proto::kMaxMessage));
        if (msg.eof) {
            sock.reset();
            return fail(Error::kUnavailable, "ckptd at " + socket_path + " closed the connection");
        }
        proto::Decoder d(msg.payload);
        auto rop = static_cast<proto::Op>(d.u16());
        d.u16();
        std::uint32_t rid = d.u32();
        std::int32_t status = d.i32();
        if (!d.ok()) return fail(Error::kMessageError, "short reply from ckptd");
        if (rid != id || rop != op) continue; // a stale reply of a call that timed out earlier
        if (status != 0) {
            std::string text = d.str();
            return fail(static_cast<Error>(status), text.empty() ? "ckptd refused the request" : text);
        }
        Reply r;
        constexpr std::size_t kHeader = 12;
        r.body.assign(msg.payload.begin() + kHeader, msg.payload.end());
        r.fds = std::move(msg.fds);
        return r;
    }
}

Result<Reply> SessionCore::call(proto::Op op, const std::function<void(proto::Encoder&)>& body, bool may_reconnect) {
    std::lock_guard lk(mu);
    auto build = [&] {
        auto e = proto::request(op, next_request++);
        body(e);
        return e.buffer();
    };
    auto r = call_once(op, build());
    if (r.ok() || r.error() != Error::kUnavailable || !opts.reconnect || !may_reconnect) return r;
    if (Status s = reconnect(); !s) return s.failure();
    return call_once(op, build());
}

Status SessionCore::reconnect() {
    std::lock_guard lk(mu);
    Status last = fail(Error::kUnavailable, "no ckptd at " + socket_path);
    // An engine restart takes a moment; keep trying for the call timeout.
    const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
    do {
        last = establish();
        if (last.ok()) break;
        if (last.error() != Error::kUnavailable) return last;
        ::usleep(20'000);
    } while (std::chrono::steady_clock::now() < deadline);
    if (!last) return last;
    std::vector<std::weak_ptr<CheckpointCore>> still;
    for (auto& w : open) {
        auto ck = w.lock();
        if (!ck || ck->closed) continue;
        if (Status s = ck->open_on_engine(false, nullptr); !s) {
            ck->closed = true; // the checkpoint is gone or another one took its name
            continue;
        }
        if (ck->notify_epoll.valid()) (void)ck->subscribe();
        still.push_back(w);
    }
    open = std::move(still);
    return {};
}

bool SessionCore::engine_gone() const {
    if (!sock.valid()) return true;
    pollfd p{sock.get(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void SessionCore::kick_engine() const {
    if (node && kick.valid() && shm::doorbell::engine_asleep(*node)) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(kick.get(), &one, sizeof one);
    }
}

void SessionCore::heal() {
    std::unique_lock lk(mu, std::try_to_lock);
    if (!lk.owns_lock() || !opts.reconnect) return;
    if (engine_gone()) (void)reconnect();
}

} // namespace detail

Result<Session> Session::connect(SessionOptions opts) {
    auto core = std::make_shared<SessionCore>();
    core->socket_path = opts.socket_path;
    if (core->socket_path.empty()) {
        const char* env = std::getenv("CKPT_SOCKET");
        core->socket_path = env && *env ? env : kDefaultSocket;
    }
    core->opts = std::move(opts);
    CKPT_TRY(core->establish());
    Session s;
    s.core_ = std::move(core);
    return s;
}

std::uint32_t Session::node_id() const {
    return core_->node_id;
}
const std::string& Session::socket_path() const {
    return core_->socket_path;
}

Result<Checkpoint> Session::open(std::string_view name, std::uint32_t flags, const CheckpointAttributes* attrs) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY(validate_open_flags(flags));
    if ((attrs != nullptr) != ((flags & kOpenCreate) != 0))
        return fail(Error::kInvalidParam, "creation attributes go with the CREATE flag, and only with it");
    if (attrs) CKPT_TRY(validate_attributes(*attrs));
    auto ck = std::make_shared<detail::CheckpointCore>();
    ck->session = core_;
    ck->name = std::string(name);
    ck->flags = flags;
    CKPT_TRY(ck->open_on_engine(true, attrs));
    {
        std::lock_guard lk(core_->mu);
        core_->open.push_back(ck);
    }
    Checkpoint c;
    c.core_ = std::move(ck);
    return c;
}

Result<Checkpoint> Session::create(std::string_view name, const CheckpointAttributes& attrs) {
    return open(name, kOpenRead | kOpenWrite | kOpenCreate, &attrs);
}

Status Session::unlink(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY(core_->call(proto::Op::kUnlink, [&](proto::Encoder& e) { e.str(name); }));
    return {};
}

namespace detail {
void decode_counters(proto::Decoder& d, EngineCounters& s) {
    s.captures = d.u64();
    s.captured_bytes = d.u64();
    d.u64(); // spurious doorbells
    s.rollbacks = d.u64();
    s.corruptions = d.u64();
    s.invalid_words = d.u64();
    s.damage = d.str();
}
} // namespace detail

Result<std::vector<CheckpointSummary>> Session::list() {
    std::vector<CheckpointSummary> out;
    std::uint32_t cursor = 0;
    do {
        CKPT_TRY_ASSIGN(rep, core_->call(proto::Op::kList, [&](proto::Encoder& e) { e.u32(cursor); }));
        proto::Decoder d(rep.body);
        std::uint32_t count = d.u32();
        cursor = d.u32();
        for (std::uint32_t i = 0; i < count && d.ok(); ++i) {
            CheckpointSummary s;
            s.name = d.str();
            s.attributes = d.attrs();
            s.sections = d.u32();
            s.bytes_used = d.u64();
            s.commit_seq = d.u64();
            s.open_handles = d.u32();
            s.epoch = d.u64();
            detail::decode_counters(d, s);
            out.push_back(std::move(s));
        }
        if (!d.at_end()) return fail(Error::kMessageError, "malformed LIST reply from ckptd");
    } while (cursor != 0);
    return out;
}

Result<LinkInfo> Session::peers() {
    CKPT_TRY_ASSIGN(rep, core_->call(proto::Op::kPeers, [](proto::Encoder&) {}));
    proto::Decoder d(rep.body);
    LinkInfo l;
    l.transport = d.str();
    std::uint32_t n = d.u32();
    static const char* const kStates[] = {"unknown", "up", "down", "incompatible"};
    for (std::uint32_t i = 0; i < n && d.ok(); ++i) {
        PeerInfo p;
        p.node_id = d.u16();
        std::uint8_t st = d.u8();
        p.state = st < 4 ? kStates[st] : "invalid";
        p.last_heard_ago_ns = d.i64();
        p.rx_frames = d.u64();
        p.tx_frames = d.u64();
        p.restarts = d.u64();
        l.peers.push_back(std::move(p));
    }
    l.rx_frames = d.u64();
    l.tx_frames = d.u64();
    l.tx_dropped = d.u64();
    l.rx_rejected = d.u64();
    l.rx_misdirected = d.u64();
    for (auto& r : l.rejected_by_reason) r = d.u64();
    for (auto* f : {&l.retransmits,   &l.duplicates,      &l.reordered,          &l.acks_sent,    &l.nacks_sent,
                    &l.commits_sent,  &l.data_frames,     &l.data_bytes,         &l.wire_bytes,   &l.commits_applied,
                    &l.commits_acked, &l.resyncs,         &l.resync_blocks,      &l.resync_bytes, &l.resync_blocks_same,
                    &l.stale_epoch,   &l.not_from_active, &l.unknown_checkpoint, &l.bad_commits,  &l.promotions,
                    &l.demotions,     &l.refusals_sent,   &l.refusals_received,  &l.fenced,       &l.acks_deferred})
        *f = d.u64();
    if (!d.at_end()) return fail(Error::kMessageError, "malformed PEERS reply from ckptd");
    return l;
}

Result<std::uint64_t> Session::promote(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY_ASSIGN(rep, core_->call(proto::Op::kPromote, [&](proto::Encoder& e) { e.str(name); }));
    proto::Decoder d(rep.body);
    const std::uint64_t epoch = d.u64();
    if (!d.at_end()) return fail(Error::kMessageError, "malformed PROMOTE reply from ckptd");
    return epoch;
}

Result<std::uint64_t> Session::activate(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY_ASSIGN(rep, core_->call(proto::Op::kActivate, [&](proto::Encoder& e) { e.str(name); }));
    proto::Decoder d(rep.body);
    const std::uint64_t epoch = d.u64();
    if (!d.at_end()) return fail(Error::kMessageError, "malformed ACTIVATE reply from ckptd");
    return epoch;
}

Status Session::demote(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY(core_->call(proto::Op::kDemote, [&](proto::Encoder& e) { e.str(name); }));
    return {};
}

Result<Inspection> inspect(Session& session, std::string_view name) {
    CKPT_TRY(validate_name(name));
    auto& core = session.core_;
    CKPT_TRY_ASSIGN(rep, core->call(proto::Op::kInspect, [&](proto::Encoder& e) { e.str(name); }));
    proto::Decoder d(rep.body);
    std::uint64_t meta_size = d.u64(), data_size = d.u64();
    Inspection in;
    in.open_handles = d.u32();
    detail::decode_counters(d, in.counters);
    if (!d.at_end() || rep.fds.size() != 2) return fail(Error::kMessageError, "malformed INSPECT reply from ckptd");
    CKPT_TRY_ASSIGN(mm, shm::Mapping::map(rep.fds[0].get(), meta_size, false));
    CKPT_TRY_ASSIGN(dm, shm::Mapping::map(rep.fds[1].get(), data_size, false));
    CKPT_TRY_ASSIGN(mv, shm::MetaView::attach(mm.data(), mm.size()));
    CKPT_TRY_ASSIGN(dv, shm::DataView::attach(dm.data(), dm.size(), mv));
    in.meta_map = std::move(mm);
    in.data_map = std::move(dm);
    in.meta = mv;
    in.data = dv;
    in.counters.name = std::string(name);
    in.counters.attributes = in.meta.attributes();
    return in;
}

Result<NodeStats> node_stats(Session& session) {
    const auto& core = *session.core_;
    CKPT_TRY_ASSIGN(view, shm::StatsView::attach(core.node_map.data(), core.node_map.size()));
    return NodeStats{view, core.node_id};
}

} // namespace ckpt::client
