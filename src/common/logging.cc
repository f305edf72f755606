#include "src/common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace raftkv {

absl::Status InitLogging(const std::string& level, const std::string& prefix) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError("unknown log level '" + level +
                                      "': use trace, debug, info, warn, error or off");
  }
  auto logger = spdlog::stderr_color_mt("raftkv");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ " + prefix + " %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace raftkv
