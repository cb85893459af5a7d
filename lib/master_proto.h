/*
 * master_proto - what master hands to every child it starts.
 *
 * Descriptors: MASTER_STATUS_FD is the child's end of a SOCK_SEQPACKET
 * pair (the child writes one-byte status records; end-of-file means
 * master is gone or has retired the child); MASTER_LOG_FD is the shared
 * unix-dgram log socket; listeners follow from MASTER_LISTEN_FD.
 *
 * Arguments: program -c config_dir -n service -t type -s nlisteners
 * [-v] [-o name=value]... [--] [program arguments].
 *
 * Never: change these numbers without changing master and lib/service
 * together.
 */
#ifndef FACTEUR_MASTER_PROTO_H
#define FACTEUR_MASTER_PROTO_H

#define MASTER_STATUS_FD 3
#define MASTER_LOG_FD 4
#define MASTER_LISTEN_FD 5
#define MASTER_MAX_LISTENERS 16

enum master_status {
	MASTER_STAT_READY = 'R', /* privileges dropped, about to accept */
	MASTER_STAT_BUSY = 'B',	 /* at its session limit: not accepting */
	MASTER_STAT_IDLE = 'I',	 /* accepting again */
};

/* Datagram sent to a unix-dgram service on each wakeup. */
#define MASTER_WAKEUP_MSG "W"

#endif
