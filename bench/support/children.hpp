// Child processes of the benchmark tools (raw baselines such as ckpt_pingpong, redis-server):
// fork/exec pinned to a CPU, dying with the tool, stdout piped back; and the tool's stop flag,
// raised by SIGINT/SIGTERM so every step unwinds and cleans up what it started.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <initializer_list>
#include <string>
#include <vector>

namespace ckpt::bench {

/// Raised by SIGINT/SIGTERM once install_stop_handlers() ran.
extern std::atomic<bool> g_stop;
void install_stop_handlers();

struct Child {
    pid_t pid = -1;
    int out = -1; ///< its stdout, when piped
};

/// fork/exec pinned to `cpu`; stdout into a pipe (pipe_out) or the log, stderr into the log.
Child spawn(const std::vector<std::string>& argv, int cpu, const std::string& log, bool pipe_out);
/// Reads the child's stdout to EOF (or `timeout_ms`).
std::string read_all(Child& c, int timeout_ms);
/// Waits up to `timeout_ms` for the child, then kills it; returns its exit code (128+sig).
int reap(Child& c, int timeout_ms);

/// A number from one line of a tool's JSON ("key":value); NaN when absent.
double json_num(const std::string& line, const std::string& key);
/// The lines of `s` that are JSON objects.
std::vector<std::string> lines_of(const std::string& s);

/// A tool: `given`, else $env, else the first of `rel` (relative to this binary) that exists.
std::string find_tool(const std::string& given, const char* env, std::initializer_list<const char*> rel);

} // namespace ckpt::bench
