// counter: the example application (in the spirit of SAFplus's csa103 tutorial), and the demo's.
// Builds against an installed Hotspare with nothing but pkg-config: see meson.build beside it.
//
//   counter active  SOCKET     count: commit the sequence number every few ms (sync ack), print it
//   counter standby SOCKET     follow the active through change notifications (pollable fd) on a
//                              node whose replica is a standby; take over when the cluster manager
//                              promotes that replica (the same fd wakes with the role event
//                              "active, epoch N"): open it for write, continue at the next number
//
// The state is one 64-byte record in the default section of checkpoint "demo-counter", written in
// place in shared memory; nothing is serialised, and taking over is mapping the same memory.
#include <ckpt/client/session.hpp>

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

using namespace ckpt;
using namespace ckpt::client;

namespace {

/// The application's state record, as it lies in the section.
struct CounterState {
    std::uint64_t sequence;   ///< last committed sequence number
    std::int64_t updated_ns;  ///< CLOCK_REALTIME of that commit
    std::uint32_t writer_pid; ///< who committed it
    std::uint8_t pad[44];
};
static_assert(sizeof(CounterState) == 64);

volatile sig_atomic_t g_stop = 0;

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double ms_since(std::int64_t t0) {
    return static_cast<double>(now_ns() - t0) / 1e6;
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "counter: %s: %s (%s)\n", what, r.message().c_str(),
                     std::string(error_name(r.error())).c_str());
        std::exit(1);
    }
    return std::move(r).value();
}

Checkpoint open_counter(Session& s, bool write) {
    CheckpointAttributes a;
    a.creation_flags = static_cast<std::uint32_t>(UpdateMode::kSync);
    a.checkpoint_size = 4096;
    a.max_sections = 1; // one default section
    a.max_section_size = 4096;
    a.max_section_id_size = 0;
    a.block_size = 64;
    a.retention_ns = 60'000'000'000; // survives a minute without any opener
    return must(write ? s.open("demo-counter", kOpenRead | kOpenWrite | kOpenCreate, &a)
                      : s.open("demo-counter", kOpenRead),
                "open checkpoint demo-counter");
}

CounterState read_state(const Section& sec) {
    return must(sec.read_view([](std::span<const std::byte> b) {
        CounterState st{};
        if (b.size() >= sizeof st) std::memcpy(&st, b.data(), sizeof st);
        return st;
    }),
                "read state");
}

