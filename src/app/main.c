#include <stdio.h>
int main(void)
{
    fputs("relay-server: under construction\n", stderr);
    return 1;
}
