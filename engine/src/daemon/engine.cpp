#include "daemon/engine.hpp"
#include "ckpt/common/clock.hpp"

#include "ckpt/shm/atomics.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>

namespace ckpt::engine {

using namespace ckpt::shm;

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

Status make_dirs(const std::string& path, mode_t mode) {
    std::string cur;
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            cur = path.substr(0, i);
            if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
                return fail(Error::kAccess, "mkdir " + cur + ": " + std::strerror(errno));
        }
    }
    return {};
}

std::string dirname_of(const std::string& p) {
    auto slash = p.rfind('/');
    return slash == 0 ? "/" : p.substr(0, slash);
}

bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

} // namespace

Engine::Engine(Config cfg) : cfg_(std::move(cfg)) {}

Engine::~Engine() {
    if (log_ && log_ != stderr) std::fclose(log_);
}

void Engine::log(const char* fmt, ...) const {
    char when[32];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    std::strftime(when, sizeof when, "%H:%M:%S", &t);
    std::fprintf(log_, "%s.%06ld ckptd[%u] ", when, ts.tv_nsec / 1000, cfg_.node_id);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(log_, fmt, ap);
    va_end(ap);
    std::fputc('\n', log_);
    std::fflush(log_);
}

SegmentNames Engine::segment_names(const std::string& name, bool persistent) const {
    auto one = [&](const char* suffix) {
        ObjectName o;
        o.is_file = persistent;
        o.name = persistent ? cfg_.state_dir + "/" + cfg_.shm_prefix + name + suffix : cfg_.shm_prefix + name + suffix;
        return o;
    };
    return SegmentNames{one(".meta"), one(".data"), one(".shadow")};
}

bool Engine::authorised(const PeerCredentials& c) const {
    if (c.uid == 0 || c.uid == ::geteuid()) return true;
    if (std::find(cfg_.allow_uids.begin(), cfg_.allow_uids.end(), c.uid) != cfg_.allow_uids.end()) return true;
    return std::find(cfg_.allow_gids.begin(), cfg_.allow_gids.end(), c.gid) != cfg_.allow_gids.end();
}