/// Counts from the committed state on: each number is acknowledged before it is printed.
int count(Checkpoint& ck, const char* who, std::int64_t takeover_start_ns) {
    auto sec = must(ck.default_section(), "default section");
    CounterState st = read_state(sec);
    std::printf("%s[%d]: resuming after committed sequence %llu\n", who, ::getpid(),
                static_cast<unsigned long long>(st.sequence));
    std::fflush(stdout);
    bool first = true;
    while (!g_stop) {
        auto tx = must(sec.write(), "begin write");
        // In place: the record is written straight into the mapped section.
        auto* rec = reinterpret_cast<CounterState*>(tx.span(0, sizeof(CounterState)).data());
        rec->sequence += 1;
        rec->updated_ns = now_ns();
        rec->writer_pid = static_cast<std::uint32_t>(::getpid());
        std::uint64_t seq = rec->sequence;
        auto done = tx.commit(Ack::kSync);
        // Not acknowledged yet (a standby is silent, the engine is restarting): the number is
        // not printed, and the same number is committed again until it is, or until this node's
        // replica is no longer the active one (then write() fails and the process ends).
        while (!done && !g_stop &&
               (done.error() == Error::kUnavailable || done.error() == Error::kTimeout ||
                done.error() == Error::kTryAgain)) {
            std::printf("%s[%d]: commit %llu not acknowledged (%s): committing it again\n", who, ::getpid(),
                        static_cast<unsigned long long>(seq), done.message().c_str());
            std::fflush(stdout);
            ::usleep(10'000);
            auto again = must(sec.write(), "begin write");
            reinterpret_cast<CounterState*>(again.span(0, sizeof(CounterState)).data())->updated_ns = now_ns();
            done = again.commit(Ack::kSync);
        }
        must(std::move(done), "commit");
        if (first) // for failover timelines (tests/cluster): when this process's first commit was acknowledged
            std::printf("%s[%d]: first commit %llu acknowledged at %lld ns\n", who, ::getpid(),
                        static_cast<unsigned long long>(seq), static_cast<long long>(now_ns()));
        if (first && takeover_start_ns) {
            std::printf("%s[%d]: TAKEOVER first commit %llu, %.3f ms after promotion\n", who, ::getpid(),
                        static_cast<unsigned long long>(seq), ms_since(takeover_start_ns));
        }
        first = false;
        std::printf("%s[%d]: acked %llu\n", who, ::getpid(), static_cast<unsigned long long>(seq));
        std::fflush(stdout);
        ::usleep(5000);
    }
    return 0;
}

int active(const char* socket) {
    // SIGTERM ends an active at once, even inside a sync commit waiting for an engine that is
    // gone (a cluster manager stopping it on a failed node must not wait): what was acknowledged
    // is replicated, and a transaction cut short is rolled back by the engine.
    ::signal(SIGTERM, SIG_DFL);
    auto s = must(Session::connect({socket}), "connect to ckptd");
    auto ck = open_counter(s, true);
    return count(ck, "active", 0);
}

int standby(const char* socket) {
    auto s = must(Session::connect({socket}), "connect to ckptd");
    Checkpoint ck;
    for (int i = 0; i < 500; ++i) { // the active may not have created it yet
        auto r = s.open("demo-counter", kOpenRead);
        if (r) {
            ck = std::move(*r);
            break;
        }
        ::usleep(10'000);
    }
    int fd = must(ck.notify_fd(), "subscribe to changes");
    auto sec = must(ck.default_section(), "default section");
    // The role comes on the same pollable fd as the changes (as AMF's CSI assignment drives
    // csa103): "standby" now; "active, epoch N" once the cluster manager promoted this node's
    // replica. No signal, no polling of ckptctl.
    auto first = ck.role_event();
    if (!first || first->role != Role::kStandby) {
        std::fprintf(stderr,
                     "counter: this node's replica of demo-counter is %s, not a standby: run the standby on "
                     "a node whose ckptd follows the active (or run 'counter active' here)\n",
                     first ? role_name(first->role) : "unknown");
        return 2;
    }
    std::printf("standby[%d]: following demo-counter as standby of node %u, epoch %llu (pollable fd %d)\n", ::getpid(),
                first->active_node, static_cast<unsigned long long>(first->epoch), fd);
    std::fflush(stdout);
    std::uint64_t seen = ck.commit_seq(), last_printed = 0;
    std::optional<RoleEvent> promoted;
    while (!promoted && !g_stop) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, -1) <= 0) continue;
        std::vector<std::string> changed; // changes_since() also re-arms fd (and reconnects if ckptd restarted)
        seen = ck.changes_since(seen, changed);
        if (auto e = ck.role_event()) {
            if (e->role == Role::kActive) {
                promoted = e;
                break;
            }
            std::printf("standby[%d]: %s, epoch %llu, active node %u\n", ::getpid(), role_name(e->role),
                        static_cast<unsigned long long>(e->epoch), e->active_node);
        }
        CounterState st = read_state(sec);
        if (st.sequence >= last_printed + 50) { // one line per 50 commits keeps the log readable
            std::printf("standby[%d]: sees %llu (written by pid %u, %.3f ms ago)\n", ::getpid(),
                        static_cast<unsigned long long>(st.sequence), st.writer_pid, ms_since(st.updated_ns));
            std::fflush(stdout);
            last_printed = st.sequence;
        }
    }
    if (!promoted) return 0; // SIGTERM
    const std::int64_t t0 = now_ns();
    // Failover: the cluster manager made this node's replica the active one (a higher epoch
    // fences the old active should it come back).
    CounterState st = read_state(sec);
    std::printf("standby[%d]: this node's replica is now the active one (epoch %llu): PROMOTED; last committed "
                "sequence in shared memory: %llu\n",
                ::getpid(), static_cast<unsigned long long>(promoted->epoch),
                static_cast<unsigned long long>(st.sequence));
    std::fflush(stdout);
    // Taking over is re-opening for write: the bytes are already mapped, nothing is copied.
    auto writer = open_counter(s, true);
    ::signal(SIGTERM, [](int) { g_stop = 1; });
    return count(writer, "standby", t0);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: counter active|standby SOCKET\n");
        return 2;
    }
    ::signal(SIGTERM, [](int) { g_stop = 1; });
    std::string mode = argv[1];
    if (mode == "active") return active(argv[2]);
    if (mode == "standby") return standby(argv[2]);
    std::fprintf(stderr, "counter: unknown mode '%s'\n", argv[1]);
    return 2;
}
