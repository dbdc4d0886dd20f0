// The generated header compiles as C++17 and its enums have the documented values.
#include <lmbatch.h>

#include <cstdio>
#include <type_traits>

static_assert(LM_STATUS_INTERNAL == 16, "status values are fixed");
static_assert(LM_PIXEL_FORMAT_GRAY8 == 4, "pixel formats are fixed");
// ABI 1.3: the decoder formats, and colorimetry codes equal to FFmpeg's (AVColorSpace,
// AVColorRange, AVChromaLocation), so an AVFrame's fields copy across unchanged.
static_assert(LM_PIXEL_FORMAT_NV12 == 16 && LM_PIXEL_FORMAT_P016 == 20, "decoder formats are fixed");
static_assert(LM_COLOR_MATRIX_BT709 == 1 && LM_COLOR_MATRIX_BT601 == 5 && LM_COLOR_MATRIX_BT2020 == 9, "H.273");
static_assert(LM_COLOR_RANGE_LIMITED == 1 && LM_COLOR_RANGE_FULL == 2, "AVColorRange");
static_assert(LM_CHROMA_LOCATION_LEFT == 1 && LM_CHROMA_LOCATION_TOPLEFT == 3, "AVChromaLocation");
static_assert(LM_FACE_EYES == 1 && LM_FACE_ROLL == 2, "face flags are fixed");
static_assert(std::is_same<std::underlying_type<lm_status>::type, int32_t>::value, "int32 enums");

int main() {
  uint32_t major = 0;
  uint32_t minor = 0;
  lm_api_version(&major, &minor);
  if (major != LM_API_VERSION_MAJOR || minor != LM_API_VERSION_MINOR) return 1;
  std::printf("lmbatch %s, C ABI %u.%u\n", lm_version_string(), major, minor);
  return 0;
}
