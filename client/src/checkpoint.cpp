#include "ckpt/client/checkpoint.hpp"

#include "ckpt/shm/ack_wait.hpp"
#include "ckpt/shm/atomics.hpp"
#include "internal.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace ckpt::client {

using detail::CheckpointCore;

namespace detail {

CheckpointCore::~CheckpointCore() {
    if (closed || !session) return;
    // Best effort and never blocking on a reconnect: the engine closes the handle anyway when the
    // session ends, and a restarted engine never saw it.
    (void)session->request(proto::CloseRequest{.handle = handle}, false);
}

Status CheckpointCore::open_on_engine(bool first, const CheckpointAttributes* create_attrs) {
    // The first open goes through call() (it may reconnect); re-opens run inside reconnect().
    proto::OpenRequest req;
    req.name = name;
    req.flags = first ? flags : flags & ~kOpenCreate;
    if (first && create_attrs) req.attrs = *create_attrs;
    req.reattach_slot = first ? proto::kNoWriterSlot : writer;
    CKPT_TRY_ASSIGN(rep, session->request(req));
    const std::uint64_t h = rep.handle;
    const std::uint32_t w = rep.writer_slot;
    CKPT_TRY_ASSIGN(mm, shm::Mapping::map(rep.meta.get(), rep.meta_size, false));
    CKPT_TRY_ASSIGN(mv, shm::MetaView::attach(mm.data(), mm.size()));
    if (first) {
        const bool writable = (flags & kOpenWrite) != 0;
        CKPT_TRY_ASSIGN(dm, shm::Mapping::map(rep.data.get(), rep.data_size, writable));
        CKPT_TRY_ASSIGN(dv, shm::DataView::attach(dm.data(), dm.size(), mv));
        meta_map = std::move(mm);
        data_map = std::move(dm);
        meta = mv;
        data = dv;
        attrs = meta.attributes();
    } else if (mv.header().incarnation != meta.header().incarnation) {
        // Same name, different checkpoint: our mappings belong to one that no longer exists.
        return fail(Error::kBadHandle, "checkpoint '" + printable_name(name) + "' was re-created while ckptd was away");
    } else if (w != writer && writer != proto::kNoWriterSlot) {
        // The engine gave a different slot: our old one was released (and any open write rolled back).
        writer = w;
    }
    handle = h;
    writer = w;
    return {};
}

Status CheckpointCore::subscribe() {
    // No reconnect here: subscribe() also runs inside a reconnect.
    CKPT_TRY_ASSIGN(rep, session->request(proto::SubscribeRequest{.handle = handle}, false));
    const int ep = notify_epoll.get();
    if (notify_event.valid()) ::epoll_ctl(ep, EPOLL_CTL_DEL, notify_event.get(), nullptr);
    notify_event = rep.event.take();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = notify_event.get();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, notify_event.get(), &ev);
    // The control socket's hang-up makes the fd readable too, so an application that only polls
    // learns that ckptd restarted and calls changes_since(), which reconnects and re-subscribes.
    // No EPOLL_CTL_DEL of the previous socket: closing it removed it already, and its number may
    // now belong to another fd (the new eventfd, say). Re-adding the same live socket is EEXIST.
    notify_sock = session->sock.get();
    epoll_event hv{};
    hv.events = EPOLLRDHUP;
    hv.data.fd = notify_sock;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, notify_sock, &hv);
    return {};
}

Status wait_for(CheckpointCore& ck, const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                const char* what) {
    // Phase 1: spin, yielding the core (the engine may share it).
    for (int i = 0; i < 64; ++i) {
        if (pred()) return {};
        if (i & 1) sched_yield();
    }
    // Phase 2: sleep on the checkpoint's ack futex, in slices, so a vanished engine is noticed.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const shm::MetaHeader& hdr = ck.meta.header();
    // A read-only DATA mapping cannot register as a waiter: such waits poll in 1 ms slices.
    shm::DataHeader* registry = ck.data_map.writable() ? &ck.data.header() : nullptr;
    for (;;) {
        const std::uint32_t ticket = shm::ack_wait::ticket(hdr); // before the check: see ack_wait.hpp
        if (pred()) return {};
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return fail(Error::kTimeout,
                        std::string(what) + " did not happen within " + std::to_string(timeout.count()) + " ms");
        auto slice = std::min<std::chrono::nanoseconds>(deadline - now, registry ? std::chrono::milliseconds(20)
                                                                                 : std::chrono::milliseconds(1));
        (void)shm::ack_wait::sleep(hdr, registry, ticket, slice, pred);
        if (pred()) return {};
        ck.session->heal();
        ck.session->kick_engine();
    }
}

} // namespace detail

