/*
 * Test only: the allocation-failure hook of a library configured with
 * -DATTNROLL_ALLOC_FAULTS=ON (src/alloc_fault.cpp).  Not part of the public
 * interface: not in include/attnroll.h, not installed, and absent from every
 * other build of the library.
 */
#ifndef ATTNROLL_TEST_ALLOC_FAULT_H
#define ATTNROLL_TEST_ALLOC_FAULT_H

#include <stdint.h>

#include "attnroll.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Arms the k-th allocation the library makes from now on to fail (once), on
 * whichever thread makes it; k <= 0 disarms.  Allocations are the library's
 * own operator new calls and its working buffers; the program's, OpenBLAS's
 * and LAPACK's are not counted.
 * @return the number of allocations made since the previous call.  After a
 *         call armed with k: a count >= k means the k-th did fail.
 */
ATTNROLL_API int64_t attnroll_test_fail_allocation(int64_t k);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTNROLL_TEST_ALLOC_FAULT_H */
