// The SA Forum C API (libSaCkpt) against a real ckptd: each of the 24 functions, and each return
// code the specification lists for it that a test can provoke (docs/SA_COMPATIBILITY.md lists the
// ones only a broken library or an out-of-memory host returns: LIBRARY, NO_MEMORY).
#include "sa_test.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <set>

using namespace sa_test;

namespace {

constexpr SaCkptHandleT kBogus = 0x1234567890ULL;

bool same(const SaCkptCheckpointCreationAttributesT& x, const SaCkptCheckpointCreationAttributesT& y) {
    return x.creationFlags == y.creationFlags && x.checkpointSize == y.checkpointSize &&
           x.retentionDuration == y.retentionDuration && x.maxSections == y.maxSections &&
           x.maxSectionSize == y.maxSectionSize && x.maxSectionIdSize == y.maxSectionIdSize;
}

// ==========================================================================================
// ABI
// ==========================================================================================

TEST(SaAbi, StructLayoutsAndConstantsMatchThePublishedHeaders) {
    static_assert(sizeof(SaNameT) == 258 && offsetof(SaNameT, value) == 2);
    static_assert(sizeof(SaVersionT) == 3);
    static_assert(sizeof(SaCkptCheckpointCreationAttributesT) == 48);
    static_assert(offsetof(SaCkptCheckpointCreationAttributesT, checkpointSize) == 8);
    static_assert(offsetof(SaCkptCheckpointCreationAttributesT, retentionDuration) == 16);
    static_assert(offsetof(SaCkptCheckpointCreationAttributesT, maxSections) == 24);
    static_assert(offsetof(SaCkptCheckpointCreationAttributesT, maxSectionSize) == 32);
    static_assert(offsetof(SaCkptCheckpointCreationAttributesT, maxSectionIdSize) == 40);
    static_assert(sizeof(SaCkptSectionIdT) == 16 && offsetof(SaCkptSectionIdT, id) == 8);
    static_assert(sizeof(SaCkptSectionCreationAttributesT) == 16);
    static_assert(sizeof(SaCkptSectionDescriptorT) == 48);
    static_assert(offsetof(SaCkptSectionDescriptorT, expirationTime) == 16);
    static_assert(offsetof(SaCkptSectionDescriptorT, sectionSize) == 24);
    static_assert(offsetof(SaCkptSectionDescriptorT, sectionState) == 32);
    static_assert(offsetof(SaCkptSectionDescriptorT, lastUpdate) == 40);
    static_assert(sizeof(SaCkptIOVectorElementT) == 48);
    static_assert(offsetof(SaCkptIOVectorElementT, dataBuffer) == 16);
    static_assert(offsetof(SaCkptIOVectorElementT, dataSize) == 24);
    static_assert(offsetof(SaCkptIOVectorElementT, dataOffset) == 32);
    static_assert(offsetof(SaCkptIOVectorElementT, readSize) == 40);
    static_assert(sizeof(SaCkptCheckpointDescriptorT) == 64 && offsetof(SaCkptCheckpointDescriptorT, memoryUsed) == 56);
    static_assert(sizeof(SaCkptCallbacksT) == 16);
    static_assert(sizeof(SaAisErrorT) == 4 && sizeof(SaDispatchFlagsT) == 4 && sizeof(SaTimeT) == 8);
    EXPECT_EQ(SA_AIS_OK, 1);
    EXPECT_EQ(SA_AIS_ERR_NO_SECTIONS, 27);
    EXPECT_EQ(SA_AIS_ERR_UNAVAILABLE, 31);
    EXPECT_EQ(SA_AIS_ERR_DEPLOYMENT, 40);
    EXPECT_EQ(SA_TIME_END, 0x7FFFFFFFFFFFFFFFLL);
    EXPECT_EQ(static_cast<unsigned long long>(SA_TIME_UNKNOWN), 0x8000000000000000ULL);
    EXPECT_EQ(SA_TIME_ONE_DAY, 86400000000000LL);
    EXPECT_EQ(SA_CKPT_CHECKPOINT_COLLOCATED, 0x8);
    EXPECT_EQ(SA_CKPT_SECTIONS_ANY, 5);
    SaCkptSectionIdT d = SA_CKPT_DEFAULT_SECTION_ID;
    EXPECT_EQ(d.idLen, 0);
    EXPECT_EQ(d.id, nullptr);
}

// ==========================================================================================
// 1 saCkptInitialize
// ==========================================================================================

class Initialize : public SaTest {};

TEST_F(Initialize, OkForB01AndB02WritesTheImplementedVersionBack) {
    for (SaVersionT want :
         {SaVersionT{'B', 1, 1}, SaVersionT{'B', 2, 2}, SaVersionT{'B', 2, 0}, SaVersionT{'B', 1, 0}}) {
        SaVersionT v = want;
        SaCkptHandleT h2 = 0;
        ASSERT_EQ(saCkptInitialize(&h2, nullptr, &v), SA_AIS_OK) << hsCkptLastErrorText();
        EXPECT_EQ(v.releaseCode, 'B');
        EXPECT_EQ(v.majorVersion, 2);
        EXPECT_EQ(v.minorVersion, 2);
        EXPECT_NE(h2, h);
        EXPECT_EQ(saCkptFinalize(h2), SA_AIS_OK);
    }
}

TEST_F(Initialize, VersionErrorReturnsTheClosestSupportedVersion) {
    for (SaVersionT want : {SaVersionT{'A', 1, 1}, SaVersionT{'B', 3, 1}, SaVersionT{'C', 1, 1}}) {
        SaVersionT v = want;
        SaCkptHandleT h2 = 0;
        EXPECT_EQ(saCkptInitialize(&h2, nullptr, &v), SA_AIS_ERR_VERSION);
        EXPECT_EQ(v.releaseCode, 'B');
        EXPECT_EQ(v.majorVersion, 2);
        EXPECT_EQ(v.minorVersion, 2);
    }
}

TEST_F(Initialize, InvalidParam) {
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT h2;
    EXPECT_EQ(saCkptInitialize(nullptr, nullptr, &v), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptInitialize(&h2, nullptr, nullptr), SA_AIS_ERR_INVALID_PARAM);
}

TEST_F(Initialize, TryAgainWithoutAnEngine) {
    ::setenv("CKPT_SOCKET", (engine.dir() + "/nobody.sock").c_str(), 1);
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT h2;
    EXPECT_EQ(saCkptInitialize(&h2, nullptr, &v), SA_AIS_ERR_TRY_AGAIN);
    EXPECT_NE(std::string(hsCkptLastErrorText()).find("nobody.sock"), std::string::npos) << hsCkptLastErrorText();
}

TEST_F(Initialize, NoResourcesWhenOutOfDescriptors) {
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    int highest = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (::fcntl(fd, F_GETFD) != -1) highest = fd;
    rlimit low = old;
    low.rlim_cur = highest + 1;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> filler; // every free descriptor below the limit taken: none left
    for (int fd; (fd = ::dup(0)) >= 0;) filler.push_back(fd);
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT h2;
    const SaAisErrorT rc = saCkptInitialize(&h2, nullptr, &v);
    for (int fd : filler) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &old);
    EXPECT_EQ(rc, SA_AIS_ERR_NO_RESOURCES) << hsCkptLastErrorText();
}

TEST_F(Initialize, TimeoutWhenTheEngineNeverAnswers) {
    // A socket that accepts connections into its backlog and never answers HELLO.
    const std::string path = engine.dir() + "/mute.sock";
    int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(s, 4), 0);
    ::setenv("CKPT_SOCKET", path.c_str(), 1);
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT h2;
    EXPECT_EQ(saCkptInitialize(&h2, nullptr, &v), SA_AIS_ERR_TIMEOUT);
    ::close(s);
}

// ==========================================================================================
// 2 saCkptSelectionObjectGet, 3 saCkptDispatch, 4 saCkptFinalize
// ==========================================================================================

class Lifecycle : public SaTest {};

