// The memif link's RX wake-up (net-dpdk memif_wake.hpp), two ends in one process over a temporary
// directory: a sender wakes a sleeping peer and only a sleeping one, a stale socket of a previous
// run is replaced, a peer that left costs nothing but a count, and files that are not ours are
// refused with a clear error (the engine then polls in slices).
#include "ckpt/net/memif_wake.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

using ckpt::net::MemifWake;

namespace {

class MemifWakeTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/hotspare-wake-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        sock_ = dir_ + "/memif.sock";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    static bool readable(int fd, int timeout_ms) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
    }
    std::string dir_, sock_;
};

TEST_F(MemifWakeTest, ASenderWakesItsPeerOnlyWhileThePeerSleeps) {
    auto server = MemifWake::open(sock_, true);
    ASSERT_TRUE(server.ok()) << server.message();
    auto client = MemifWake::open(sock_, false);
    ASSERT_TRUE(client.ok()) << client.message();
    // Awake: a burst costs a fence and a load, nothing is sent.
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 0u);
    EXPECT_FALSE(readable(client->fd(), 0));
    // Asleep: the next burst wakes it.
    client->sleeping(true);
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 1u);
    EXPECT_TRUE(readable(client->fd(), 5000));
    // Awake again: the pending wake-ups are read, and nothing more comes.
    client->sleeping(false);
    EXPECT_FALSE(readable(client->fd(), 0));
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 1u);
    // Both ways: the client wakes the server the same way.
    server->sleeping(true);
    client->notify_peer();
    EXPECT_TRUE(readable(server->fd(), 5000));
    EXPECT_EQ(client->wakes_sent(), 1u);
    EXPECT_EQ(server->wakes_failed() + client->wakes_failed(), 0u);
}

TEST_F(MemifWakeTest, APeerKilledAsleepCostsACountAndItsNextRunStartsClean) {
    auto server = MemifWake::open(sock_, true);
    ASSERT_TRUE(server.ok()) << server.message();
    // The client engine goes to sleep and is killed there: no destructor runs, so its word stays
    // set and its socket file stays behind with nobody bound to it.
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto client = MemifWake::open(sock_, false);
        if (!client.ok()) ::_exit(2);
        client->sleeping(true);
        ::kill(::getpid(), SIGKILL);
        ::_exit(3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child did not reach its sleep";
    ASSERT_TRUE(std::filesystem::exists(sock_ + ".wake-client"));
    // A wake-up to it fails and is counted; the sender goes on.
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 0u);
    EXPECT_EQ(server->wakes_failed(), 1u);
    // Its next run binds over the stale socket and starts awake: nothing is sent to it ...
    auto again = MemifWake::open(sock_, false);
    ASSERT_TRUE(again.ok()) << again.message();
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 0u);
    EXPECT_EQ(server->wakes_failed(), 1u);
    // ... until it sleeps.
    again->sleeping(true);
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent(), 1u);
    EXPECT_TRUE(readable(again->fd(), 5000));
}

TEST_F(MemifWakeTest, AnEngineThatLeavesClearsItsWordAndItsSocket) {
    auto server = MemifWake::open(sock_, true);
    ASSERT_TRUE(server.ok());
    {
        auto client = MemifWake::open(sock_, false);
        ASSERT_TRUE(client.ok());
        client->sleeping(true);
        MemifWake moved = std::move(*client); // the moved-from end owns nothing
    }
    EXPECT_FALSE(std::filesystem::exists(sock_ + ".wake-client"));
    server->notify_peer();
    EXPECT_EQ(server->wakes_sent() + server->wakes_failed(), 0u) << "a sleeping word outlived its engine";
}

TEST_F(MemifWakeTest, FilesThatAreNotOursAreRefusedWithWhy) {
    // A symlink where the flags file goes (someone else's file behind it) is never followed.
    ASSERT_EQ(::symlink("/etc/passwd", (sock_ + ".wake").c_str()), 0);
    auto w = MemifWake::open(sock_, true);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.message().find(sock_ + ".wake"), std::string::npos) << w.message();
    ::unlink((sock_ + ".wake").c_str());
    // A flags file others can read or write.
    {
        const int fd = ::open((sock_ + ".wake").c_str(), O_CREAT | O_WRONLY, 0644);
        ASSERT_GE(fd, 0);
        ::fchmod(fd, 0666);
        ::close(fd);
    }
    w = MemifWake::open(sock_, true);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.message().find("mode 0600"), std::string::npos) << w.message();
    ::unlink((sock_ + ".wake").c_str());
    // A regular file where our socket goes is not ours to remove.
    {
        const int fd = ::open((sock_ + ".wake-server").c_str(), O_CREAT | O_WRONLY, 0600);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }
    w = MemifWake::open(sock_, true);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.message().find("another kind"), std::string::npos) << w.message();
    EXPECT_TRUE(std::filesystem::exists(sock_ + ".wake-server")) << "a file that is not a socket was removed";
    // A socket path longer than a unix address holds.
    w = MemifWake::open(dir_ + "/" + std::string(120, 'x'), true);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.message().find("path longer"), std::string::npos) << w.message();
}

} // namespace