Status Engine::start() {
    // SIGTERM and SIGINT are read from a signalfd (below). Block them first, before DPDK starts
    // its threads (EAL's interrupt thread, memif's reconnect timer): a thread keeps the mask it
    // was created with, and a signal the kernel hands to a thread that does not block it takes
    // its default action, killing the engine without its clean stop (seen once a memif client
    // lost its server: SIGTERM then ended ckptd with status 143 and a stale pid file).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
    if (!cfg_.log_file.empty()) {
        log_ = std::fopen(cfg_.log_file.c_str(), "a");
        if (!log_) {
            log_ = stderr;
            return fail(Error::kAccess, "cannot open log file " + cfg_.log_file + ": " + std::strerror(errno));
        }
    }
    CKPT_TRY(make_dirs(dirname_of(cfg_.socket_path), 0755));

    // One engine per socket: an exclusive lock beside it, then a probe of the socket itself.
    std::string lock_path = cfg_.socket_path + ".lock";
    lock_fd_.reset(::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    if (!lock_fd_.valid()) return fail(Error::kAccess, "cannot open " + lock_path + ": " + std::strerror(errno));
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0)
        return fail(Error::kExist,
                    "another ckptd already serves " + cfg_.socket_path + " (it holds " + lock_path + ")");
    if (auto probe = connect_seqpacket(cfg_.socket_path); probe.ok())
        return fail(Error::kExist, "another ckptd already serves " + cfg_.socket_path);
    ::unlink(cfg_.socket_path.c_str()); // stale socket of a dead engine
    // The transport comes up before the control socket: once clients can connect, the engine is
    // whole (a peer started right after it finds its memif socket too).
    if (cfg_.link.transport != net::Carrier::kNone) {
        cfg_.link.node_id = static_cast<std::uint16_t>(cfg_.node_id);
        if (cfg_.link.file_prefix.empty()) cfg_.link.file_prefix = "hotspare-" + cfg_.shm_prefix;
        const std::uint64_t boot_id =
            static_cast<std::uint64_t>(now_realtime_ns()) ^ (static_cast<std::uint64_t>(::getpid()) << 48);
        auto link = PeerLink::open(cfg_.link, boot_id);
        if (!link)
            return fail(link.error(),
                        std::string("transport ") + net::carrier_name(cfg_.link.transport) + ": " + link.message());
        link_ = std::move(*link);
        repl_ = std::make_unique<Replicator>(*link_, static_cast<ReplicaHost&>(*this));
        log("transport %s, %zu peers, heartbeat %u ms, peer timeout %u ms, %s", link_->transport().describe().c_str(),
            cfg_.link.peers.size(), cfg_.link.heartbeat_ms, cfg_.link.peer_timeout_ms,
            link_->transport().wait_fd() >= 0 ? "sleeps on RX" : "polled (no RX wake-up: sleeps in slices)");
    }

    // NODE segment: reuse an existing one so clients that survived our restart keep a valid map.
    ObjectName node_name{cfg_.shm_prefix + "node", false};
    ObjectOptions opts{cfg_.segment_mode, cfg_.segment_gid};
    // The stats region follows the header (shm/stats_layout.hpp); an older, smaller NODE grows in
    // place, so its mappings stay valid.
    const std::uint64_t node_size = kStatsOffset + stats_region_size(cfg_.stats_checkpoints);
    auto nfd = open_object(node_name, true, cfg_.segment_mode);
    if (!nfd || object_size(nfd->get()).value() < sizeof(NodeHeader)) {
        (void)remove_object(node_name);
        nfd = create_object(node_name, node_size, ObjectOptions{static_cast<mode_t>(opts.mode & 0640), opts.gid});
        if (!nfd) return nfd.failure();
    } else if (object_size(nfd->get()).value() < node_size) {
        CKPT_TRY(resize_object(nfd->get(), node_name, node_size));
    }
    node_fd_ = std::move(*nfd);
    CKPT_TRY_ASSIGN(nm, Mapping::map(node_fd_.get(), node_size, true));
    node_map_ = std::move(nm);
    auto* nh = reinterpret_cast<NodeHeader*>(node_map_.data());
    store_release(nh->magic, std::uint64_t{0});
    nh->layout_major = kLayoutMajor;
    nh->layout_minor = kLayoutMinor;
    nh->header_size = sizeof(NodeHeader);
    nh->node_id = cfg_.node_id;
    nh->engine_pid = static_cast<std::uint32_t>(::getpid());
    nh->started_ns = now_realtime_ns();
    store_seq_cst(nh->engine_sleeping, 0u);
    nh->stats_offset = kStatsOffset;
    nh->stats_size = stats_region_size(cfg_.stats_checkpoints);
    stats_.init(node_map_.data() + kStatsOffset, cfg_.stats_checkpoints, cfg_.node_id, nh->started_ns,
                cfg_.stats_interval_ms);
    store_release(nh->magic, kNodeMagic);

    kick_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    signal_fd_.reset(::signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC));
    ::signal(SIGPIPE, SIG_IGN);
    epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!kick_fd_.valid() || !signal_fd_.valid() || !epoll_fd_.valid())
        return fail(Error::kNoResources, std::string("eventfd/signalfd/epoll: ") + std::strerror(errno));
    if (link_) link_wait_fd_ = link_->transport().wait_fd();
    // A carrier with an RX wake-up (a kernel socket, a NIC's interrupt) wakes a sleeping engine
    // when a frame arrives; without one, frames wait for the next timeout slice.
    for (int fd : {kick_fd_.get(), signal_fd_.get(), link_wait_fd_}) {
        if (fd < 0) continue;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev);
    }
    grace_until_ns_ = mono_ns() + std::int64_t{cfg_.reattach_grace_ms} * 1'000'000;
    adopt_existing();
    // The control socket listens only now: a client (or a supervisor probing readiness) that can
    // connect finds every surviving checkpoint adopted, not an engine still scanning /dev/shm.
    CKPT_TRY(listen_control_socket());
    if (!cfg_.pid_file.empty()) {
        // Written only once the socket serves, so "pid file exists" means "ready".
        std::string tmp = cfg_.pid_file + ".tmp";
        FILE* f = std::fopen(tmp.c_str(), "w");
        bool ok = f && std::fprintf(f, "%d\n", ::getpid()) > 0;
        if (f) ok = std::fclose(f) == 0 && ok;
        if (!ok || ::rename(tmp.c_str(), cfg_.pid_file.c_str()) != 0)
            return fail(Error::kAccess, "cannot write pid file " + cfg_.pid_file + ": " + std::strerror(errno));
    }
    publish_stats(mono_ns()); // readers find figures from the start
    log("node %u serving %s (shm prefix %s, %zu checkpoints adopted)", cfg_.node_id, cfg_.socket_path.c_str(),
        cfg_.shm_prefix.c_str(), by_name_.size());
    return {};
}