TEST_F(Lifecycle, SelectionObject) {
    SaSelectionObjectT fd = 0;
    EXPECT_EQ(saCkptSelectionObjectGet(h, &fd), SA_AIS_OK);
    EXPECT_EQ(fd, sel);
    EXPECT_GE(::fcntl(static_cast<int>(fd), F_GETFD), 0); // a real descriptor
    EXPECT_FALSE(readable(fd));                           // nothing to dispatch yet
    EXPECT_EQ(saCkptSelectionObjectGet(h, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSelectionObjectGet(kBogus, &fd), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Lifecycle, SelectionObjectIsReadableExactlyWhenDispatchHasWork) {
    auto c = create("sel");
    for (SaInvocationT i = 1; i <= 3; ++i) ASSERT_EQ(saCkptCheckpointSynchronizeAsync(c, i), SA_AIS_OK);
    // Readable once the first completion is queued, and stays so until the last one is dispatched.
    ASSERT_TRUE(readable(sel, 5000));
    for (int i = 0; i < 300 && synced().size() < 3; ++i) {
        ASSERT_TRUE(readable(sel, 5000));
        ASSERT_EQ(saCkptDispatch(h, SA_DISPATCH_ONE), SA_AIS_OK);
    }
    EXPECT_EQ(synced().size(), 3u);
    EXPECT_FALSE(readable(sel, 50));                          // nothing left: not readable
    EXPECT_EQ(saCkptDispatch(h, SA_DISPATCH_ONE), SA_AIS_OK); // nothing pending is fine
    EXPECT_EQ(synced().size(), 3u);
}

TEST_F(Lifecycle, DispatchOneRunsOneAllRunsEveryPendingCallbackOnTheCallingThread) {
    auto c = create("disp");
    ASSERT_EQ(saCkptCheckpointSynchronizeAsync(c, 7), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronizeAsync(c, 8), SA_AIS_OK);
    ASSERT_TRUE(readable(sel, 5000));
    EXPECT_EQ(saCkptDispatch(h, SA_DISPATCH_ONE), SA_AIS_OK);
    EXPECT_EQ(synced().size(), 1u); // ONE ran exactly one, whatever else was queued
    ASSERT_TRUE(dispatch_until([] { return synced().size() == 2; }));
    std::set<SaInvocationT> inv{synced()[0].invocation, synced()[1].invocation};
    EXPECT_EQ(inv, (std::set<SaInvocationT>{7, 8}));
    for (auto& d : synced()) {
        EXPECT_EQ(d.thread, std::this_thread::get_id());
        EXPECT_EQ(d.error, SA_AIS_OK);
    }
}

TEST_F(Lifecycle, DispatchBlockingRunsCallbacksUntilFinalize) {
    auto c = create("block");
    std::thread::id tid;
    std::atomic<bool> returned{false};
    SaAisErrorT rc = SA_AIS_ERR_LIBRARY;
    std::thread t([&] {
        tid = std::this_thread::get_id();
        rc = saCkptDispatch(h, SA_DISPATCH_BLOCKING);
        returned = true;
    });
    ASSERT_EQ(saCkptCheckpointSynchronizeAsync(c, 42), SA_AIS_OK);
    for (int i = 0; i < 1000 && sync_count() == 0; ++i) ::usleep(5000);
    ASSERT_EQ(sync_count(), 1u);
    EXPECT_EQ(synced()[0].thread, tid); // on the dispatching thread
    EXPECT_FALSE(returned.load());
    ASSERT_EQ(saCkptFinalize(h), SA_AIS_OK);
    t.join();
    EXPECT_EQ(rc, SA_AIS_OK);
    h = 0;
}

TEST_F(Lifecycle, DispatchErrors) {
    EXPECT_EQ(saCkptDispatch(h, static_cast<SaDispatchFlagsT>(0)), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptDispatch(h, static_cast<SaDispatchFlagsT>(4)), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptDispatch(kBogus, SA_DISPATCH_ALL), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Lifecycle, FinalizeClosesEverythingAndHandlesGoBad) {
    auto c = create("fin");
    ASSERT_EQ(add_section(c, "s"), SA_AIS_OK);
    SaCkptSectionIterationHandleT it;
    ASSERT_EQ(saCkptSectionIterationInitialize(c, SA_CKPT_SECTIONS_ANY, 0, &it), SA_AIS_OK);
    EXPECT_EQ(saCkptFinalize(h), SA_AIS_OK);
    EXPECT_EQ(saCkptFinalize(h), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptDispatch(h, SA_DISPATCH_ALL), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptSelectionObjectGet(h, &sel), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(write(c, "s", "x"), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptCheckpointClose(c), SA_AIS_ERR_BAD_HANDLE);
    SaCkptSectionDescriptorT d;
    EXPECT_EQ(saCkptSectionIterationNext(it, &d), SA_AIS_ERR_BAD_HANDLE);
    // The engine saw the close: retention 0 deleted the checkpoint.
    EXPECT_TRUE(ckpt::testing::eventually([&] {
        auto r = session->open("fin", ckpt::kOpenRead);
        return !r.ok() && r.error() == ckpt::Error::kNotExist;
    }));
    h = 0;
    EXPECT_EQ(saCkptFinalize(kBogus), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Lifecycle, HandlesAreThreadSafeAndBadEverywhereAfterClose) {
    auto c = create("threads");
    ASSERT_EQ(add_section(c, "a", "0"), SA_AIS_OK);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0}, ok{0}, other{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t)
        ts.emplace_back([&, t] {
            char buf[8] = "1";
            for (unsigned n = 0; !stop; ++n) {
                // Reads, and in one thread writes too: both find the handle in their thread's cache.
                SaCkptIOVectorElementT e{sid("a"), buf, t == 0 && n % 2 ? 1u : sizeof buf, 0, 0};
                SaAisErrorT rc = t == 0 && n % 2 ? saCkptCheckpointWrite(c, &e, 1, nullptr)
                                                 : saCkptCheckpointRead(c, &e, 1, nullptr);
                (rc == SA_AIS_OK ? ok : rc == SA_AIS_ERR_BAD_HANDLE ? bad : other)++;
                if (rc == SA_AIS_ERR_BAD_HANDLE) return;
            }
        });
    for (int i = 0; i < 5000 && ok.load() < 100; ++i) ::usleep(1000);
    EXPECT_GE(ok.load(), 100) << "other " << other.load() << " " << hsCkptLastErrorText();
    EXPECT_EQ(saCkptCheckpointClose(c), SA_AIS_OK);
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad.load(), 3);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(read(c, "a"), "error 9");
}

TEST_F(Lifecycle, ThreadsWriteTheirSectionsThroughOneHandle) {
    auto c = create("mt");
    const char* ids[] = {"t0", "t1", "t2", "t3"};
    for (const char* id : ids) ASSERT_EQ(add_section(c, id, "0"), SA_AIS_OK);
    std::atomic<int> failures{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&, t] {
            for (int i = 1; i <= 300; ++i) {
                const std::string v = std::to_string(i);
                SaCkptIOVectorElementT e{sid(ids[t]), const_cast<char*>(v.data()), v.size(), 0, 0};
                if (saCkptCheckpointWrite(c, &e, 1, nullptr) != SA_AIS_OK) ++failures;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(failures.load(), 0);
    for (const char* id : ids) EXPECT_EQ(read(c, id), "300");
}

// ==========================================================================================
// 5 saCkptCheckpointOpen, 6 saCkptCheckpointOpenAsync, 7 Close, 8 Unlink
// ==========================================================================================

class Open : public SaTest {};

TEST_F(Open, CreateThenReopenWithAndWithoutAttributes) {
    auto a = attrs();
    auto c1 = create("reopen", a);
    ASSERT_NE(c1, 0u);
    auto c2 = create("reopen", a); // same attributes: opens it
    EXPECT_NE(c1, c2);
    SaCkptCheckpointHandleT c3;
    EXPECT_EQ(open("reopen", SA_CKPT_CHECKPOINT_READ, c3), SA_AIS_OK);
    ASSERT_EQ(add_section(c1, "s", "hello"), SA_AIS_OK);
    EXPECT_EQ(read(c3, "s"), "hello");
    for (auto c : {c1, c2, c3}) EXPECT_EQ(saCkptCheckpointClose(c), SA_AIS_OK);
}

TEST_F(Open, SaNamesOfAnyContentUpTo256Bytes) {
    auto c1 = create("safCkpt=csa103Ckpt,safApp=safCkptService");
    ASSERT_EQ(add_section(c1, "s", "one"), SA_AIS_OK);
    std::string long1(256, '\0'), long2(256, '\0');
    for (int i = 0; i < 256; ++i) long1[i] = long2[i] = static_cast<char>(i); // every byte value, NUL too
    long2[255] = 'x';
    auto c2 = create(long1);
    auto c3 = create(long2);
    ASSERT_EQ(add_section(c2, "s", "two"), SA_AIS_OK);
    ASSERT_EQ(add_section(c3, "s", "three"), SA_AIS_OK);
    SaCkptCheckpointHandleT r1, r2;
    ASSERT_EQ(open("safCkpt=csa103Ckpt,safApp=safCkptService", SA_CKPT_CHECKPOINT_READ, r1), SA_AIS_OK);
    ASSERT_EQ(open(long1, SA_CKPT_CHECKPOINT_READ, r2), SA_AIS_OK);
    EXPECT_EQ(read(r1, "s"), "one");
    EXPECT_EQ(read(r2, "s"), "two");
    EXPECT_EQ(read(c3, "s"), "three");
    SaNameT bad = name("x");
    bad.length = 257;
    SaCkptCheckpointHandleT c;
    auto a = attrs();
    EXPECT_EQ(saCkptCheckpointOpen(h, &bad, &a, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    bad.length = 0;
    EXPECT_EQ(saCkptCheckpointOpen(h, &bad, &a, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
}

TEST_F(Open, InvalidParam) {
    SaNameT n = name("inv");
    auto a = attrs();
    SaCkptCheckpointHandleT c;
    // the three cases the spec names
    auto big = a;
    big.checkpointSize = big.maxSections * big.maxSectionSize + 1;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &big, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kRW, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, nullptr, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    // and the rest
    EXPECT_EQ(saCkptCheckpointOpen(h, nullptr, &a, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, kTimeout, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, -1, &c), SA_AIS_ERR_INVALID_PARAM);
    auto flags = a;
    flags.creationFlags = SA_CKPT_WR_ALL_REPLICAS | SA_CKPT_WR_ACTIVE_REPLICA;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &flags, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    auto zero = a;
    zero.maxSections = 0;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &zero, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
    auto neg = a;
    neg.retentionDuration = -1;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &neg, kCreate, kTimeout, &c), SA_AIS_ERR_INVALID_PARAM);
}

TEST_F(Open, BadFlagsNotExistExistBadHandleNoResources) {
    SaNameT n = name("codes");
    auto a = attrs();
    SaCkptCheckpointHandleT c;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, nullptr, 0, kTimeout, &c), SA_AIS_ERR_BAD_FLAGS);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, nullptr, SA_CKPT_CHECKPOINT_READ | 0x8, kTimeout, &c), SA_AIS_ERR_BAD_FLAGS);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, SA_CKPT_CHECKPOINT_CREATE, kTimeout, &c), SA_AIS_ERR_BAD_FLAGS);
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, nullptr, kRW, kTimeout, &c), SA_AIS_ERR_NOT_EXIST);
    ASSERT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, kTimeout, &c), SA_AIS_OK);
    auto other = a;
    other.retentionDuration = SA_TIME_ONE_SECOND;
    SaCkptCheckpointHandleT c2;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &other, kCreate, kTimeout, &c2), SA_AIS_ERR_EXIST);
    other = a;
    other.checkpointSize -= 1; // only checkpointSize differs: still another checkpoint
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &other, kCreate, kTimeout, &c2), SA_AIS_ERR_EXIST);
    EXPECT_EQ(saCkptCheckpointOpen(kBogus, &n, &a, kCreate, kTimeout, &c2), SA_AIS_ERR_BAD_HANDLE);
    auto huge = attrs(SA_CKPT_WR_ACTIVE_REPLICA, 1u << 20, SaSizeT{1} << 30); // 1 Mi sections of 1 GiB
    huge.checkpointSize = 1;
    SaNameT n2 = name("huge");
    EXPECT_EQ(saCkptCheckpointOpen(h, &n2, &huge, kCreate, kTimeout, &c2), SA_AIS_ERR_NO_RESOURCES);
}

