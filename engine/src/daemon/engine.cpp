#include "daemon/engine.hpp"

#include "ckpt/common/clock.hpp"
#include "crash/crash_points.hpp"
#include "daemon/fs_util.hpp"
#include "store/segment_guard.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/doorbell.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
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

} // namespace

Engine::Engine(Config cfg) : cfg_(std::move(cfg)), log_(cfg_.node_id), reg_(cfg_, log_), control_(cfg_, reg_, log_) {}

Engine::~Engine() = default;

Status Engine::start() {
    // SIGTERM and SIGINT are read from a signalfd (below). Block them first, before DPDK starts
    // its threads (EAL's interrupt thread, memif's reconnect timer): a thread keeps the mask it
    // was created with, and a signal the kernel hands to a thread that does not block it takes
    // its default action, killing the engine without its clean stop (exit status 143, a stale
    // pid file).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP); // reloads the cluster key (auth_key_file)
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
    if (!cfg_.log_file.empty()) CKPT_TRY(log_.open(cfg_.log_file));
    {
        // Tests only (crash/crash_points.hpp): off unless CKPT_CRASH_POINT is set.
        auto armed = crash::arm_from_env(cfg_.node_id);
        if (!armed) return armed.failure();
        if (!armed->empty()) log_.log("crash point armed: %s (CKPT_CRASH_POINT)", armed->c_str());
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
        // The session every frame carries: random per start, so a restarted engine derives fresh
        // frame keys and its peers tell it apart from a recording of its previous life.
        const std::uint64_t boot_id = net::random_u64();
        auto link = PeerLink::open(cfg_.link, boot_id);
        if (!link)
            return fail(link.error(),
                        std::string("transport ") + net::carrier_name(cfg_.link.transport) + ": " + link.message());
        link_ = std::move(*link);
        repl_ = std::make_unique<Replicator>(*link_, reg_);
        reg_.set_replicator(repl_.get());
        if (cfg_.link.auth == AuthMode::kNone)
            log_.log("auth = none: replication frames are NOT authenticated (anyone on the link can forge them)");
        else
            log_.log("frames authenticated with cluster key %u from %s", link_->auth().newest_key(),
                     cfg_.link.auth_key_file.c_str());
        if (!cfg_.fence_peer_command.empty()) {
            fencer_ = std::make_unique<CommandFencer>(cfg_.fence_peer_command, cfg_.fence_timeout_ms,
                                                      cfg_.fence_retry_ms, log_);
            repl_->set_fencer(fencer_.get());
            log_.log("a silent standby is fenced by %s before sync commits are acknowledged without it",
                     cfg_.fence_peer_command.c_str());
        } else if (cfg_.link.member_timeout_ms == 0) {
            log_.log("no fence_peer_command: a silent standby that held this active's state stays required (sync "
                     "commits fail naming it until it rejoins)");
        } else {
            log_.log("no fence_peer_command: a silent standby stops being required after member_timeout_ms = %u, "
                     "with no cluster action (it could still be promoted)",
                     cfg_.link.member_timeout_ms);
        }
        log_.log("transport %s, %zu peers, heartbeat %u ms, peer timeout %u ms, %s",
                 link_->transport().describe().c_str(), cfg_.link.peers.size(), cfg_.link.heartbeat_ms,
                 cfg_.link.peer_timeout_ms,
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
    doorbell::end_sleep(*nh);
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
    sleep_in_flight_ =
        link_ && link_wait_fd_ >= 0 && cfg_.link.transport == net::Carrier::kMemif && cfg_.link.memif_wakeup;
    // A carrier with an RX wake-up (a kernel socket, a NIC's interrupt) wakes a sleeping engine
    // when a frame arrives; without one, frames wait for the next timeout slice.
    for (int fd : {kick_fd_.get(), signal_fd_.get(), link_wait_fd_}) {
        if (fd < 0) continue;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
            return fail(Error::kNoResources, std::string("cannot watch ") +
                                                 (fd == kick_fd_.get()     ? "the kick eventfd"
                                                  : fd == signal_fd_.get() ? "the signalfd"
                                                                           : "the transport's RX wake-up fd") +
                                                 ": epoll_ctl: " + std::strerror(errno));
    }
    reg_.set_grace(mono_ns() + std::int64_t{cfg_.reattach_grace_ms} * 1'000'000);
    control_.attach(epoll_fd_.get(), node_fd_.get(), node_map_.size(), kick_fd_.get(), repl_.get(), link_.get());
    control_.set_stats_publisher([this] { publish_stats(mono_ns(), true); });
    reg_.adopt_existing(epoll_fd_.get());
    // The control socket listens only now: a client (or a supervisor probing readiness) that can
    // connect finds every surviving checkpoint adopted, not an engine still scanning /dev/shm.
    CKPT_TRY(control_.listen());
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
    log_.log("node %u serving %s (shm prefix %s, %zu checkpoints adopted)", cfg_.node_id, cfg_.socket_path.c_str(),
             cfg_.shm_prefix.c_str(), reg_.by_name().size());
    return {};
}

// ------------------------------------------------------------------------------------------
// Loop
// ------------------------------------------------------------------------------------------

std::size_t Engine::poll_commits(std::int64_t now_ns) {
    std::size_t n = 0;
    // Frames first: applying a standby's commits and retiring acknowledged ones.
    if (link_) n += link_->poll(now_ns);
    std::size_t captured = 0;
    for (const auto& c : reg_.all()) {
        std::size_t k = c->poll_commits();
        if (k) {
            c->publish_acks();
            captured += k;
        }
    }
    if (captured) fetch_add_acq_rel(reinterpret_cast<NodeHeader*>(node_map_.data())->captures, std::uint64_t{captured});
    if (repl_) n += repl_->pump(); // running resyncs, a budget a turn
    // What the captures queued, ACKs, retransmissions. A turn that did work reads the clock again,
    // so that frames are stamped with the time they leave (round-trip samples); an idle turn was
    // short, and the loop's one reading serves (issue 14: the clock was 13 % of a busy profile).
    if (link_) n += link_->flush(n + captured != 0 ? mono_ns() : now_ns);
    // The ACKs are out: a standby's shadow catches up with what it applied from held frame
    // buffers (off the ACK's path: docs/ARCHITECTURE.md 10.2.1).
    if (repl_) repl_->settle();
    return n + captured;
}

void Engine::run_timers() {
    const std::int64_t now = mono_ns();
    if (link_) {
        link_->tick(now, static_cast<std::uint32_t>(reg_.by_name().size()));
        for (const auto& e : link_->take_events()) log_.log("%s", e.c_str());
        if (fencer_) fencer_->poll(now);
        repl_->tick(now);
        link_->flush(now);
    }
    // A SIGBUS absorbed by the segment guard (a client truncated DATA under us): repair at once.
    if (const std::uint64_t gf = SegmentGuard::total_faults(); gf != guard_faults_seen_) {
        guard_faults_seen_ = gf;
        check_segments();
    }
    if (now >= next_scan_ns_) {
        next_scan_ns_ = now + std::int64_t{cfg_.scan_interval_ms} * 1'000'000;
        check_segments(); // one fstat per checkpoint: a resize that no access has hit yet
        for (const auto& c : reg_.all()) {
            if (c->scan_all()) c->publish_acks();
            c->flush_to_disk();
        }
    }
    if (now >= next_expiry_check_ns_) {
        next_expiry_check_ns_ = now + 100'000'000;
        const std::int64_t wall = now_realtime_ns();
        for (const auto& c : reg_.all()) {
            if (c->role() == kRoleStandby) continue; // the active expires sections and says so
            if (std::size_t n = c->expire_sections(wall)) {
                log_.log("checkpoint '%s': %zu sections expired", printable_name(c->name()).c_str(), n);
                c->publish_acks();
            }
        }
    }
    reg_.expire_retention(now);
    publish_stats(now);
}

void Engine::check_segments() {
    for (const auto& c : reg_.all()) {
        if (auto what = c->check_resized()) {
            log_.log("checkpoint '%s': %s", printable_name(c->name()).c_str(), what->c_str());
            c->publish_acks();
        }
    }
}

void Engine::publish_stats(std::int64_t now_ns, bool now) {
    stats_.publish(now_ns, reg_.all(), repl_.get(), link_.get(),
                   load_relaxed(reinterpret_cast<const NodeHeader*>(node_map_.data())->captures), now);
}

int Engine::run() {
    auto* nh = reinterpret_cast<NodeHeader*>(node_map_.data());
    std::int64_t last_work = mono_ns();
    std::uint32_t iter = 0;
    epoll_event events[64];
    const std::int64_t spin_ns = std::int64_t{cfg_.idle_spin_us} * 1000;
    // The control socket and the timers (heartbeats, peer timeouts, retransmissions, stats) run on
    // every 64th idle turn *and* at least every millisecond, busy or not: `iter` counts idle turns
    // only (counting busy ones too costs commit throughput), so alone it would starve them under a
    // sustained load.
    constexpr std::int64_t kServiceEveryNs = 1'000'000;
    // Shorter than this until a retransmission is due, a sleep is not worth its wake-up.
    constexpr std::int64_t kMinSleepNs = 20'000;
    std::int64_t next_service_ns = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
        const std::int64_t now = mono_ns(); // the turn's clock: read once, not per decision
        bool sleep = false;
        std::int64_t wake_by = INT64_MAX; // sleeping with frames in flight: their first retransmission
        if (poll_commits(now)) {
            last_work = now;
        } else if ((++iter & 63) == 0 && now - last_work > spin_ns) {
            if (!link_ || link_->idle()) {
                sleep = true;
            } else if (sleep_in_flight_) {
                // Frames in flight, and memif's wake-up wakes us for their ACK: sleep until the
                // first retransmission is due rather than spin and yield (a yielding engine waits a
                // whole scheduler slice behind busy neighbours: ARCHITECTURE 3.2).
                wake_by = link_->sleep_deadline();
                sleep = wake_by > now + kMinSleepNs;
            } // (otherwise keep polling for the ACKs, yielding the core)
        }
        int timeout = 0;
        if (sleep) {
            // Announce the sleep, then look once more: a committer either sees the flag and kicks,
            // or committed before it and its doorbell is found here (seq_cst on both sides).
            if (link_) link_->transport().arm_wakeup(true); // then look again, below: no lost frame
            doorbell::announce_sleep(*nh);
            if (poll_commits(mono_ns())) {
                doorbell::end_sleep(*nh);
                if (link_) link_->transport().arm_wakeup(false);
                last_work = mono_ns();
                continue;
            }
            timeout = static_cast<int>(std::min<std::uint32_t>(cfg_.scan_interval_ms, 100));
            if (link_) timeout = std::min(timeout, static_cast<int>(link_->heartbeat_ms())); // heartbeats are due
        } else if ((iter & 63) != 0 && now < next_service_ns) {
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
        } else if (wake_by != INT64_MAX) {
            link_->transport().arm_wakeup(true);
            const std::int64_t ns = std::max<std::int64_t>(
                0, std::min<std::int64_t>(std::int64_t{timeout} * 1'000'000, wake_by - mono_ns()));
            timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
            n = ::epoll_pwait2(epoll_fd_.get(), events, 64, &ts, nullptr);
        } else {
            if (sleep && link_) link_->transport().arm_wakeup(true);
            n = ::epoll_wait(epoll_fd_.get(), events, 64, timeout);
        }
        if (sleep && link_) link_->transport().arm_wakeup(false);
        if (sleep) doorbell::end_sleep(*nh);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == link_wait_fd_)
                last_work = mono_ns(); // frames arrived; the next poll takes them
            else if (fd == kick_fd_.get()) {
                std::uint64_t v;
                [[maybe_unused]] auto r = ::read(fd, &v, sizeof v);
                last_work = mono_ns();
            } else if (fd == signal_fd_.get()) {
                signalfd_siginfo si{};
                [[maybe_unused]] auto r = ::read(fd, &si, sizeof si);
                if (si.ssi_signo == SIGHUP) {
                    reload_key();
                } else {
                    log_.log("signal %u: shutting down", si.ssi_signo);
                    stop();
                }
            } else if (!reg_.orphan_exited(fd)) {
                control_.on_event(fd, events[i].events);
            }
        }
        run_timers();
    }
    // Orderly shutdown leaves the segments for the next engine to adopt (clients keep their maps).
    for (const auto& c : reg_.all()) {
        c->poll_commits(~std::uint64_t{0});
        c->scan_all();
        c->publish_acks();
    }
    ::unlink(cfg_.socket_path.c_str());
    if (!cfg_.pid_file.empty()) ::unlink(cfg_.pid_file.c_str());
    log_.log("stopped");
    return 0;
}

void Engine::reload_key() {
    if (!link_) {
        log_.log("SIGHUP: no replication link, no key to reload");
        return;
    }
    if (auto r = link_->reload_key(); !r.ok())
        log_.log("SIGHUP: cluster key not reloaded, the keys in use stay: %s", r.message().c_str());
    for (const auto& e : link_->take_events()) log_.log("%s", e.c_str());
}

// ------------------------------------------------------------------------------------------
// Sessions
// ------------------------------------------------------------------------------------------

} // namespace ckpt::engine
