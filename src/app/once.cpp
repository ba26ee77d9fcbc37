#include "app/once.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "app/daemon.hpp"
#include "app/member_id.hpp"
#include "approval/approving_prober.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "common/log.hpp"
#include "http/curl_multi_client.hpp"
#include "loop/uv_loop.hpp"
#include "loop/uv_process.hpp"
#include "publish/messages.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::app {

int runOnce(const config::Config& cfg) {
  const std::string memberId = memberIdOf(cfg.cluster);
  loop::UvLoop loop;
  int status = 0;
  {
    http::CurlMultiClient http(loop);
    http.setEgressPolicy(cfg.egress);
    auth::OAuth2Provider auth(http, loop);
    loop::UvProcessSpawner processes(loop, std::string(kSupervisor));
    check::ServerProber probes(http, auth, loop, loop, &processes, inheritedEnvironment());
    // No Redis, so no baselines: tool lists are linted (on_finding: quarantine applies).
    approval::ApprovingProber prober(probes, nullptr, nullptr, [&loop] { return loop.wallMs(); });
    std::vector<std::optional<scheduler::CheckReport>> reports(cfg.servers.size());
    std::vector<std::unique_ptr<check::RunningCheck>> running(cfg.servers.size());
    size_t next = 0;
    size_t active = 0;
    std::function<void()> startMore = [&] {
      while (active < cfg.maxConcurrentChecks && next < cfg.servers.size()) {
        const size_t i = next++;
        ++active;
        running[i] = prober.start(cfg.servers[i], [&, i](mcp::ProbeResult r) {
          --active;
          reports[i] = scheduler::singleCheckReport(cfg.servers[i].id, std::move(r), Trigger::kOnce,
                                                    loop.wallMs());
          startMore();
        });
      }
      if (active == 0 && next == cfg.servers.size()) {
        processes.shutdown(kStopKillAfterMs, [] {});  // no need to wait for servers to notice EOF
      }
    };
    startMore();
    loop.run();
    for (const auto& rep : reports) {
      if (!rep) {
        status = 1;
        continue;
      }
      std::cout << publish::healthJson(*rep, 1, memberId) << '\n';
      if (rep->status != scheduler::Status::kHealthy) {
        status = 1;
      }
    }
    std::cout.flush();
    running.clear();
  }
  if (auto r = loop.close(); !r) {
    log::error(r.error().message);
    return kExitSoftware;
  }
  return status;
}

}  // namespace mcphd::app
