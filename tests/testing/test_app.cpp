// ckpt_test_app: the application side of multi-process tests, exec'd and SIGKILLed by them.
//
//   ckpt_test_app writer  SOCKET CKPT SECTION [sync|async] [DWELL_US]
//                                                            fill the section with u64 words = i, commit,
//                                                            print "i" after each commit (forever); with
//                                                            DWELL_US, pause that long half-way through
//                                                            each fill (a torn state sits in memory)
//   ckpt_test_app reader  SOCKET CKPT SECTION                check every consistent read is uniform and
//                                                            never goes backwards; on SIGTERM print
//                                                            "reads=N" and exit 0, exit 1 on a torn read
//   ckpt_test_app holder  SOCKET CKPT [w]                    open (read, or write with 'w'), print "open", sleep
//   ckpt_test_app midtx   SOCKET CKPT SECTION                open a write transaction, scribble, print "inside", sleep
//   ckpt_test_app load    SOCKET CKPT SECTIONS COUNT         COUNT sync commits round-robin over SECTIONS sections
//                                                            ("s0".."sN"), print "section value" after each ack
//   ckpt_test_app midgroup SOCKET CKPT SECTIONS STOP_AFTER   a write group over "s0".."sN" (each filled with
//                                                            0xEE), committed sync; after STOP_AFTER members
//                                                            are published, print "published N" and wait for
//                                                            a line on stdin ("go": publish the rest, print
//                                                            "committed" or the error; EOF: sleep forever)
#include "ckpt/client/session.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::client;

namespace {

volatile sig_atomic_t g_stop = 0;

[[noreturn]] void die(const char* what, const Failure& f) {
    std::fprintf(stderr, "ckpt_test_app: %s: %s (%s)\n", what, f.message.c_str(),
                 std::string(error_name(f.code)).c_str());
    std::exit(3);
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) die(what, r.failure());
    return std::move(r).value();
}

Session connect(const char* socket) {
    return must(Session::connect({socket}), "connect");
}

int writer(int argc, char** argv) {
    if (argc < 5) return 2;
    Ack ack = argc > 5 && std::strcmp(argv[5], "sync") == 0 ? Ack::kSync : Ack::kAsync;
    const useconds_t dwell = argc > 6 ? static_cast<useconds_t>(std::atoi(argv[6])) : 0;
    auto s = connect(argv[2]);
    auto ck = must(s.open(argv[3], kOpenRead | kOpenWrite), "open");
    auto sec = must(ck.section(std::string_view(argv[4])), "section");
    std::uint64_t i = 0;
    {
        auto first = sec.read_view([](std::span<const std::byte> b) {
            std::uint64_t v = 0;
            if (b.size() >= 8) std::memcpy(&v, b.data(), 8);
            return v;
        });
        i = must(std::move(first), "read");
    }
    for (;;) {
        ++i;
        auto tx = must(sec.write(), "write");
        auto words = tx.span(0, sec.capacity());
        auto* w = reinterpret_cast<std::uint64_t*>(words.data());
        const std::size_t n = sec.capacity() / 8;
        for (std::size_t k = 0; k < n / 2; ++k) w[k] = i;
        if (dwell) ::usleep(dwell);
        for (std::size_t k = n / 2; k < n; ++k) w[k] = i;
        must(tx.commit(ack), "commit");
        std::printf("%llu\n", static_cast<unsigned long long>(i));
        std::fflush(stdout);
    }
}

int reader(int argc, char** argv) {
    if (argc < 5) return 2;
    ::signal(SIGTERM, [](int) { g_stop = 1; });
    auto s = connect(argv[2]);
    auto ck = must(s.open(argv[3], kOpenRead), "open");
    auto sec = must(ck.section(std::string_view(argv[4])), "section");
    std::uint64_t reads = 0, last = 0;
    std::printf("ready\n");
    std::fflush(stdout);
    while (!g_stop) {
        struct Seen {
            bool uniform;
            std::uint64_t first, bad_index, bad_value;
        };
        auto r = sec.read_view([](std::span<const std::byte> b) {
            Seen s{true, 0, 0, 0};
            const auto* w = reinterpret_cast<const std::uint64_t*>(b.data());
            std::size_t n = b.size() / 8;
            if (n) s.first = w[0];
            for (std::size_t k = 1; k < n; ++k)
                if (w[k] != s.first) {
                    s = {false, s.first, k, w[k]};
                    break;
                }
            return s;
        });
        if (!r) {
            if (r.error() == Error::kTimeout || r.error() == Error::kTryAgain)
                continue; // writer dead, rollback pending
            die("read", r.failure());
        }
        ++reads;
        if (!r->uniform) {
            std::printf("TORN: word 0 = %llu, word %llu = %llu\n", static_cast<unsigned long long>(r->first),
                        static_cast<unsigned long long>(r->bad_index), static_cast<unsigned long long>(r->bad_value));
            return 1;
        }
        if (r->first < last) {
            std::printf("BACKWARDS: %llu after %llu\n", static_cast<unsigned long long>(r->first),
                        static_cast<unsigned long long>(last));
            return 1;
        }
        last = r->first;
    }
    std::printf("reads=%llu last=%llu\n", static_cast<unsigned long long>(reads),
                static_cast<unsigned long long>(last));
    return 0;
}