Status Engine::listen_control_socket() {
    listen_fd_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_fd_.valid()) return fail(Error::kNoResources, std::string("socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, cfg_.socket_path.c_str(), cfg_.socket_path.size() + 1);
    mode_t old_umask = ::umask(0177); // no window in which the socket is wider than intended
    int rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old_umask);
    if (rc != 0) return fail(Error::kAccess, "bind " + cfg_.socket_path + ": " + std::strerror(errno));
    if (::chmod(cfg_.socket_path.c_str(), cfg_.socket_mode) != 0)
        return fail(Error::kAccess, "chmod " + cfg_.socket_path + ": " + std::strerror(errno));
    if (cfg_.segment_gid != static_cast<gid_t>(-1) &&
        ::chown(cfg_.socket_path.c_str(), static_cast<uid_t>(-1), cfg_.segment_gid) != 0)
        return fail(Error::kAccess, "chown " + cfg_.socket_path + ": " + std::strerror(errno));
    if (::listen(listen_fd_.get(), 128) != 0)
        return fail(Error::kLibrary, std::string("listen: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_.get();
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev);
    return {};
}

void Engine::adopt_existing() {
    auto scan = [&](const std::string& dir, bool persistent) {
        DIR* d = ::opendir(dir.c_str());
        if (!d) return;
        while (dirent* e = ::readdir(d)) {
            std::string f = e->d_name;
            if (f.rfind(cfg_.shm_prefix, 0) != 0 || !ends_with(f, ".meta")) continue;
            std::string name = f.substr(cfg_.shm_prefix.size(), f.size() - cfg_.shm_prefix.size() - 5);
            if (by_name_.count(name)) continue;
            auto c = Checkpoint::adopt(segment_names(name, persistent), cfg_.segment_mode);
            if (!c) {
                log("cannot adopt checkpoint '%s' (%s): %s", name.c_str(), std::string(error_name(c.error())).c_str(),
                    c.message().c_str());
                continue;
            }
            std::shared_ptr<Checkpoint> cp(std::move(*c));
            if (cp->name() != name || cp->attributes().persistent() != persistent) {
                log("segment %s names checkpoint '%s': not adopted", f.c_str(), cp->name().c_str());
                continue;
            }
            for (auto [slot, pid] : cp->orphan_writers()) {
                Fd pfd(pidfd_open(pid));
                if (!pfd.valid()) {
                    cp->release_writer(slot);
                    continue;
                }
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = pfd.get();
                ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, pfd.get(), &ev);
                int key = pfd.get();
                cp->open_count++; // the surviving writer still holds it open
                orphans_.emplace(key, Orphan{cp, slot, std::move(pfd)});
            }
            if (cp->open_count == 0)
                cp->retention_deadline_ns = std::max(mono_ns() + cp->attributes().retention_ns, grace_until_ns_);
            log("adopted checkpoint '%s' (%u sections, commit seq %lu%s)", name.c_str(), cp->meta().section_count(),
                static_cast<unsigned long>(cp->meta().commit_seq()), cp->damage().empty() ? "" : ", damaged");
            by_name_[name] = cp;
            all_.push_back(cp);
            if (repl_) repl_->adopt(cp);
        }
        ::closedir(d);
    };
    scan("/dev/shm", false);
    scan(cfg_.state_dir, true);
}