const std::string& Checkpoint::name() const {
    return core_->name;
}
const CheckpointAttributes& Checkpoint::attributes() const {
    return core_->attrs;
}
bool Checkpoint::writable() const {
    return (core_->flags & kOpenWrite) != 0;
}

Result<Section> Checkpoint::section(std::span<const std::byte> id) const {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (id.size() > core_->attrs.max_section_id_size)
        return fail(Error::kInvalidParam, "section id is " + std::to_string(id.size()) +
                                              " bytes, max_section_id_size is " +
                                              std::to_string(core_->attrs.max_section_id_size));
    auto info = core_->meta.find(id);
    if (!info)
        return fail(Error::kNotExist, "no section " +
                                          detail::printable_id({reinterpret_cast<const char*>(id.data()), id.size()}) +
                                          " in checkpoint '" + printable_name(core_->name) + "'");
    Section s;
    s.ck_ = core_;
    s.id_ = info->id;
    s.slot_ = info->slot;
    s.generation_ = info->generation;
    s.data_offset_ = info->data_offset;
    s.capacity_ = info->capacity;
    s.bytes_ = core_->data.section_bytes(*info).data();
    return s;
}

Result<Section> Checkpoint::create_section(const SectionCreate& c) {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (!writable()) return fail(Error::kAccess, "checkpoint '" + printable_name(core_->name) + "' is open read-only");
    if (c.initial.size() > c.capacity && c.capacity != 0)
        return fail(Error::kInvalidParam, "initial data exceeds the requested capacity");
    const bool inline_data = c.initial.size() <= proto::kMaxInlineData;
    proto::SectionCreateRequest req;
    req.handle = core_->handle;
    if (!c.generate_id) req.id = c.id;
    req.generate = c.generate_id;
    req.expiration_ns = c.expiration_ns;
    req.capacity = c.capacity; // 0: the engine reserves max_section_size
    if (inline_data) req.data = c.initial;
    CKPT_TRY_ASSIGN(rep, core_->session->request(req));
    CKPT_TRY_ASSIGN(sec, section(rep.id));
    if (!inline_data) {
        // Too large for one control message: fill it with an ordinary commit right away.
        CKPT_TRY(sec.write(0, c.initial, Ack::kSync));
    }
    return sec;
}

Status Checkpoint::delete_section(std::string_view id) {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (!writable()) return fail(Error::kAccess, "checkpoint '" + printable_name(core_->name) + "' is open read-only");
    CKPT_TRY(core_->session->request(proto::SectionDeleteRequest{.handle = core_->handle, .id = std::string(id)}));
    return {};
}

Status Checkpoint::set_expiration(std::string_view id, std::int64_t expiration_ns) {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (!writable()) return fail(Error::kAccess, "checkpoint '" + printable_name(core_->name) + "' is open read-only");
    CKPT_TRY(core_->session->request(proto::SectionExpirationRequest{
        .handle = core_->handle, .id = std::string(id), .expiration_ns = expiration_ns}));
    return {};
}

std::vector<SectionDescriptor> Checkpoint::sections(SectionsChosen chosen, std::int64_t t) const {
    std::vector<SectionDescriptor> out;
    if (!core_ || core_->closed) return out;
    for (const auto& i : core_->meta.list()) {
        bool keep = false;
        switch (chosen) {
        case SectionsChosen::kForever:
            keep = i.expiration_ns == kTimeEnd;
            break;
        case SectionsChosen::kLeqExpirationTime:
            keep = i.expiration_ns <= t;
            break;
        case SectionsChosen::kGeqExpirationTime:
            keep = i.expiration_ns >= t;
            break;
        case SectionsChosen::kCorrupted:
            keep = i.state == shm::kSectionCorrupted;
            break;
        case SectionsChosen::kAny:
            keep = true;
            break;
        }
        if (!keep) continue;
        SectionDescriptor s;
        s.id = i.id;
        s.expiration_ns = i.expiration_ns;
        s.size = i.committed_size;
        s.capacity = i.capacity;
        s.corrupted = i.state == shm::kSectionCorrupted;
        s.last_update_ns = i.last_update_ns;
        s.sequence = i.captured_seq;
        out.push_back(std::move(s));
    }
    return out;
}

