#pragma once
// Helpers of the SA Forum C API tests: a real ckptd per test (EngineTest), CKPT_SOCKET pointing at
// it, an initialized library handle, and small builders for the C structs.
#include "engine_test.hpp"
#include "hsCkpt.h"
#include "saCkpt.h"
#include "two_nodes.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sa_test {

inline SaNameT name(std::string_view s) {
    SaNameT n{};
    n.length = static_cast<SaUint16T>(s.size());
    std::memcpy(n.value, s.data(), s.size());
    return n;
}

inline SaCkptSectionIdT sid(const std::string& s) { // the id points into s: an lvalue only
    return SaCkptSectionIdT{static_cast<SaUint16T>(s.size()), reinterpret_cast<SaUint8T*>(const_cast<char*>(s.data()))};
}
inline SaCkptSectionIdT sid(std::string&&) = delete;
inline SaCkptSectionIdT sid(const char* s) {
    return SaCkptSectionIdT{static_cast<SaUint16T>(std::strlen(s)), reinterpret_cast<SaUint8T*>(const_cast<char*>(s))};
}

/// 16 sections of up to 4 KiB, ids up to 32 bytes.
inline SaCkptCheckpointCreationAttributesT attrs(SaUint32T flags = SA_CKPT_WR_ACTIVE_REPLICA, SaUint32T sections = 16,
                                                 SaSizeT section_size = 4096) {
    SaCkptCheckpointCreationAttributesT a{};
    a.creationFlags = flags;
    a.checkpointSize = sections * section_size;
    a.retentionDuration = 0;
    a.maxSections = sections;
    a.maxSectionSize = section_size;
    a.maxSectionIdSize = 32;
    return a;
}

constexpr SaUint32T kRW = SA_CKPT_CHECKPOINT_READ | SA_CKPT_CHECKPOINT_WRITE;
constexpr SaUint32T kCreate = kRW | SA_CKPT_CHECKPOINT_CREATE;
constexpr SaTimeT kTimeout = 5 * SA_TIME_ONE_SECOND;

/// Readable now (poll with no wait)?
inline bool readable(SaSelectionObjectT fd, int ms = 0) {
    pollfd p{static_cast<int>(fd), POLLIN, 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

class SaTest : public ckpt::testing::EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        if (HasFatalFailure()) return;
        opened().clear();
        synced().clear();
        ::setenv("CKPT_SOCKET", engine.socket().c_str(), 1);
        SaVersionT v{'B', 2, 2};
        ASSERT_EQ(saCkptInitialize(&h, &callbacks(), &v), SA_AIS_OK) << hsCkptLastErrorText();
        ASSERT_EQ(saCkptSelectionObjectGet(h, &sel), SA_AIS_OK);
    }
    void TearDown() override {
        if (h) (void)saCkptFinalize(h);
    }

    static SaCkptCallbacksT& callbacks() {
        static SaCkptCallbacksT cb{&on_open, &on_sync};
        return cb;
    }
    struct Done {
        SaInvocationT invocation;
        SaCkptCheckpointHandleT ckpt;
        SaAisErrorT error;
        std::thread::id thread;
    };
    static std::vector<Done>& opened() {
        static std::vector<Done> v;
        return v;
    }
    static std::vector<Done>& synced() {
        static std::vector<Done> v;
        return v;
    }
    static void on_open(SaInvocationT i, SaCkptCheckpointHandleT c, SaAisErrorT e) {
        opened().push_back({i, c, e, std::this_thread::get_id()});
    }
    static void on_sync(SaInvocationT i, SaAisErrorT e) {
        std::lock_guard lk(mu());
        synced().push_back({i, 0, e, std::this_thread::get_id()});
    }
    /// For a test whose dispatch runs on another thread.
    static std::size_t sync_count() {
        std::lock_guard lk(mu());
        return synced().size();
    }
    static std::mutex& mu() {
        static std::mutex m;
        return m;
    }

    /// Waits on the selection object and dispatches until pred() (up to ~10 s).
    bool dispatch_until(const std::function<bool()>& pred, SaCkptHandleT handle = 0) {
        if (!handle) handle = h;
        SaSelectionObjectT fd;
        if (saCkptSelectionObjectGet(handle, &fd) != SA_AIS_OK) return false;
        for (int i = 0; i < 1000 && !pred(); ++i)
            if (readable(fd, 10)) {
                EXPECT_EQ(saCkptDispatch(handle, SA_DISPATCH_ALL), SA_AIS_OK);
            }
        return pred();
    }

    SaCkptCheckpointHandleT create(const std::string& n, const SaCkptCheckpointCreationAttributesT& a = attrs(),
                                   SaUint32T flags = kCreate) {
        SaNameT nm = name(n);
        SaCkptCheckpointHandleT c = 0;
        EXPECT_EQ(saCkptCheckpointOpen(h, &nm, &a, flags, kTimeout, &c), SA_AIS_OK) << hsCkptLastErrorText();
        return c;
    }
    SaAisErrorT open(const std::string& n, SaUint32T flags, SaCkptCheckpointHandleT& c) {
        SaNameT nm = name(n);
        return saCkptCheckpointOpen(h, &nm, nullptr, flags, kTimeout, &c);
    }
    SaAisErrorT add_section(SaCkptCheckpointHandleT c, const std::string& id, const std::string& data = "") {
        SaCkptSectionIdT s = sid(id);
        SaCkptSectionCreationAttributesT sc{&s, SA_TIME_END};
        return saCkptSectionCreate(c, &sc, data.data(), data.size());
    }
    SaAisErrorT write(SaCkptCheckpointHandleT c, const std::string& id, const std::string& data, SaOffsetT offset = 0) {
        SaCkptIOVectorElementT e{sid(id), const_cast<char*>(data.data()), data.size(), offset, 0};
        return saCkptCheckpointWrite(c, &e, 1, nullptr);
    }
    /// The section's bytes (readSize of them), or an error code as text.
    std::string read(SaCkptCheckpointHandleT c, const std::string& id, SaOffsetT offset = 0, SaSizeT size = 4096) {
        std::string buf(size, '\0');
        SaCkptIOVectorElementT e{sid(id), buf.data(), size, offset, 0};
        SaUint32T bad = 99;
        SaAisErrorT rc = saCkptCheckpointRead(c, &e, 1, &bad);
        if (rc != SA_AIS_OK) return "error " + std::to_string(rc);
        buf.resize(e.readSize);
        return buf;
    }

    SaCkptHandleT h = 0;
    SaSelectionObjectT sel = 0;
};

} // namespace sa_test
