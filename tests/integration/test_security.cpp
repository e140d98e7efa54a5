// Invariant 7, private by default: segments 0600 owned by the engine, the socket a filesystem
// path with permissions, clients authorised by SO_PEERCRED; and clear refusals of bad set-ups.
#include "child_process.hpp"
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace ckpt;
using namespace ckpt::client;
using ckpt::testing::ChildProcess;
using ckpt::testing::EngineProcess;

namespace {

constexpr uid_t kNobody = 65534;

CheckpointAttributes attrs() {
    CheckpointAttributes a;
    a.checkpoint_size = 16 * 1024;
    a.max_sections = 4;
    a.max_section_size = 4096;
    a.max_section_id_size = 16;
    return a;
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
}

/// Runs `fn` as uid/gid nobody in a child; returns its exit code (0 = all expectations held).
template <typename F>
int as_nobody(F fn) {
    pid_t p = ::fork();
    if (p == 0) {
        if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(90);
        ::_exit(fn());
    }
    int st = 0;
    ::waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

TEST(Security, SegmentsArePrivateToTheEngine) {
    EngineProcess engine("sec");
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->create("private", attrs());
    ASSERT_TRUE(ck.ok());
    for (const char* suffix : {".meta", ".data", ".shadow"}) {
        std::string path = "/dev/shm/" + engine.prefix() + "private" + suffix;
        EXPECT_EQ(mode_of(path), 0600u) << path;
        struct stat st {};
        ASSERT_EQ(::stat(path.c_str(), &st), 0);
        EXPECT_EQ(st.st_uid, ::geteuid());
    }
    EXPECT_EQ(mode_of("/dev/shm/" + engine.prefix() + "node"), 0600u);
    EXPECT_EQ(mode_of(engine.socket()), 0660u);
}

TEST(Security, SegmentModeIsConfigurableButShadowStaysPrivate) {
    EngineProcess engine("secmode", {"segment_mode = 0660"});
    ASSERT_TRUE(engine.start()) << engine.log();
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok());
    auto ck = s->create("shared", attrs());
    ASSERT_TRUE(ck.ok());
    EXPECT_EQ(mode_of("/dev/shm/" + engine.prefix() + "shared.meta"), 0640u) << "META is never group-writable";
    EXPECT_EQ(mode_of("/dev/shm/" + engine.prefix() + "shared.data"), 0660u);
    EXPECT_EQ(mode_of("/dev/shm/" + engine.prefix() + "shared.shadow"), 0600u);
}

TEST(Security, ClientOfAnotherUidIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid";
    EngineProcess engine("secuid", {"socket_mode = 0666"});
    ASSERT_TRUE(engine.start()) << engine.log();
    ::chmod(engine.dir().c_str(), 0711); // let nobody reach the socket itself
    int rc = as_nobody([&] {
        auto s = Session::connect({engine.socket()});
        if (s.ok()) return 1;
        if (s.error() != Error::kAccess) return 2;
        if (s.message().find("not authorised") == std::string::npos) return 3;
        if (s.message().find(std::to_string(kNobody)) == std::string::npos) return 4;
        return 0;
    });
    EXPECT_EQ(rc, 0) << "engine log:\n" << engine.log();
}

TEST(Security, SocketPermissionsRefuseOtherUsersFirst) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid";
    EngineProcess engine("secsock"); // socket 0660 root:root
    ASSERT_TRUE(engine.start()) << engine.log();
    ::chmod(engine.dir().c_str(), 0711);
    int rc = as_nobody([&] {
        auto s = Session::connect({engine.socket()});
        if (s.ok()) return 1;
        if (s.error() != Error::kAccess) return 2;
        if (s.message().find("no permission") == std::string::npos) return 3;
        return 0;
    });
    EXPECT_EQ(rc, 0);
}

TEST(Security, AllowedUidIsServed) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid";
    EngineProcess engine("secallow", {"socket_mode = 0666", "allow_uids = 65534"});
    ASSERT_TRUE(engine.start()) << engine.log();
    ::chmod(engine.dir().c_str(), 0711);
    int rc = as_nobody([&] {
        auto s = Session::connect({engine.socket()});
        if (!s.ok()) return 1;
        auto ck = s->create("nobodys", attrs());
        if (!ck.ok()) return 2;
        auto sec = ck->create_section({.id = "s", .initial = std::as_bytes(std::span("hi", 2))});
        return sec.ok() ? 0 : 3;
    });
    EXPECT_EQ(rc, 0) << engine.log();
}