TEST_F(Open, TimeoutWhileTheEngineIsFrozen) {
    SaNameT n = name("frozen");
    auto a = attrs();
    SaCkptCheckpointHandleT c = 0;
    ASSERT_EQ(::kill(engine.pid(), SIGSTOP), 0);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, 100 * SA_TIME_ONE_MILLISECOND, &c), SA_AIS_ERR_TIMEOUT);
    const auto took = std::chrono::steady_clock::now() - t0;
    ::kill(engine.pid(), SIGCONT);
    EXPECT_LT(took, std::chrono::seconds(3));
    // The open may complete after its caller gave up: the library closes that late handle.
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, kTimeout, &c), SA_AIS_OK);
}

TEST_F(Open, TryAgainWhenTheEngineIsGone) {
    auto c = create("gone");
    engine.kill_hard();
    SaNameT n = name("gone2");
    auto a = attrs();
    SaCkptCheckpointHandleT c2;
    EXPECT_EQ(saCkptCheckpointOpen(h, &n, &a, kCreate, SA_TIME_END, &c2), SA_AIS_ERR_TRY_AGAIN);
    (void)c;
}

TEST_F(Open, AsyncCompletesThroughDispatch) {
    SaNameT n = name("async");
    auto a = attrs();
    ASSERT_EQ(saCkptCheckpointOpenAsync(h, 11, &n, &a, kCreate), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointOpenAsync(h, 12, &n, nullptr, SA_CKPT_CHECKPOINT_READ), SA_AIS_OK);
    SaNameT missing = name("missing");
    ASSERT_EQ(saCkptCheckpointOpenAsync(h, 13, &missing, nullptr, SA_CKPT_CHECKPOINT_READ), SA_AIS_OK);
    ASSERT_TRUE(dispatch_until([] { return opened().size() == 3; }));
    std::map<SaInvocationT, Done> by;
    for (auto& d : opened()) by[d.invocation] = d;
    EXPECT_TRUE(by[11].error == SA_AIS_OK || by[11].error == SA_AIS_OK);
    EXPECT_EQ(by[13].error, SA_AIS_ERR_NOT_EXIST);
    for (SaInvocationT i : {11, 12}) {
        if (by[i].error != SA_AIS_OK) continue; // 12 may race 11's create: NOT_EXIST then
        EXPECT_EQ(add_section(by[i].ckpt, "s" + std::to_string(i)), i == 11 ? SA_AIS_OK : SA_AIS_ERR_ACCESS);
        EXPECT_EQ(saCkptCheckpointClose(by[i].ckpt), SA_AIS_OK);
    }
    EXPECT_EQ(by[11].error, SA_AIS_OK);
    for (auto& d : opened()) EXPECT_EQ(d.thread, std::this_thread::get_id());
}

TEST_F(Open, AsyncErrors) {
    SaNameT n = name("asyncerr");
    auto a = attrs();
    EXPECT_EQ(saCkptCheckpointOpenAsync(kBogus, 1, &n, &a, kCreate), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptCheckpointOpenAsync(h, 1, &n, &a, 0), SA_AIS_ERR_BAD_FLAGS);
    EXPECT_EQ(saCkptCheckpointOpenAsync(h, 1, &n, nullptr, kCreate), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointOpenAsync(h, 1, nullptr, &a, kCreate), SA_AIS_ERR_INVALID_PARAM);
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT nocb;
    ASSERT_EQ(saCkptInitialize(&nocb, nullptr, &v), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointOpenAsync(nocb, 1, &n, &a, kCreate), SA_AIS_ERR_INIT);
    EXPECT_EQ(saCkptFinalize(nocb), SA_AIS_OK);
    // EXIST arrives in the callback.
    auto c = create("asyncerr");
    auto other = a;
    other.maxSections = 32;
    ASSERT_EQ(saCkptCheckpointOpenAsync(h, 5, &n, &other, kCreate), SA_AIS_OK);
    ASSERT_TRUE(dispatch_until([] { return opened().size() == 1; }));
    EXPECT_EQ(opened()[0].error, SA_AIS_ERR_EXIST);
    (void)c;
}

