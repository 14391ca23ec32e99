/* hello_rollout: attention rollout of a 2-layer, 1-head, 3-token stack. */
#include <stdio.h>
#include "attnroll.h"

int main(void) {
    float a0[9] = {1, 0, 0, .5f, .5f, 0, .2f, .3f, .5f}, a1[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0}, r[9];
    int64_t layer_shape[3] = {1, 3, 3}, out_shape[2] = {3, 3};            /* [H,N,N] -> [N,N] */
    attnroll_tensor layers[2] = {{a0, ATTNROLL_F32, 3, layer_shape, NULL},   /* NULL strides: */
                                 {a1, ATTNROLL_F32, 3, layer_shape, NULL}};  /* C-contiguous  */
    attnroll_tensor out = {r, ATTNROLL_F32, 2, out_shape, NULL};
    int32_t status = attnroll_spatial(layers, 2, NULL, &out);       /* R = Abar1 @ Abar0 */
    if (status != ATTNROLL_OK) {
        fprintf(stderr, "%s: %s\n", attnroll_status_string(status), attnroll_last_error());
        return 1;
    }
    for (int i = 0; i < 3; i++) printf("%.4f %.4f %.4f\n", r[3 * i], r[3 * i + 1], r[3 * i + 2]);
    return 0;                      /* prints 0.6250 0.3750 0.0000 / 0.1750 0.4500 0.3750 / ... */
}
