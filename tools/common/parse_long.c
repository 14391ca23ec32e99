/* parse_long.c -- see parse_long.h. */
#include "parse_long.h"

#include <errno.h>
#include <stdlib.h>

int parse_long_in(const char *text, long lo, long hi, long *value)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    char *end = NULL;
    long v;
    if (digits[0] < '0' || digits[0] > '9') return 0; /* strtol would accept spaces and '+' */
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) return 0;
    *value = v;
    return 1;
}
