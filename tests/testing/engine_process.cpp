#include "engine_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/net/frame_auth.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ckpt::testing {

std::string ckptd_path() {
    const char* p = std::getenv("CKPTD");
    return p ? p : "ckptd";
}

std::string unique_name(const std::string& base) {
    static std::atomic<int> n{0};
    return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

const std::string& test_key_file() {
    static const std::string path = [] {
        std::string p = "/tmp/hotspare-test-key-" + std::to_string(::getpid());
        ::unlink(p.c_str());
        net::ClusterKey k = net::generate_key(1);
        if (std::string e = net::write_key_file(p, k, false); !e.empty()) std::fprintf(stderr, "%s\n", e.c_str());
        net::wipe_key(k);
        std::atexit([] { ::unlink(("/tmp/hotspare-test-key-" + std::to_string(::getpid())).c_str()); });
        return p;
    }();
    return path;
}

EngineProcess::EngineProcess(const std::string& tag, std::vector<std::string> extra) {
    bool replicates = false, auth_given = false;
    for (const auto& l : extra) {
        if (l.rfind("transport", 0) == 0 && l.find("none") == std::string::npos) replicates = true;
        if (l.rfind("auth", 0) == 0 || l == "# no test key") auth_given = true;
    }
    if (replicates && !auth_given) extra.push_back("auth_key_file = " + test_key_file());
    std::string u = unique_name(tag);
    char tmpl[] = "/tmp/hotspare-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    socket_ = dir_ + "/ckptd.sock";
    prefix_ = "hst." + u + ".";
    state_dir_ = dir_ + "/state";
    config_ = dir_ + "/ckptd.conf";
    log_ = dir_ + "/ckptd.log";
    std::ofstream c(config_);
    c << "# written by EngineProcess\nnode_id = 1\nsocket = " << socket_ << "\nshm_prefix = " << prefix_
      << "\nstate_dir = " << state_dir_ << "\nreattach_grace_ms = 300\nscan_interval_ms = 50\n";
    for (auto& l : extra) c << l << "\n";
}

EngineProcess::~EngineProcess() {
    if (pid_ > 0) kill_hard();
    for (auto& n : shm_objects()) ::unlink(("/dev/shm/" + n).c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    // DPDK's runtime directory for the engine's default --file-prefix (hotspare-SHM_PREFIX): the
    // EAL leaves it behind, and one per test run would pile up.
    std::filesystem::remove_all("/var/run/dpdk/hotspare-" + prefix_, ec);
}

bool EngineProcess::start() {
    pid_ = ::fork();
    if (pid_ == 0) {
        // If the test process dies (a crash, a timeout's SIGKILL), its engine goes with it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<std::string> args = prefix_cmd_;
        for (std::string a : {ckptd_path(), std::string("--config"), config_}) args.push_back(a);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    // Up to 30 s: DPDK's start-up (EAL, 512 MiB of --no-huge memory to fault in) on a machine
    // loaded by a parallel build took more than the 5 s this once allowed.
    for (int i = 0; i < 3000; ++i) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        int s = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, socket_.c_str(), sizeof a.sun_path - 1);
        bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(s);
        if (ok) return true;
        ::usleep(10'000);
    }
    kill_hard();
    return false;
}

void EngineProcess::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void EngineProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

std::string EngineProcess::log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> EngineProcess::shm_objects() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n.rfind(prefix_, 0) == 0) out.push_back(n);
        }
        ::closedir(d);
    }
    return out;
}

} // namespace ckpt::testing