TEST_F(Open, CloseAndUnlink) {
    auto c = create("cl");
    EXPECT_EQ(saCkptCheckpointClose(c), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointClose(c), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptCheckpointClose(kBogus), SA_AIS_ERR_BAD_HANDLE);
    auto a = attrs();
    a.retentionDuration = SA_TIME_END; // kept after the last close until unlinked
    auto k = create("kept", a);
    ASSERT_EQ(add_section(k, "s", "data"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointClose(k), SA_AIS_OK);
    SaCkptCheckpointHandleT again;
    ASSERT_EQ(open("kept", SA_CKPT_CHECKPOINT_READ, again), SA_AIS_OK);
    EXPECT_EQ(read(again, "s"), "data");
    SaNameT n = name("kept");
    EXPECT_EQ(saCkptCheckpointUnlink(h, &n), SA_AIS_OK);
    EXPECT_EQ(read(again, "s"), "data"); // still open: still readable
    EXPECT_EQ(open("kept", SA_CKPT_CHECKPOINT_READ, again), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptCheckpointUnlink(h, &n), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptCheckpointUnlink(h, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointUnlink(kBogus, &n), SA_AIS_ERR_BAD_HANDLE);
}

// ==========================================================================================
// 9 RetentionDurationSet, 10 ActiveReplicaSet, 11 StatusGet
// ==========================================================================================

class Manage : public SaTest {};

TEST_F(Manage, RetentionDurationSet) {
    auto a = attrs();
    a.retentionDuration = 0;
    auto c = create("ret", a);
    ASSERT_EQ(add_section(c, "s", "kept"), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(c, SA_TIME_END), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointClose(c), SA_AIS_OK);
    ::usleep(300'000);
    SaCkptCheckpointHandleT r;
    ASSERT_EQ(open("ret", kRW, r), SA_AIS_OK) << "the retention set kept it after the last close";
    EXPECT_EQ(read(r, "s"), "kept");
    // The creation attributes still match what it was created with.
    SaCkptCheckpointHandleT r2 = create("ret", a);
    EXPECT_NE(r2, 0u);
    EXPECT_EQ(saCkptCheckpointClose(r2), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(r, 0), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(r, -5), SA_AIS_ERR_INVALID_PARAM);
    ASSERT_EQ(saCkptCheckpointClose(r), SA_AIS_OK);
    EXPECT_TRUE(ckpt::testing::eventually([&] {
        SaCkptCheckpointHandleT x;
        return open("ret", kRW, x) == SA_AIS_ERR_NOT_EXIST;
    }));
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(r, 0), SA_AIS_ERR_BAD_HANDLE);
    auto u = create("unl");
    SaNameT n = name("unl");
    ASSERT_EQ(saCkptCheckpointUnlink(h, &n), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(u, 0), SA_AIS_ERR_BAD_OPERATION);
}

TEST_F(Manage, ActiveReplicaSet) {
    auto col = create("col", attrs(SA_CKPT_WR_ACTIVE_REPLICA | SA_CKPT_CHECKPOINT_COLLOCATED));
    EXPECT_EQ(saCkptActiveReplicaSet(col), SA_AIS_OK); // node-local: this replica is the active one
    ASSERT_EQ(add_section(col, "s", "x"), SA_AIS_OK);
    EXPECT_EQ(write(col, "s", "y"), SA_AIS_OK);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("col", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptActiveReplicaSet(ro), SA_AIS_ERR_ACCESS);
    auto notcol = create("notcol", attrs(SA_CKPT_WR_ACTIVE_REPLICA));
    EXPECT_EQ(saCkptActiveReplicaSet(notcol), SA_AIS_ERR_BAD_OPERATION);
    auto sync = create("synccol", attrs(SA_CKPT_WR_ALL_REPLICAS | SA_CKPT_CHECKPOINT_COLLOCATED));
    EXPECT_EQ(saCkptActiveReplicaSet(sync), SA_AIS_ERR_BAD_OPERATION);
    EXPECT_EQ(saCkptActiveReplicaSet(kBogus), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Manage, StatusGetReportsTheCreationAttributesAndTheBytesSectionsHold) {
    // csa103's checkpoint: 4 bytes, 2 sections of at most 4 bytes. Both sections fit.
    SaCkptCheckpointCreationAttributesT a{
        SA_CKPT_WR_ACTIVE_REPLICA_WEAK | SA_CKPT_CHECKPOINT_COLLOCATED, 4, SA_TIME_ONE_SECOND, 2, 4, 64};
    auto c = create("status", a);
    ASSERT_EQ(add_section(c, "one", "ab"), SA_AIS_OK);
    ASSERT_EQ(add_section(c, "two", "c"), SA_AIS_OK);
    EXPECT_EQ(add_section(c, "three", "a"), SA_AIS_ERR_NO_SPACE); // maxSections
    SaCkptCheckpointDescriptorT d;
    ASSERT_EQ(saCkptCheckpointStatusGet(c, &d), SA_AIS_OK);
    EXPECT_TRUE(same(d.checkpointCreationAttributes, a));
    EXPECT_EQ(d.numberOfSections, 2u);
    EXPECT_EQ(d.memoryUsed, 3u);
    // Another opener without attributes sees the same.
    SaCkptCheckpointHandleT r;
    ASSERT_EQ(open("status", SA_CKPT_CHECKPOINT_READ, r), SA_AIS_OK);
    SaCkptCheckpointDescriptorT d2;
    ASSERT_EQ(saCkptCheckpointStatusGet(r, &d2), SA_AIS_OK);
    EXPECT_TRUE(same(d2.checkpointCreationAttributes, a));
    EXPECT_EQ(saCkptCheckpointStatusGet(c, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointStatusGet(kBogus, &d), SA_AIS_ERR_BAD_HANDLE);
}

// checkpointSize is the net size: the bytes the sections hold. ckptd counts it (kFlagNetSize):
// section creation past it is NO_SPACE, a write or overwrite that would grow past it is
// NO_RESOURCES (the code saCkptCheckpointWrite and saCkptSectionOverwrite list) and changes nothing.
TEST_F(Manage, CheckpointSizeCountsTheBytesSectionsHold) {
    SaCkptCheckpointCreationAttributesT a{SA_CKPT_WR_ACTIVE_REPLICA, 4, 0, 3, 4, 8};
    auto c = create("netsize", a);
    ASSERT_EQ(add_section(c, "a", "abc"), SA_AIS_OK);
    EXPECT_EQ(add_section(c, "b", "xy"), SA_AIS_ERR_NO_SPACE) << hsCkptLastErrorText(); // 3 + 2 > 4
    ASSERT_EQ(add_section(c, "b", "x"), SA_AIS_OK);                                     // 3 + 1 = 4
    ASSERT_EQ(add_section(c, "c"), SA_AIS_OK);                                          // empty: 4
    // Growing "c" by one byte would make 5.
    EXPECT_EQ(write(c, "c", "z"), SA_AIS_ERR_NO_RESOURCES) << hsCkptLastErrorText();
    EXPECT_NE(std::string(hsCkptLastErrorText()).find("checkpoint_size 4"), std::string::npos) << hsCkptLastErrorText();
    SaCkptSectionIdT cid = sid("c");
    EXPECT_EQ(saCkptSectionOverwrite(c, &cid, "z", 1), SA_AIS_ERR_NO_RESOURCES);
    EXPECT_EQ(read(c, "c"), "");
    EXPECT_EQ(read(c, "a"), "abc");
    // Rewriting within the size held is fine; shrinking "a" makes room for "c".
    ASSERT_EQ(write(c, "a", "ABC"), SA_AIS_OK) << hsCkptLastErrorText();
    SaCkptSectionIdT aid = sid("a");
    ASSERT_EQ(saCkptSectionOverwrite(c, &aid, "A", 1), SA_AIS_OK) << hsCkptLastErrorText();
    ASSERT_EQ(saCkptSectionOverwrite(c, &cid, "zz", 2), SA_AIS_OK) << hsCkptLastErrorText(); // 1 + 1 + 2
    EXPECT_EQ(read(c, "c"), "zz");
    // StatusGet reads the directory ckptd keeps, which has every commit once Synchronize returns.
    ASSERT_EQ(saCkptCheckpointSynchronize(c, kTimeout), SA_AIS_OK);
    SaCkptCheckpointDescriptorT d;
    ASSERT_EQ(saCkptCheckpointStatusGet(c, &d), SA_AIS_OK);
    EXPECT_EQ(d.memoryUsed, 4u);
    EXPECT_EQ(d.checkpointCreationAttributes.checkpointSize, 4u);
    // A deleted section's bytes are free again.
    SaCkptSectionIdT bid = sid("b");
    ASSERT_EQ(saCkptSectionDelete(c, &bid), SA_AIS_OK);
    ASSERT_EQ(write(c, "a", "AB"), SA_AIS_OK) << hsCkptLastErrorText();
    // maxSectionSize above checkpointSize is allowed (the spec bounds only checkpointSize).
    SaCkptCheckpointCreationAttributesT big{SA_CKPT_WR_ACTIVE_REPLICA, 4, 0, 2, 100, 8};
    auto c2 = create("netsize-big-sections", big);
    ASSERT_EQ(add_section(c2, "s", "four"), SA_AIS_OK);
    EXPECT_EQ(write(c2, "s", "five!"), SA_AIS_ERR_NO_RESOURCES);
}

// ==========================================================================================
// 12-18 sections and iteration
// ==========================================================================================

class Sections : public SaTest {};

TEST_F(Sections, CreateWithIdsOfAnyBytesAndGeneratedIds) {
    auto c = create("sc");
    std::string bin("\0\x01\xff id", 6);
    ASSERT_EQ(add_section(c, bin, "bin"), SA_AIS_OK);
    EXPECT_EQ(read(c, bin), "bin");
    SaCkptSectionIdT gen = SA_CKPT_GENERATED_SECTION_ID;
    SaCkptSectionCreationAttributesT sc{&gen, SA_TIME_END};
    ASSERT_EQ(saCkptSectionCreate(c, &sc, "g", 1), SA_AIS_OK);
    ASSERT_NE(gen.id, nullptr);
    ASSERT_GT(gen.idLen, 0);
    std::string gid(reinterpret_cast<char*>(gen.id), gen.idLen);
    EXPECT_EQ(read(c, gid), "g");
    EXPECT_EQ(saCkptSectionIdFree(c, gen.id), SA_AIS_OK);
    EXPECT_EQ(saCkptSectionIdFree(c, gen.id), SA_AIS_ERR_INVALID_PARAM); // freed already
}

TEST_F(Sections, CreateErrors) {
    auto c = create("scerr", attrs(SA_CKPT_WR_ACTIVE_REPLICA, 2, 16));
    ASSERT_EQ(add_section(c, "a"), SA_AIS_OK);
    EXPECT_EQ(add_section(c, "a"), SA_AIS_ERR_EXIST);
    ASSERT_EQ(add_section(c, "b"), SA_AIS_OK);
    EXPECT_EQ(add_section(c, "c"), SA_AIS_ERR_NO_SPACE);
    EXPECT_EQ(add_section(c, std::string(33, 'x')), SA_AIS_ERR_INVALID_PARAM); // longer than maxSectionIdSize
    SaCkptSectionIdT s = sid("d");
    SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
    EXPECT_EQ(saCkptSectionCreate(c, nullptr, nullptr, 0), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionCreate(c, &sc, std::string(17, 'x').data(), 17), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionCreate(c, &sc, nullptr, 4), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionCreate(kBogus, &sc, nullptr, 0), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("scerr", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptSectionCreate(ro, &sc, nullptr, 0), SA_AIS_ERR_ACCESS);
    auto one = create("one", attrs(SA_CKPT_WR_ACTIVE_REPLICA, 1, 64));
    EXPECT_EQ(saCkptSectionCreate(one, &sc, nullptr, 0), SA_AIS_ERR_EXIST); // only the default section
}

TEST_F(Sections, DefaultSectionExistsWhenMaxSectionsIsOne) {
    auto c = create("def", attrs(SA_CKPT_WR_ACTIVE_REPLICA, 1, 64));
    SaCkptSectionIdT d = SA_CKPT_DEFAULT_SECTION_ID;
    ASSERT_EQ(saCkptSectionOverwrite(c, &d, "whole", 5), SA_AIS_OK);
    SaCkptIOVectorElementT w{SA_CKPT_DEFAULT_SECTION_ID, const_cast<char*>("WH"), 2, 0, 0};
    ASSERT_EQ(saCkptCheckpointWrite(c, &w, 1, nullptr), SA_AIS_OK);
    EXPECT_EQ(read(c, ""), "WHole");
    EXPECT_EQ(saCkptSectionDelete(c, &d), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionExpirationTimeSet(c, &d, 0), SA_AIS_ERR_INVALID_PARAM);
    SaCkptCheckpointDescriptorT st;
    ASSERT_EQ(saCkptCheckpointStatusGet(c, &st), SA_AIS_OK);
    EXPECT_EQ(st.numberOfSections, 1u);
    // a checkpoint of several sections has no default section
    auto multi = create("multi");
    EXPECT_EQ(saCkptSectionOverwrite(multi, &d, "x", 1), SA_AIS_ERR_NOT_EXIST);
}

TEST_F(Sections, Delete) {
    auto c = create("del");
    ASSERT_EQ(add_section(c, "s", "x"), SA_AIS_OK);
    EXPECT_EQ(read(c, "s"), "x"); // cached lookup
    SaCkptSectionIdT s = sid("s");
    EXPECT_EQ(saCkptSectionDelete(c, &s), SA_AIS_OK);
    EXPECT_EQ(read(c, "s"), "error 12");
    EXPECT_EQ(saCkptSectionDelete(c, &s), SA_AIS_ERR_NOT_EXIST);
    ASSERT_EQ(add_section(c, "s", "new"), SA_AIS_OK); // the id again: a new section
    EXPECT_EQ(read(c, "s"), "new");
    EXPECT_EQ(saCkptSectionDelete(c, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionDelete(kBogus, &s), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("del", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptSectionDelete(ro, &s), SA_AIS_ERR_ACCESS);
}

TEST_F(Sections, IdFreeErrors) {
    auto c = create("idfree");
    SaUint8T mine[4];
    EXPECT_EQ(saCkptSectionIdFree(c, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionIdFree(c, mine), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionIdFree(kBogus, mine), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Sections, ExpirationTimeSet) {
    auto c = create("exp");
    ASSERT_EQ(add_section(c, "s", "x"), SA_AIS_OK);
    SaCkptSectionIdT s = sid("s");
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const SaTimeT now = ts.tv_sec * SA_TIME_ONE_SECOND + ts.tv_nsec;
    EXPECT_EQ(saCkptSectionExpirationTimeSet(c, &s, now + 100 * SA_TIME_ONE_MILLISECOND), SA_AIS_OK);
    EXPECT_TRUE(ckpt::testing::eventually([&] { return read(c, "s") == "error 12"; })); // the engine deleted it
    SaCkptSectionIdT m = sid("missing");
    EXPECT_EQ(saCkptSectionExpirationTimeSet(c, &m, SA_TIME_END), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptSectionExpirationTimeSet(c, nullptr, SA_TIME_END), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionExpirationTimeSet(kBogus, &s, SA_TIME_END), SA_AIS_ERR_BAD_HANDLE);
    ASSERT_EQ(add_section(c, "t", "x"), SA_AIS_OK);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("exp", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    SaCkptSectionIdT t = sid("t");
    EXPECT_EQ(saCkptSectionExpirationTimeSet(ro, &t, SA_TIME_END), SA_AIS_ERR_ACCESS);
}

TEST_F(Sections, IterationReturnsEachChosenSectionOnce) {
    auto c = create("iter");
    ASSERT_EQ(add_section(c, "forever", "12345"), SA_AIS_OK);
    SaCkptSectionIdT e = sid("expiring");
    SaCkptSectionCreationAttributesT sc{&e, SA_TIME_END - 1};
    ASSERT_EQ(saCkptSectionCreate(c, &sc, "ab", 2), SA_AIS_OK);
    auto collect = [&](SaCkptSectionsChosenT chosen, SaTimeT t) {
        std::map<std::string, SaCkptSectionDescriptorT> out;
        SaCkptSectionIterationHandleT it;
        EXPECT_EQ(saCkptSectionIterationInitialize(c, chosen, t, &it), SA_AIS_OK);
        SaCkptSectionDescriptorT d;
        SaAisErrorT rc;
        while ((rc = saCkptSectionIterationNext(it, &d)) == SA_AIS_OK) {
            std::string id(reinterpret_cast<char*>(d.sectionId.id), d.sectionId.idLen);
            EXPECT_EQ(out.count(id), 0u);
            out[id] = d;
        }
        EXPECT_EQ(rc, SA_AIS_ERR_NO_SECTIONS);
        EXPECT_EQ(saCkptSectionIterationNext(it, &d), SA_AIS_ERR_NO_SECTIONS);
        EXPECT_EQ(saCkptSectionIterationFinalize(it), SA_AIS_OK);
        EXPECT_EQ(saCkptSectionIterationFinalize(it), SA_AIS_ERR_BAD_HANDLE);
        return out;
    };
    auto any = collect(SA_CKPT_SECTIONS_ANY, 0);
    ASSERT_EQ(any.size(), 2u);
    EXPECT_EQ(any["forever"].sectionSize, 5u);
    EXPECT_EQ(any["forever"].expirationTime, SA_TIME_END);
    EXPECT_EQ(any["forever"].sectionState, SA_CKPT_SECTION_VALID);
    EXPECT_GT(any["forever"].lastUpdate, 0);
    EXPECT_EQ(any["expiring"].sectionSize, 2u);
    EXPECT_EQ(collect(SA_CKPT_SECTIONS_FOREVER, 0).size(), 1u);
    EXPECT_EQ(collect(SA_CKPT_SECTIONS_LEQ_EXPIRATION_TIME, SA_TIME_END - 1).count("expiring"), 1u);
    EXPECT_EQ(collect(SA_CKPT_SECTIONS_LEQ_EXPIRATION_TIME, SA_TIME_END - 1).size(), 1u);
    EXPECT_EQ(collect(SA_CKPT_SECTIONS_GEQ_EXPIRATION_TIME, SA_TIME_END).size(), 1u);
    EXPECT_EQ(collect(SA_CKPT_SECTIONS_CORRUPTED, 0).size(), 0u);
}

TEST_F(Sections, IterationErrors) {
    auto c = create("iterr");
    SaCkptSectionIterationHandleT it;
    EXPECT_EQ(saCkptSectionIterationInitialize(c, static_cast<SaCkptSectionsChosenT>(0), 0, &it),
              SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionIterationInitialize(c, static_cast<SaCkptSectionsChosenT>(6), 0, &it),
              SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionIterationInitialize(c, SA_CKPT_SECTIONS_ANY, 0, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionIterationInitialize(kBogus, SA_CKPT_SECTIONS_ANY, 0, &it), SA_AIS_ERR_BAD_HANDLE);
    ASSERT_EQ(saCkptSectionIterationInitialize(c, SA_CKPT_SECTIONS_ANY, 0, &it), SA_AIS_OK);
    EXPECT_EQ(saCkptSectionIterationNext(it, nullptr), SA_AIS_ERR_INVALID_PARAM);
    SaCkptSectionDescriptorT d;
    EXPECT_EQ(saCkptSectionIterationNext(kBogus, &d), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptSectionIterationFinalize(kBogus), SA_AIS_ERR_BAD_HANDLE);
    ASSERT_EQ(saCkptCheckpointClose(c), SA_AIS_OK); // closing the checkpoint ends its iterations
    EXPECT_EQ(saCkptSectionIterationNext(it, &d), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptSectionIterationFinalize(it), SA_AIS_ERR_BAD_HANDLE);
}

// ==========================================================================================
// 19-24 data access
// ==========================================================================================

class Data : public SaTest {};

TEST_F(Data, WriteSeveralSectionsAndPortionsInOrder) {
    auto c = create("w");
    ASSERT_EQ(add_section(c, "a", "aaaaaaaa"), SA_AIS_OK);
    ASSERT_EQ(add_section(c, "b"), SA_AIS_OK);
    SaCkptIOVectorElementT v[4] = {
        {sid("a"), const_cast<char*>("XY"), 2, 2, 0},
        {sid("b"), const_cast<char*>("hello"), 5, 0, 0},
        {sid("a"), const_cast<char*>("Z"), 1, 3, 0}, // in order: overwrites the Y
        {sid("b"), const_cast<char*>("!"), 1, 7, 0}, // past the end: the hole reads as zeros
    };
    SaUint32T bad = 99;
    ASSERT_EQ(saCkptCheckpointWrite(c, v, 4, &bad), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(bad, 99u); // unchanged on success
    EXPECT_EQ(read(c, "a"), "aaXZaaaa");
    EXPECT_EQ(read(c, "b"), std::string("hello\0\0!", 8));
    EXPECT_EQ(read(c, "a", 6), "aa");
    EXPECT_EQ(read(c, "a", 8), "");
}

TEST_F(Data, WriteChecksEveryElementBeforeChangingAnything) {
    auto c = create("wall", attrs(SA_CKPT_WR_ACTIVE_REPLICA, 4, 16));
    ASSERT_EQ(add_section(c, "a", "old"), SA_AIS_OK);
    SaCkptIOVectorElementT v[3] = {{sid("a"), const_cast<char*>("new"), 3, 0, 0},
                                   {sid("a"), const_cast<char*>("x"), 1, 0, 0},
                                   {sid("nope"), const_cast<char*>("x"), 1, 0, 0}};
    SaUint32T bad = 99;
    EXPECT_EQ(saCkptCheckpointWrite(c, v, 3, &bad), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(bad, 2u);
    EXPECT_EQ(read(c, "a"), "old");
    v[2] = {sid("a"), const_cast<char*>("x"), 1, 16, 0}; // past maxSectionSize
    EXPECT_EQ(saCkptCheckpointWrite(c, v, 3, &bad), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(bad, 2u);
    v[2] = {sid("a"), nullptr, 1, 0, 0};
    EXPECT_EQ(saCkptCheckpointWrite(c, v, 3, &bad), SA_AIS_ERR_INVALID_PARAM);
    v[2] = {sid("a"), std::string(17, 'x').data(), 17, 0, 0};
    EXPECT_EQ(saCkptCheckpointWrite(c, v, 3, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(read(c, "a"), "old");
    EXPECT_EQ(saCkptCheckpointWrite(c, nullptr, 1, &bad), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointWrite(kBogus, v, 1, &bad), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("wall", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointWrite(ro, v, 1, &bad), SA_AIS_ERR_ACCESS);
}

// saCkptCheckpointWrite of several sections, read by saCkptCheckpointRead of those sections in
// another thread: each read sees all of one write's elements or none, never a mix.
TEST_F(Data, ReadersNeverSeePartOfAWriteOfSeveralSections) {
    auto c = create("wgroup");
    // "b" takes the lower slot, so the write locks it first and then waits for ckptd to have
    // captured "a"'s previous commit before it locks "a": a read that copies "a" meanwhile and then
    // waits for "b" would pair the old "a" with the new "b" if the lock words were not checked
    // again after copying.
    ASSERT_EQ(add_section(c, "b", "00000000"), SA_AIS_OK);
    ASSERT_EQ(add_section(c, "a", "00000000"), SA_AIS_OK);
    std::atomic<bool> done{false};
    std::atomic<int> mixed{0}, reads{0};
    std::thread reader([&] {
        char ba[8], bb[8];
        while (!done.load()) {
            SaCkptIOVectorElementT r[2] = {{sid("a"), ba, sizeof ba, 0, 0}, {sid("b"), bb, sizeof bb, 0, 0}};
            if (saCkptCheckpointRead(c, r, 2, nullptr) != SA_AIS_OK) continue;
            ++reads;
            if (r[0].readSize != r[1].readSize || std::memcmp(ba, bb, 8) != 0) ++mixed;
        }
    });
    for (int i = 1; i <= 1500; ++i) {
        char v[9];
        std::snprintf(v, sizeof v, "%08d", i);
        SaCkptIOVectorElementT w[2] = {{sid("a"), v, 8, 0, 0}, {sid("b"), v, 8, 0, 0}};
        ASSERT_EQ(saCkptCheckpointWrite(c, w, 2, nullptr), SA_AIS_OK) << hsCkptLastErrorText();
    }
    done = true;
    reader.join();
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(mixed.load(), 0);
    // The library allocates every element's buffer when dataBuffer is NULL, as for one element.
    SaCkptIOVectorElementT r[2] = {{sid("a"), nullptr, 0, 0, 0}, {sid("b"), nullptr, 0, 4, 0}};
    ASSERT_EQ(saCkptCheckpointRead(c, r, 2, nullptr), SA_AIS_OK) << hsCkptLastErrorText();
    EXPECT_EQ(std::string(static_cast<char*>(r[0].dataBuffer), r[0].readSize), "00001500");
    EXPECT_EQ(std::string(static_cast<char*>(r[1].dataBuffer), r[1].readSize), "1500");
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, r[0].dataBuffer), SA_AIS_OK);
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, r[1].dataBuffer), SA_AIS_OK);
}

TEST_F(Data, WriteInAllReplicasModeReturnsAcknowledged) {
    auto c = create("wsync", attrs(SA_CKPT_WR_ALL_REPLICAS));
    ASSERT_EQ(add_section(c, "a"), SA_AIS_OK);
    ASSERT_EQ(add_section(c, "b"), SA_AIS_OK);
    SaCkptIOVectorElementT v[2] = {{sid("a"), const_cast<char*>("1"), 1, 0, 0},
                                   {sid("b"), const_cast<char*>("2"), 1, 0, 0}};
    for (int i = 0; i < 50; ++i) ASSERT_EQ(saCkptCheckpointWrite(c, v, 2, nullptr), SA_AIS_OK);
    auto ck = session->open("wsync", ckpt::kOpenRead);
    ASSERT_TRUE(ck.ok());
    for (const char* id : {"a", "b"}) {
        auto s = ck->section(id);
        ASSERT_TRUE(s.ok());
        EXPECT_EQ(s->acked_sequence(), s->sequence()); // node-local: acknowledged = captured
    }
}

TEST_F(Data, Overwrite) {
    auto c = create("ow");
    ASSERT_EQ(add_section(c, "s", "long old contents"), SA_AIS_OK);
    SaCkptSectionIdT s = sid("s");
    ASSERT_EQ(saCkptSectionOverwrite(c, &s, "new", 3), SA_AIS_OK);
    EXPECT_EQ(read(c, "s"), "new");
    ASSERT_EQ(saCkptSectionOverwrite(c, &s, nullptr, 0), SA_AIS_OK);
    EXPECT_EQ(read(c, "s"), "");
    SaCkptSectionIdT m = sid("missing");
    EXPECT_EQ(saCkptSectionOverwrite(c, &m, "x", 1), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(saCkptSectionOverwrite(c, &s, std::string(4097, 'x').data(), 4097), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionOverwrite(c, nullptr, "x", 1), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionOverwrite(c, &s, nullptr, 1), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptSectionOverwrite(kBogus, &s, "x", 1), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("ow", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptSectionOverwrite(ro, &s, "x", 1), SA_AIS_ERR_ACCESS);
}

TEST_F(Data, ReadIntoLibraryBuffersAndFreeThem) {
    auto c = create("rd");
    ASSERT_EQ(add_section(c, "a", "0123456789"), SA_AIS_OK);
    ASSERT_EQ(add_section(c, "b", "xyz"), SA_AIS_OK);
    char small[4];
    SaCkptIOVectorElementT v[2] = {{sid("a"), small, sizeof small, 3, 0}, {sid("b"), nullptr, 0, 1, 0}};
    ASSERT_EQ(saCkptCheckpointRead(c, v, 2, nullptr), SA_AIS_OK);
    EXPECT_EQ(v[0].readSize, 4u);
    EXPECT_EQ(std::string(small, 4), "3456");
    ASSERT_NE(v[1].dataBuffer, nullptr); // allocated by the library
    EXPECT_EQ(v[1].readSize, 2u);
    EXPECT_EQ(std::string(static_cast<char*>(v[1].dataBuffer), 2), "yz");
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, v[1].dataBuffer), SA_AIS_OK);
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, v[1].dataBuffer), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, nullptr), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptIOVectorElementDataFree(c, small), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptIOVectorElementDataFree(kBogus, small), SA_AIS_ERR_BAD_HANDLE);
}

TEST_F(Data, ReadErrors) {
    auto c = create("rderr");
    ASSERT_EQ(add_section(c, "a", "x"), SA_AIS_OK);
    char buf[8];
    SaCkptIOVectorElementT v[2] = {{sid("a"), buf, 8, 0, 0}, {sid("nope"), buf, 8, 0, 0}};
    SaUint32T bad = 99;
    EXPECT_EQ(saCkptCheckpointRead(c, v, 2, &bad), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(bad, 1u);
    v[1] = {sid("a"), buf, 8, 4097, 0};
    EXPECT_EQ(saCkptCheckpointRead(c, v, 2, &bad), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(bad, 1u);
    v[1] = {SaCkptSectionIdT{2, nullptr}, buf, 8, 0, 0};
    EXPECT_EQ(saCkptCheckpointRead(c, v, 2, &bad), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointRead(c, nullptr, 1, &bad), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointRead(kBogus, v, 1, &bad), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT wo;
    ASSERT_EQ(open("rderr", SA_CKPT_CHECKPOINT_WRITE, wo), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointRead(wo, v, 1, &bad), SA_AIS_ERR_ACCESS); // read mode is enforced
    EXPECT_EQ(write(wo, "a", "w"), SA_AIS_OK);
}

TEST_F(Data, SynchronizeAndItsErrors) {
    auto c = create("sync");
    ASSERT_EQ(add_section(c, "a"), SA_AIS_OK);
    ASSERT_EQ(write(c, "a", "x"), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronize(c, kTimeout), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronize(c, SA_TIME_END), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronize(c, -1), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(saCkptCheckpointSynchronize(kBogus, kTimeout), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("sync", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronize(ro, kTimeout), SA_AIS_ERR_ACCESS);
    auto s = create("syncall", attrs(SA_CKPT_WR_ALL_REPLICAS));
    EXPECT_EQ(saCkptCheckpointSynchronize(s, kTimeout), SA_AIS_ERR_BAD_OPERATION);
}

TEST_F(Data, SynchronizeAsyncAndItsErrors) {
    auto c = create("sa");
    ASSERT_EQ(add_section(c, "a", "x"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronizeAsync(c, 99), SA_AIS_OK);
    ASSERT_TRUE(dispatch_until([] { return !synced().empty(); }));
    EXPECT_EQ(synced()[0].invocation, 99u);
    EXPECT_EQ(synced()[0].error, SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronizeAsync(kBogus, 1), SA_AIS_ERR_BAD_HANDLE);
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("sa", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronizeAsync(ro, 1), SA_AIS_ERR_ACCESS);
    auto s = create("saall", attrs(SA_CKPT_WR_ALL_REPLICAS));
    EXPECT_EQ(saCkptCheckpointSynchronizeAsync(s, 1), SA_AIS_ERR_BAD_OPERATION);
    SaVersionT v{'B', 2, 2};
    SaCkptHandleT nocb;
    ASSERT_EQ(saCkptInitialize(&nocb, nullptr, &v), SA_AIS_OK);
    SaNameT n = name("sa");
    SaCkptCheckpointHandleT c2;
    ASSERT_EQ(saCkptCheckpointOpen(nocb, &n, nullptr, kRW, kTimeout, &c2), SA_AIS_OK);
    EXPECT_EQ(saCkptCheckpointSynchronizeAsync(c2, 1), SA_AIS_ERR_INIT);
    EXPECT_EQ(saCkptFinalize(nocb), SA_AIS_OK);
}

// ==========================================================================================
// Hotspare's extensions (hsCkpt.h)
// ==========================================================================================

class Extensions : public SaTest {};

struct Seen {
    std::vector<std::pair<std::string, std::string>> changes;
};
void on_change(SaCkptCheckpointHandleT, const SaCkptSectionIdT* id, const void* data, SaSizeT size, SaUint64T,
               void* ctx) {
    static_cast<Seen*>(ctx)->changes.emplace_back(std::string(reinterpret_cast<char*>(id->id), id->idLen),
                                                  data ? std::string(static_cast<const char*>(data), size)
                                                       : "size " + std::to_string(size));
}

TEST_F(Extensions, ChangedSectionsArriveWithTheirDataThroughDispatch) {
    auto w = create("hs");
    ASSERT_EQ(add_section(w, "a", "v0"), SA_AIS_OK);
    // A second library handle follows it, as a standby process would.
    SaVersionT v{'B', 1, 1};
    SaCkptHandleT h2;
    ASSERT_EQ(saCkptInitialize(&h2, nullptr, &v), SA_AIS_OK);
    SaNameT n = name("hs");
    SaCkptCheckpointHandleT r;
    ASSERT_EQ(saCkptCheckpointOpen(h2, &n, nullptr, SA_CKPT_CHECKPOINT_READ, kTimeout, &r), SA_AIS_OK);
    Seen seen;
    ASSERT_EQ(hsCkptSectionChangeTrack(r, HS_CKPT_TRACK_DATA, on_change, &seen), SA_AIS_OK);
    EXPECT_EQ(hsCkptSectionChangeTrack(r, 0, on_change, &seen), SA_AIS_ERR_EXIST);
    SaSelectionObjectT fd2;
    ASSERT_EQ(saCkptSelectionObjectGet(h2, &fd2), SA_AIS_OK);
    EXPECT_FALSE(readable(fd2, 50));
    ASSERT_EQ(write(w, "a", "v1"), SA_AIS_OK);
    ASSERT_TRUE(readable(fd2, 5000)); // the change makes the selection object readable
    ASSERT_TRUE(dispatch_until([&] { return !seen.changes.empty() && seen.changes.back().second == "v1"; }, h2));
    EXPECT_EQ(seen.changes.back().first, "a");
    ASSERT_EQ(add_section(w, "b", "new"), SA_AIS_OK);
    ASSERT_TRUE(dispatch_until(
        [&] { return seen.changes.back() == std::make_pair(std::string("b"), std::string("new")); }, h2));
    EXPECT_EQ(hsCkptSectionChangeTrackStop(r), SA_AIS_OK);
    EXPECT_EQ(hsCkptSectionChangeTrackStop(r), SA_AIS_ERR_NOT_EXIST);
    const auto before = seen.changes.size();
    ASSERT_EQ(write(w, "a", "v2"), SA_AIS_OK);
    EXPECT_FALSE(readable(fd2, 200));
    EXPECT_EQ(saCkptDispatch(h2, SA_DISPATCH_ALL), SA_AIS_OK);
    EXPECT_EQ(seen.changes.size(), before);
    EXPECT_EQ(hsCkptSectionChangeTrack(r, 0x80, on_change, &seen), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(hsCkptSectionChangeTrack(r, 0, nullptr, &seen), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(hsCkptSectionChangeTrack(kBogus, 0, on_change, &seen), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(saCkptFinalize(h2), SA_AIS_OK);
}

TEST_F(Extensions, ZeroCopyWriteAndReadInPlace) {
    auto c = create("zc");
    ASSERT_EQ(add_section(c, "s", "abc"), SA_AIS_OK);
    SaCkptSectionIdT s = sid("s");
    void* p = nullptr;
    SaSizeT cap = 0, size = 0;
    hsCkptWriteTxHandleT tx;
    ASSERT_EQ(hsCkptSectionWriteBegin(c, &s, kTimeout, &p, &cap, &size, &tx), SA_AIS_OK);
    EXPECT_EQ(size, 3u);
    EXPECT_GE(cap, 4096u);
    EXPECT_EQ(std::memcmp(p, "abc", 3), 0); // the section's bytes, in place
    std::memcpy(static_cast<char*>(p) + 3, "def", 3);
    EXPECT_EQ(hsCkptSectionWriteMark(tx, 3, 3), SA_AIS_OK);
    EXPECT_EQ(hsCkptSectionWriteMark(tx, cap, 1), SA_AIS_ERR_INVALID_PARAM);
    EXPECT_EQ(hsCkptSectionWriteCommit(tx, cap + 1, 0), SA_AIS_ERR_INVALID_PARAM);
    ASSERT_EQ(hsCkptSectionWriteCommit(tx, 6, kTimeout), SA_AIS_OK);
    EXPECT_EQ(hsCkptSectionWriteCommit(tx, 6, 0), SA_AIS_ERR_BAD_HANDLE);
    EXPECT_EQ(read(c, "s"), "abcdef");
    std::string viewed;
    ASSERT_EQ(hsCkptSectionReadView(
                  c, &s,
                  [](const void* d, SaSizeT n, void* ctx) {
                      *static_cast<std::string*>(ctx) = std::string(static_cast<const char*>(d), n);
                  },
                  &viewed),
              SA_AIS_OK);
    EXPECT_EQ(viewed, "abcdef");
    // abort puts it back
    ASSERT_EQ(hsCkptSectionWriteBegin(c, &s, kTimeout, &p, &cap, &size, &tx), SA_AIS_OK);
    std::memcpy(p, "XXXXXX", 6);
    ASSERT_EQ(hsCkptSectionWriteAbort(tx), SA_AIS_OK);
    EXPECT_EQ(read(c, "s"), "abcdef");
    SaCkptCheckpointHandleT ro;
    ASSERT_EQ(open("zc", SA_CKPT_CHECKPOINT_READ, ro), SA_AIS_OK);
    EXPECT_EQ(hsCkptSectionWriteBegin(ro, &s, kTimeout, &p, &cap, &size, &tx), SA_AIS_ERR_ACCESS);
    SaCkptSectionIdT m = sid("missing");
    EXPECT_EQ(hsCkptSectionWriteBegin(c, &m, kTimeout, &p, &cap, &size, &tx), SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(hsCkptSectionReadView(
                  c, &m, [](const void*, SaSizeT, void*) {}, nullptr),
              SA_AIS_ERR_NOT_EXIST);
    EXPECT_EQ(std::string(hsCkptLastErrorText()).empty(), false);
}

} // namespace

namespace {

// ==========================================================================================
// TIMEOUT and TRY_AGAIN of the calls that need ckptd
// ==========================================================================================

class EngineTrouble : public SaTest {};

TEST_F(EngineTrouble, CallsThatNeedTheEngineTimeOutWhileItIsFrozen) {
    auto c = create("frz", attrs(SA_CKPT_WR_ACTIVE_REPLICA | SA_CKPT_CHECKPOINT_COLLOCATED));
    ASSERT_EQ(add_section(c, "s", "x"), SA_AIS_OK);
    ASSERT_EQ(saCkptCheckpointSynchronize(c, kTimeout), SA_AIS_OK);
    ASSERT_EQ(::kill(engine.pid(), SIGSTOP), 0);
    EXPECT_EQ(write(c, "s", "1"), SA_AIS_OK); // published locally; ckptd captures it later
    EXPECT_EQ(saCkptCheckpointSynchronize(c, 100 * SA_TIME_ONE_MILLISECOND), SA_AIS_ERR_TIMEOUT);
    EXPECT_EQ(write(c, "s", "2"), SA_AIS_OK);          // stages "1" for ckptd (the local stage)
    EXPECT_EQ(write(c, "s", "3"), SA_AIS_ERR_TIMEOUT); // "1" staged, "2" live: waits for a capture
    EXPECT_EQ(read(c, "s"), "2");                      // reads need no engine
    EXPECT_EQ(add_section(c, "t"), SA_AIS_ERR_TIMEOUT);
    SaCkptSectionIdT s = sid("s");
    EXPECT_EQ(saCkptSectionDelete(c, &s), SA_AIS_ERR_TIMEOUT);
    EXPECT_EQ(saCkptSectionExpirationTimeSet(c, &s, SA_TIME_END), SA_AIS_ERR_TIMEOUT);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(c, 0), SA_AIS_ERR_TIMEOUT);
    EXPECT_EQ(saCkptActiveReplicaSet(c), SA_AIS_ERR_TIMEOUT);
    SaNameT n = name("frz");
    EXPECT_EQ(saCkptCheckpointUnlink(h, &n), SA_AIS_ERR_TIMEOUT);
    ::kill(engine.pid(), SIGCONT);
    EXPECT_TRUE(ckpt::testing::eventually([&] { return saCkptCheckpointSynchronize(c, kTimeout) == SA_AIS_OK; }));
}

TEST_F(EngineTrouble, CallsThatNeedTheEngineSayTryAgainWhenItIsGone) {
    auto c = create("gone");
    ASSERT_EQ(add_section(c, "s", "x"), SA_AIS_OK);
    engine.kill_hard();
    EXPECT_EQ(read(c, "s"), "x"); // the mapping stays
    EXPECT_EQ(add_section(c, "t"), SA_AIS_ERR_TRY_AGAIN);
    SaCkptSectionIdT s = sid("s");
    EXPECT_EQ(saCkptSectionDelete(c, &s), SA_AIS_ERR_TRY_AGAIN);
    EXPECT_EQ(saCkptCheckpointRetentionDurationSet(c, 0), SA_AIS_ERR_TRY_AGAIN);
    SaNameT n = name("gone");
    EXPECT_EQ(saCkptCheckpointUnlink(h, &n), SA_AIS_ERR_TRY_AGAIN);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(saCkptFinalize(h), SA_AIS_OK); // without waiting for an engine
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    h = 0;
}

} // namespace
