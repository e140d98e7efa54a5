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
    proto::HelloRequest{.pid = static_cast<std::uint32_t>(::getpid())}.encode(req);
    CKPT_TRY_ASSIGN(rep, call_once(proto::Op::kHello, req.buffer()));
    proto::Decoder d(rep.body);
    CKPT_TRY_ASSIGN(hello, proto::HelloReply::decode(d, rep.fds));
    node_id = hello.node_id;
    CKPT_TRY_ASSIGN(map, shm::Mapping::map(hello.node.get(), hello.node_size, false));
    CKPT_TRY_ASSIGN(hdr, shm::attach_node(map.data(), map.size()));
    node_map = std::move(map);
    node = hdr;
    kick = hello.kick.take();
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
    CKPT_TRY(core_->request(proto::UnlinkRequest{.name = std::string(name)}));
    return {};
}

namespace detail {
void copy_counters(const proto::CheckpointCounters& from, EngineCounters& to) {
    to.captures = from.captures;
    to.captured_bytes = from.captured_bytes;
    to.rollbacks = from.rollbacks;
    to.corruptions = from.corruptions;
    to.invalid_words = from.invalid_words;
    to.damage = from.damage;
}
} // namespace detail

Result<std::vector<CheckpointSummary>> Session::list() {
    std::vector<CheckpointSummary> out;
    std::uint32_t cursor = 0;
    do {
        CKPT_TRY_ASSIGN(rep, core_->request(proto::ListRequest{.cursor = cursor}));
        cursor = rep.next_cursor;
        for (auto& l : rep.entries) {
            CheckpointSummary s;
            s.name = std::move(l.name);
            s.attributes = l.attrs;
            s.sections = l.sections;
            s.bytes_used = l.bytes_used;
            s.commit_seq = l.commit_seq;
            s.open_handles = l.open_count;
            s.epoch = l.epoch;
            detail::copy_counters(l.counters, s);
            out.push_back(std::move(s));
        }
    } while (cursor != 0);
    return out;
}

namespace {

/// The link and replication figures of one publication of the stats region, as LinkInfo.
LinkInfo link_info(const shm::NodeStatsSample& n) {
    const shm::LinkStats& k = n.link;
    const shm::ReplicationTotals& r = n.header.replication;
    LinkInfo l;
    l.transport = std::string(shm::transport_name(k.transport));
    for (const shm::PeerStats& s : n.peers) {
        PeerInfo p;
        p.node_id = static_cast<std::uint16_t>(s.node_id);
        p.state = std::string(shm::peer_state_name(s.state));
        p.last_heard_ago_ns = s.last_heard_mono_ns ? n.header.published_mono_ns - s.last_heard_mono_ns : -1;
        p.rx_frames = s.rx_frames;
        p.tx_frames = s.tx_frames;
        p.restarts = s.restarts;
        l.peers.push_back(std::move(p));
        l.retransmits += s.retransmits;
        l.duplicates += s.duplicates;
        l.reordered += s.reordered;
    }
    l.rx_frames = k.rx_frames;
    l.tx_frames = k.tx_frames;
    l.tx_dropped = k.tx_dropped;
    for (std::uint64_t v : k.rejected) l.rx_rejected += v;
    l.rx_misdirected = k.unknown_peer + k.not_for_us;
    for (std::size_t i = 0; i < std::size(l.rejected_by_reason); ++i) l.rejected_by_reason[i] = k.rejected[i + 1];
    l.acks_sent = k.acks_sent;
    l.nacks_sent = k.nacks_sent;
    l.commits_sent = r.commits_sent;
    l.data_frames = r.data_frames;
    l.data_bytes = r.data_bytes;
    l.wire_bytes = r.wire_bytes;
    l.commits_applied = r.commits_applied;
    l.commits_acked = r.commits_acked;
    l.resyncs = k.resyncs;
    l.resync_blocks = k.resync_blocks;
    l.resync_bytes = k.resync_bytes;
    l.resync_blocks_same = k.resync_blocks_same;
    l.stale_epoch = k.stale_epoch;
    l.not_from_active = k.not_from_active;
    l.unknown_checkpoint = k.unknown_checkpoint;
    l.bad_commits = k.bad_commits;
    l.promotions = k.promotions;
    l.demotions = k.demotions;
    l.refusals_sent = k.refusals_sent;
    l.refusals_received = k.refusals_received;
    l.fenced = r.fenced;
    l.acks_deferred = k.acks_deferred;
    return l;
}

} // namespace

Result<LinkInfo> Session::peers() {
    // STATS: ckptd publishes its stats region before it replies, so what is read below is at
    // least as new as this call. The figures come through the reader ckptstat uses.
    CKPT_TRY(core_->request(proto::StatsRequest{}));
    CKPT_TRY_ASSIGN(view, shm::StatsView::attach(core_->node_map.data(), core_->node_map.size()));
    auto node = view.read_node();
    if (!node) return fail(Error::kTryAgain, "ckptd kept its stats region busy; try again");
    return link_info(*node);
}

Result<std::uint64_t> Session::promote(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY_ASSIGN(rep, core_->request(proto::PromoteRequest{.name = std::string(name)}));
    return rep.epoch;
}

Result<std::uint64_t> Session::activate(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY_ASSIGN(rep, core_->request(proto::ActivateRequest{.name = std::string(name)}));
    return rep.epoch;
}

Status Session::demote(std::string_view name) {
    CKPT_TRY(validate_name(name));
    CKPT_TRY(core_->request(proto::DemoteRequest{.name = std::string(name)}));
    return {};
}

Result<Inspection> inspect(Session& session, std::string_view name) {
    CKPT_TRY(validate_name(name));
    auto& core = session.core_;
    CKPT_TRY_ASSIGN(rep, core->request(proto::InspectRequest{.name = std::string(name)}));
    Inspection in;
    in.open_handles = rep.open_count;
    detail::copy_counters(rep.counters, in.counters);
    CKPT_TRY_ASSIGN(mm, shm::Mapping::map(rep.meta.get(), rep.meta_size, false));
    CKPT_TRY_ASSIGN(dm, shm::Mapping::map(rep.data.get(), rep.data_size, false));
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
