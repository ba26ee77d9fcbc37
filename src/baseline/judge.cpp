#include "baseline/judge.hpp"

#include <algorithm>

#include "baseline/diff.hpp"
#include "baseline/lint.hpp"

namespace mcphd::baseline {

namespace {

bool quarantiningFinding(const std::vector<Finding>& findings) {
  // shadowed_name never quarantines: a newly registered server must not be able to quarantine
  // an existing one by offering a tool of the same name.
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.code != kShadowedName; });
}

}  // namespace

Judgement judge(const std::string& serverId, const Settings& settings,
                const std::vector<mcp::Tool>& tools, const std::string& toolsHash,
                const Record& record, const History& history, std::vector<Finding> findings,
                size_t findingsTotal, std::string nowRfc3339) {
  Judgement j;
  Verdict& v = j.verdict;
  v.findings = std::move(findings);
  v.findingsTotal = findingsTotal;
  const bool findingQuarantine =
      settings.onFinding == Action::kQuarantine && quarantiningFinding(v.findings);
  if (settings.policy == Policy::kOff) {
    v.quarantine = findingQuarantine;
    return j;
  }
  const bool driftQuarantines = settings.onDrift == Action::kQuarantine;
  if (record.state == Record::State::kValid) {
    const Baseline& b = record.baseline;
    v.baselineHash = b.toolsHash;
    if (b.toolsHash == toolsHash) {
      v.approval = Approval::kApproved;
    } else {
      v.approval = Approval::kDrifted;
      v.drift = diff(b, tools);
      v.enteredDrift = history.previous.approval != Approval::kDrifted;
      if (v.enteredDrift) {
        j.log = "server " + serverId + ": its tools drifted from the baseline approved " +
                b.approvedAt + " by " + b.approvedBy + " (" + std::to_string(v.drift.added.size()) +
                " added, " + std::to_string(v.drift.removed.size()) + " removed, " +
                std::to_string(v.drift.changed.size()) + " changed)";
        j.logLevel = "warning";
      }
    }
    v.quarantine = (v.approval == Approval::kDrifted && driftQuarantines) || findingQuarantine;
    return j;
  }
  // No usable baseline.
  const bool had = history.hadBaseline || record.state == Record::State::kInvalid;
  const bool relearn = settings.policy == Policy::kTofu &&
                       (!had || (history.lostWithRedis && record.state == Record::State::kAbsent));
  if (relearn) {
    j.learn = fromTools(tools, std::move(nowRfc3339), "tofu");
    v.approval = Approval::kApproved;
    v.baselineHash = j.learn->toolsHash;
    j.log = history.lostWithRedis
                ? "server " + serverId +
                      ": Redis lost its tool baseline (restarted without its data); its current "
                      "tool set is the baseline again (tool_baseline: tofu)"
                : "server " + serverId +
                      ": its first complete tool list is its baseline (tool_baseline: tofu)";
    j.logLevel = history.lostWithRedis ? "warning" : "notice";
    v.quarantine = findingQuarantine;
    return j;
  }
  v.approval = Approval::kUnapproved;
  // Unapproved quarantines under on_drift: quarantine: the tool set is not the approved one.
  v.quarantine = driftQuarantines || findingQuarantine;
  if (history.previous.approval != Approval::kUnapproved) {
    if (record.state == Record::State::kInvalid) {
      j.log = "server " + serverId + ": its tool baseline is not valid (" + record.reason +
              "): unapproved until approved again (mcp-healthctl tools approve)";
      j.logLevel = "warning";
    } else if (had) {
      j.log = "server " + serverId +
              ": its tool baseline is gone: unapproved until approved again, not re-learned "
              "(mcp-healthctl tools approve)";
      j.logLevel = "warning";
    } else {
      j.log = "server " + serverId +
              ": no approved tool set yet (tool_baseline: manual; mcp-healthctl tools approve)";
      j.logLevel = "notice";
    }
  }
  return j;
}

}  // namespace mcphd::baseline
