# fail.cmake -- a test that fails with MESSAGE (for a tool that is missing, so
# that the check fails clearly instead of being skipped in silence).
message(FATAL_ERROR "${MESSAGE}")
