// hotspare-kvstore with real processes: redis-cli against it (node-local ckptd); a restart after
// SIGKILL that serves the same table; and two nodes over DPDK memif where the active node (server
// and engine) is SIGKILLed while clients write, several times back and forth: every SET that was
// answered +OK is on the promoted standby with its value. States are asserted, never times.
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "resp_client.hpp"
#include "two_nodes.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

using namespace ckpt;
using namespace ckpt::testing;

namespace {

std::string kvstore_path() {
    const char* p = std::getenv("KVSTORE");
    return p ? p : "hotspare-kvstore";
}

/// A hotspare-kvstore process; its port is read from --port-file once it listens.
struct KvServer {
    std::unique_ptr<ChildProcess> proc;
    std::string port_file;
    int port = 0;

    bool start(const std::string& socket, const std::string& role, const std::string& ack,
               const std::string& checkpoint = "kv-test") {
        port_file = "/tmp/kvstore-test-" + std::to_string(::getpid()) + "-" + unique_name("p") + ".port";
        ::unlink(port_file.c_str());
        proc = std::make_unique<ChildProcess>(std::vector<std::string>{
            kvstore_path(), "--socket", socket, "--checkpoint", checkpoint, "--role", role, "--ack", ack, "--port", "0",
            "--port-file", port_file, "--capacity", "4096", "--value-max", "1200"});
        for (int i = 0; i < 3000 && proc->started(); ++i) {
            std::ifstream f(port_file);
            if (f >> port && port > 0) return true;
            ::usleep(10'000);
        }
        return false;
    }
    ~KvServer() {
        if (proc) proc->kill(SIGKILL);
        ::unlink(port_file.c_str());
    }
};

/// Output of `redis-cli -p PORT args...` (stdout; stderr too).
std::string redis_cli(int port, const std::string& args) {
    std::string cmd = "redis-cli -p " + std::to_string(port) + " " + args + " 2>&1";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
        ::pclose(f);
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

bool have_redis_cli() {
    return std::system("command -v redis-cli >/dev/null 2>&1") == 0;
}

TEST(KvStore, RedisCliTalksToIt) {
    if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed (apt-get install redis-tools)";
    EngineProcess e("kv-cli");
    ASSERT_TRUE(e.start()) << e.log();
    KvServer kv;
    ASSERT_TRUE(kv.start(e.socket(), "active", "sync")) << e.log();
    const int p = kv.port;
    EXPECT_EQ(redis_cli(p, "PING"), "PONG");
    EXPECT_EQ(redis_cli(p, "SET user:1 alice"), "OK");
    EXPECT_EQ(redis_cli(p, "SET user:2 bob"), "OK");
    EXPECT_EQ(redis_cli(p, "GET user:1"), "alice");
    EXPECT_EQ(redis_cli(p, "SET user:1 alice2"), "OK"); // in place
    EXPECT_EQ(redis_cli(p, "GET user:1"), "alice2");
    EXPECT_EQ(redis_cli(p, "MGET user:1 nobody user:2"), "alice2\n\nbob");
    EXPECT_EQ(redis_cli(p, "EXISTS user:1 user:2 nobody"), "2");
    EXPECT_EQ(redis_cli(p, "DBSIZE"), "2");
    EXPECT_EQ(redis_cli(p, "DEL user:2 nobody"), "1");
    EXPECT_EQ(redis_cli(p, "GET user:2"), "");
    EXPECT_EQ(redis_cli(p, "EXISTS user:2"), "0");
    EXPECT_NE(redis_cli(p, "INCR counter").find("ERR unknown command 'INCR'"), std::string::npos);
    EXPECT_NE(redis_cli(p, "SET k v EX 10").find("not supported"), std::string::npos);
    EXPECT_NE(redis_cli(p, "GET").find("wrong number of arguments"), std::string::npos);
    const std::string info = redis_cli(p, "INFO");
    EXPECT_NE(info.find("redis_version:"), std::string::npos) << info;
    EXPECT_NE(info.find("hotspare_checkpoint:kv-test"), std::string::npos) << info;
    EXPECT_NE(info.find("db0:keys=1"), std::string::npos) << info;
    // A value longer than the table's value-max is refused, not truncated.
    EXPECT_NE(redis_cli(p, "SET big " + std::string(1300, 'x')).find("value-max"), std::string::npos);
    // Many keys, then deletes (tombstones, then a rebuild of the index) and a re-insert.
    resp::Client c;
    ASSERT_TRUE(c.connect("127.0.0.1", p));
    for (int i = 0; i < 3000; ++i) {
        auto r = c.call({"SET", "k" + std::to_string(i), "v" + std::to_string(i)});
        ASSERT_TRUE(r && r->type == resp::Reply::kSimple) << i;
    }
    for (int i = 0; i < 3000; i += 2) ASSERT_EQ(c.call({"DEL", "k" + std::to_string(i)})->num, 1) << i;
    for (int i = 0; i < 3000; ++i) {
        auto r = c.call({"GET", "k" + std::to_string(i)});
        ASSERT_TRUE(r);
        if (i % 2)
            ASSERT_EQ(r->str, "v" + std::to_string(i));
        else
            ASSERT_EQ(r->type, resp::Reply::kNil) << i;
    }
    // The table is full at 4096 keys: a clear error.
    int full_at = -1;
    for (int i = 0; i < 5000 && full_at < 0; ++i) {
        auto r = c.call({"SET", "f" + std::to_string(i), "x"});
        ASSERT_TRUE(r);
        if (r->type == resp::Reply::kError) {
            EXPECT_NE(r->str.find("OOM"), std::string::npos) << r->str;
            full_at = i;
        }
    }
    EXPECT_EQ(full_at, 4096 - 1 - 1500) << "user:1 and the 1500 odd keys hold slots";
}

TEST(KvStore, ARestartAfterSigkillServesTheSameTable) {
    EngineProcess e("kv-restart");
    ASSERT_TRUE(e.start()) << e.log();
    std::map<std::string, std::string> acked;
    {
        KvServer kv;
        ASSERT_TRUE(kv.start(e.socket(), "active", "async"));
        resp::Client c;
        ASSERT_TRUE(c.connect("127.0.0.1", kv.port));
        for (int i = 0; i < 500; ++i) {
            std::string k = "key" + std::to_string(i % 300), v = std::string(100 + i % 900, 'a' + i % 26);
            auto r = c.call({"SET", k, v});
            ASSERT_TRUE(r && r->ok());
            acked[k] = v;
        }
        kv.proc->kill(SIGKILL);
        kv.proc->wait();
    }
    KvServer kv2;
    ASSERT_TRUE(kv2.start(e.socket(), "active", "async")) << e.log();
    resp::Client c;
    ASSERT_TRUE(c.connect("127.0.0.1", kv2.port));
    for (auto& [k, v] : acked) {
        auto r = c.call({"GET", k});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->str, v) << k;
    }
    EXPECT_EQ(c.call({"DBSIZE"})->num, 300);
}

/// The version a writer put into a value ("v<version>:..."), -1 if none.
long version(const std::string& v) {
    if (v.size() < 2 || v[0] != 'v') return -1;
    return std::atol(v.c_str() + 1);
}

/// Writers: each of `n` threads SETs its own keys with increasing versions on whichever node
/// answers, and records what was acknowledged.
struct Writers {
    std::mutex mu;
    std::map<std::string, std::string> acked; ///< key -> value last answered +OK
    std::atomic<int> target_port{0};
    std::atomic<bool> stop{false};
    std::atomic<long> oks{0}, failures{0};
    std::vector<std::thread> threads;

