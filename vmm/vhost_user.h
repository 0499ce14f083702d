/* The front-end (VMM) side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst): a device whose rings another process, the
 * back end, runs. Messages go over a unix stream socket, each a 12-byte
 * header (request, flags, size) and a payload; file descriptors travel as
 * SCM_RIGHTS. The client is synchronous: a call sends one message and, for
 * GET_* requests or when REPLY_ACK was negotiated, waits for the reply.
 * Nothing here is specific to a device kind, so that a later vhost-user
 * device reuses it. Not thread-safe: the device's lock serialises it. */
#ifndef KILN_VMM_VHOST_USER_H
#define KILN_VMM_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/mem.h"

/* vhost-user.rst, "Front-end message types". */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
};

#define VHOST_USER_VERSION		0x1
#define VHOST_USER_FLAG_REPLY		(1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY	(1u << 3)
#define VHOST_USER_HDR_SIZE		12
#define VHOST_USER_MAX_FDS		8
#define VHOST_USER_MAX_PAYLOAD		(8 + 8 * 32) /* the largest: SET_MEM_TABLE */
#define VHOST_USER_F_PROTOCOL_FEATURES	30
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
/* SET_VRING_KICK / _CALL: the queue index in bits 0-7, bit 8 "no fd". */
#define VHOST_USER_VRING_IDX_MASK 0xff
#define VHOST_USER_VRING_NOFD	  (1u << 8)

struct vhost_user {
	int fd;			    /* the connected socket; -1 once closed */
	uint64_t features;	    /* the back end's GET_FEATURES */
	uint64_t protocol_features; /* what both sides agreed on */
};

/* One queue as the back end must be told about it: host virtual addresses
 * (the back end translates them through the memory table). */
struct vhost_user_vring {
	unsigned int index;
	uint16_t num;
	uint16_t base; /* the next available index to read */
	const void *desc, *avail, *used;
	int kick_fd; /* the queue's ioeventfd */
	int call_fd; /* an irqfd on the device's GSI */
};

/* Connects to a listening back end at path. what names the device in
 * the message ("fs 'kiln'"). */
int vhost_user_connect(const char *path, const char *what, int *fd, kiln_error_t *err);

/* Takes fd. SET_OWNER, GET_FEATURES, and with VHOST_USER_F_PROTOCOL_FEATURES
 * GET/SET_PROTOCOL_FEATURES (REPLY_ACK when offered). */
int vhost_user_init(struct vhost_user *vu, int fd, kiln_error_t *err);
void vhost_user_close(struct vhost_user *vu);

/* GET_FEATURES alone (a probe before the VM exists). */
int vhost_user_get_features(struct vhost_user *vu, uint64_t *features, kiln_error_t *err);
/* SET_MEM_TABLE: every RAM region with mem->fd (which must be >= 0), its
 * offset in it, and userspace_addr = our mapping. */
int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *mem, kiln_error_t *err);
/* SET_FEATURES: what the driver acked, plus VHOST_USER_F_PROTOCOL_FEATURES
 * when it was negotiated. */
int vhost_user_set_features(struct vhost_user *vu, uint64_t acked, kiln_error_t *err);
/* SET_VRING_NUM, _ADDR, _BASE, _KICK, _CALL, then _ENABLE 1 when protocol
 * features are on (without them the back end enables the ring itself). */
int vhost_user_vring_start(struct vhost_user *vu, const struct vhost_user_vring *r,
			   kiln_error_t *err);
/* GET_VRING_BASE: the back end stops the ring and says where it was. */
int vhost_user_vring_stop(struct vhost_user *vu, unsigned int index, uint16_t *base,
			  kiln_error_t *err);

#endif
