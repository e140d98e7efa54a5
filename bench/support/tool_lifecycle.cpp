#include "tool_lifecycle.hpp"

#include "children.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace ckpt::bench {

bool prepare_tool(const char* tool, std::string& ckptd, std::string& log_dir, int cpu) {
    ckptd = find_tool(ckptd, "CKPTD", {"../engine/ckptd"});
    if (ckptd.empty() || ::access(ckptd.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "%s: no ckptd (give --ckptd PATH)\n", tool);
        return false;
    }
    if (::geteuid() != 0) std::fprintf(stderr, "%s: DPDK memif needs root; expect failures\n", tool);
    ::setenv("CKPTD", ckptd.c_str(), 1); // EngineProcess runs $CKPTD
    std::string tmpl = "/tmp/hotspare-" + std::string(tool) + "-logs-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::fprintf(stderr, "%s: cannot make a log directory in /tmp: %s\n", tool, std::strerror(errno));
        return false;
    }
    log_dir = tmpl;
    install_stop_handlers();
    if (!pin_to_cpu(cpu)) std::fprintf(stderr, "%s: cannot pin to CPU %d: %s\n", tool, cpu, std::strerror(errno));
    return true;
}

int finish_tool(const char* tool, const std::string& title, unsigned rounds,
                const std::map<std::string, std::string>& info,
                const std::vector<std::pair<std::string, std::string>>& shown, const std::vector<Row>& rows,
                Results& res, const std::string& json, const std::string& log_dir, bool keep_logs) {
    auto get = [&](const std::string& k) {
        auto it = info.find(k);
        return it == info.end() ? std::string() : it->second;
    };
    std::printf("%s, %s (%s s, %u round(s); medians over rounds)\n\n", title.c_str(), get("date").c_str(),
                get("seconds").c_str(), rounds);
    std::printf("Command: %s\nCommit: %s\n", get("command").c_str(), get("commit").c_str());
    for (const auto& [label, key] : shown)
        if (info.count(key)) std::printf("%s: %s\n", label.c_str(), get(key).c_str());
    std::printf("Load average: before %s, after %s; other processes used %s\n\n", get("load_before").c_str(),
                get("load_after").c_str(), get("cpu_others").c_str());
    std::printf("%s", markdown(rows).c_str());
    if (!res.errors.empty()) std::printf("\n%zu error(s); see stderr\n", res.errors.size());
    if (!json.empty()) write_json(json, rows, res, info);
    std::error_code ec;
    if (keep_logs || !res.errors.empty())
        std::fprintf(stderr, "%s: logs in %s\n", tool, log_dir.c_str());
    else
        std::filesystem::remove_all(log_dir, ec);
    return res.errors.empty() && !g_stop ? 0 : 1;
}

} // namespace ckpt::bench
