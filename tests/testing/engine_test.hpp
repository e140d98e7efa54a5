#pragma once
// Test fixture: a real ckptd of the test's own (EngineProcess) and a connected client session.
// Names derive from the test suite, so suites running in parallel share nothing.
#include "ckpt/client/session.hpp"
#include "engine_process.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace ckpt::testing {

class EngineTest : public ::testing::Test {
protected:
    explicit EngineTest(std::vector<std::string> extra_config = {}) : engine(suite_tag(), std::move(extra_config)) {}

    void SetUp() override {
        ASSERT_TRUE(engine.start()) << engine.log();
        auto s = client::Session::connect({engine.socket()});
        ASSERT_TRUE(s.ok()) << s.message();
        session.emplace(std::move(*s));
    }

    static std::string suite_tag() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string tag = info ? info->test_suite_name() : "test";
        for (char& c : tag)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
        return tag;
    }

    EngineProcess engine;
    std::optional<client::Session> session;
};

} // namespace ckpt::testing