Result<std::shared_ptr<Checkpoint>> Engine::create_checkpoint(const std::string& name, const CheckpointAttributes& a) {
    if (a.persistent()) CKPT_TRY(make_dirs(cfg_.state_dir, 0700));
    auto names = segment_names(name, a.persistent());
    // Leftovers of a crash during an earlier create (no magic, never adopted) would block O_EXCL.
    for (const auto* o : {&names.meta, &names.data, &names.shadow}) {
        if (auto fd = open_object(*o, false, 0777); fd.ok()) {
            auto m = Mapping::map(fd->get(), sizeof(MetaHeader), false);
            if (o == &names.meta && m && MetaView::classify(m->data(), m->size()) == HeaderState::kReady)
                return fail(Error::kExist, "segment " + o->describe() + " exists but is not adopted by this engine");
            (void)remove_object(*o);
        }
    }
    CKPT_TRY_ASSIGN(
        c, Checkpoint::create(name, a, names, ObjectOptions{cfg_.segment_mode, cfg_.segment_gid}, cfg_.node_id));
    std::shared_ptr<Checkpoint> cp(std::move(c));
    by_name_[name] = cp;
    all_.push_back(cp);
    log("created checkpoint '%s' (%lu bytes, %u sections max, block %u, %s%s)", name.c_str(),
        static_cast<unsigned long>(a.checkpoint_size), a.max_sections, a.block_size,
        a.update_mode() == UpdateMode::kSync    ? "sync"
        : a.update_mode() == UpdateMode::kAsync ? "async"
                                                : "async-weak",
        a.persistent() ? ", persistent" : "");
    return cp;
}

void Engine::destroy(const std::shared_ptr<Checkpoint>& c) {
    if (repl_) repl_->forget(c);
    if (!c->unlinked) {
        c->remove_objects();
        by_name_.erase(c->name());
    }
    log("deleted checkpoint '%s'", c->name().c_str());
    all_.erase(std::remove(all_.begin(), all_.end(), c), all_.end());
}

void Engine::last_close(const std::shared_ptr<Checkpoint>& c) {
    // A standby replica outlives its local handles whatever its retention: the active decides
    // when the checkpoint goes (and says so); the countdown below runs only once this node is
    // active (run_timers). Destroyed here, a local reader's close deleted the replica, leaving
    // nothing to promote.
    if (c->unlinked || (c->attributes().retention_ns == 0 && !c->held_by_replication())) {
        destroy(c);
        return;
    }
    if (c->attributes().retention_ns == 0) return; // a standby's replica, with no deadline
    c->retention_deadline_ns = std::max(mono_ns() + c->attributes().retention_ns, grace_until_ns_);
}

// ------------------------------------------------------------------------------------------
// Loop
// ------------------------------------------------------------------------------------------

std::size_t Engine::poll_commits() {
    std::size_t n = 0;
    // Frames first: applying a standby's commits and retiring acknowledged ones.
    if (link_) n += link_->poll(mono_ns());
    std::size_t captured = 0;
    for (auto& c : all_) {
        std::size_t k = c->poll_commits();
        if (k) {
            c->publish_acks();
            captured += k;
        }
    }
    if (captured) fetch_add_acq_rel(reinterpret_cast<NodeHeader*>(node_map_.data())->captures, std::uint64_t{captured});
    if (link_) n += link_->flush(mono_ns()); // what the captures queued, ACKs, retransmissions
    return n + captured;
}

