/*
 * A tiny downstream C99 program: checks that the installed header and library
 * agree, and does one rollout whose result is known by hand.  Used by both the
 * CMake-package and the pkg-config consumer tests.  Exit 0 and a last line
 * "consumer: OK" on success.
 */
#include <attnroll.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

static double absdiff(double a, double b) { return a > b ? a - b : b - a; }

static void check(int ok, const char *what) {
    if (!ok) {
        printf("consumer: FAILED: %s\n", what);
        failures++;
    }
}

int main(void) {
    /* Header and library versions match. */
    printf("attnroll %s (%ld)\n", attnroll_version_string(), (long)attnroll_version_number());
    check(strcmp(attnroll_version_string(), ATTNROLL_VERSION_STRING) == 0,
          "attnroll_version_string() == ATTNROLL_VERSION_STRING");
    check(attnroll_version_number() == ATTNROLL_VERSION_NUMBER,
          "attnroll_version_number() == ATTNROLL_VERSION_NUMBER");

    /*
     * Two layers of two heads over two tokens, shape [H=2, N=2, N=2] each.
     *   layer 0: heads I and the swap [[0,1],[1,0]]; mean [[.5,.5],[.5,.5]];
     *            + I, rows normalised: A0 = [[.75,.25],[.25,.75]]
     *   layer 1: both heads [[.5,.5],[.25,.75]];
     *            + I, rows normalised: A1 = [[.75,.25],[.125,.875]]
     *   R = A1 @ A0 = [[.625,.375],[.3125,.6875]]   (exact in binary)
     */
    static const double layer0[8] = {1, 0, 0, 1, 0, 1, 1, 0};
    static const double layer1[8] = {.5, .5, .25, .75, .5, .5, .25, .75};
    static const double expected[4] = {.625, .375, .3125, .6875};
    const int64_t in_shape[3] = {2, 2, 2};
    const int64_t out_shape[2] = {2, 2};
    double result[4] = {-1, -1, -1, -1};
    attnroll_tensor layers[2];
    attnroll_tensor out;
    attnroll_config *config = NULL;
    int32_t status;
    int i;

    layers[0].data = (void *)layer0;
    layers[0].dtype = ATTNROLL_F64;
    layers[0].ndim = 3;
    layers[0].shape = in_shape;
    layers[0].strides = NULL;
    layers[1] = layers[0];
    layers[1].data = (void *)layer1;
    out.data = result;
    out.dtype = ATTNROLL_F64;
    out.ndim = 2;
    out.shape = out_shape;
    out.strides = NULL;

    status = attnroll_config_create(&config);
    check(status == ATTNROLL_OK && config != NULL, "attnroll_config_create");
    status = attnroll_config_set_float(config, ATTNROLL_OPT_RESIDUAL, 1.0);
    check(status == ATTNROLL_OK, "attnroll_config_set_float(RESIDUAL, 1.0)");

    status = attnroll_spatial(layers, 2, config, &out);
    if (status != ATTNROLL_OK) {
        printf("consumer: attnroll_spatial: %s: %s\n", attnroll_status_string(status),
               attnroll_last_error());
    }
    check(status == ATTNROLL_OK, "attnroll_spatial returns ATTNROLL_OK");
    for (i = 0; i < 2; i++) {
        printf("rollout row %d: %.6f %.6f\n", i, result[2 * i], result[2 * i + 1]);
    }
    for (i = 0; i < 4; i++) {
        check(absdiff(result[i], expected[i]) <= 1e-12, "rollout matches the hand-computed result");
    }
    attnroll_config_destroy(config);

    /* The error path crosses the ABI too. */
    status = attnroll_spatial(NULL, 2, NULL, &out);
    check(status == ATTNROLL_E_ARGUMENT, "attnroll_spatial(NULL, ...) gives ATTNROLL_E_ARGUMENT");
    check(strcmp(attnroll_status_string(ATTNROLL_E_ARGUMENT), "ATTNROLL_E_ARGUMENT") == 0,
          "attnroll_status_string(ATTNROLL_E_ARGUMENT)");
    check(attnroll_last_error()[0] != '\0', "attnroll_last_error() explains the failure");

    if (failures != 0) {
        printf("consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("consumer: OK\n");
    return 0;
}
