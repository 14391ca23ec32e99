/*
 * parse_long.h -- the one strict parser of whole numbers on command lines
 * (the bench, the examples and the attnroll tool).  C99.
 */
#ifndef ATTNROLL_TOOLS_PARSE_LONG_H
#define ATTNROLL_TOOLS_PARSE_LONG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Parses `text` as a decimal integer in [lo, hi]: an optional '-' and digits
 * only, nothing before or after (no spaces, no '+', no "0x").
 * @return 1 and sets *value, or 0 (and *value untouched) when text is not such
 * a number or is out of range. */
int parse_long_in(const char *text, long lo, long hi, long *value);

#ifdef __cplusplus
}
#endif

#endif