Result<std::vector<WriteTx>> Checkpoint::write_group(std::span<const Section> sections,
                                                     std::chrono::milliseconds timeout) const {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    std::vector<std::size_t> order(sections.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (sections[i].ck_ != core_)
            return fail(Error::kInvalidParam, "section " + std::to_string(i) + " of the group is not of this handle");
        order[i] = i;
    }
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return sections[a].slot_ < sections[b].slot_; });
    for (std::size_t i = 1; i < order.size(); ++i)
        if (sections[order[i]].slot_ == sections[order[i - 1]].slot_)
            return fail(Error::kInvalidParam,
                        "a write group names section " + detail::printable_id(sections[order[i]].id()) + " twice");
    // Taken in slot order; given back (aborted) if one cannot be.
    std::vector<std::optional<WriteTx>> taken(sections.size());
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (std::size_t i : order) {
        const auto left =
            std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                     std::chrono::milliseconds(0));
        Section sec = sections[i]; // a handle: the copy locks the same section
        auto tx = sec.write(left);
        if (!tx) return tx.failure(); // the transactions taken so far abort as `taken` goes
        taken[i].emplace(std::move(*tx));
    }
    std::vector<WriteTx> txs;
    txs.reserve(sections.size());
    for (auto& t : taken) txs.push_back(std::move(*t));
    return txs;
}

Status Checkpoint::read(std::span<ReadRequest> requests, std::size_t* error_index) const {
    if (core_ && !core_->closed && !(core_->flags & kOpenRead)) // before any section: no request was served
        return fail(Error::kAccess, "checkpoint '" + printable_name(core_->name) +
                                        "' is open write-only: reading needs the READ open flag");
    auto fail_at = [&](std::size_t k, const Failure& f) -> Status {
        if (error_index) *error_index = k;
        return f;
    };
    if (requests.size() == 1) {
        auto sec = section(requests[0].id);
        if (!sec) return fail_at(0, sec.failure());
        auto n = sec->read(requests[0].offset, requests[0].buffer);
        if (!n) return fail_at(0, n.failure());
        requests[0].read_size = *n;
        return {};
    }
    // Several sections are read as one state: every element's lock word is checked again after
    // all are copied. A writer of several sections takes every lock before it publishes any, so
    // the copy holds all of its changes or none.
    std::vector<Section> secs;
    secs.reserve(requests.size());
    for (std::size_t k = 0; k < requests.size(); ++k) {
        auto sec = section(requests[k].id);
        if (!sec) return fail_at(k, sec.failure());
        secs.push_back(std::move(*sec));
    }
    std::vector<ReadSnapshot> snaps(requests.size());
    for (;;) {
        for (std::size_t k = 0; k < requests.size(); ++k) {
            auto& r = requests[k];
            auto snap = secs[k].begin_read();
            if (!snap) return fail_at(k, snap.failure());
            if (r.offset > snap->size)
                return fail_at(k, fail(Error::kInvalidParam, "read offset " + std::to_string(r.offset) +
                                                                 " is beyond the section size " +
                                                                 std::to_string(snap->size)));
            const std::size_t n = std::min<std::size_t>(r.buffer.size(), snap->size - r.offset);
            if (n) std::memcpy(r.buffer.data(), snap->bytes + r.offset, n);
            r.read_size = n;
            snaps[k] = *snap;
        }
        bool whole = true;
        for (std::size_t k = 0; k < requests.size() && whole; ++k) whole = secs[k].end_read(snaps[k]);
        if (whole) return {};
    }
}

std::uint64_t Checkpoint::commit_seq() const {
    return core_->meta.commit_seq();
}

std::uint64_t Checkpoint::changes_since(std::uint64_t since, std::vector<std::string>& ids) const {
    if (core_->notify_event.valid()) {
        std::uint64_t drained;
        [[maybe_unused]] auto r = ::read(core_->notify_event.get(), &drained, sizeof drained); // re-arm
        core_->session->heal(); // if the wake-up was the engine going away: reconnect, re-subscribe
    }
    std::vector<std::uint32_t> slots;
    std::uint64_t upto = core_->meta.changed_since(since, slots);
    for (std::uint32_t s : slots) {
        if (auto i = core_->meta.info(s)) ids.push_back(i->id);
    }
    return upto;
}

