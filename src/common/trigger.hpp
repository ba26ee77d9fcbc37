#pragma once

namespace mcphd {

// Why a check ran: the `trigger` field of every health message (docs/PROTOCOL.md).
enum class Trigger {
  kStartup,      // the first check of a server after the daemon started (config and registry)
  kSchedule,     // its interval (or backoff) elapsed
  kCommand,      // a `check` command
  kUpsert,       // an `upsert` command
  kResync,       // a server that appeared in Redis, or changed there, without a command
  kReload,       // a server added to the config file, found by SIGHUP
  kListChanged,  // a watched server said notifications/tools/list_changed, or its watch came back
  kHandover,     // the first check of a server this member took over from another (cluster)
  kOnce,         // mcp-healthd --once (printed, never published)
  kProbe,        // mcp-healthctl probe (printed, never published)
};

constexpr const char* triggerName(Trigger t) {
  switch (t) {
    case Trigger::kStartup:
      return "startup";
    case Trigger::kSchedule:
      return "schedule";
    case Trigger::kCommand:
      return "command";
    case Trigger::kUpsert:
      return "upsert";
    case Trigger::kResync:
      return "resync";
    case Trigger::kReload:
      return "reload";
    case Trigger::kListChanged:
      return "list_changed";
    case Trigger::kHandover:
      return "handover";
    case Trigger::kOnce:
      return "once";
    case Trigger::kProbe:
      return "probe";
  }
  return "schedule";
}

}  // namespace mcphd