    void start(int n) {
        for (int t = 0; t < n; ++t)
            threads.emplace_back([this, t] {
                resp::Client c;
                int port = 0;
                for (long i = 0; !stop; ++i) {
                    if (port != target_port || !c.connected()) {
                        port = target_port;
                        if (!c.connect("127.0.0.1", port, 5)) {
                            ::usleep(5'000);
                            continue;
                        }
                    }
                    std::string k = "w" + std::to_string(t) + ":" + std::to_string(i % 97);
                    std::string v = "v" + std::to_string(i) + ":" + std::string(static_cast<std::size_t>(i % 700), 'z');
                    auto r = c.call({"SET", k, v});
                    if (r && r->type == resp::Reply::kSimple && r->str == "OK") {
                        std::lock_guard g(mu);
                        acked[k] = v;
                        ++oks;
                    } else {
                        ++failures; // refused (a standby), cut by the kill: not acknowledged
                        if (!r) c.close();
                        ::usleep(2'000);
                    }
                }
            });
    }
    void join() {
        stop = true;
        for (auto& t : threads) t.join();
        threads.clear();
    }
    ~Writers() { join(); }
};

/// Sync commits do not stop the server: a write's reply waits (with what follows it on its
/// connection) until the standby applied its commit, while other clients are served; a write the
/// standby cannot acknowledge is answered -NOREPL, never +OK.
TEST(KvStoreFailover, WriteRepliesWaitForTheStandbyWhileOtherClientsAreServed) {
    // A long peer timeout: the SET below stays unanswered for seconds, not for a race's length.
    TwoNodes n("kv-hold", {"peer_timeout_ms = 3000"});
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    KvServer act, stb;
    ASSERT_TRUE(act.start(n.a->socket(), "active", "sync")) << n.a->log();
    ASSERT_TRUE(stb.start(n.b->socket(), "standby", "sync")) << n.b->log();
    ASSERT_TRUE(eventually([&] {
        resp::Client c;
        return c.connect("127.0.0.1", act.port) &&
               c.call({"INFO", "replication"}).value_or(resp::Reply{}).str.find("hotspare_replicas:1") !=
                   std::string::npos;
    })) << n.a->log();

    // Pipelined commands on one connection: answered in the order sent, reads seeing the writes
    // before them.
    resp::Client p;
    ASSERT_TRUE(p.connect("127.0.0.1", act.port));
    for (int round = 0; round < 50; ++round) {
        const std::string r = std::to_string(round);
        ASSERT_TRUE(p.send({"SET", "p1", "one" + r}) && p.send({"GET", "p1"}) && p.send({"SET", "p2", "two" + r}) &&
                    p.send({"DEL", "p3"}) && p.send({"GET", "p2"}) && p.send({"PING"}));
        auto a = p.receive(), b = p.receive(), c = p.receive(), d = p.receive(), e = p.receive(), f = p.receive();
        ASSERT_TRUE(a && b && c && d && e && f);
        EXPECT_EQ(a->str, "OK");
        EXPECT_EQ(b->str, "one" + r);
        EXPECT_EQ(c->str, "OK");
        EXPECT_EQ(d->num, 0);
        EXPECT_EQ(e->str, "two" + r);
        EXPECT_EQ(f->str, "PONG");
    }
    resp::Client standby_view;
    ASSERT_TRUE(standby_view.connect("127.0.0.1", stb.port));
    EXPECT_EQ(standby_view.call({"GET", "p2"}).value_or(resp::Reply{}).str, "two49") << "acknowledged, so applied";

    // The standby's engine freezes: the SET's reply must not be +OK; another client's reads are
    // answered meanwhile, and so is a PING pipelined by a third one.
    ASSERT_EQ(::kill(n.b->pid(), SIGSTOP), 0);
    resp::Client w, r;
    ASSERT_TRUE(w.connect("127.0.0.1", act.port) && r.connect("127.0.0.1", act.port));
    ASSERT_TRUE(w.send({"SET", "held", "x"}) && w.send({"GET", "held"}));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(r.call({"GET", "p1"}).value_or(resp::Reply{}).str, "one49");
    EXPECT_FALSE(w.reply_arrived()) << "the SET (or the GET after it) was answered with the standby frozen";
    auto held = w.receive(); // once the standby is declared down (peer_timeout_ms)
    ASSERT_TRUE(held);
    EXPECT_EQ(held->type, resp::Reply::kError) << held->str;
    EXPECT_NE(held->str.find("NOREPL"), std::string::npos) << held->str;
    EXPECT_EQ(w.receive().value_or(resp::Reply{}).str, "x") << "applied on this node, said so, then read";
    ASSERT_EQ(::kill(n.b->pid(), SIGCONT), 0);

    // The standby returns and resyncs: writes are acknowledged again, and it holds them.
    EXPECT_TRUE(eventually([&] {
        auto s = w.call({"SET", "back", "y"});
        return s && s->type == resp::Reply::kSimple;
    })) << n.a->log();
    EXPECT_TRUE(eventually([&] { return standby_view.call({"GET", "back"}).value_or(resp::Reply{}).str == "y"; }));
}

TEST(KvStoreFailover, NoAcknowledgedSetIsLostWhenTheActiveNodeIsSigkilled) {
    const int rounds = std::getenv("KVSTORE_FAILOVER_ROUNDS") ? std::atoi(std::getenv("KVSTORE_FAILOVER_ROUNDS")) : 4;
    TwoNodes n("kv-fail");
    ASSERT_TRUE(n.start()) << n.a->log() << n.b->log();
    EngineProcess* eng[2] = {n.a.get(), n.b.get()};
    auto srv = std::array<std::unique_ptr<KvServer>, 2>{std::make_unique<KvServer>(), std::make_unique<KvServer>()};
    ASSERT_TRUE(srv[0]->start(eng[0]->socket(), "active", "sync")) << eng[0]->log();
    ASSERT_TRUE(srv[1]->start(eng[1]->socket(), "standby", "sync")) << eng[1]->log();
    Writers w;
    w.target_port = srv[0]->port;
    w.start(3);
    int active = 0;
    for (int round = 0; round < rounds; ++round) {
        // Writes flow, and the standby follows.
        const long before = w.oks;
        ASSERT_TRUE(eventually([&] { return w.oks > before + 300; })) << "round " << round << ": writes stall\n"
                                                                      << eng[active]->log();
        // The active node dies: its server and its engine, SIGKILL, mid-stream.
        srv[active]->proc->kill(SIGKILL);
        eng[active]->kill_hard();
        srv[active]->proc->wait();
        const int next = 1 - active;
        // The cluster manager's part: promote the survivor's replica. Its server is told "active"
        // by a role event on the checkpoint's notify fd and serves writes.
        {
            ckpt::client::SessionOptions so;
            so.socket_path = eng[next]->socket();
            auto session = ckpt::client::Session::connect(so);
            ASSERT_TRUE(session) << session.message();
            ASSERT_TRUE(eventually([&] { return bool(session->promote("kv-test")); })) << eng[next]->log();
        }
        w.target_port = srv[next]->port;
        ASSERT_TRUE(eventually([&] {
            resp::Client c;
            if (!c.connect("127.0.0.1", srv[next]->port)) return false;
            auto r = c.call({"SET", "probe", std::to_string(round)});
            return r && r->type == resp::Reply::kSimple;
        })) << "round "
            << round << ": the standby did not take over\n"
            << eng[next]->log();
        // Every acknowledged SET is there: the writers keep going, so a key may hold a newer
        // acknowledged version than this snapshot of `acked`, never an older one.
        std::map<std::string, std::string> snapshot;
        {
            std::lock_guard g(w.mu);
            snapshot = w.acked;
        }
        ASSERT_GT(snapshot.size(), 0u);
        {
            resp::Client c;
            ASSERT_TRUE(c.connect("127.0.0.1", srv[next]->port));
            long lost = 0;
            for (auto& [k, v] : snapshot) {
                auto r = c.call({"GET", k});
                ASSERT_TRUE(r);
                if (r->type != resp::Reply::kBulk || version(r->str) < version(v)) ++lost;
            }
            EXPECT_EQ(lost, 0) << "round " << round << ": acknowledged SETs missing after the failover";
        }
        // The dead node comes back as the standby of the new active.
        if (active == 0) ::unlink(n.memif.c_str()); // the memif server makes a new socket
        ASSERT_TRUE(eng[active]->start()) << eng[active]->log();
        ASSERT_TRUE(n.linked());
        srv[active] = std::make_unique<KvServer>();
        ASSERT_TRUE(srv[active]->start(eng[active]->socket(), "standby", "sync")) << eng[active]->log();
        // Before the next kill, the new active counts it as a replica in sync: from then on a sync
        // commit returns only once it is applied there.
        ASSERT_TRUE(eventually([&] {
            resp::Client c;
            return c.connect("127.0.0.1", srv[next]->port) &&
                   c.call({"INFO", "replication"}).value_or(resp::Reply{}).str.find("hotspare_replicas:1") !=
                       std::string::npos;
        })) << "round "
            << round << ": the restarted node never became a replica\n"
            << eng[next]->log() << eng[active]->log();
        active = next;
    }
    w.join();
    // Final check: every acknowledged value is what the active serves, and what its standby holds.
    resp::Client c, s;
    ASSERT_TRUE(c.connect("127.0.0.1", srv[active]->port));
    // A SET whose reply never came (its connection cut by a kill) may hold a newer version than
    // the last acknowledged one: never an older one.
    long lost = 0;
    for (auto& [k, v] : w.acked) {
        auto r = c.call({"GET", k});
        ASSERT_TRUE(r);
        if (r->type != resp::Reply::kBulk || version(r->str) < version(v)) ++lost;
    }
    EXPECT_EQ(lost, 0) << "of " << w.acked.size() << " acknowledged keys";
    EXPECT_GT(w.oks.load(), 300L * rounds);
    ASSERT_TRUE(s.connect("127.0.0.1", srv[1 - active]->port));
    EXPECT_TRUE(eventually([&] {
        for (auto& [k, v] : w.acked) {
            auto r = s.call({"GET", k});
            auto a = c.call({"GET", k});
            if (!r || !a || r->str != a->str || version(r->str) < version(v)) return false;
        }
        return true;
    })) << "the standby does not hold what the active serves";
    auto ro = s.call({"SET", "x", "y"});
    ASSERT_TRUE(ro);
    EXPECT_EQ(ro->type, resp::Reply::kError);
    EXPECT_NE(ro->str.find("READONLY"), std::string::npos) << ro->str;
}

} // namespace
