#include "engine_pair.hpp"

#include "children.hpp"

#include <unistd.h>

#include <fstream>

namespace ckpt::bench {

using ckpt::testing::EngineProcess;
using namespace ckpt::client;

EnginePair::EnginePair(PairConfig cfg, Results& res) : cfg_(std::move(cfg)), res_(res) {}

EnginePair::~EnginePair() {
    sa_.reset();
    sb_.reset();
    if (a_) copy_log(*a_, "a"), a_->stop();
    if (b_) copy_log(*b_, "b"), b_->stop();
    a_.reset();
    b_.reset();
    if (!memif_.empty()) ::unlink(memif_.c_str());
}

std::string EnginePair::name() const {
    return cfg_.transport + "." + (cfg_.busy ? "busy" : "default");
}

bool EnginePair::start() {
    static int n = 0;
    const std::string tag = "bench-" + std::to_string(n++);
    std::vector<std::string> ca = common(), cb = common();
    const std::string cpu_a = std::to_string(cfg_.cpu_a), cpu_b = std::to_string(cfg_.cpu_b);
    if (cfg_.transport == "none") {
        // One node-local engine on A's CPU: the local part of a commit round trip alone.
        a_ = std::make_unique<EngineProcess>(tag + "-a", ca);
        a_->set_prefix_command({"taskset", "-c", cpu_a});
        if (!a_->start()) return failed("engine A did not start", *a_);
        auto sa = Session::connect({a_->socket(), std::chrono::seconds(10), false});
        if (!sa) return failed("no session with the engine");
        sa_.emplace(std::move(*sa));
        return true;
    }
    if (cfg_.transport == "memif") {
        memif_ = "/tmp/hotspare-" + tag + "-" + std::to_string(::getpid()) + ".sock";
        ::unlink(memif_.c_str());
        for (auto* c : {&ca, &cb}) c->push_back("memif_socket = " + memif_);
        ca.insert(ca.end(), {"memif_role = server", "dpdk_lcores = " + cpu_a, "peers = 2"});
        cb.insert(cb.end(), {"memif_role = client", "dpdk_lcores = " + cpu_b, "peers = 1"});
    } else if (cfg_.transport == "af_packet") {
        if (!cfg_.veth) return failed("no veth pair");
        const auto& v = *cfg_.veth;
        ca.insert(ca.end(), {"af_packet_iface = " + v.dev1(), "ip = " + v.ip1(), "peers = 2@" + v.ip2(),
                             "dpdk_lcores = " + cpu_a});
        cb.insert(cb.end(), {"af_packet_iface = " + v.dev2(), "ip = " + v.ip2(), "peers = 1@" + v.ip1(),
                             "dpdk_lcores = " + cpu_b});
    } else {
        // Ports 40000..59999 by pid and pair (the raw UDP baseline uses 20000..39999).
        const int pa = 40000 + (::getpid() * 8 + n * 2) % 20000, pb = pa + 1;
        ca.insert(ca.end(),
                  {"ip = 127.0.0.1", "udp_port = " + std::to_string(pa), "peers = 2@127.0.0.1:" + std::to_string(pb)});
        cb.insert(cb.end(),
                  {"ip = 127.0.0.1", "udp_port = " + std::to_string(pb), "peers = 1@127.0.0.1:" + std::to_string(pa)});
    }
    ca.push_back("node_id = 1");
    cb.push_back("node_id = 2");
    a_ = std::make_unique<EngineProcess>(tag + "-a", ca);
    b_ = std::make_unique<EngineProcess>(tag + "-b", cb);
    if (cfg_.transport == "af_packet") { // ip netns exec and taskset exec: the pid stays ckptd's
        a_->set_prefix_command({cfg_.ip_cmd, "netns", "exec", cfg_.veth->ns1(), "taskset", "-c", cpu_a});
        b_->set_prefix_command({cfg_.ip_cmd, "netns", "exec", cfg_.veth->ns2(), "taskset", "-c", cpu_b});
    } else {
        a_->set_prefix_command({"taskset", "-c", cpu_a});
        b_->set_prefix_command({"taskset", "-c", cpu_b});
    }
    if (!a_->start()) return failed("engine A did not start", *a_);
    if (!b_->start()) return failed("engine B did not start", *b_);
    if (!peer_up(a_->socket(), 2) || !peer_up(b_->socket(), 1)) return failed("the engines never saw each other");
    auto sa = Session::connect({a_->socket(), std::chrono::seconds(10), false});
    auto sb = Session::connect({b_->socket(), std::chrono::seconds(10), false});
    if (!sa || !sb) return failed("no session with the engines");
    sa_.emplace(std::move(*sa));
    sb_.emplace(std::move(*sb));
    return true;
}

bool EnginePair::restart_b() {
    if (!b_) return failed("no engine B to restart");
    sb_.reset();
    if (!b_->start()) return failed("engine B did not restart", *b_);
    if (!peer_up(a_->socket(), 2) || !peer_up(b_->socket(), 1)) return failed("the engines never saw each other");
    auto sb = Session::connect({b_->socket(), std::chrono::seconds(10), false});
    if (!sb) return failed("no session with the restarted engine B");
    sb_.emplace(std::move(*sb));
    return true;
}

bool EnginePair::wait_replica(const std::string& name, Checkpoint& on_a, Checkpoint& on_b,
                              std::chrono::milliseconds timeout) {
    if (!sb_) return true;
    const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(timeout.count()) * 1'000'000;
    bool have_b = false;
    while (now_ns() < end && !g_stop) {
        if (!have_b)
            if (auto rb = sb_->open(name, kOpenRead)) on_b = std::move(*rb), have_b = true;
        if (have_b && on_a.replication().replicas >= 1 && on_a.replication().lag_commits == 0) return true;
        ::usleep(10'000);
    }
    return failed(have_b ? "the standby's replica of '" + name + "' never caught up"
                         : "the standby never held a replica of '" + name + "'");
}

std::optional<EnginePair::Counters> EnginePair::counters() {
    if (!sb_) return Counters{}; // node-local: nothing crosses a wire
    auto a = sa_->peers();
    auto b = sb_->peers();
    if (!a || !b) return std::nullopt;
    return Counters{*a, *b};
}

std::vector<std::string> EnginePair::common() const {
    std::vector<std::string> c = {"transport = " + cfg_.transport, "scan_interval_ms = 200"};
    if (cfg_.busy) c.push_back("idle_spin_us = " + std::to_string(kBusySpinUs));
    for (const auto& kv : cfg_.engine_set) {
        const auto eq = kv.find('=');
        c.push_back(eq == std::string::npos ? kv : kv.substr(0, eq) + " = " + kv.substr(eq + 1));
    }
    return c;
}

bool EnginePair::peer_up(const std::string& socket, std::uint16_t peer) {
    for (int i = 0; i < 2000 && !g_stop; ++i) {
        if (auto s = Session::connect({socket, std::chrono::seconds(2), false}))
            if (auto l = s->peers())
                for (auto& p : l->peers)
                    if (p.node_id == peer && p.state == "up") return true;
        ::usleep(10'000);
    }
    return false;
}

void EnginePair::copy_log(const EngineProcess& e, const char* which) {
    if (cfg_.log_dir.empty()) return;
    std::ofstream(cfg_.log_dir + "/" + name() + "-" + which + ".log", std::ios::app) << e.log();
}

bool EnginePair::failed(const std::string& what, const EngineProcess& e) {
    return failed(what + ":\n" + e.log());
}

bool EnginePair::failed(const std::string& what) {
    if (!g_stop) res_.error(name() + ": " + what);
    return false;
}

} // namespace ckpt::bench