std::shared_ptr<Checkpoint> Engine::find_checkpoint(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Checkpoint>> Engine::create_replica(const std::string& name, const CheckpointAttributes& a) {
    return create_checkpoint(name, a);
}

void Engine::unlink(const std::shared_ptr<Checkpoint>& c) {
    // POSIX-like: the name goes now (a new checkpoint may take it), the data at the last close.
    if (!c->unlinked) {
        by_name_.erase(c->name());
        c->remove_objects();
        c->unlinked = true;
        shm::store_release(c->meta().mutable_header().state, c->meta().state() | shm::kMetaUnlinked);
    }
    if (c->open_count == 0) destroy(c);
}

void Engine::unlink_replica(const std::shared_ptr<Checkpoint>& c) {
    unlink(c);
}

void Engine::replication_log(const std::string& line) {
    log("%s", line.c_str());
}

void Engine::run_timers() {
    const std::int64_t now = mono_ns();
    if (link_) {
        link_->tick(now, static_cast<std::uint32_t>(by_name_.size()));
        for (const auto& e : link_->take_events()) log("%s", e.c_str());
        repl_->tick(now);
        link_->flush(now);
    }
    if (now >= next_scan_ns_) {
        next_scan_ns_ = now + std::int64_t{cfg_.scan_interval_ms} * 1'000'000;
        for (auto& c : all_) {
            if (c->scan_all()) c->publish_acks();
            c->flush_to_disk();
        }
    }
    if (now >= next_expiry_check_ns_) {
        next_expiry_check_ns_ = now + 100'000'000;
        const std::int64_t wall = now_realtime_ns();
        for (auto& c : all_) {
            if (c->role() == kRoleStandby) continue; // the active expires sections and says so
            if (std::size_t n = c->expire_sections(wall)) {
                log("checkpoint '%s': %zu sections expired", c->name().c_str(), n);
                c->publish_acks();
            }
        }
    }
    std::vector<std::shared_ptr<Checkpoint>> due;
    for (auto& c : all_)
        if (c->open_count == 0 && c->retention_deadline_ns != 0 && now >= c->retention_deadline_ns &&
            !c->held_by_replication())
            due.push_back(c);
    for (auto& c : due) {
        log("checkpoint '%s': retention expired", c->name().c_str());
        destroy(c);
    }
    publish_stats(now);
}

void Engine::publish_stats(std::int64_t now_ns) {
    stats_.publish(now_ns, all_, repl_.get(), link_.get(),
                   load_relaxed(reinterpret_cast<const NodeHeader*>(node_map_.data())->captures));
}

int Engine::run() {
    auto* nh = reinterpret_cast<NodeHeader*>(node_map_.data());
    std::int64_t last_work = mono_ns();
    std::uint32_t iter = 0;
    epoll_event events[64];
    const std::int64_t spin_ns = std::int64_t{cfg_.idle_spin_us} * 1000;
    // The control socket and the timers (heartbeats, peer timeouts, retransmissions, stats) run on
    // every 64th idle turn *and* at least every millisecond, busy or not. `iter` counts idle turns
    // only, so under a sustained load it stops and, alone, starved them: a control call waited 5 s
    // and heartbeats stopped. (Counting busy turns too, for this and for the yield below, cost a
    // third of the 1 KiB commit throughput.)
    constexpr std::int64_t kServiceEveryNs = 1'000'000;
    std::int64_t next_service_ns = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
        bool sleep = false;
        if (poll_commits())
            last_work = mono_ns();
        else if ((++iter & 63) == 0 && mono_ns() - last_work > spin_ns && (!link_ || link_->idle()))
            sleep = true; // (frames in flight: keep polling for their ACKs, yielding the core)
        int timeout = 0;
        if (sleep) {
            // Announce the sleep, then look once more: a committer either sees the flag and kicks,
            // or committed before it and its doorbell is found here (seq_cst on both sides).
            if (link_) link_->transport().arm_wakeup(true); // then look again, below: no lost frame
            store_seq_cst(nh->engine_sleeping, 1u);
            fence_seq_cst(); // the flag is visible before we look at doorbells (any architecture)
            if (poll_commits()) {
                store_seq_cst(nh->engine_sleeping, 0u);
                if (link_) link_->transport().arm_wakeup(false);
                last_work = mono_ns();
                continue;
            }
            timeout = static_cast<int>(std::min<std::uint32_t>(cfg_.scan_interval_ms, 100));
            if (link_) timeout = std::min(timeout, static_cast<int>(link_->heartbeat_ms())); // heartbeats are due
        } else if ((iter & 63) != 0 && mono_ns() < next_service_ns) {
            cpu_relax();
            if ((iter & 15) == 0) ::sched_yield(); // share the core with the application
            continue;
        }
        next_service_ns = mono_ns() + kServiceEveryNs;
        int n;
        if (sleep && link_ && link_wait_fd_ < 0) {
            // Frames do not wake us on this carrier: sleep in short slices (link_sleep_us).
            link_->transport().arm_wakeup(true);
            timespec ts{0, static_cast<long>(std::min<std::int64_t>(std::int64_t{cfg_.link_sleep_us} * 1000,
                                                                    std::int64_t{timeout} * 1'000'000))};
            n = ::epoll_pwait2(epoll_fd_.get(), events, 64, &ts, nullptr);
        } else {
            if (sleep && link_) link_->transport().arm_wakeup(true);
            n = ::epoll_wait(epoll_fd_.get(), events, 64, timeout);
        }
        if (sleep && link_) link_->transport().arm_wakeup(false);
        if (sleep) store_seq_cst(nh->engine_sleeping, 0u);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd_.get())
                accept_clients();
            else if (fd == link_wait_fd_)
                last_work = mono_ns(); // frames arrived; the next poll takes them
            else if (fd == kick_fd_.get()) {
                std::uint64_t v;
                [[maybe_unused]] auto r = ::read(fd, &v, sizeof v);
                last_work = mono_ns();
            } else if (fd == signal_fd_.get()) {
                signalfd_siginfo si{};
                [[maybe_unused]] auto r = ::read(fd, &si, sizeof si);
                log("signal %u: shutting down", si.ssi_signo);
                stop();
            } else if (auto o = orphans_.find(fd); o != orphans_.end()) {
                log("checkpoint '%s': writer pid from before the restart exited; releasing its slot %u",
                    o->second.ckpt->name().c_str(), o->second.slot);
                auto cp = o->second.ckpt;
                cp->release_writer(o->second.slot);
                orphans_.erase(o);
                if (--cp->open_count == 0) last_close(cp);
            } else if (auto p = pidfd_to_sock_.find(fd); p != pidfd_to_sock_.end()) {
                close_session(p->second);
            } else if (sessions_.count(fd)) {
                if (events[i].events & (EPOLLHUP | EPOLLERR) && !(events[i].events & EPOLLIN))
                    close_session(fd);
                else
                    serve(*sessions_[fd]);
            }
        }
        run_timers();
    }
    // Orderly shutdown leaves the segments for the next engine to adopt (clients keep their maps).
    for (auto& c : all_) {
        c->poll_commits();
        c->scan_all();
        c->publish_acks();
    }
    ::unlink(cfg_.socket_path.c_str());
    if (!cfg_.pid_file.empty()) ::unlink(cfg_.pid_file.c_str());
    log("stopped");
    return 0;
}

