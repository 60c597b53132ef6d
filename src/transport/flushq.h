/* flushq.h: the queue of connections with output to flush, shared by the TCP and QUIC
 * transports. A connection embeds an rly_flushq_node; producing output anywhere (a read, a
 * timer, another connection's stream) pushes it once, and the transport's idle handle pops and
 * flushes every queued connection after the current round of callbacks, so output goes out in
 * batches and never re-entrantly. Intrusive, no allocation; the owner maps a node back to its
 * connection (RLY_FLUSHQ_OWNER). */
#ifndef RLY_TRANSPORT_FLUSHQ_H
#define RLY_TRANSPORT_FLUSHQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rly_flushq_node {
    struct rly_flushq_node *next;
    bool is_queued;
} rly_flushq_node;

typedef struct rly_flushq {
    rly_flushq_node *head;
} rly_flushq;

/* The connection of type |type| whose member |member| is the node |n|. */
#define RLY_FLUSHQ_OWNER(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

/* rly_flushq_push queues |n| unless it is queued already. */
static inline void rly_flushq_push(rly_flushq *q, rly_flushq_node *n)
{
    if (n->is_queued)
        return;
    n->is_queued = true;
    n->next = q->head;
    q->head = n;
}

/* rly_flushq_pop takes the next queued node, NULL when the queue is empty. */
static inline rly_flushq_node *rly_flushq_pop(rly_flushq *q)
{
    rly_flushq_node *n = q->head;
    if (n) {
        q->head = n->next;
        n->next = NULL;
        n->is_queued = false;
    }
    return n;
}

/* rly_flushq_remove unqueues |n| (a connection going away) if it is on |q|; a node queued on
 * another queue (a batch being drained) is left there untouched. Returns whether it was on |q|. */
static inline bool rly_flushq_remove(rly_flushq *q, rly_flushq_node *n)
{
    if (!n->is_queued)
        return false;
    for (rly_flushq_node **pp = &q->head; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            n->is_queued = false;
            return true;
        }
    }
    return false;
}

#endif
