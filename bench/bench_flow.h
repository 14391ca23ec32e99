/* attnroll_bench --flow (bench_flow.c). */
#ifndef ATTNROLL_BENCH_FLOW_H
#define ATTNROLL_BENCH_FLOW_H

/* Times attention flow (ViT-B, ViT-L CLS) and singular values (433 x 433)
 * beside networkx and numpy (helper: bench/flow_reference.py).  kernel: the
 * OpenBLAS kernel summary to print.  @return 0, or 1 if a check failed. */
int bench_flow_run(long reps, long threads, const char *helper, const char *kernel);

#endif