// ------------------------------------------------------------------------------------------
// Sessions
// ------------------------------------------------------------------------------------------

void Engine::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        auto s = std::make_unique<Session>();
        s->sock.reset(fd);
        auto cred = peer_credentials(fd);
        if (!cred) continue;
        s->cred = *cred;
        s->authorised = authorised(s->cred);
        s->start_time = process_start_time(s->cred.pid);
        s->pidfd.reset(pidfd_open(s->cred.pid));
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev);
        if (s->pidfd.valid()) {
            epoll_event pev{};
            pev.events = EPOLLIN;
            pev.data.fd = s->pidfd.get();
            ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, s->pidfd.get(), &pev);
            pidfd_to_sock_[s->pidfd.get()] = fd;
        }
        if (cfg_.verbose)
            log("client pid %d uid %u gid %u connected%s", s->cred.pid, s->cred.uid, s->cred.gid,
                s->authorised ? "" : " (not authorised)");
        sessions_[fd] = std::move(s);
    }
}

void Engine::close_session(int sock) {
    auto it = sessions_.find(sock);
    if (it == sessions_.end()) return;
    std::unique_ptr<Session> s = std::move(it->second);
    sessions_.erase(it);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, sock, nullptr);
    if (s->pidfd.valid()) {
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, s->pidfd.get(), nullptr);
        pidfd_to_sock_.erase(s->pidfd.get());
    }
    if (cfg_.verbose || !s->handles.empty())
        log("client pid %d gone; closing its %zu handles", s->cred.pid, s->handles.size());
    for (auto& [id, h] : s->handles) drop_handle(h);
}

