// ckptstat: the node's checkpoints, replication and link, as vmstat shows a host. The figures come
// from the engine's stats region in shared memory, read through the shm reader API, never by
// reinterpreting bytes here (as AeronStat reads through aeron_cnc_init); open handles, flags and
// sections come from the control socket and the checkpoint's own segments. Reading costs the
// engine nothing but the LIST call.
#include "export.hpp"
#include "report.hpp"
#include "sample.hpp"

#include "ckpt/client/inspect.hpp"
#include "ckpt/client/session.hpp"
#include "ckpt/common/attributes.hpp"

#include <CLI/CLI.hpp>

#include <time.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <optional>
#include <string>

namespace ckpt::tools {

namespace {

/// Exit codes: scripts tell "no engine here" and "cannot read this engine" apart from the rest.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitNoEngine = 2;
constexpr int kExitVersion = 3;

int report_failure(const Failure& f) {
    std::cerr << "ckptstat: " << f.message << '\n';
    if (f.code == Error::kUnavailable) return kExitNoEngine;
    return f.code == Error::kVersion ? kExitVersion : kExitError;
}

void sleep_seconds(double s) {
    timespec ts{static_cast<time_t>(s), static_cast<long>((s - std::floor(s)) * 1e9)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/// The stats region of the engine behind `session`; waits briefly for an engine still laying it out.
Result<client::NodeStats> attach_stats(client::Session& session) {
    for (int i = 0;; ++i) {
        auto s = client::node_stats(session);
        if (s || s.error() != Error::kTryAgain || i == 200) {
            if (!s && s.error() == Error::kVersion)
                return fail(Error::kVersion, "cannot read the stats of ckptd at " + session.socket_path() + ": " +
                                                 s.message() +
                                                 " (layout versions differ: use the ckptstat that came "
                                                 "with this ckptd)");
            return s;
        }
        sleep_seconds(0.01);
    }
}

enum class Format { kText, kJson, kPrometheus };

int run(int argc, char** argv) {
    CLI::App app{"ckptstat: the node's checkpoints, replication and link, as ckptd publishes them in shared memory"};
    std::string socket;
    std::string checkpoint;
    std::optional<std::uint32_t> node;
    double interval = 0;
    std::uint64_t count = 0;
    bool json = false, prometheus = false;
    app.add_option("interval", interval, "seconds between samples; rates are over each interval (default: one sample)")
        ->check(CLI::PositiveNumber);
    app.add_option("count", count, "samples to print (default: until interrupted, when INTERVAL is given)")
        ->check(CLI::PositiveNumber);
    app.add_option("--socket", socket,
                   std::string("ckptd's control socket (default: $CKPT_SOCKET, else ") + client::kDefaultSocket + ")");
    app.add_option("--node", node, "insist on this node id: refuse an engine that is another node");
    app.add_option("-c,--checkpoint", checkpoint, "show only this checkpoint, down to its sections");
    auto* j = app.add_flag("--json", json, "one JSON object per sample, one per line (fields: docs/OPERATIONS.md)");
    app.add_flag("--prometheus", prometheus, "Prometheus text exposition format, ckpt_* metrics")->excludes(j);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a ParseError too; CLI11 prints it and answers 0. Usage errors are plain errors here.
        return app.exit(e) == 0 ? kExitOk : kExitError;
    }
    const Format format = json ? Format::kJson : prometheus ? Format::kPrometheus : Format::kText;

    // A monitoring tool reports what it finds: no retrying for a restarting engine.
    auto session = client::Session::connect({.socket_path = socket, .reconnect = false});
    if (!session) return report_failure(session.failure());
    if (node && session->node_id() != *node) {
        std::cerr << "ckptstat: ckptd at " << session->socket_path() << " is node " << session->node_id()
                  << ", not node " << *node << '\n';
        return kExitError;
    }
    auto stats = attach_stats(*session);
    if (!stats) return report_failure(stats.failure());

    checkpoint = unescape_name(checkpoint); // as ckptstat shows names: \xHH for a byte not printable
    std::optional<Sample> prev;
    for (std::uint64_t n = 1;; ++n) {
        auto sample = take_sample(*session, stats->view, checkpoint);
        if (!sample) return report_failure(sample.failure());
        const Figures figures = derive(*sample, prev ? &*prev : nullptr);
        if (format == Format::kJson) {
            write_json(std::cout, *sample, figures, n);
        } else if (format == Format::kPrometheus) {
            if (n > 1) std::cout << '\n';
            write_prometheus(std::cout, *sample, figures);
        } else {
            if (n > 1) std::cout << '\n';
            render_screen(std::cout, *sample, figures);
        }
        std::cout.flush();
        if (!std::cout) {
            std::cerr << "ckptstat: cannot write the output\n";
            return kExitError;
        }
        if (interval <= 0 || (count != 0 && n >= count)) break;
        prev = std::move(*sample);
        sleep_seconds(interval);
    }
    return kExitOk;
}

} // namespace

} // namespace ckpt::tools

int main(int argc, char** argv) {
    return ckpt::tools::run(argc, argv);
}