TEST(Security, SecondEngineOnSameSocketIsRefused) {
    EngineProcess engine("secdup");
    ASSERT_TRUE(engine.start()) << engine.log();
    ChildProcess second({ckpt::testing::ckptd_path(), "--config", engine.config_path()});
    EXPECT_NE(second.wait(), 0);
    // Its message goes to stderr, which the child helper does not capture: run it once more via a shell.
    std::string cmd = "timeout 10 " + ckpt::testing::ckptd_path() + " --config " + engine.config_path() + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[512] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
    int status = ::pclose(p);
    EXPECT_NE(WEXITSTATUS(status), 0);
    EXPECT_NE(std::string(buf, n).find("another ckptd already serves"), std::string::npos) << buf;
    // The first one is unharmed.
    EXPECT_TRUE(Session::connect({engine.socket()}).ok());
}

TEST(Security, DaemonModeDetachesAndStopsOnSigterm) {
    EngineProcess engine("daemon"); // only for its unique paths; started by hand below
    const std::string pid_file = engine.dir() + "/ckptd.pid";
    std::string cmd = "timeout 10 " + ckpt::testing::ckptd_path() + " --config " + engine.config_path() +
                      " --daemon --set pid_file=" + pid_file + " --log-file " + engine.dir() + "/daemon.log";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "the foreground part of --daemon must exit 0";
    pid_t pid = 0;
    for (int i = 0; i < 500 && pid == 0; ++i) {
        std::ifstream in(pid_file);
        if (!(in >> pid)) {
            pid = 0;
            ::usleep(10'000);
        }
    }
    ASSERT_GT(pid, 0) << "no pid file";
    EXPECT_NE(::getsid(pid), ::getsid(0)) << "the daemon left our session (setsid)";
    EXPECT_NE(::getsid(pid), pid) << "double fork: not a session leader, so no controlling terminal";
    auto s = Session::connect({engine.socket()});
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    for (int i = 0; i < 500 && ::kill(pid, 0) == 0; ++i) ::usleep(10'000);
    EXPECT_NE(::kill(pid, 0), 0) << "the daemon did not stop on SIGTERM";
    EXPECT_FALSE(std::filesystem::exists(pid_file)) << "the pid file is removed at exit";
}

TEST(Security, BadConfigurationExitsWithItsLine) {
    char tmpl[] = "/tmp/hotspare-badconf-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    struct Case {
        std::string text, expect;
    } cases[] = {
        {"node_id = 1\nnode_id = abc\n", "ckptd.conf:2: node_id = 'abc'"},
        {"colour = blue\n", "ckptd.conf:1: unknown key 'colour'"},
        {"socket = relative.sock\n", "socket path must be absolute"},
        {"segment_mode = 0644\n", "ckptd.conf:1: segment_mode"},
        {"segment_mode = 0666\n", "never bits for others"},
        {"just words\n", "expected 'key = value'"},
    };
    for (auto& c : cases) {
        std::string conf = dir + "/ckptd.conf";
        std::ofstream(conf) << c.text;
        std::string cmd = "timeout 10 " + ckpt::testing::ckptd_path() + " --config " + conf + " 2>&1";
        FILE* p = ::popen(cmd.c_str(), "r");
        char buf[512] = {};
        std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
        int status = ::pclose(p);
        EXPECT_EQ(WEXITSTATUS(status), 2) << c.text;
        EXPECT_NE(std::string(buf, n).find(c.expect), std::string::npos) << "got: " << buf;
    }
    std::string cmd = "timeout 10 " + ckpt::testing::ckptd_path() + " --config " + dir + "/missing.conf 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[512] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
    EXPECT_EQ(WEXITSTATUS(::pclose(p)), 2);
    EXPECT_NE(std::string(buf, n).find("cannot read configuration file"), std::string::npos) << buf;
    std::filesystem::remove_all(dir);
}

} // namespace
