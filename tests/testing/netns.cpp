#include "netns.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace ckpt::testing {

namespace {

constexpr const char* kTable = "netdev hs";

/// A chain name for `dev` and a hook: nft identifiers take [A-Za-z0-9_] safely, device names more.
std::string chain(const std::string& dev, bool ingress) {
    std::string c = ingress ? "in_" : "out_";
    for (char ch : dev) c += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    return c;
}

std::vector<bool> hooks(Hook h) {
    if (h == Hook::kIngress) return {true};
    if (h == Hook::kEgress) return {false};
    return {true, false};
}

bool nft(const std::string& ns, const std::string& command, std::string* error) {
    std::string out;
    // nft joins its arguments into one command line: one argument keeps the braces intact.
    const int rc = run_in(ns, {"nft", command}, &out);
    if (rc != 0 && error) *error = "nft " + command + " (in " + ns + "): exit " + std::to_string(rc) + ": " + out;
    return rc == 0;
}

bool add_rule(const std::string& ns, const std::string& dev, const std::string& rule, Hook h, std::string* error) {
    if (!nft(ns, std::string("add table ") + kTable, error)) return false;
    for (bool in : hooks(h)) {
        const std::string c = chain(dev, in);
        // "add" is idempotent for tables and chains: a second rule joins the same chain.
        if (!nft(ns,
                 std::string("add chain ") + kTable + " " + c + " { type filter hook " + (in ? "ingress" : "egress") +
                     " device " + dev + " priority 0; }",
                 error))
            return false;
        if (!nft(ns, std::string("add rule ") + kTable + " " + c + " " + rule, error)) return false;
    }
    return true;
}

bool pid_alive(long pid) {
    return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH);
}

/// Namespaces named hs-<pid>-... whose process is gone: left by a run that was killed (a test
/// timeout's SIGKILL skips destructors). Deleting them also deletes their veths and rules.
void remove_stale() {
    std::string list;
    if (run({"ip", "netns", "list"}, &list) != 0) return;
    std::istringstream in(list);
    std::string line;
    while (std::getline(in, line)) {
        const std::string name = line.substr(0, line.find(' '));
        if (name.rfind("hs-", 0) != 0) continue;
        const long pid = std::strtol(name.c_str() + 3, nullptr, 10);
        if (!pid_alive(pid)) run({"ip", "netns", "del", name});
    }
}

} // namespace

int run(const std::vector<std::string>& argv, std::string* output) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pipefd[0]);
        ::close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> in_netns(const std::string& ns) {
    return {"ip", "netns", "exec", ns};
}

int run_in(const std::string& ns, const std::vector<std::string>& argv, std::string* output) {
    auto full = in_netns(ns);
    full.insert(full.end(), argv.begin(), argv.end());
    return run(full, output);
}

std::string netns_unavailable() {
    if (::geteuid() != 0) return "needs root (network namespaces, veth, nftables)";
    std::string out;
    if (run({"ip", "-V"}, &out) != 0) return "needs iproute2 (ip): scripts/install-deps.sh";
    if (run({"nft", "--version"}, &out) != 0) return "needs nftables (nft): scripts/install-deps.sh";
    return {};
}

VethPair::VethPair(const std::string& ip1, const std::string& ip2) : ip1_(ip1), ip2_(ip2) {
    static std::atomic<int> counter{0};
    remove_stale();
    const std::string pid = std::to_string(::getpid()), n = std::to_string(counter++);
    ns1_ = "hs-" + pid + "-" + n + "-1";
    ns2_ = "hs-" + pid + "-" + n + "-2";
    dev1_ = "hs" + pid + "_" + n + "a"; // at most 15 characters (IFNAMSIZ)
    dev2_ = "hs" + pid + "_" + n + "b";
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "netns", "add", ns1_},
        {"ip", "netns", "add", ns2_},
        {"ip", "link", "add", dev1_, "type", "veth", "peer", "name", dev2_},
        {"ip", "link", "set", dev1_, "netns", ns1_},
        {"ip", "link", "set", dev2_, "netns", ns2_},
        {"ip", "-n", ns1_, "addr", "add", ip1_ + "/24", "dev", dev1_},
        {"ip", "-n", ns2_, "addr", "add", ip2_ + "/24", "dev", dev2_},
        {"ip", "-n", ns1_, "link", "set", "lo", "up"},
        {"ip", "-n", ns2_, "link", "set", "lo", "up"},
        {"ip", "-n", ns1_, "link", "set", dev1_, "up"},
        {"ip", "-n", ns2_, "link", "set", dev2_, "up"},
    };
    for (const auto& s : steps) {
        std::string out;
        if (run(s, &out) != 0) {
            std::string cmd;
            for (const auto& a : s) cmd += a + " ";
            error_ = cmd + ": " + out;
            run({"ip", "link", "del", dev1_}); // if it never moved into its namespace
            return;
        }
    }
}

VethPair::~VethPair() {
    run({"ip", "netns", "del", ns1_});
    run({"ip", "netns", "del", ns2_});
}

bool block_udp(const std::string& ns, const std::string& dev, std::uint16_t port, Hook hook, std::string* error) {
    return add_rule(ns, dev, "udp dport " + std::to_string(port) + " counter drop", hook, error);
}

bool drop_pct(const std::string& ns, const std::string& dev, unsigned pct, Hook hook, std::string* error) {
    return add_rule(ns, dev, "numgen random mod 100 < " + std::to_string(pct) + " counter drop", hook, error);
}

bool drop_matching(const std::string& ns, const std::string& dev, const std::string& match, Hook hook,
                   std::string* error) {
    return add_rule(ns, dev, match + " counter drop", hook, error);
}

bool unblock(const std::string& ns, const std::string& dev, std::string* error) {
    bool ok = true;
    for (bool in : {true, false}) {
        const std::string c = chain(dev, in);
        std::string out;
        if (run_in(ns, {"nft", std::string("list chain ") + kTable + " " + c}, &out) != 0) continue; // none
        // A chain must be empty before it can be deleted.
        ok = nft(ns, std::string("flush chain ") + kTable + " " + c, error) && ok;
        ok = nft(ns, std::string("delete chain ") + kTable + " " + c, error) && ok;
    }
    return ok;
}

std::uint64_t dropped(const std::string& ns, const std::string& dev, Hook hook) {
    std::uint64_t total = 0;
    for (bool in : hooks(hook)) {
        std::string out;
        if (run_in(ns, {"nft", std::string("list chain ") + kTable + " " + chain(dev, in)}, &out) != 0) continue;
        for (std::size_t at = 0; (at = out.find("counter packets ", at)) != std::string::npos;) {
            at += 16;
            total += std::strtoull(out.c_str() + at, nullptr, 10);
        }
    }
    return total;
}

} // namespace ckpt::testing
