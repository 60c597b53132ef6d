/* sdnotify.h: systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Nothing happens when the variable is unset (not started by systemd with Type=notify). */
#ifndef RLY_APP_SDNOTIFY_H
#define RLY_APP_SDNOTIFY_H

#include "core/err.h"

/* rly_sd_notify sends |state| ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=...",
 * "STATUS=...", newline-separated). Returns 0 (also when $NOTIFY_SOCKET is unset) or RLY_ERR_IO
 * (the socket could not be reached; the caller may log it and go on). */
int rly_sd_notify(const char *state);

#endif