int holder(int argc, char** argv) {
    if (argc < 4) return 2;
    auto s = connect(argv[2]);
    std::uint32_t flags = kOpenRead | (argc > 4 && argv[4][0] == 'w' ? kOpenWrite : 0);
    auto ck = must(s.open(argv[3], flags), "open");
    std::printf("open\n");
    std::fflush(stdout);
    for (;;) ::pause();
}

int midtx(int argc, char** argv) {
    if (argc < 5) return 2;
    auto s = connect(argv[2]);
    auto ck = must(s.open(argv[3], kOpenRead | kOpenWrite), "open");
    auto sec = must(ck.section(std::string_view(argv[4])), "section");
    auto tx = must(sec.write(), "write");
    auto d = tx.span(0, sec.capacity());
    std::memset(d.data(), 0xEE, d.size());
    std::printf("inside\n");
    std::fflush(stdout);
    // Wait for a line on stdin: "commit" commits (after an engine restart, say); EOF sleeps forever.
    char line[64];
    if (std::fgets(line, sizeof line, stdin) && std::strncmp(line, "commit", 6) == 0) {
        auto r = tx.commit(Ack::kSync, std::chrono::milliseconds(10000));
        std::printf("%s\n", r ? "committed" : r.message().c_str());
        std::fflush(stdout);
        return r ? 0 : 1;
    }
    for (;;) ::pause();
}

std::size_t g_stop_after = 0; // midgroup: members published before the writer stops

int midgroup(int argc, char** argv) {
    if (argc < 6) return 2;
    auto s = connect(argv[2]);
    auto ck = must(s.open(argv[3], kOpenRead | kOpenWrite), "open");
    const int sections = std::atoi(argv[4]);
    g_stop_after = static_cast<std::size_t>(std::atoi(argv[5]));
    std::vector<Section> secs;
    for (int k = 0; k < sections; ++k) secs.push_back(must(ck.section("s" + std::to_string(k)), "section"));
    auto txs = must(ck.write_group(secs), "write_group");
    for (auto& tx : txs) {
        auto d = tx.span(0, tx.capacity());
        std::memset(d.data(), 0xEE, d.size());
    }
    auto r = commit_group(txs, Ack::kSync, std::chrono::milliseconds(20000));
    std::printf("%s\n", r ? "committed" : r.message().c_str());
    std::fflush(stdout);
    return r ? 0 : 1;
}

} // namespace

// The library's test seam (section.cpp): called after each member of a write group is published.
extern "C" void hotspare_test_group_member_published(std::size_t published, std::size_t members) {
    if (g_stop_after == 0 || published != g_stop_after || published == members) return;
    std::printf("published %zu\n", published);
    std::fflush(stdout);
    char line[64];
    if (std::fgets(line, sizeof line, stdin) && std::strncmp(line, "go", 2) == 0) return;
    for (;;) ::pause();
}

namespace {

int load(int argc, char** argv) {
    if (argc < 6) return 2;
    auto s = connect(argv[2]);
    auto ck = must(s.open(argv[3], kOpenRead | kOpenWrite), "open");
    int sections = std::atoi(argv[4]);
    long count = std::atol(argv[5]);
    std::vector<Section> secs;
    for (int k = 0; k < sections; ++k) secs.push_back(must(ck.section("s" + std::to_string(k)), "section"));
    for (long i = 1; i <= count; ++i) {
        Section& sec = secs[static_cast<std::size_t>(i % sections)];
        std::uint64_t v = static_cast<std::uint64_t>(i);
        auto r = sec.write(0, std::as_bytes(std::span(&v, 1)), Ack::kSync);
        if (!r) die("sync commit", r.failure());
        std::printf("%ld %llu\n", i % sections, static_cast<unsigned long long>(v));
        std::fflush(stdout);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    std::string mode = argv[1];
    if (mode == "writer") return writer(argc, argv);
    if (mode == "reader") return reader(argc, argv);
    if (mode == "holder") return holder(argc, argv);
    if (mode == "midtx") return midtx(argc, argv);
    if (mode == "load") return load(argc, argv);
    if (mode == "midgroup") return midgroup(argc, argv);
    return 2;
}
