#pragma once

// Internal to the redis module: the one place that reads hiredis reply structs.
#include <hiredis/hiredis.h>

#include "redis/commands.hpp"

namespace mcphd::redis {

Reply toReply(const redisReply* r);

}  // namespace mcphd::redis
