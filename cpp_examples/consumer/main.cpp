// Built against the INSTALLED package (find_package(lmbatch) / pkg-config), as a user would.
#include <lmbatch.hpp>

#include <cstdio>

int main() {
  uint32_t major = 0, minor = 0;
  lm_api_version(&major, &minor);
  if (major != LM_API_VERSION_MAJOR) return 1;
  lmbatch::Config config;
  config.backend = lmbatch::Backend::Cpu;
  lmbatch::Pipeline pipeline(config);
  const auto info = pipeline.model_info();
  std::printf("consumer: lmbatch %s, backend %s, %u points\n", lm_version_string(), info.backend.c_str(),
              info.num_points);
  return info.num_points == 468 ? 0 : 1;
}
