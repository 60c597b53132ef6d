/* hex.h: hexadecimal digits. */
#ifndef RLY_CORE_HEX_H
#define RLY_CORE_HEX_H

/* rly_hex_digit returns the value of the hex digit |c| (either case), or -1. */
static inline int rly_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
