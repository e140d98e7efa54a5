#pragma once
// Test helper: runs an operator tool (ckptstat, ckptctl) as a real process and captures its exit
// code, stdout and stderr. Output goes to files read after the child exits, so no pipe can fill
// up and block it.
#include <string>
#include <vector>

namespace ckpt::testing {

struct ToolRun {
    int exit_code = -1; ///< -1 unless the tool exited normally
    std::string out, err;
};

/// Runs `exe args...` with the environment plus `extra_env` ("K=V", overriding same-named keys).
ToolRun run_tool(const std::string& exe, const std::vector<std::string>& args,
                 const std::vector<std::string>& extra_env = {});

/// "exit N / stdout / stderr", for assertion messages.
std::string describe(const ToolRun& r);

} // namespace ckpt::testing