void Engine::drop_handle(Handle& h) {
    auto c = h.ckpt;
    if (h.writer != proto::kNoWriterSlot) c->release_writer(h.writer);
    if (h.subscription.valid()) {
        auto& subs = c->subscribers;
        subs.erase(std::remove(subs.begin(), subs.end(), h.subscription.get()), subs.end());
    }
    if (--c->open_count == 0) last_close(c);
}

void Engine::serve(Session& s) {
    const int sock = s.sock.get();
    for (int budget = 0; budget < 64; ++budget) {
        auto r = receive_message(sock, proto::kMaxMessage);
        if (!r) {
            if (r.error() == Error::kTryAgain) return;
            close_session(sock);
            return;
        }
        if (r->eof) {
            close_session(sock);
            return;
        }
        if (r->truncated) {
            proto::Decoder d(r->payload);
            auto op = static_cast<proto::Op>(d.u16());
            d.u16();
            (void)reply(s, proto::reply_error(op, d.u32(),
                                              fail(Error::kMessageError, "request larger than " +
                                                                             std::to_string(proto::kMaxMessage) +
                                                                             " bytes or carrying more than 4 fds")));
            continue;
        }
        handle(s, r->payload);
        if (!sessions_.count(sock)) return; // closed while handling
    }
}

Status Engine::reply(Session& s, const proto::Encoder& e, std::span<const int> fds) {
    return send_message(s.sock.get(), e.buffer(), fds);
}

Handle* Engine::find_handle(Session& s, std::uint64_t h) {
    auto it = s.handles.find(h);
    return it == s.handles.end() ? nullptr : &it->second;
}

void Engine::handle(Session& s, std::span<const std::byte> msg) {
    proto::Decoder d(msg);
    auto op = static_cast<proto::Op>(d.u16());
    std::uint16_t version = d.u16();
    std::uint32_t id = d.u32();
    if (!d.ok()) {
        (void)reply(s, proto::reply_error(op, 0, fail(Error::kMessageError, "request shorter than its header")));
        return;
    }
    if (version != proto::kProtocolVersion) {
        (void)reply(s, proto::reply_error(op, id,
                                          fail(Error::kVersion, "client speaks control protocol " +
                                                                    std::to_string(version) + ", ckptd speaks " +
                                                                    std::to_string(proto::kProtocolVersion))));
        return;
    }
    if (!s.authorised) {
        (void)reply(s,
                    proto::reply_error(op, id,
                                       fail(Error::kAccess,
                                            "uid " + std::to_string(s.cred.uid) + " gid " + std::to_string(s.cred.gid) +
                                                " is not authorised by ckptd (allow_uids / allow_gids)")));
        close_session(s.sock.get());
        return;
    }
    switch (op) {
    case proto::Op::kHello:
        return on_hello(s, id, d);
    case proto::Op::kOpen:
        return on_open(s, id, d);
    case proto::Op::kClose:
        return on_close(s, id, d);
    case proto::Op::kUnlink:
        return on_unlink(s, id, d);
    case proto::Op::kStatus:
        return on_status(s, id, d);
    case proto::Op::kSectionCreate:
        return on_section_create(s, id, d);
    case proto::Op::kSectionDelete:
        return on_section_delete(s, id, d);
    case proto::Op::kSectionExpiration:
        return on_section_expiration(s, id, d);
    case proto::Op::kSubscribe:
        return on_subscribe(s, id, d);
    case proto::Op::kList:
        return on_list(s, id, d);
    case proto::Op::kInspect:
        return on_inspect(s, id, d);
    case proto::Op::kRollback:
        return on_rollback(s, id, d);
    case proto::Op::kPeers:
        return on_peers(s, id, d);
    case proto::Op::kPromote:
        return on_promote(s, id, d);
    case proto::Op::kDemote:
        return on_demote(s, id, d);
    }
    (void)reply(
        s, proto::reply_error(
               op, id, fail(Error::kMessageError, "unknown request type " + std::to_string(static_cast<int>(op)))));
}

} // namespace ckpt::engine
