#pragma once

#include <string>

#include "config/config.hpp"

namespace mcphd::app {

// cluster.member_id, or <hostname>-<pid>: who checked (`checked_by`). Any character of the host
// name that a member id cannot hold becomes '_'.
std::string memberIdOf(const config::ClusterSettings& cluster);

}  // namespace mcphd::app
