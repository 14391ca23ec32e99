// The public header compiles as C++ (-std=c++11 -pedantic -Werror and the
// project warnings, on this target only) with C linkage for every function:
// the call below links against the C library.
#include "attnroll.h"
#include "attnroll.h"

#include <cstring>
#include <cstdio>

static_assert(ATTNROLL_VERSION_NUMBER ==
                  ATTNROLL_VERSION_MAJOR * 10000 + ATTNROLL_VERSION_MINOR * 100 +
                      ATTNROLL_VERSION_PATCH,
              "version macros");
static_assert(ATTNROLL_MAX_NDIM == 16, "max ndim");

int main()
{
    int failures = 0;
    int64_t shape[2] = {2, 2};
    double in[4] = {0.0, 1.0, 1.0, 0.0};
    double out[4] = {0, 0, 0, 0};
    const attnroll_tensor t = {in, ATTNROLL_F64, 2, shape, nullptr};
    const attnroll_tensor o = {out, ATTNROLL_F64, 2, shape, nullptr};
    attnroll_config *cfg = nullptr;
    if (attnroll_config_create(&cfg) != ATTNROLL_OK || cfg == nullptr) ++failures;
    // [[0,1],[1,0]] + I -> all 0.5
    if (attnroll_spatial(&t, 1, cfg, &o) != ATTNROLL_E_SHAPE) ++failures; // rank 2: not spatial
    if (attnroll_temporal(&t, 1, 0, cfg, &o) != ATTNROLL_OK) ++failures;
    for (double v : out)
        if (v != 0.5) ++failures;
    attnroll_config_destroy(cfg);
    if (attnroll_version_number() != ATTNROLL_VERSION_NUMBER) ++failures;
    if (std::strcmp(attnroll_version_string(), ATTNROLL_VERSION_STRING) != 0) ++failures;
    if (std::strcmp(attnroll_status_string(ATTNROLL_E_STATE), "ATTNROLL_E_STATE") != 0) ++failures;
    attnroll_stream *s = nullptr;
    if (attnroll_stream_create(nullptr, 1, 2, ATTNROLL_F64, &s) != ATTNROLL_OK) ++failures;
    attnroll_stream_destroy(s);
    if (failures) std::fprintf(stderr, "test_header (C++): %d failures\n", failures);
    return failures ? 1 : 0;
}
