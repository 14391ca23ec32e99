// Allocation-failure injection for tests (CMake -DATTNROLL_ALLOC_FAULTS=ON,
// alloc_fault.cpp): the point every working buffer passes before it takes
// memory.  In every other build it is a constant false and costs nothing.
#pragma once

namespace attnroll {

#if defined(ATTNROLL_ALLOC_FAULTS)
// Counts one allocation; true when it is the one armed to fail.
bool allocation_fails() noexcept;
#else
constexpr bool allocation_fails() noexcept { return false; }
#endif

}  // namespace attnroll