Result<int> Checkpoint::notify_fd() {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    if (!core_->notify_epoll.valid()) {
        core_->notify_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!core_->notify_epoll.valid()) return fail(Error::kNoResources, "epoll_create1: out of descriptors");
        if (Status s = core_->subscribe(); !s) {
            core_->notify_epoll.reset();
            return s.failure();
        }
    }
    return core_->notify_epoll.get();
}

Result<CheckpointStatus> Checkpoint::status() const {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    CKPT_TRY_ASSIGN(rep, core_->session->request(proto::StatusRequest{.handle = core_->handle}));
    CheckpointStatus st;
    st.attributes = rep.attrs;
    st.sections = rep.sections;
    st.bytes_used = rep.bytes_used;
    st.commit_seq = rep.commit_seq;
    detail::copy_counters(rep.counters, st);
    return st;
}

Status Checkpoint::set_retention(std::int64_t retention_ns) {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    CKPT_TRY(core_->session->request(proto::RetentionRequest{.handle = core_->handle, .retention_ns = retention_ns}));
    return {};
}

Result<bool> Checkpoint::directory_replicated(std::uint64_t change) const {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is closed");
    CKPT_TRY_ASSIGN(rep, core_->session->request(proto::DirectoryRequest{.handle = core_->handle}));
    return rep.oldest_unapplied == 0 || rep.oldest_unapplied > change;
}

Status Checkpoint::close() {
    if (!core_ || core_->closed) return fail(Error::kBadHandle, "checkpoint handle is already closed");
    core_->closed = true;
    CKPT_TRY(core_->session->request(proto::CloseRequest{.handle = core_->handle}));
    return {};
}

} // namespace ckpt::client

namespace ckpt::client {

const char* role_name(Role r) {
    switch (r) {
    case Role::kActive:
        return "active";
    case Role::kStandby:
        return "standby";
    case Role::kLocal:
        break;
    }
    return "local";
}

std::optional<RoleEvent> Checkpoint::role_event() {
    if (!core_ || core_->closed) return std::nullopt;
    CheckpointCore& ck = *core_;
    if (ck.notify_event.valid()) {
        std::uint64_t drained;
        [[maybe_unused]] auto r = ::read(ck.notify_event.get(), &drained, sizeof drained); // re-arm
        ck.session->heal();
    }
    const shm::MetaHeader& h = ck.meta.header();
    // lost_events is stored last (release): the fields of that loss are visible with it.
    const std::uint32_t lost_events = shm::load_acquire(h.lost_events);
    const std::uint32_t role = shm::load_acquire(h.role);
    const std::uint64_t epoch = shm::load_acquire(h.epoch);
    if (ck.role_reported && role == ck.role_seen && epoch == ck.epoch_seen && lost_events == ck.lost_events_seen)
        return std::nullopt;
    RoleEvent e;
    e.role = role == shm::kRoleActive ? Role::kActive : role == shm::kRoleStandby ? Role::kStandby : Role::kLocal;
    e.epoch = epoch;
    e.active_node = shm::load_acquire(h.active_node);
    if (ck.role_reported && lost_events != ck.lost_events_seen) {
        e.lost_commits = shm::load_acquire(h.lost_commits);
        e.lost_first_change = shm::load_acquire(h.lost_first_change);
        e.lost_last_change = shm::load_acquire(h.lost_last_change);
    }
    ck.role_reported = true;
    ck.role_seen = role;
    ck.epoch_seen = epoch;
    ck.lost_events_seen = lost_events;
    return e;
}

ReplicationState Checkpoint::replication() const {
    ReplicationState r;
    if (!core_) return r;
    const shm::MetaHeader& h = core_->meta.header();
    const std::uint32_t role = shm::load_acquire(h.role);
    r.role = role == shm::kRoleActive ? "active" : role == shm::kRoleStandby ? "standby" : "local";
    r.epoch = shm::load_acquire(h.epoch);
    r.active_node = shm::load_acquire(h.active_node);
    r.replicas = shm::load_acquire(h.replicas);
    r.lag_commits = shm::load_acquire(h.repl_lag_commits);
    r.lag_bytes = shm::load_acquire(h.repl_lag_bytes);
    r.sync_blocked_by = shm::load_acquire(h.sync_blocked);
    r.lost_events = shm::load_acquire(h.lost_events);
    r.lost_commits = shm::load_acquire(h.lost_commits);
    r.lost_first_change = shm::load_acquire(h.lost_first_change);
    r.lost_last_change = shm::load_acquire(h.lost_last_change);
    return r;
}

} // namespace ckpt::client
