/* conn.c: what every transport's connections share (conn.h). */
#include "transport/conn.h"

uint64_t rly_conn_new_id(void)
{
    static uint64_t next; /* one loop per process: no locking */
    return ++next;
}
