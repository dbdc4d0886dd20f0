// The generated header compiles as C++17 and its enums have the documented values.
#include <lmbatch.h>

#include <cstdio>
#include <type_traits>

static_assert(LM_STATUS_INTERNAL == 16, "status values are fixed");
static_assert(LM_PIXEL_FORMAT_GRAY8 == 4, "pixel formats are fixed");
static_assert(std::is_same<std::underlying_type<lm_status>::type, int32_t>::value, "int32 enums");

int main() {
  uint32_t major = 0;
  uint32_t minor = 0;
  lm_api_version(&major, &minor);
  if (major != LM_API_VERSION_MAJOR || minor != LM_API_VERSION_MINOR) return 1;
  std::printf("lmbatch %s, C ABI %u.%u\n", lm_version_string(), major, minor);
  return 0;
}
